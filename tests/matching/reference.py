"""Reference allocation objective by networkx max-flow-min-cost (slow, for comparisons only)."""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

from app.matching import Offer, Suggestion
from app.matching.scoring import to_units


def reference_objective(
    suggestions: Iterable[Suggestion], offers: Iterable[Offer]
) -> tuple[int, int]:
    """(organisations covered, total score in 10⁻⁴ units) of an optimal allocation.

    S0 → S carries the total capacity K; S either feeds offers (capacity each) or bypasses to T,
    so the maximum flow is always K and min cost picks the best allocation. Offer → need edges
    cost −units(score); need → organisation edges carry 1; an organisation's first unit to T
    earns −M, more than any total score, which makes coverage lexicographically first.
    """
    suggestions = list(suggestions)
    capacity = {offer.id: offer.capacity for offer in offers}
    total_capacity = sum(capacity.values())
    need_ids = {s.need_id for s in suggestions}
    bonus = 10_000 * len(need_ids) + 1
    graph = nx.DiGraph()
    graph.add_edge("S0", "S", capacity=total_capacity, weight=0)
    graph.add_edge("S", "T", capacity=total_capacity, weight=0)
    for offer_id, amount in capacity.items():
        graph.add_edge("S", ("offer", offer_id), capacity=amount, weight=0)
    organisations = set()
    for s in suggestions:
        if s.offer_id not in capacity or s.score <= 0:
            continue
        graph.add_edge(
            ("offer", s.offer_id), ("need", s.need_id), capacity=1, weight=-to_units(s.score)
        )
        graph.add_edge(("need", s.need_id), ("org", s.need_organisation_id), capacity=1, weight=0)
        organisations.add(s.need_organisation_id)
    for organisation in organisations:
        graph.add_edge(("org", organisation), ("first", organisation), capacity=1, weight=-bonus)
        graph.add_edge(("first", organisation), "T", capacity=1, weight=0)
        graph.add_edge(("org", organisation), "T", capacity=total_capacity, weight=0)
    flow = nx.max_flow_min_cost(graph, "S0", "T")
    cost = nx.cost_of_flow(graph, flow)
    covered = sum(flow[("org", o)][("first", o)] for o in organisations)
    return covered, -cost - covered * bonus
