"""Dutch-aware text normalisation shared by tagging and similarity.

Everything that compares words goes through :func:`content_words`: lower case, accents stripped,
split on anything that is not a letter or digit, stop words dropped. Each word then gets a
*root* (:func:`root`): the Dutch Porter stem, with the -eren / -ering / -atie family folded
together so that "isoleren", "isolering" and "isolatie" share the root "isol"; and an English
Porter stem, so "heating networks" meets "heat network".

Two words *correspond* (:func:`words_correspond`) when their roots are equal, when one root is
a compound part of the other ("burgerparticipatie" contains "participatie"), or when they are
close cognates across Dutch and English ("aquathermal" ~ "aquathermie").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import Stemmer


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


FUNCTION_WORDS = _word_set(
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

PHRASING_WORDS = _word_set(
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

_WORD = re.compile(r"[a-z0-9]+")
_RAW_TOKEN = re.compile(r"[A-Za-z0-9]+")
_STEMMER = Stemmer.Stemmer("dutch_porter")
_ENGLISH_STEMMER = Stemmer.Stemmer("english")

# Derivational endings folded away before stemming; the root that is left must keep this
# many letters, or the word is too short to fold safely ("leren", "beheren").
_DERIVATIONAL_ENDINGS = ("eringen", "ering", "aties", "eren", "atie")
_MIN_ROOT = 4
# A word counts as a compound part of a longer word only from these lengths on (root, word).
MIN_COMPOUND_PART = 4
MIN_COMPOUND_WORD = 5
# Cognates: a shared prefix of at least this many letters covering this share of the longer word.
MIN_COGNATE_PREFIX = 7
MIN_COGNATE_SHARE = 0.75


def fold(text: str) -> str:
    """Lower-case *text* and strip accents ("coöperatie" -> "cooperatie")."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def strip_accents(text: str) -> str:
    """Strip accents from *text* but keep its case (for abbreviations such as "VvE")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def raw_tokens(text: str) -> list[str]:
    """Split *text* into case-preserving alphanumeric tokens, accents stripped."""
    return _RAW_TOKEN.findall(strip_accents(text))


def words(text: str) -> list[str]:
    """All folded words of *text*, stop words included."""
    return _WORD.findall(fold(text))


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


def is_compound_part(part: str, whole: str) -> bool:
    """True when root *part* occurs inside the longer root *whole* as a compound member."""
    return len(part) >= MIN_COMPOUND_PART and len(whole) > len(part) and part in whole


def are_cognates(first: str, second: str) -> bool:
    """True for words that share a long prefix ("aquathermal" ~ "aquathermie")."""
    shared = 0
    for left, right in zip(first, second, strict=False):
        if left != right:
            break
        shared += 1
    longest = max(len(first), len(second))
    return shared >= MIN_COGNATE_PREFIX and shared >= MIN_COGNATE_SHARE * longest


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


def words_correspond(first: Word, second: Word) -> bool:
    """Equal roots, one word a compound part of the other, or close cognates."""
    if first.root == second.root or first.english == second.english:
        return True
    if len(first.surface) >= MIN_COMPOUND_WORD and is_compound_part(first.root, second.root):
        return True
    if len(second.surface) >= MIN_COMPOUND_WORD and is_compound_part(second.root, first.root):
        return True
    return are_cognates(first.surface, second.surface)


def shared_terms(first: tuple[Word, ...], second: tuple[Word, ...]) -> tuple[str, ...]:
    """Words that two analysed texts share, most specific (longest) first.

    For a corresponding pair the shorter surface form is reported: "warmtenet" for
    "warmtenetten" ~ "warmtenet", "participatie" for "burgerparticipatie" ~ "participatie".
    """
    found: set[str] = set()
    for left in set(first):
        for right in set(second):
            if words_correspond(left, right):
                shorter = min(left.surface, right.surface, key=lambda text: (len(text), text))
                found.add(shorter)
    return tuple(sorted(found, key=lambda term: (-len(term), term)))
