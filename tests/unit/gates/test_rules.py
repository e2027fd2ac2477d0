"""The semantics of every gate kind, on small hand-made evaluation documents."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest
import yaml

from conftest import small_spec
from goldenpath.errors import SpecInvalid
from goldenpath.evaluation import EvaluationDocument
from goldenpath.gates import apply_gates, check_gates, verdict
from goldenpath.gates.rules import Lineage
from goldenpath.spec import parse_spec
from goldenpath.spec.gates import GatesSpec
from goldenpath.store.audit import AuditEvent

# what the audit trail holds for a version trained from committed code and reproduced
CLEAN = Lineage(
    subject="small/2",
    run_id="r2",
    train_seq=7,
    contract_validated=True,
    git_recorded=True,
    git_dirty=False,
    reproduce_seq=9,
    reproduced=True,
)


def _estimate(value: float | None, low: float | None = None, high: float | None = None) -> dict:
    return {"value": value, "ci_low": low, "ci_high": high, "support": 500, "undefined": None}


def _slice(name: str, support: int, auc: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "slice": "plan",
        "support": support,
        "small": support < 30,
        "metrics": {"roc_auc_score": auc},
        "primary_difference": None,
        "harm": None,
    }


def _discovered(rule: str, rows: int, error_rate: float, significant: bool) -> dict[str, Any]:
    return {
        "rule": rule,
        "rows": rows,
        "error_rate": error_rate,
        "overall_error_rate": 0.2,
        "p_value": 0.001,
        "q_value": 0.01 if significant else 0.2,
        "significant": significant,
        "primary": _estimate(0.7),
    }


def _fairness(feature: str, eo: float | None, ratio: float) -> dict[str, Any]:
    return {
        "feature": feature,
        "groups": [],
        "demographic_parity_difference": 0.1,
        "demographic_parity_ratio": ratio,
        "equalized_odds_difference": eo,
    }


def _probe(name: str, flip_rate: float | None, error: str | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "description": name,
        "flip_rate": flip_rate,
        "metric": "roc_auc_score",
        "metric_before": 0.84,
        "metric_after": None,
        "metric_change": None,
        "error": error,
    }


def _difference(difference: float, low: float, high: float, candidate: float) -> dict[str, Any]:
    return {
        "difference": difference,
        "ci_low": low,
        "ci_high": high,
        "candidate": candidate,
        "reference": candidate - difference,
        "support": 500,
        "verdict": "no clear difference",
    }


# what every evaluation document has besides the parts these tests vary
_FIXED: dict[str, Any] = {
    "evaluation_id": "e1",
    "created_at": "2026-01-01T00:00:00+00:00",
    "project": "m",
    "task": "binary_classification",
    "data": {"description": "held-out rows", "source": "data.csv", "rows": 500, "fingerprint": "f"},
    "lineage": {
        "run_id": "r2",
        "model_version": "2",
        "dataset_fingerprint": "d",
        "train_fingerprint": "t",
        "test_fingerprint": "f",
        "evaluation_data_fingerprint": "f",
        "git_commit": "abc",
        "training_seed": "1",
        "bootstrap": {"resamples": 100, "confidence": 0.95, "seed": 0},
        "threshold": 0.5,
        "min_slice_support": 30,
    },
    "primary_metric": "roc_auc_score",
}

DOC: dict[str, Any] = {
    "model": {"name": "m", "version": "2", "run_id": "r2", "uri": "models:/m/2"},
    "metrics": {
        "roc_auc_score": _estimate(0.84, 0.81, 0.87),
        "log_loss": _estimate(0.40, 0.38, 0.43),
        "expected_calibration_error": _estimate(0.03, 0.02, 0.06),
    },
    "slices": [
        _slice("plan=basic", 300, _estimate(0.70)),
        _slice("plan=pro", 150, _estimate(0.55)),
        _slice("plan=rare", 20, _estimate(0.10)),
        _slice("plan=one", 200, _estimate(None)),
    ],
    "discovered_slices": [
        _discovered("a = 1", 40, 0.7, significant=False),
        _discovered("b = 2", 90, 0.45, significant=True),
    ],
    "fairness": [_fairness("gender", 0.12, 0.7), _fairness("age", None, 0.9)],
    "robustness": [
        _probe("noise", 0.02),
        _probe("missing", 0.2),
        _probe("unseen", None, "ValueError: unknown category"),
    ],
    "operations": {
        "single_row_p50_ms": 8.0,
        "single_row_p95_ms": 12.0,
        "batch_size": 256,
        "batch_p50_ms": 20.0,
        "batch_p95_ms": 25.0,
        "cpu_ms_per_prediction": 0.144,
        "cost_per_1000_predictions": 0.002,
        "price_per_cpu_hour": 0.05,
        "model_size_bytes": 1000,
        "peak_memory_increase_mb": 1.0,
        "repeats": 50,
        "cpu_count": 2,
    },
    "comparison": {
        "against": {
            "reference": "champion",
            "name": "m",
            "version": "1",
            "run_id": "r1",
            "uri": "models:/m/1",
        },
        "reference_trained_on_rows": None,
        "metrics": {
            "roc_auc_score": _difference(-0.004, -0.012, 0.004, 0.84),
            "log_loss": _difference(0.01, -0.002, 0.03, 0.40),
        },
        "slices": [],
    },
}


def _document(doc: dict[str, Any]) -> EvaluationDocument:
    """A whole evaluation document: ``doc``'s parts over the fixed ones (a part ``doc`` leaves
    out takes the document's default: no comparison, no fairness, ...)."""
    return EvaluationDocument.model_validate({**_FIXED, **doc})


def _judge(
    gates: dict[str, Any],
    doc: dict[str, Any] | None = None,
    *,
    lineage: Lineage = CLEAN,
    risk: str = "medium",
    champion: str | None = "1",
) -> list[dict[str, Any]]:
    results = apply_gates(
        GatesSpec.model_validate(gates),
        _document(DOC if doc is None else doc),
        lineage=lineage,
        risk_tier=risk,  # type: ignore[arg-type]
        champion=champion,
    )
    return [r.model_dump() for r in results if r.kind != "lineage" or "lineage" in gates]


def test_metric_bounds_on_value_and_interval_ends() -> None:
    results = _judge(
        {
            "metrics": {
                "roc_auc": {"min": 0.80, "on": "ci_low"},
                "roc_auc_score": {"min": 0.82, "on": "ci_low", "severity": "warn"},
                "log_loss": {"max": 0.42, "on": "ci_high"},
            }
        }
    )
    assert [(r["observed"], r["outcome"]) for r in results] == [
        (0.81, "pass"),
        (0.81, "warn"),
        (0.43, "fail"),
    ]
    assert results[2]["evidence"] == "metrics.log_loss.ci_high"


def test_an_undefined_or_missing_metric_violates_its_gate() -> None:
    doc = copy.deepcopy(DOC)
    doc["metrics"]["roc_auc_score"] = {**_estimate(None), "undefined": "no positive rows"}
    results = _judge({"metrics": {"roc_auc": {"min": 0.5}, "pr_auc": {"min": 0.1}}}, doc)
    assert [r["outcome"] for r in results] == ["fail", "fail"]
    assert "no positive rows" in results[0]["detail"]
    assert "not computed" in results[1]["detail"]


def test_an_unknown_metric_name_is_a_spec_error() -> None:
    with pytest.raises(SpecInvalid, match=r"gates\.metrics\.auroc: unknown metric"):
        _judge({"metrics": {"auroc": {"min": 0.5}}})


def test_non_regression_uses_the_pessimistic_end_in_the_metrics_direction() -> None:
    gates = {
        "non_regression": {
            "roc_auc": {"max_drop": 0.01},  # ci_low -0.012: drop could be 0.012 > 0.01
            "log_loss": {"max_drop": 0.02},  # lower is better: ci_high +0.03 is a 0.03 loss
        }
    }
    results = _judge(gates)
    assert [(r["observed"], r["outcome"]) for r in results] == [
        (-0.012, "fail"),
        (-0.03, "fail"),
    ]
    assert [r["evidence"] for r in results] == [
        "comparison.metrics.roc_auc_score.ci_low",
        "comparison.metrics.log_loss.ci_high",
    ]
    lenient = _judge({"non_regression": {"roc_auc": {"max_drop": 0.01, "on": "value"}}})
    assert (lenient[0]["observed"], lenient[0]["outcome"]) == (-0.004, "pass")


def test_non_regression_needs_a_comparison_with_the_current_champion() -> None:
    gates = {"non_regression": {"roc_auc": {"max_drop": 0.05}}}
    assert _judge(gates, champion=None)[0]["outcome"] == "skipped"
    assert _judge(gates, champion="2")[0]["detail"] == "this version is the champion"
    moved = _judge(gates, champion="3")[0]
    assert moved["outcome"] == "fail"
    assert "compared with v1, but the champion is v3" in moved["detail"]
    alone = {k: v for k, v in DOC.items() if k != "comparison"}
    assert "--against champion" in _judge(gates, alone)[0]["detail"]


def test_slice_floor_judges_supported_defined_slices_and_names_the_worst() -> None:
    (result,) = _judge({"slices": [{"metric": "roc_auc", "min": 0.6, "min_support": 100}]})
    assert result["outcome"] == "warn"  # slices default to severity warn
    assert result["observed"] == 0.55
    assert result["evidence"] == "slices[name=plan=pro].metrics.roc_auc_score.value"
    assert result["detail"].startswith("1 of 2 slices outside")  # rare: too small; one: undefined
    (passing,) = _judge({"slices": [{"metric": "roc_auc", "min": 0.5, "min_support": 100}]})
    assert (passing["outcome"], passing["observed"]) == ("pass", 0.55)


def test_worst_discovered_slice_counts_significant_slices_by_default() -> None:
    (significant,) = _judge({"worst_slice": {"max_error_rate": 0.5}})
    assert (significant["observed"], significant["outcome"]) == (0.45, "pass")
    (every,) = _judge({"worst_slice": {"max_error_rate": 0.5, "significant_only": False}})
    assert (every["observed"], every["outcome"]) == (0.7, "warn")


def test_fairness_per_sensitive_feature() -> None:
    results = _judge(
        {
            "fairness": {
                "equalized_odds_difference": {"max": 0.1},
                "demographic_parity_ratio": {"min": 0.8, "severity": "warn"},
            }
        }
    )
    assert [(r["rule"], r["outcome"]) for r in results] == [
        ("equalized_odds_difference for gender <= 0.1", "fail"),
        ("equalized_odds_difference for age <= 0.1", "fail"),  # undefined: no evidence
        ("demographic_parity_ratio for gender >= 0.8", "warn"),
        ("demographic_parity_ratio for age >= 0.8", "pass"),
    ]


def test_fairness_on_an_interval_end_and_to_overall() -> None:
    disparities = [
        {
            "name": "demographic_parity_difference",
            "method": "between_groups",
            "value": 0.08,
            "ci_low": 0.05,
            "ci_high": 0.12,
        },
        {
            "name": "equal_opportunity_ratio",
            "method": "to_overall",
            "value": 0.9,
            "ci_low": 0.82,
            "ci_high": 0.97,
        },
        {
            "name": "equalized_odds_ratio",
            "method": "between_groups",
            "value": None,
            "undefined": "no compared group has positive rows",
        },
    ]
    doc = {**DOC, "fairness": [{**_fairness("gender", 0.12, 0.7), "disparities": disparities}]}
    results = _judge(
        {
            "fairness": {
                "demographic_parity_difference": {"max": 0.1, "on": "ci_high"},
                "equal_opportunity_ratio": {"min": 0.8, "on": "ci_low", "method": "to_overall"},
                "equalized_odds_ratio": {"min": 0.8, "severity": "warn"},
            }
        },
        doc,
    )
    assert [(r["rule"], r["observed"], r["outcome"]) for r in results] == [
        ("demographic_parity_difference ci_high for gender <= 0.1", 0.12, "fail"),
        ("equal_opportunity_ratio to_overall ci_low for gender >= 0.8", 0.82, "pass"),
        ("equalized_odds_ratio for gender >= 0.8", None, "warn"),
    ]
    assert results[0]["evidence"] == (
        "fairness[feature=gender].disparities"
        "[name=demographic_parity_difference,method=between_groups].ci_high"
    )
    assert results[2]["detail"] == "undefined: no compared group has positive rows"
    # a document written before intervals has point values only: an interval end is missing
    (old,) = _judge(
        {"fairness": {"demographic_parity_ratio": {"min": 0.5, "on": "ci_low"}}},
        {**DOC, "fairness": [_fairness("gender", 0.12, 0.7)]},
    )
    assert (old["observed"], old["outcome"]) == (None, "fail")
    assert "no fairness intervals" in old["detail"]


def test_robustness_calibration_and_operations() -> None:
    results = _judge(
        {
            "robustness": {"max_flip_rate": 0.1},
            "calibration": {"max_ece": 0.05, "on": "ci_high"},
            "operations": {"max_p95_latency_ms": 10, "max_cost_per_1000": 0.01},
        }
    )
    assert [(r["kind"], r["observed"], r["outcome"]) for r in results] == [
        ("robustness", 0.02, "pass"),
        ("robustness", 0.2, "warn"),
        ("robustness", None, "warn"),
        ("calibration", 0.06, "warn"),
        ("operations", 12.0, "fail"),
        ("operations", 0.002, "pass"),
    ]
    assert results[-1]["rule"] == "cost per 1,000 predictions (USD) <= 0.01"


def test_lineage_clean_git_is_required_for_high_risk_by_default() -> None:
    dirty = replace(CLEAN, git_dirty=True, reproduced=False)
    medium = _judge({"lineage": {}}, lineage=dirty)
    assert [r["rule"] for r in medium] == ["training data validated by its contract"]
    high = _judge({"lineage": {"reproduced": True}}, lineage=dirty, risk="high")
    assert [(r["observed"], r["outcome"]) for r in high] == [
        ("yes", "pass"),
        ("no", "fail"),
        ("no (uncommitted changes)", "fail"),
    ]
    no_git = replace(CLEAN, git_dirty=None)
    assert _judge({"lineage": {}}, lineage=no_git, risk="high")[-1]["observed"] == (
        "no (not a git repository)"
    )


_ALL_LINEAGE = {"lineage": {"contract_validated": True, "reproduced": True, "clean_git": True}}
_RETRAIN = "train event #7 predates lineage facts in the audit trail: train again"
_UNTRAINED = "the store has no train event of run r2: train with goldenpath train"


@pytest.mark.parametrize(
    ("rule", "lineage", "observed", "evidence", "detail"),
    [
        (0, CLEAN, "yes", "audit.train#7.payload.contract_validated", ""),
        (
            0,
            replace(CLEAN, contract_validated=False),
            "no",
            "audit.train#7.payload.contract_validated",
            "train with goldenpath train (it validates the contract)",
        ),
        (
            0,
            replace(CLEAN, contract_validated=None),
            "not recorded",
            "audit.train#7.payload.contract_validated",
            _RETRAIN,
        ),
        (
            0,
            replace(CLEAN, train_seq=None),
            "no train event",
            "audit.train[subject=small/2]",
            _UNTRAINED,
        ),
        (1, CLEAN, "yes", "audit.reproduce#9.payload.reproduced", ""),
        (
            1,
            replace(CLEAN, reproduced=False),
            "no",
            "audit.reproduce#9.payload.reproduced",
            "run goldenpath reproduce on the run",
        ),
        (
            1,
            replace(CLEAN, reproduced=None),
            "not recorded",
            "audit.reproduce#9.payload.reproduced",
            "run goldenpath reproduce on the run",
        ),
        (
            1,
            replace(CLEAN, reproduce_seq=None, reproduced=None),
            "not checked",
            "audit.reproduce[subject=r2]",
            "run goldenpath reproduce on the run",
        ),
        (2, CLEAN, "yes", "audit.train#7.payload.git_dirty", ""),
        (
            2,
            replace(CLEAN, git_dirty=True),
            "no (uncommitted changes)",
            "audit.train#7.payload.git_dirty",
            "commit the project, then train again",
        ),
        (
            2,
            replace(CLEAN, git_dirty=None),
            "no (not a git repository)",
            "audit.train#7.payload.git_dirty",
            "commit the project, then train again",
        ),
        (
            2,
            replace(CLEAN, git_recorded=False, git_dirty=None),
            "not recorded",
            "audit.train#7.payload.git_dirty",
            _RETRAIN,
        ),
        (
            2,
            replace(CLEAN, train_seq=None),
            "no train event",
            "audit.train[subject=small/2]",
            _UNTRAINED,
        ),
    ],
)
def test_each_lineage_fact_value_is_judged_with_its_audit_evidence(
    rule: int, lineage: Lineage, observed: str, evidence: str, detail: str
) -> None:
    judged = _judge(_ALL_LINEAGE, lineage=lineage)
    assert [r["rule"] for r in judged] == [
        "training data validated by its contract",
        "run reproduced (goldenpath reproduce)",
        "trained from committed code (clean git tree)",
    ]
    result = judged[rule]
    assert (result["observed"], result["evidence"]) == (observed, evidence)
    assert result["outcome"] == ("pass" if observed == "yes" else "fail")
    assert result["detail"].startswith(detail)
    assert not any(r["evidence"].startswith("run.tags") for r in judged)
    warned = _judge({"lineage": {**_ALL_LINEAGE["lineage"], "severity": "warn"}}, lineage=lineage)
    assert warned[rule]["outcome"] == ("pass" if observed == "yes" else "warn")


def _event(seq: int, action: str, subject: str, payload: dict[str, Any]) -> AuditEvent:
    return AuditEvent(
        seq, "2026-01-01T00:00:00+00:00", "alice", action, "small", subject, payload, "", ""
    )


def test_lineage_is_built_from_the_train_and_reproduce_events() -> None:
    facts = {
        "run_id": "r2",
        "dataset_fingerprint": "sha256:0",
        "contract_validated": True,
        "git_commit": "abc",
        "git_dirty": None,  # not a git repository: recorded as null
        "source_hash": None,
    }
    built = Lineage.from_events(
        subject="small/2",
        run_id="r2",
        train=_event(3, "train", "small/2", facts),
        reproduce=_event(5, "reproduce", "r2", {"reproduced": True, "tolerance": 1e-6}),
    )
    assert built == Lineage("small/2", "r2", 3, True, True, None, 5, True)
    # a train event from before lineage facts were audited: run and data only
    older = {"run_id": "r2", "dataset_fingerprint": "sha256:0"}
    built = Lineage.from_events(
        subject="small/2", run_id="r2", train=_event(3, "train", "small/2", older), reproduce=None
    )
    assert built == Lineage("small/2", "r2", train_seq=3)
    assert (built.contract_validated, built.git_recorded) == (None, False)
    # a train event of another run under the same version (a registry recreated) is no evidence,
    # and a value that is not a JSON boolean is not a fact
    built = Lineage.from_events(
        subject="small/2",
        run_id="r2",
        train=_event(3, "train", "small/2", {**facts, "run_id": "r1"}),
        reproduce=_event(5, "reproduce", "r2", {"reproduced": "true"}),
    )
    assert built == Lineage("small/2", "r2", reproduce_seq=5)
    built = Lineage.from_events(
        subject="small/2",
        run_id="r2",
        train=_event(3, "train", "small/2", {**facts, "contract_validated": "true"}),
        reproduce=None,
    )
    assert (built.train_seq, built.contract_validated, built.git_recorded) == (3, None, True)


def test_verdict_is_the_worst_outcome() -> None:
    results = apply_gates(
        GatesSpec.model_validate({"metrics": {"roc_auc": {"min": 0.9, "severity": "warn"}}}),
        _document(DOC),
        lineage=CLEAN,
        risk_tier="low",
        champion=None,
    )
    assert verdict(results) == "warn"
    assert verdict([]) == "pass"


def test_yaml_on_key_and_gate_names_are_checked_in_the_spec() -> None:
    spec = small_spec()
    text = yaml.safe_dump(spec) + "gates:\n  metrics:\n    roc_auc: {min: 0.8, on: ci_low}\n"
    assert parse_spec(text).gates.metrics["roc_auc"].on == "ci_low"  # not the boolean true
    spec["gates"] = {"metrics": {"mean_absolute_error": {"max": 3}}, "fairness": {}}
    with pytest.raises(SpecInvalid, match="not a metric of a binary_classification model"):
        check_gates(parse_spec(yaml.safe_dump(spec)))
    spec["gates"] = {"metrics": {"roc_auc": {}}}
    with pytest.raises(SpecInvalid, match="needs min or max"):
        parse_spec(yaml.safe_dump(spec))


@pytest.mark.parametrize(
    ("gates", "message"),
    [
        ({"slices": [{"metric": "roc_auc", "min": 0.9, "max": 0.5}]}, "greater than max"),
        ({"slices": [{"metric": "roc_auc"}]}, "needs min or max"),
        ({"operations": {}}, "needs max_p95_latency_ms or max_cost_per_1000"),
        ({"non_regression": {"roc_auc": {"max_drop": -0.1}}}, "greater than or equal to 0"),
    ],
)
def test_inconsistent_gates_are_spec_errors(gates: dict[str, Any], message: str) -> None:
    spec = small_spec()
    spec["gates"] = gates
    with pytest.raises(SpecInvalid, match=message):
        parse_spec(yaml.safe_dump(spec))
