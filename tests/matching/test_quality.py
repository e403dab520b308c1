"""Quality bar on the held-out split of the labelled set (everything was tuned on dev only).

``pytest tests/matching/test_quality.py -s`` prints the comparison table for all three systems.
Metric definitions are in :mod:`tests.matching.evaluation` (an offer counts as relevant from
grade 2, "clearly helps"; precision@1 is over answerable needs only).
"""

from . import evaluation

# The bar is what the engine reached on held-out when this test was last raised (P@1 0.582,
# MRR 0.690, recall@3 0.576 on 68 held-out needs, 55 of them answerable), rounded down. Dev was
# at P@1 0.735: part of the dev gain came from synonyms chosen while reading dev misses and did
# not carry over. The product target is P@1 ≥ 0.85 and is NOT met; raise these as the engine
# improves, never lower them to make a change pass.
HELDOUT_PRECISION_AT_1 = 0.58
HELDOUT_MRR = 0.69
HELDOUT_RECALL_AT_3 = 0.57


def test_engine_reaches_the_bar_on_heldout() -> None:
    labelled, taxonomy = evaluation.load(), evaluation.load_taxonomy()
    results = evaluation.comparison(labelled, taxonomy)
    print("\n" + evaluation.table(results))
    engine = results[("engine", "heldout")]
    assert engine.precision_at_1 >= HELDOUT_PRECISION_AT_1
    assert engine.mrr >= HELDOUT_MRR
    assert engine.recall_at_3 >= HELDOUT_RECALL_AT_3
    for baseline in ("word TF-IDF", "topic-overlap baseline"):
        assert engine.precision_at_1 >= results[(baseline, "heldout")].precision_at_1
        assert engine.mrr >= results[(baseline, "heldout")].mrr
