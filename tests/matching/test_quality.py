"""Quality bar on the held-out split of the labelled set (weights were tuned on dev only).

``pytest tests/matching/test_quality.py -s`` prints the comparison table for all three systems.
"""

from . import evaluation

# The bar is what the engine reached on held-out when this test was written (P@1 0.545, MRR
# 0.659 on 68 held-out needs). The product target is P@1 ≥ 0.85 and is NOT met yet; raise these
# as the engine improves, never lower them to make a change pass.
HELDOUT_PRECISION_AT_1 = 0.54
HELDOUT_MRR = 0.65


def test_engine_reaches_the_bar_on_heldout() -> None:
    labelled, taxonomy = evaluation.load(), evaluation.load_taxonomy()
    results = evaluation.comparison(labelled, taxonomy)
    print("\n" + evaluation.table(results))
    engine = results[("engine", "heldout")]
    assert engine.precision_at_1 >= HELDOUT_PRECISION_AT_1
    assert engine.mrr >= HELDOUT_MRR
    assert engine.precision_at_1 >= results[("word TF-IDF", "heldout")].precision_at_1
    assert engine.precision_at_1 >= results[("topic-overlap baseline", "heldout")].precision_at_1
