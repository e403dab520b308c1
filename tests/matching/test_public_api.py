import types

import app.matching
from app.matching import __all__ as exported_members

PUBLIC_API = [
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


def test_all_is_the_deliberate_public_api() -> None:
    assert exported_members == PUBLIC_API


def test_all_imports_are_exported() -> None:
    # Submodules (app.matching.scoring, …) are implementation; everything else is public.
    public = [
        name
        for name, value in vars(app.matching).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    ]
    assert sorted(exported_members) == sorted(public)


def test_engine_imports_no_framework_or_app_code() -> None:
    import ast
    from pathlib import Path

    package = Path(app.matching.__file__).parent
    forbidden = ("fastapi", "sqlalchemy", "pydantic", "starlette")
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert not name.startswith(forbidden), f"{path.name} imports {name}"
                if name.startswith("app"):
                    assert name.startswith("app.matching"), f"{path.name} imports {name}"
