"""Synthetic kick-off post-its with a realistic vocabulary, for the benchmarks (deterministic).

Texts are built from the shipped taxonomy (``app/data/topics.yaml``: Dutch and English labels,
synonyms, abbreviations), mixed with Dutch phrasing and filler words, municipality names,
ad-hoc compounds ("wijkwarmteteam") and the odd typo, in the short style of a kick-off post-it.
Every organisation leans towards two themes, so needs and offers on the same topics cluster the
way they do in a real community. The labelled evaluation set is deliberately not used.

``community(municipalities, per_organisation, seed)`` gives needs and offers through the public
engine types; ``texts(count, seed)`` gives bare texts with the topics they were written about,
for the engine-alone benchmark at a scale where tagging every text is not the point.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np
import yaml
from sklearn.feature_extraction.text import TfidfVectorizer

from app.matching import FormatPreference, Need, Offer, Taxonomy, Topic
from app.matching.embedding import EMBEDDING_DIMENSIONS

DATA = Path(__file__).resolve().parents[2] / "app" / "data"
TOPICS_FILE = DATA / "topics.yaml"
MUNICIPALITIES_FILE = DATA / "municipalities-noord-holland-2023.csv"

SAFETY_REGIONS = (
    "Groningen", "Fryslân", "Drenthe", "IJsselland", "Twente", "Noord- en Oost-Gelderland",
    "Gelderland-Midden", "Gelderland-Zuid", "Utrecht", "Noord-Holland Noord",
    "Zaanstreek-Waterland", "Kennemerland", "Amsterdam-Amstelland", "Gooi en Vechtstreek",
    "Haaglanden", "Hollands Midden", "Rotterdam-Rijnmond", "Zuid-Holland Zuid", "Zeeland",
    "Midden- en West-Brabant", "Brabant-Noord", "Brabant-Zuidoost", "Limburg-Noord",
    "Zuid-Limburg", "Flevoland",
)  # fmt: skip
# Parts of Dutch place names, for municipalities beyond the 44 real Noord-Holland ones.
PLACE_PREFIXES = (
    "Noord", "Zuid", "Oost", "West", "Nieuw", "Oud", "Groot", "Hoog", "Laag", "Sint ", "Ter ",
    "Midden-", "Ooster", "Wester", "Zand", "Veen", "Berg", "Heer", "Wolder", "Dal",
)  # fmt: skip
PLACE_STEMS = (
    "broek", "dam", "veen", "horst", "wolde", "hoven", "wijk", "dijk", "meer", "berg", "zijl",
    "haven", "sloot", "voort", "hout", "loo", "schoten", "burg", "kerk", "rade", "emmen",
    "mond", "holt", "beek", "donk", "hem", "zande", "laar", "stein", "wolde",
)  # fmt: skip

NEED_FRAMES = (
    "Hoe pakken jullie {topic} aan?",
    "Wij zoeken kennis over {topic}, vooral {second}.",
    "Graag ervaringen met {topic} in {place}.",
    "Wie heeft al eens {topic} gedaan? Wij lopen vast op {second}.",
    "Vraag: {topic} en {second} in de praktijk",
    "Hulp nodig bij {topic} voor onze {compound}",
    "{topic}: hoe krijg je {second} georganiseerd?",
    "Welke gemeente heeft {topic} al rond?",
    "We need help with {topic} and {second}",
    "{abbreviation} en {topic}, hoe combineren jullie dat?",
)
OFFER_FRAMES = (
    "Wij kunnen ervaring delen over {topic}.",
    "In {place} hebben we {topic} gedaan, ook {second}.",
    "Kennis van {topic} en {second} uit onze {compound}",
    "Onze aanpak voor {topic}: graag delen!",
    "Wij bieden een kijkje in de keuken bij {topic}",
    "{topic} ({abbreviation}) - wij hebben een handreiking",
    "Ervaring met {second} en {topic} in de wijk",
    "We can share our {topic} approach",
    "Lessen uit {place}: {topic}",
    "Wij helpen graag met {topic}, {second} en {compound}",
)
FILLER = (
    "wij", "willen", "graag", "weten", "hoe", "andere", "gemeenten", "dit", "aanpakken", "en",
    "welke", "ervaringen", "er", "zijn", "met", "bewoners", "partners", "regio", "planning",
    "uitvoering", "kosten", "wijk", "woningen", "vooral", "nu", "echt", "lastig", "eerste",
    "stap", "samen", "college", "raad", "volgend", "jaar", "najaar", "voorjaar", "snel",
    "praktisch", "concreet", "goede", "voorbeelden", "tips", "valkuilen", "ambtelijk",
    "bestuurlijk", "team", "collega's", "afdeling", "project", "traject", "proces", "aanpak",
    "keuze", "kansen", "zorgen",
)  # fmt: skip
COMPOUND_HEADS = (
    "wijk", "buurt", "warmte", "energie", "gas", "bewoners", "project", "plan", "subsidie",
    "data", "net", "woning", "huurders", "klimaat", "isolatie", "bron", "programma", "straat",
)  # fmt: skip
COMPOUND_TAILS = (
    "aanpak", "plan", "team", "overleg", "traject", "kaart", "avond", "sessie", "analyse",
    "strategie", "budget", "planning", "gesprek", "pilot", "regeling", "visie", "loket", "groep",
)  # fmt: skip
FORMATS = ("learning-circle", "knowledge-session", "site-visit", "peer-review", "one-to-one")


@dataclass(frozen=True, slots=True)
class Text:
    """A synthetic post-it and the topics it was written about."""

    text: str
    topics: frozenset[str]


@dataclass(frozen=True, slots=True)
class Community:
    """A synthetic community: one organisation per municipality."""

    taxonomy: Taxonomy
    needs: tuple[Need, ...]
    offers: tuple[Offer, ...]
    formats: tuple[FormatPreference, ...]


@cache
def taxonomy() -> Taxonomy:
    """The shipped taxonomy."""
    return Taxonomy.from_mapping(yaml.safe_load(TOPICS_FILE.read_text(encoding="utf-8")))


def municipality_names(count: int, seed: int = 0) -> list[str]:
    """The 44 Noord-Holland municipalities, then made-up Dutch place names, *count* in all.

    Up to about 18,000 distinct names can be made up."""
    with MUNICIPALITIES_FILE.open(encoding="utf-8") as handle:
        names = [row["cbs_name"] for row in csv.DictReader(handle)]
    rng = random.Random(seed)
    known = set(names)
    while len(names) < count:
        prefix, stem = rng.choice(PLACE_PREFIXES), rng.choice(PLACE_STEMS)
        if rng.random() < 0.5:  # a longer name for the thousands of places at EU scale
            prefix = prefix + (stem.title() if prefix[-1] in " -" else stem)
            stem = rng.choice(PLACE_STEMS)
        name = prefix + (stem.title() if prefix[-1] in " -" else stem)
        if name not in known:
            known.add(name)
            names.append(name)
    return names[:count]


class _Writer:
    """Writes post-its; one instance per generated set, so output depends on the seed only."""

    def __init__(self, rng: random.Random, places: list[str]) -> None:
        self.rng = rng
        self.places = places
        self.topics = list(taxonomy())
        self.themes = sorted({topic.theme for topic in self.topics})
        self.by_theme = {
            theme: [topic for topic in self.topics if topic.theme == theme] for theme in self.themes
        }
        self.abbreviated = [topic for topic in self.topics if topic.abbreviations]

    def focus(self) -> tuple[str, str]:
        first, second = self.rng.sample(self.themes, 2)
        return first, second

    def write(self, focus: tuple[str, str], frames: tuple[str, ...]) -> Text:
        rng = self.rng
        theme = focus[0] if rng.random() < 0.6 else focus[1]
        main = rng.choice(self.by_theme[theme])
        # The second subject is mostly a neighbour in the same theme, sometimes anything.
        other = rng.choice(self.by_theme[theme] if rng.random() < 0.7 else self.topics)
        abbreviated = main if main.abbreviations else rng.choice(self.abbreviated)
        frame = rng.choice(frames)
        text = frame.format(
            topic=self.phrase(main),
            second=self.phrase(other),
            abbreviation=rng.choice(abbreviated.abbreviations),
            place=rng.choice(self.places),
            compound=self.compound(),
        )
        used = {main.slug}
        if "{second}" in frame:
            used.add(other.slug)
        if "{abbreviation}" in frame:
            used.add(abbreviated.slug)
        extra = [rng.choice(FILLER) for _ in range(rng.randint(2, 9))]
        if rng.random() < 0.3:
            extra.append(self.compound())
        if rng.random() < 0.25:
            extra.append(rng.choice(self.places))
        words = [*text.split(), *extra]
        if rng.random() < 0.15:  # the odd typo: two neighbouring letters swapped
            position = rng.randrange(len(words))
            words[position] = _swap_letters(words[position], rng)
        return Text(" ".join(words), frozenset(used))

    def phrase(self, topic: Topic) -> str:
        roll = self.rng.random()
        if roll < 0.1 and topic.abbreviations:
            return self.rng.choice(topic.abbreviations)
        if roll < 0.25:
            return topic.label_nl
        if roll < 0.3:
            return topic.label_en
        return self.rng.choice(topic.synonyms or (topic.label_nl,))

    def compound(self) -> str:
        head, tail = self.rng.choice(COMPOUND_HEADS), self.rng.choice(COMPOUND_TAILS)
        if self.rng.random() < 0.3:
            head += self.rng.choice(COMPOUND_HEADS)
        return head + tail


def _swap_letters(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    position = rng.randrange(1, len(word) - 2)
    return word[:position] + word[position + 1] + word[position] + word[position + 2 :]


def community(municipalities: int, per_organisation: int = 10, seed: int = 0) -> Community:
    """*municipalities* organisations with *per_organisation* needs and offers each.

    Organisation ids are 1…n, need and offer ids are consecutive from 1; regions are the 25
    safety regions (the Noord-Holland municipalities keep their own); capacities are 1–3.
    """
    rng = random.Random(seed)
    places = municipality_names(municipalities, seed)
    with MUNICIPALITIES_FILE.open(encoding="utf-8") as handle:
        known_regions = {row["cbs_name"]: row["veiligheidsregio"] for row in csv.DictReader(handle)}
    writer = _Writer(rng, places)
    needs: list[Need] = []
    offers: list[Offer] = []
    formats: list[FormatPreference] = []
    for organisation, place in enumerate(places, start=1):
        region = known_regions.get(place) or rng.choice(SAFETY_REGIONS)
        focus = writer.focus()
        for _ in range(per_organisation):
            written = writer.write(focus, NEED_FRAMES)
            needs.append(Need(len(needs) + 1, organisation, written.text, (), "normal", region))
        for _ in range(per_organisation):
            written = writer.write(focus, OFFER_FRAMES)
            offers.append(
                Offer(len(offers) + 1, organisation, written.text, (), rng.randint(1, 3), region)
            )
        for name in rng.sample(FORMATS, 2):
            formats.append(FormatPreference(organisation, name))
    return Community(taxonomy(), tuple(needs), tuple(offers), tuple(formats))


def texts(count: int, *, offers: bool, seed: int = 0, places: int = 342) -> list[Text]:
    """*count* need (or offer) texts, organisations of ten texts each, with their topics."""
    rng = random.Random(seed)
    writer = _Writer(rng, municipality_names(places, seed))
    frames = OFFER_FRAMES if offers else NEED_FRAMES
    written: list[Text] = []
    focus = writer.focus()
    for position in range(count):
        if position % 10 == 0:
            focus = writer.focus()
        written.append(writer.write(focus, frames))
    return written


def with_embeddings(data: Community, seed: int) -> Community:
    """*data* with stand-in 384-d embeddings: a Gaussian random projection of each text's word
    TF-IDF vector plus as much noise again, unit norm. Texts that share words get close vectors,
    as a sentence model's do, so the semantic factor's shifts, gaps and ranking do real work;
    running the bundled model on 6,840 texts would take minutes. Speed only: these vectors know
    nothing of meaning."""
    texts = [item.text for item in (*data.needs, *data.offers)]
    words = TfidfVectorizer().fit_transform(texts)
    rng = np.random.default_rng(seed)
    dimensions = EMBEDDING_DIMENSIONS
    projected = words @ rng.standard_normal((words.shape[1], dimensions))
    projected += (
        rng.standard_normal(projected.shape)
        * np.linalg.norm(projected, axis=1)[:, None]
        / np.sqrt(dimensions)
    )
    projected /= np.linalg.norm(projected, axis=1)[:, None]
    vectors = [row.astype(np.float32).tobytes() for row in projected]
    needs = tuple(
        replace(need, embedding=vector) for need, vector in zip(data.needs, vectors, strict=False)
    )
    offers = tuple(
        replace(offer, embedding=vector)
        for offer, vector in zip(data.offers, vectors[len(data.needs) :], strict=True)
    )
    return replace(data, needs=needs, offers=offers)
