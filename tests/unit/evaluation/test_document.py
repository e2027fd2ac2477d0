"""The typed evaluation document: old documents load, real ones round-trip, slices rank by
evidence, and the JSON Schema is exported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

import goldenpath
from conftest import MakeProject, small_frame, small_spec
from goldenpath.evaluation import EvaluationDocument, evaluate
from goldenpath.evaluation.document import Estimate, SliceResult
from goldenpath.evaluation.metrics import METRICS
from goldenpath.evaluation.slices import SliceGroup, guaranteed_harm, slice_results
from goldenpath.gates import DecisionDocument
from goldenpath.gates import EvaluationDocument as GatesEvaluationDocument

# Written by goldenpath before the evaluation document was typed (binary task, a comparison
# with a champion, fairness, costs): every key it has must load with its value unchanged.
OLD_DOCUMENT = Path(__file__).parent / "data" / "evaluation_v1.json"
ADDED_KEYS = {
    ("model", "artifact_sha256"),
    ("comparison.against", "artifact_sha256"),
    ("operations", "currency"),
    ("operations", "single_row_threads"),
    ("operations", "batch_threads"),
    ("", "not_assessed"),
    ("slices[]", "harm_ci_low"),
    *(("fairness[]", key) for key in ("min_group_size", "excluded_groups", "notes", "disparities")),
    *(
        ("fairness[].groups[]", key)
        for key in (
            "positives",
            "compared",
            *(
                f"{rate}_{end}"
                for rate in ("selection_rate", "true_positive_rate", "false_positive_rate")
                for end in ("ci_low", "ci_high")
            ),
        )
    ),
}


def _keys(node: object, path: str = "") -> set[tuple[str, str]]:
    """(where, key) of every key in a JSON document (list items share a path)."""
    found: set[tuple[str, str]] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            found.add((path, key))
            found |= _keys(value, key if not path else f"{path}.{key}")
    elif isinstance(node, list):
        for item in node:
            found |= _keys(item, f"{path}[]")
    return found


def _without(node: object, key: str) -> object:
    """The JSON document with every ``key`` left out, at any depth."""
    if isinstance(node, dict):
        return {k: _without(v, key) for k, v in node.items() if k != key}
    if isinstance(node, list):
        return [_without(item, key) for item in node]
    return node


def test_a_document_written_before_the_models_still_validates_with_the_same_values() -> None:
    old = json.loads(OLD_DOCUMENT.read_text())
    document = EvaluationDocument.model_validate(old)
    # every estimate gains interval_method: "percentile", the only method there was before
    assert document.metrics["roc_auc_score"].interval_method == "percentile"
    again = _without(document.to_dict(), "interval_method")
    assert isinstance(again, dict)
    assert _keys(again) - _keys(old) == ADDED_KEYS
    assert _keys(old) <= _keys(again)
    assert again["operations"]["currency"] == "USD"  # type: ignore[index]
    # no digest of the model files in an older document (gate refuses what the store lacks)
    assert again["model"].pop("artifact_sha256") is None  # type: ignore[attr-defined]
    assert again["comparison"]["against"].pop("artifact_sha256") is None  # type: ignore[index]
    for slice_ in again["slices"]:  # type: ignore[attr-defined]
        del slice_["harm_ci_low"]
    del again["operations"]["currency"]  # type: ignore[attr-defined]
    assert again.pop("not_assessed") == []  # a binary classifier with scores: all assessed
    for key in ("single_row_threads", "batch_threads"):  # not recorded before thread caps
        assert again["operations"].pop(key) is None  # type: ignore[attr-defined]
    for report in again["fairness"]:  # type: ignore[attr-defined]
        assert (report["min_group_size"], report["excluded_groups"]) == (1, [])  # as computed
        for key in ("min_group_size", "excluded_groups", "notes", "disparities"):
            del report[key]
        for group in report["groups"]:
            assert group["compared"] is True
            for key in [k for k in group if k == "positives" or k.endswith(("_low", "_high"))]:
                assert group.pop(key) is None
            del group["compared"]
    assert again == old
    assert document.comparison is not None
    assert document.comparison.against.version == "1"
    assert document.metrics["roc_auc_score"].value == old["metrics"]["roc_auc_score"]["value"]


def test_unknown_keys_and_wrong_types_are_refused() -> None:
    old = json.loads(OLD_DOCUMENT.read_text())
    with pytest.raises(ValidationError, match="surprise"):
        EvaluationDocument.model_validate({**old, "surprise": 1})
    with pytest.raises(ValidationError, match=r"data\.rows"):
        EvaluationDocument.model_validate({**old, "data": {**old["data"], "rows": "many"}})
    document = EvaluationDocument.model_validate(old)
    with pytest.raises(ValidationError, match="frozen"):
        document.primary_metric = "f1_score"  # type: ignore[misc]


def test_the_document_of_a_real_evaluation_round_trips(make_project: MakeProject) -> None:
    spec = small_spec()
    spec["data"]["sensitive_features"] = ["plan"]
    spec["evaluation"] = {"resamples": 30, "seed": 2, "currency": "EUR"}
    root = make_project(frame=small_frame(n=400), spec=spec)
    project = goldenpath.open_project(root)
    goldenpath.train(project)
    spec["training"]["params"]["C"] = 0.05
    (root / "goldenpath.yaml").write_text(yaml.safe_dump(spec))
    project = goldenpath.open_project(root)
    goldenpath.train(project)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{project.state_dir / 'mlflow.db'}")
    client.set_registered_model_alias("small", "champion", "1")
    document = evaluate(project, "small/2", against="champion")
    text = json.dumps(document.to_dict())
    assert EvaluationDocument.model_validate_json(text) == document
    assert EvaluationDocument.model_validate(json.loads(text)) == document
    assert document.operations is not None
    assert document.operations.currency == "EUR"
    assert document.comparison is not None
    assert document.fairness
    assert document.calibration is not None


def test_the_json_schemas_are_exported_from_evaluation_and_gates() -> None:
    assert GatesEvaluationDocument is EvaluationDocument
    schema = EvaluationDocument.model_json_schema()
    assert schema["additionalProperties"] is False
    assert {"schema_version", "metrics", "slices", "operations"} <= set(schema["properties"])
    assert "currency" in schema["$defs"]["Operations"]["properties"]
    decision = DecisionDocument.model_json_schema()
    assert {"verdict", "rules", "schema_version"} <= set(decision["properties"])
    assert decision["$defs"]["RuleResult"]["properties"]["outcome"]["enum"] == [
        "pass",
        "warn",
        "fail",
        "skipped",
    ]


# -- slices rank by evidence ---------------------------------------------------------------------

_AUC = next(m for m in METRICS if m.name == "roc_auc_score")
_LOG_LOSS = next(m for m in METRICS if m.name == "log_loss")


def _estimate(value: float, low: float, high: float, support: int) -> Estimate:
    return Estimate(value=value, ci_low=low, ci_high=high, support=support)


def _ranked(estimates: dict[str, Estimate], sizes: dict[str, int]) -> list[SliceResult]:
    groups = [SliceGroup(name, "plan", np.arange(n)) for name, n in sizes.items()]
    return slice_results(
        groups,
        {name: {"roc_auc_score": e} for name, e in estimates.items()},
        _AUC,
        overall=0.84,
        min_support=30,
    )


def test_a_big_clearly_worse_slice_outranks_a_tiny_slice_with_a_lower_point_value() -> None:
    ranked = _ranked(
        {
            "tiny": _estimate(0.30, 0.0, 0.667, 6),  # worst point value, an interval of noise
            "big": _estimate(0.74, 0.71, 0.77, 900),  # clearly worse: whole interval below 0.84
            "fine": _estimate(0.85, 0.82, 0.88, 800),
            "vague": _estimate(0.80, 0.70, 0.90, 400),  # worse point value, interval spans 0.84
        },
        {"tiny": 6, "big": 900, "fine": 800, "vague": 400},
    )
    assert [s.name for s in ranked] == ["big", "vague", "fine", "tiny"]
    big, vague, _, tiny = ranked
    assert big.harm_ci_low == pytest.approx(0.84 - 0.77)
    assert big.harm == pytest.approx(0.10)
    assert vague.harm_ci_low == pytest.approx(0.84 - 0.90)
    assert tiny.small
    assert not big.small
    assert [s.clearly_worse for s in ranked] == [True, False, False, False]


def test_harmful_slices_list_only_clearly_worse_slices_of_enough_rows() -> None:
    old = EvaluationDocument.model_validate_json(OLD_DOCUMENT.read_text())
    ranked = _ranked(
        {
            "tiny": _estimate(0.30, 0.0, 0.667, 6),
            "big": _estimate(0.74, 0.71, 0.77, 900),
            "bigger": _estimate(0.60, 0.55, 0.65, 500),
            "vague": _estimate(0.80, 0.70, 0.90, 400),
        },
        {"tiny": 6, "big": 900, "bigger": 500, "vague": 400},
    )
    document = old.model_copy(update={"slices": tuple(ranked)})
    assert [s.name for s in document.harmful_slices()] == ["bigger", "big"]


def test_guaranteed_harm_follows_the_metrics_direction() -> None:
    loss = _estimate(0.50, 0.45, 0.56, 100)
    # lower is better: harm is guaranteed when the interval's low end is above overall
    assert guaranteed_harm(loss, 0.40, greater_is_better=_LOG_LOSS.greater_is_better) == (
        pytest.approx(0.05)
    )
    assert guaranteed_harm(loss, 0.50, greater_is_better=False) == pytest.approx(-0.05)
    no_interval = Estimate(value=0.5, ci_low=None, ci_high=None, support=100)
    assert guaranteed_harm(no_interval, 0.4, greater_is_better=False) is None


def test_the_cli_prints_clearly_worse_slices_first_and_the_currency_of_costs() -> None:
    from rich.console import Console

    from goldenpath.cli.evaluation import _print_operations, _print_slices

    old = EvaluationDocument.model_validate_json(OLD_DOCUMENT.read_text())
    ranked = _ranked(
        {
            "tiny": _estimate(0.30, 0.0, 0.667, 6),
            "big": _estimate(0.74, 0.71, 0.77, 900),
            "vague": _estimate(0.80, 0.70, 0.90, 400),
        },
        {"tiny": 6, "big": 900, "vague": 400},
    )
    assert old.operations is not None
    document = old.model_copy(
        update={
            "slices": tuple(ranked),
            "operations": old.operations.model_copy(update={"currency": "EUR"}),
        }
    )
    console = Console(record=True, width=200)
    _print_slices(console, document)
    assert document.operations is not None
    _print_operations(console, document.operations)
    lines = console.export_text().splitlines()
    assert lines[:2] == [
        "Most harmful slices by roc_auc_score:",
        "  big: 0.7400 [0.7100, 0.7700], -0.1000 vs overall, 900 rows",
    ]
    assert "1 small slice(s) (under 30 rows) below overall, not ranked" in lines[2]
    assert "vague" not in "\n".join(lines)
    assert " EUR per 1,000 predictions at 0.05 EUR per CPU-hour" in lines[3]
