"""Plain frozen dataclasses that go into and come out of the engine.

Ids are the callers' integer primary keys; the engine only compares them, and breaks every tie
by them, so equal input gives equal output whatever the input order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Priority = Literal["low", "normal", "high"]
TagSource = Literal["given", "inferred"]
Factor = Literal["topic", "text", "semantic", "region", "reciprocity"]


@dataclass(frozen=True, slots=True)
class Formula:
    """How a :class:`~app.matching.MatchIndex` scores, which its answers decide
    (:meth:`~app.matching.MatchIndex.formula_for`): with the semantic factor or not, and with
    the offers' hub floors (and semantic shifts) fitted or not. Scores of two formulas do not
    compare, so one ranking must not mix them."""

    semantic: bool
    hub_floors: bool


@dataclass(frozen=True, slots=True)
class Need:
    """ "We need knowledge about …": one organisation's need."""

    id: int
    organisation_id: int
    text: str
    topics: tuple[str, ...] = ()
    """Topic slugs the author chose; the engine adds the ones it infers from the text."""
    priority: Priority = "normal"
    region: str | None = None
    embedding: bytes | None = field(default=None, repr=False)
    """The text's sentence embedding (:mod:`app.matching.embedding`), or None: float32, unit norm.

    Computed once when the text is written; an index where every need and offer has one, with
    at least scoring.HUB_MIN_NEEDS of each (MatchIndex.scores_semantically), adds the semantic
    factor to the score by default (see :data:`scoring.SEMANTIC_WEIGHTS`)."""


@dataclass(frozen=True, slots=True)
class Offer:
    """ "We can offer knowledge on …": one organisation's offer to its peers."""

    id: int
    organisation_id: int
    text: str
    topics: tuple[str, ...] = ()
    capacity: int = 1
    """How many peer needs this offer can serve."""
    region: str | None = None
    embedding: bytes | None = field(default=None, repr=False)
    """As :attr:`Need.embedding` (offers are embedded as passages, needs as queries)."""


@dataclass(frozen=True, slots=True)
class FormatPreference:
    """A format an organisation likes to learn in (learning-circle, site-visit, …)."""

    organisation_id: int
    format: str


@dataclass(frozen=True, slots=True)
class TopicTag:
    """A topic attached to a text, with where it came from.

    ``evidence`` is the taxonomy term that matched ("TVW", "participatie") and ``matched_text``
    the words of the text it matched ("burgerparticipatie"); both are empty for a topic that was
    only given.
    """

    slug: str
    source: TagSource
    evidence: str = ""
    matched_text: str = ""


@dataclass(frozen=True, slots=True)
class Reason:
    """One factor's share of a suggestion's score, with a human-readable detail."""

    factor: Factor
    contribution: float
    detail: str


@dataclass(frozen=True, slots=True)
class Suggestion:
    """An offer of another organisation that could help with a need.

    ``score`` is the sum of the reasons' contributions (each rounded to 4 decimals).
    """

    need_id: int
    offer_id: int
    need_organisation_id: int
    offer_organisation_id: int
    score: float
    reasons: tuple[Reason, ...]
    matched_topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Allocation:
    """One assignment of needs to offers within the offers' capacities.

    Found lexicographically: first the most organisations with at least one helper, then the
    highest total score. ``assignments`` holds the chosen suggestions: one per assigned need,
    besides the pairs already committed to (a need may hold more than one of those).
    """

    assignments: tuple[Suggestion, ...]
    covered_organisations: tuple[int, ...]
    """Organisations with a need that got at least one helper."""
    uncovered_organisations: tuple[int, ...]
    """Organisations with a candidate suggestion that still got none (capacity ran out)."""
    total_score: float

    @property
    def needs_assigned(self) -> int:
        """How many needs got a helper."""
        return len({assignment.need_id for assignment in self.assignments})


@dataclass(frozen=True, slots=True)
class ReciprocalPair:
    """Two organisations that can help each other, one suggestion in each direction."""

    first_organisation_id: int
    second_organisation_id: int
    first_helps_second: Suggestion
    second_helps_first: Suggestion
    score: float
    """The weaker direction's score: a pair is as good as its weakest half."""


@dataclass(frozen=True, slots=True)
class WorkingGroup:
    """Organisations that share a need and could tackle it together."""

    topics: tuple[str, ...]
    need_ids: tuple[int, ...]
    organisation_ids: tuple[int, ...]
    host_organisation_ids: tuple[int, ...]
    """Organisations whose offers cover the group's topics, most offers first."""
    preferred_formats: tuple[tuple[str, int], ...]
    """(format, number of member organisations preferring it), most popular first."""


@dataclass(frozen=True, slots=True)
class Gap:
    """A need no offer in the community answers well enough."""

    need_id: int
    organisation_id: int
    best_score: float
    best_offer_id: int | None


@dataclass(frozen=True, slots=True)
class UnmetOffer:
    """An offer that no need in the community asks for well enough."""

    offer_id: int
    organisation_id: int
    best_score: float
    best_need_id: int | None


@dataclass(frozen=True, slots=True)
class CommunityReport:
    """Everything :func:`match_community` works out for one community in one pass."""

    suggestions: tuple[Suggestion, ...]
    allocation: Allocation
    reciprocal_pairs: tuple[ReciprocalPair, ...]
    working_groups: tuple[WorkingGroup, ...]
    gaps: tuple[Gap, ...]
    unmet_offers: tuple[UnmetOffer, ...]
