"""The bridge between the database and the matching engine (``app.matching``).

Rows go in as the engine's plain dataclasses; suggestions come back and are stored in the
``suggestions`` table, which is what the API serves.

Keeping suggestions current:

* Writing a need or an offer re-tags its text (given and inferred topics) and re-scores that
  one answer against the other side of its community (:func:`refresh_need`,
  :func:`refresh_offer`). While the other side is unchanged, the cached index is reused and
  only the written answer is analysed and vectorised (otherwise the index is rebuilt, linear
  in the community's size); only the changed answer's pairs are scored and stored.
* A write that changes the community's scoring formula (``matching.Formula``: with the
  semantic factor from its 20th need and offer, with the offers' hub floors from its 20th
  need; or a delete below that) re-scores the whole community instead, once: scores of two
  formulas are not comparable, and the stored ones must all be of one
  (``Community.scored_semantically`` and ``scored_with_hub_floors`` record which).
* :func:`recompute` scores the whole community (after a bulk load, or on request).
* An organisation that changes its region re-scores the needs whose pairs that changes
  (:func:`relocate`), on the cached index moved to the new region, not rebuilt.
* Rows members acted on (introduced, accepted, declined, completed) survive both; a declined
  pair is excluded from scoring, so it is never proposed again.

The engine's index of a community is cached in this process by community id, with the snapshot
it was built on, and reused while the answers it depends on are equal (see ``_IndexCache``), so
reads (working groups, gaps) do not rebuild it while nothing changed.

The package, by concern: :mod:`.tags` (topic tags of answers), :mod:`.embeddings` (vectors for
the semantic factor, stored at write time), :mod:`.index` (a community's snapshot and its cached
match index), :mod:`.suggestions` (storing, refreshing, reading and acting on suggestions) and
:mod:`.views` (allocation, reciprocal pairs, working groups, gaps, unmet offers).
"""

from app.matching import Suggestion as EngineSuggestion
from app.matching import collector_paused
from app.services.matching.embeddings import (
    EmbeddedAhead,
    embed_ahead,
    embed_answers,
    embed_texts_ahead,
    embed_written,
    read_stale,
    text_hash,
)
from app.services.matching.index import Snapshot, community_index, snapshot
from app.services.matching.suggestions import (
    COMMITTED,
    STORED_PER_ANSWER,
    TRANSITIONS,
    forget_answer,
    get_suggestion,
    list_suggestions,
    places_taken,
    queue_answer_writes,
    recompute,
    refresh_need,
    refresh_offer,
    relocate,
    rename_in_reasons,
    update_suggestion,
    writing_community,
)
from app.services.matching.tags import engine_taxonomy, retag, tag_text, warm_up
from app.services.matching.views import (
    StoredView,
    allocation,
    gap_threshold,
    gaps,
    gaps_window,
    reciprocal_pairs,
    unmet_offers,
    unmet_offers_window,
    working_groups,
)

__all__ = [
    "COMMITTED",
    "STORED_PER_ANSWER",
    "TRANSITIONS",
    "EmbeddedAhead",
    "EngineSuggestion",
    "Snapshot",
    "StoredView",
    "allocation",
    "collector_paused",
    "community_index",
    "embed_ahead",
    "embed_answers",
    "embed_texts_ahead",
    "embed_written",
    "engine_taxonomy",
    "forget_answer",
    "gap_threshold",
    "gaps",
    "gaps_window",
    "get_suggestion",
    "list_suggestions",
    "places_taken",
    "queue_answer_writes",
    "read_stale",
    "reciprocal_pairs",
    "recompute",
    "refresh_need",
    "refresh_offer",
    "relocate",
    "rename_in_reasons",
    "retag",
    "snapshot",
    "tag_text",
    "text_hash",
    "unmet_offers",
    "unmet_offers_window",
    "update_suggestion",
    "warm_up",
    "working_groups",
    "writing_community",
]
