from app.matching.memo import BoundedMemo


def test_a_value_is_worked_out_once_per_key() -> None:
    calls: list[str] = []

    def shout(word: str) -> str:
        calls.append(word)
        return word.upper()

    memo = BoundedMemo(10, shout)
    assert [memo("warmte"), memo("net"), memo("warmte")] == ["WARMTE", "NET", "WARMTE"]
    assert calls == ["warmte", "net"]
    assert len(memo) == 2


def test_a_full_memo_starts_afresh() -> None:
    calls: list[int] = []

    def double(number: int) -> int:
        calls.append(number)
        return 2 * number

    memo = BoundedMemo(2, double)
    assert [memo(1), memo(2), memo(3)] == [2, 4, 6]  # the third key clears the first two
    assert len(memo) == 1
    assert memo(1) == 2
    assert calls == [1, 2, 3, 1]


def test_a_none_value_is_remembered_too() -> None:
    calls: list[str] = []

    def nothing(word: str) -> None:
        calls.append(word)

    memo = BoundedMemo(10, nothing)
    assert [memo("warmte"), memo("warmte")] == [None, None]
    assert calls == ["warmte"]
