"""The public surface of goldenpath is exactly what ``__all__`` says, and it all imports."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import goldenpath

EXPECTED = {
    "Decision",
    "Promotion",
    "approve",
    "gate",
    "history",
    "promote",
    "rollback",
    "write_model_card",
    "Dataset",
    "EvaluationResult",
    "RecordedEvaluation",
    "Validation",
    "validate",
    "GoldenpathError",
    "Project",
    "ReproduceResult",
    "RunSummary",
    "Spec",
    "TrainResult",
    "__version__",
    "available_examples",
    "evaluate",
    "init_project",
    "list_runs",
    "load_dataset",
    "load_spec",
    "open_project",
    "parse_spec",
    "reproduce",
    "train",
}


def test_top_level_all_is_the_documented_surface() -> None:
    assert set(goldenpath.__all__) == EXPECTED
    for name in goldenpath.__all__:
        assert getattr(goldenpath, name) is not None


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = goldenpath.nope  # type: ignore[attr-defined]


def _public_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(goldenpath.__path__, "goldenpath."):
        leaf = info.name.rsplit(".", 1)[-1]
        if leaf.startswith("_") or ".examples" in info.name:
            continue
        names.append(info.name)
    return names


@pytest.mark.parametrize("module_name", _public_modules())
def test_every_public_module_declares_all_and_exports_real_names(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{module_name} has no __all__"
    for name in exported:
        assert hasattr(module, name), f"{module_name}.__all__ names missing {name!r}"


def test_version_matches_package_metadata() -> None:
    from importlib.metadata import version

    assert goldenpath.__version__ == version("goldenpath")
