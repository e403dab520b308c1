"""copmatch's matching engine: a pure library from kick-off answers to peer-help suggestions.

Data in: a :class:`Taxonomy` (``Taxonomy.from_mapping`` reads the parsed ``topics.yaml``),
:class:`Need` and :class:`Offer` answers, :class:`FormatPreference` rows, and the (need id,
offer id) pairs a member declined. Data out: frozen dataclasses only. Nothing here touches a
database, a web framework or the rest of ``app``; ``app/services`` is the bridge.

* :func:`tag_topics` — taxonomy topics in a free text, each with its evidence.
* :func:`load_word_lists` — the common Dutch and English words that tell a typo from a word
  and a compound's member from a fragment, loaded ahead (they load on first use otherwise).
* :func:`load_embedder` — the bundled multilingual sentence-embedding model (optional extra
  ``copmatch[semantic]``; None without it). When every need and offer carries an ``embedding``
  of one size and there are at least ``HUB_MIN_NEEDS`` of each
  (:meth:`MatchIndex.scores_semantically`), they are scored with the semantic factor too
  (:data:`SEMANTIC_WEIGHTS`); otherwise on text and topics alone.
* :class:`MatchIndex` — built once over a community; ``score_need`` / ``score_offer`` rank one
  (possibly new) answer against the other side cheaply; ``suggest``, ``gaps`` and
  ``unmet_offers`` cover the whole community.
* :func:`suggest` — suggestions for every need in one call.
* :func:`allocate` — needs to offers within capacities: most organisations helped, then the
  highest total score (an exact solve, not a greedy loop).
* :func:`reciprocal_pairs`, :func:`working_groups` — organisations that can help each other,
  and clusters of organisations that share a need.
* :func:`match_community` — all of the above in one :class:`CommunityReport`.
* :func:`collector_paused` — Python's cyclic garbage collector held off while a caller turns
  the engine's results into tens of thousands of objects of its own (a report's rows).

A suggestion's score is the sum of its reasons' contributions (see :mod:`app.matching.scoring`
for the formulas and :data:`DEFAULT_WEIGHTS`); results are deterministic, ties broken by id.
"""

from app.matching.allocation import allocate
from app.matching.community import (
    CANDIDATES_PER_NEED,
    match_community,
    reciprocal_pairs,
    suggest,
    working_groups,
)
from app.matching.embedding import EMBEDDING_MODEL, Embedder, load_embedder
from app.matching.index import MatchIndex
from app.matching.parallel import collector_paused
from app.matching.scoring import DEFAULT_WEIGHTS, GAP_THRESHOLD, SEMANTIC_WEIGHTS, Weights
from app.matching.tagging import tag_topics
from app.matching.taxonomy import Taxonomy, TaxonomyError, Topic
from app.matching.text import load_word_lists
from app.matching.types import (
    Allocation,
    CommunityReport,
    FormatPreference,
    Formula,
    Gap,
    Need,
    Offer,
    Reason,
    ReciprocalPair,
    Suggestion,
    TopicTag,
    UnmetOffer,
    WorkingGroup,
)

__all__ = [
    "CANDIDATES_PER_NEED",
    "DEFAULT_WEIGHTS",
    "EMBEDDING_MODEL",
    "GAP_THRESHOLD",
    "SEMANTIC_WEIGHTS",
    "Allocation",
    "CommunityReport",
    "Embedder",
    "FormatPreference",
    "Formula",
    "Gap",
    "MatchIndex",
    "Need",
    "Offer",
    "Reason",
    "ReciprocalPair",
    "Suggestion",
    "Taxonomy",
    "TaxonomyError",
    "Topic",
    "TopicTag",
    "UnmetOffer",
    "Weights",
    "WorkingGroup",
    "allocate",
    "collector_paused",
    "load_embedder",
    "load_word_lists",
    "match_community",
    "reciprocal_pairs",
    "suggest",
    "tag_topics",
    "working_groups",
]
