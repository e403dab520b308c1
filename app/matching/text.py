"""Dutch-aware text normalisation shared by tagging and similarity.

Everything that compares words goes through :func:`content_words`: lower case, accents stripped,
split on anything that is not a letter or digit, stop words dropped. Each word then gets a
*root* (:func:`root`): the Dutch Porter stem, with the -eren / -ering / -atie family folded
together so that "isoleren", "isolering" and "isolatie" share the root "isol"; and an English
Porter stem, so "heating networks" meets "heat network".

Two words *correspond* (:func:`words_correspond`) when their roots are equal, when one is a
compound part of the other (:func:`is_compound_part`: "burgerparticipatie" ends with
"participatie", "warmtenetaansluiting" starts with "warmtenet", but "informatiemarkt" does not
contain "formatie"), or when they are close cognates across Dutch and English ("aquathermal" ~
"aquathermie"). For the words a reason names, a compound's other member must be a word too
(:func:`is_compound_member`: "wethouder" holds no *ouder*); tagging and the text vectors keep
the looser rule.
"""

from __future__ import annotations

import gzip
import json
import re
import unicodedata
from collections.abc import Collection, Container, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import Stemmer


def word_set(text: str) -> frozenset[str]:
    """The words of *text*, split on white space, as a set."""
    return frozenset(text.split())


FUNCTION_WORDS = word_set(
    """
    aan al alle alles als ander andere anderen bij binnen daar daarbij daarom dan dat de deze die
    dit doen door dus een eens eigen en er geen haar hebben heeft hem het hier hij hoe hun ik in is
    je jij kan kunnen maar me meer met mij mijn na naar niet nog nu of om onder ons onze ook op
    over te tegen tot u uit uw van veel voor waar wat we wel welke wie wij wil willen word worden
    wordt ze zich zij zijn zo zoals zou zouden zullen
    a about after all also an and any are as at be been but by can could do does for from had has
    have how i if in into is it its of on or our over so such than that the their them then there
    these they this those to us was we were what when which who will with would you your
    """
)
"""Dutch and English function words: never part of a topic."""

PHRASING_WORDS = word_set(
    """
    kennis nodig behoefte hulp vraag vragen bieden aanbieden delen ervaring ervaringen graag goed
    goede gemeente gemeenten zoeken zoek meedenken leren
    need needs knowledge help offer offers share sharing experience experiences expertise looking
    want like municipality municipalities
    """
)
"""The phrasing every kick-off answer shares ("we need knowledge about", "wij kunnen kennis
bieden over"): it makes all answers look alike, so text similarity ignores it."""

STOP_WORDS: frozenset[str] = FUNCTION_WORDS | PHRASING_WORDS
"""Words text similarity ignores."""

EQUIVALENT_WORDS: tuple[str, ...] = (
    "wijk wijken buurt buurten woonwijk neighbourhood neighbourhoods district districts",
    "bewoner bewoners inwoner inwoners burger burgers resident residents citizens",
    "woning woningen huis huizen home homes house houses dwellings",
    "eigenaar eigenaren eigenaars woningeigenaar woningeigenaren owner owners homeowners",
    "particulier particuliere particulieren private",
    "herziening herzien herzieningen herijking herijken actualisatie actualiseren update "
    "updaten updating revision",
    "volgorde prioriteren prioritering prioriteit fasering sequencing",
    "raad gemeenteraad raadsleden council councillors",
    "wethouder wethouders bestuurder bestuurders portefeuillehouder alderman",
    "afdeling afdelingen department departments",
    "kosten kost costs cost",
    "vergelijking vergelijken vergelijk comparison compare versus",
    "lening leningen loan loans",
    "fonds fondsen fund funds",
    "subsidie subsidies grant grants funding",
    "europees europese european",
    "haalbaarheid haalbaar haalbaarheidsstudie feasible feasibility realistisch",
    "juridisch juridische legal",
    "risico risicos risks risk",
    "gezamenlijk gezamenlijke collectief collectieve gedeeld gedeelde shared joint",
    "flat flats flatgebouw flatgebouwen appartement appartementen apartment apartments",
    "ouderen senioren elderly",
    "jongeren youth",
    "kaart kaarten kaartlagen map maps atlas",
    "bron bronnen source sources",
    "zee zeewater sea seawater",
    "vrijwillig vrijwillige vrijwilliger vrijwilligers volunteer volunteers",
    "training trainen opleiden opleiding cursus course",
    "uitleg uitleggen toelichting toelichten explaining explain",
    "tarief tarieven tariff tariffs",
    "aansluiting aansluitingen aansluiten connection connections connecting",
    "overlast hinder nuisance disruption",
    "contract contracten overeenkomst overeenkomsten agreement agreements",
)
"""Groups of words that mean the same in kick-off answers, Dutch and English; each group's first
word is added to a text that uses any word of the group, so "buurt" meets "wijk" and
"residents" meets "bewoners". Plain language only: topic words belong in the taxonomy."""

_WORD = re.compile(r"[a-z0-9]+")
_STEMMER = Stemmer.Stemmer("dutch_porter")
_ENGLISH_STEMMER = Stemmer.Stemmer("english")

# Derivational endings folded away before stemming; the root that is left must keep this
# many letters, or the word is too short to fold safely ("leren", "beheren").
_DERIVATIONAL_ENDINGS = ("eringen", "ering", "aties", "eren", "atie")
_MIN_ROOT = 4
# A word counts as a compound part of a longer word only from these lengths on (root, word),
# and only when the rest of the compound keeps at least MIN_COMPOUND_REST letters.
MIN_COMPOUND_PART = 4
MIN_COMPOUND_WORD = 5
MIN_COMPOUND_REST = 3
# Letters past the root that must match too, so a short derivational root ("form" of
# "formatie") does not make "platform" a compound with "formatie".
_COMPOUND_CHECK_EXTRA = 2
# Cognates: a shared prefix of at least this many letters, then different endings of one to
# MAX_COGNATE_TAIL letters in both words ("aquathermal" ~ "aquathermie"; not "warmtetransitie" ~
# "warmtetransitievisie", and not "energie" ~ "energiearm", where one word just goes on).
MIN_COGNATE_PREFIX = 7
MAX_COGNATE_TAIL = 3
COGNATE_ENDINGS = frozenset(
    # Dutch inflection and derivation: -e, -en, -s, -d, -t, -de, -te, -ing, -er(s), -ren, -den,
    # -ten, -ven, -men, -ken; plurals and adjectives of -ief, -eel, -aal, -eit, -ie.
    {"e", "en", "n", "s", "es", "d", "t", "de", "te", "ing", "er", "ers", "rs", "ren", "den"}
    | {"ten", "ven", "men", "ken", "zen", "ert", "ie", "ies", "f", "ef", "eve", "eel", "ele"}
    | {"al", "ale", "le", "l", "eit", "id"}
    # A long vowel written single before an ending: raad/raden, straat/straten, systeem/systemen.
    | {"ad", "at", "ek", "em", "el", "ar", "an", "ne"}
    # English, against those: -ion(s), -on(s), -y, -ic, -ial, -ive(s), -ed, -ing, -re/-ur, -or,
    # -ate, -ism.
    | {"ion", "ons", "on", "y", "ic", "ial", "ve", "ves", "ed", "ng", "re", "ur", "or", "ate"}
    | {"ism"}
)
"""The endings two cognates may end in, after their shared prefix: suffixes, so a shared
prefix that ends inside the next member of two compounds is no cognate ("warmtep|lan" of
"warmteplan" is not "warmtep|omp" of "warmtepomp", nor "warmtew|ijk" "warmtew|et")."""
# Typos: words of at least this many letters that are one edit apart (a letter inserted,
# deleted, replaced, or two neighbours swapped) are the same word ("isloatie" ~ "isolatie").
MIN_TYPO_WORD = 8


def fold(text: str) -> str:
    """Lower-case *text* and strip accents ("coöperatie" -> "cooperatie")."""
    if text.isascii():  # no accents to strip (NFKD leaves ASCII as it is)
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def strip_accents(text: str) -> str:
    """Strip accents from *text* but keep its case (for abbreviations such as "VvE")."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


_APOSTROPHE_ENDING = re.compile(r"(?<=[a-z0-9])['\u2019](?:s|en)\b")
"""The plural or possessive ending after an apostrophe: VvE's, RES'en, auto's, council's."""


def without_endings(folded: str) -> str:
    """*folded* (lower-case) text without the endings after an apostrophe: "vve's" -> "vve",
    "res'en" -> "res"; a leading apostrophe ("'s-hertogenbosch") stays."""
    return _APOSTROPHE_ENDING.sub("", folded)


def words(text: str) -> list[str]:
    """All folded words of *text*, stop words included; an apostrophe ending is dropped, so
    "VvE's" is the word *vve*, not *vve* and *s*."""
    return _WORD.findall(without_endings(fold(text)))


def content_words(text: str, stop_words: frozenset[str] = STOP_WORDS) -> list[str]:
    """Folded words of *text* without *stop_words* and without bare numbers."""
    return [word for word in words(text) if word not in stop_words and not word.isdigit()]


@lru_cache(maxsize=65536)
def root(word: str) -> str:
    """The comparison root of a folded *word*: derivational fold, then Dutch Porter stem."""
    for ending in _DERIVATIONAL_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= _MIN_ROOT:
            return word[: -len(ending)]
    stem: str = _STEMMER.stemWord(word)
    return stem


@lru_cache(maxsize=65536)
def english_root(word: str) -> str:
    """The English Porter stem of a folded *word* ("networks" -> "network")."""
    stem: str = _ENGLISH_STEMMER.stemWord(word)
    return stem


def common_prefix_length(first: str, second: str) -> int:
    """How many letters *first* and *second* share from their start."""
    shared = 0
    for left, right in zip(first, second, strict=False):
        if left != right:
            break
        shared += 1
    return shared


def are_cognates(first: str, second: str) -> bool:
    """True for words that share a long prefix and then differ in short endings that are
    suffixes (COGNATE_ENDINGS): "aquathermal" ~ "aquathermie", "organisation" ~ "organisatie",
    not "warmteplan" ~ "warmtepomp".
    """
    shared = common_prefix_length(first, second)
    return (
        shared >= MIN_COGNATE_PREFIX
        and 1 <= len(first) - shared <= MAX_COGNATE_TAIL
        and 1 <= len(second) - shared <= MAX_COGNATE_TAIL
        and first[shared:] in COGNATE_ENDINGS
        and second[shared:] in COGNATE_ENDINGS
    )


def one_deletions(word: str) -> set[str]:
    """*word* with one letter left out, in every position (keys for finding typos)."""
    return {word[:position] + word[position + 1 :] for position in range(len(word))}


def is_typo_of(first: str, second: str) -> bool:
    """True for two different words of MIN_TYPO_WORD+ letters at most one edit apart.

    An edit inserts, deletes or replaces one letter, or swaps two neighbouring letters
    (the Damerau-Levenshtein distance is 1).
    """
    if first == second or min(len(first), len(second)) < MIN_TYPO_WORD:
        return False
    if abs(len(first) - len(second)) > 1:
        return False
    if len(first) != len(second):
        shorter, longer = sorted((first, second), key=len)
        return shorter in one_deletions(longer)
    different = [index for index, (a, b) in enumerate(zip(first, second, strict=True)) if a != b]
    if len(different) == 1:
        return True
    return (
        len(different) == 2
        and different[1] == different[0] + 1
        and first[different[0]] == second[different[1]]
        and first[different[1]] == second[different[0]]
    )


@dataclass(frozen=True, slots=True)
class Word:
    """A content word with its Dutch comparison root and its English stem."""

    surface: str
    root: str
    english: str


def analyse(text: str, stop_words: frozenset[str] = STOP_WORDS) -> tuple[Word, ...]:
    """The content words of *text* (without *stop_words*), each with its roots, in text order."""
    return tuple(
        Word(word, root(word), english_root(word)) for word in content_words(text, stop_words)
    )


_WRITTEN_WORD = re.compile(r"[^\W_]+")
_SENTENCE_END = frozenset(".!?\n\u2022")
_CLAUSE_END = frozenset(":;")
"""After these a capital may start what follows ("Doel: Inzicht in …") or be a name's
("Netcongestie: Liander meldt …")."""


def spellings(text: str) -> dict[str, str]:
    """How *text* writes the words it writes other than folded, by folded word in text order,
    for :func:`spelled` (content words of two letters or more):

    * with capitals inside ("TVW", "VvE", "SpUk") where it writes the word so anywhere, in
      mixed case ("VvE") before capitals only ("VVE's") where it writes both;
    * else in lower case with its accents ("coöperatie"), where it writes it in lower case
      other than as the first word of a sentence;
    * else capitalised ("Liander", "Hoorn") where it writes it so inside a sentence, or after
      a colon or semicolon where it is no common word nor a compound of two
      (:func:`is_member_word`).

    A word only ever first in a sentence is left out (its case says nothing), and so is the
    case of a text written in capitals only ("VERDUURZAMING VAN VVE'S"): its accents stay.
    """
    shouting = not any(char.islower() for char in text)
    best: dict[str, tuple[int, str]] = {}
    for match in _WRITTEN_WORD.finditer(text):
        written = match.group()
        folded = words(written)
        if len(folded) != 1 or len(folded[0]) < 2 or folded[0] in STOP_WORDS:
            continue
        before = text[: match.start()].rstrip(" \t\"'(\u2018\u201c*-")
        starts_sentence = not before or before[-1] in _SENTENCE_END
        if shouting:
            rank, spelling = 2, written.lower()
        elif any(char.isupper() for char in written[1:]):
            rank, spelling = 3 + _mixed_case(written), written
        elif starts_sentence:
            continue
        elif written.islower():
            rank, spelling = 2, written
        elif before[-1] in _CLAUSE_END and is_member_word(folded[0]):
            continue  # a common word, or a compound of two ("Vraag: Kostenvergelijking")
        else:
            rank, spelling = 1, written
        if rank > best.get(folded[0], (0, ""))[0]:
            best[folded[0]] = (rank, spelling)
    return {word: spelling for word, (_, spelling) in best.items() if spelling != word}


def _mixed_case(written: str) -> bool:
    """Does *written* hold lower-case letters as well as capitals inside ("VvE", not "VVE")?"""
    return any(char.islower() for char in written)


def spelled(word: str, *known: Mapping[str, str], words: Container[str] = ()) -> str:
    """*word* (folded) as the texts whose *known* spellings (:func:`spellings`) are given
    write it: with capitals inside where one does (in mixed case where one does: "VvE", not
    "VVE"); else in lower case with accents
    where one does; else capitalised, as a name, where one does and it is no common word (nor
    one of *words*, the taxonomy's: "Aquathermie" is *aquathermie*), or where every text does
    ("Hoorn"). As it is where none writes it otherwise."""
    found = [spelling for spellings in known if (spelling := spellings.get(word)) is not None]
    inner = [spelling for spelling in found if spelling[1:] != spelling[1:].lower()]
    if inner:  # "VvE" before "VVE": written in capitals only, its case is less particular
        return max(inner, key=_mixed_case)
    for spelling in found:
        if spelling.islower():
            return spelling
    if found and (len(found) == len(known) or not is_known_word(word, words)):
        return found[0]
    return word


def is_compound_part(part: Word, whole: Word) -> bool:
    """True when *part* is the first or the last member of the compound *whole*.

    The root of *part* must start or end the root of *whole*, leave at least MIN_COMPOUND_REST
    letters for the other member, and be followed in *whole* by the same letters as in *part*
    (so "formatieberekening" contains "formatie", "participatieplatform" does not). A part in
    the middle of a word is not a member: "informatiemarkt" is not about "formatie".
    """
    if len(part.surface) < MIN_COMPOUND_WORD or len(part.root) < MIN_COMPOUND_PART:
        return False
    if len(whole.root) - len(part.root) < MIN_COMPOUND_REST:
        return False
    check = part.surface[: len(part.root) + _COMPOUND_CHECK_EXTRA]
    if whole.root.startswith(part.root):
        return whole.surface.startswith(check)
    if whole.root.endswith(part.root):
        start = len(whole.root) - len(part.root)
        return whole.surface[start : start + len(check)] == check
    return False


KNOWN_WORD_COUNT = 200
"""How often a word must occur in the word counts of ``pyspellchecker`` (Dutch and English
subtitles, OpenSubtitles) to count as a known word (:func:`is_known_word`). Rarer entries are
mostly names, fragments and a word list's fill ("tran" 113, "uithoorn" 50)."""

PREFIXES = frozenset({"ver", "her", "ont", "be", "ge", "er"})
"""Dutch prefixes that derive a word rather than head a compound, though some are words too
("ver", "her"): "verhuurders" (landlords) holds no *huurders* (tenants), "herstel" no *stel*."""

LINKING_ENDINGS = ("en", "s", "e")
"""What may join the first member of a Dutch compound to the second ("verenigings|gebouwen",
"bewoners|avond", "zonne|panelen"): left off when the member is looked up."""


@lru_cache(maxsize=1)
def _lexicon() -> frozenset[str]:
    """The folded Dutch and English words counted KNOWN_WORD_COUNT times or more."""
    found: set[str] = set()
    for language in ("nl", "en"):
        counts_file = resources.files("spellchecker") / "resources" / f"{language}.json.gz"
        with counts_file.open("rb") as packed, gzip.open(packed) as unpacked:
            counts: dict[str, int] = json.load(unpacked)
        found.update(fold(word) for word, count in counts.items() if count >= KNOWN_WORD_COUNT)
    return frozenset(found)


def load_word_lists() -> int:
    """Load the common Dutch and English words (:func:`is_known_word`) now rather than at the
    first tagging or reason that asks (0.4 s, once per process); how many there are."""
    return len(_lexicon())


def is_known_word(word: str, known: Container[str] = ()) -> bool:
    """True for a folded *word* that is a common Dutch or English word, or one of *known*."""
    return word in known or word in _lexicon()


def is_member_word(rest: str, known: Container[str] = ()) -> bool:
    """True when *rest*, what a compound holds beside a member, is a word itself: a known word
    (:func:`is_known_word`), also without a linking ending or with a doubled last letter
    undone ("zonne" is *zon*), or two such words ("warmte|transitie")."""
    if _is_member(rest, known):
        return True
    return len(rest) <= _LONGEST_SPLIT and any(
        _is_member(rest[:split], known) and _is_member(rest[split:], known)
        for split in range(MIN_COMPOUND_REST, len(rest) - MIN_COMPOUND_REST + 1)
    )


def _is_member(rest: str, known: Container[str]) -> bool:
    """*rest* is a known word, also without a linking ending (see is_member_word)."""
    if is_known_word(rest, known):
        return True
    for ending in LINKING_ENDINGS:
        if rest.endswith(ending) and len(rest) - len(ending) >= MIN_COMPOUND_REST:
            stem = rest[: -len(ending)]
            if is_known_word(stem, known):
                return True
            if (
                len(stem) > MIN_COMPOUND_REST
                and stem[-1] == stem[-2]
                and is_known_word(stem[:-1], known)
            ):
                return True
    return False


_LONGEST_SPLIT = 40
"""Words longer than this are not split in two to find their members (a guard on the cost)."""


def is_compound_member(part: Word, whole: Word, known: Container[str] = ()) -> bool:
    """True when *part* is a member of the compound *whole* as a reader sees it: as
    :func:`is_compound_part` says, and what *whole* holds beside it is a word too
    (:func:`is_member_word`; "dak" in "dakisolatie", not "weth" in "wethouder" or "tran" in
    "transport"). A first member must be written out whole, give or take its ending:
    "overheid" is no member of "overheating"; and a prefix (PREFIXES) is none: "verhuurders"
    holds no *huurders*.
    """
    if not is_compound_part(part, whole):
        return False
    if whole.root.startswith(part.root):
        shared = common_prefix_length(part.surface, whole.surface)
        ending = part.surface[shared:]
        if ending and ending not in COGNATE_ENDINGS:
            return False
        return is_member_word(whole.surface[shared:], known)
    start = len(whole.root) - len(part.root)
    head = whole.surface[:start]
    return head not in PREFIXES and is_member_word(head, known)


@lru_cache(maxsize=1)
def _equivalents() -> dict[str, str]:
    found: dict[str, str] = {}
    for group in EQUIVALENT_WORDS:
        canonical, *_ = members = group.split()
        for member in members:
            found.setdefault(member, canonical)
            found.setdefault(root(member), canonical)
    return found


def equivalent(word: str) -> str | None:
    """The first word of *word*'s EQUIVALENT_WORDS group (by surface or root), or None."""
    table = _equivalents()
    return table.get(word) or table.get(root(word))


def compound_members(word: str, known: Collection[str]) -> tuple[str, ...]:
    """The members of compound *word* when its first or last member is a *known* word.

    The longest known word of MIN_COMPOUND_PART+ letters that starts or ends *word* and leaves
    MIN_COMPOUND_REST+ letters is split off; a linking "s" between the members is dropped.
    ("dakisolatie" -> ("dak", "isolatie"), "raadsinformatieavonden" -> ("raad",
    "informatieavonden")); () when no known word fits.
    """
    best: tuple[str, ...] = ()
    best_length = 0
    for size in range(len(word) - MIN_COMPOUND_REST, MIN_COMPOUND_PART - 1, -1):
        if size <= best_length:
            break
        head, tail = word[:size], word[size:]
        if head in known:
            best, best_length = (head, tail), size
            break
    for size in range(len(word) - MIN_COMPOUND_REST, max(best_length, MIN_COMPOUND_PART - 1), -1):
        head, tail = word[: len(word) - size], word[len(word) - size :]
        if tail in known:
            if head.endswith("s") and len(head) > MIN_COMPOUND_REST:
                head = head[:-1]
            best = (head, tail)
            break
    return best


def words_correspond(first: Word, second: Word, known: Container[str] = ()) -> bool:
    """Equal roots, one word a compound member of the other (:func:`is_compound_member`, with
    *known* words beside the common ones), or close cognates."""
    if same_word(first, second):
        return True
    if is_compound_member(first, second, known) or is_compound_member(second, first, known):
        return True
    return are_cognates(first.surface, second.surface)


def same_word(first: Word, second: Word) -> bool:
    """Equal Dutch roots or equal English stems: the same word up to inflection."""
    return first.root == second.root or first.english == second.english


def shared_terms(
    first: tuple[Word, ...], second: tuple[Word, ...], known: Container[str] = ()
) -> tuple[str, ...]:
    """Words that two analysed texts share, most specific (longest) first (*known*: words that
    count as words beside the common ones, see :func:`words_correspond`).

    For a corresponding pair the shorter surface form is reported: "warmtenet" for
    "warmtenetten" ~ "warmtenet", "participatie" for "burgerparticipatie" ~ "participatie".
    """
    found: set[str] = set()
    for left in set(first):
        for right in set(second):
            if words_correspond(left, right, known):
                shorter = min(left.surface, right.surface, key=lambda text: (len(text), text))
                found.add(shorter)
    return tuple(sorted(found, key=lambda term: (-len(term), term)))
