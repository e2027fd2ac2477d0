"""Robustness perturbations and failure rules on models and data built to show them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from goldenpath.evaluation.failures import failure_rules
from goldenpath.evaluation.metrics import METRICS, Scored
from goldenpath.evaluation.robustness import robustness


def test_failure_rules_find_the_planted_region() -> None:
    rng = np.random.default_rng(0)
    n = 5000
    frame = pd.DataFrame(
        {
            "plan": rng.choice(["a", "b", "c"], n),
            "age": rng.integers(18, 90, n),
            "noise": rng.normal(size=n),
        }
    )
    planted = ((frame["plan"] == "b") & (frame["age"] < 35)).to_numpy()
    errors = np.where(planted, rng.random(n) < 0.6, rng.random(n) < 0.1)
    rules = failure_rules(frame, errors, min_rows=30)
    top = rules[0]
    assert "plan = b" in top.rule
    assert "age <" in top.rule
    assert top.error_rate > 0.45
    assert top.overall_error_rate == pytest.approx(errors.mean())
    assert top.rows == pytest.approx(planted.sum(), rel=0.35)
    assert "error rate" in top.text
    assert failure_rules(frame, np.zeros(n, dtype=bool), min_rows=30) == []


def test_robustness_reports_flips_metric_change_and_failures() -> None:
    rng = np.random.default_rng(1)
    n = 400
    features = pd.DataFrame({"x": rng.normal(size=n), "kind": rng.choice(["u", "v"], n)})
    y = (features["x"] > 0).to_numpy().astype(int)

    def score(frame: pd.DataFrame) -> Scored:
        if frame.isna().any().any():
            raise ValueError("cannot handle this input")
        s = 1 / (1 + np.exp(-4 * frame["x"].to_numpy()))
        return Scored(
            "binary_classification", y, (s >= 0.5).astype(int), np.stack([1 - s, s], 1), ("n", "p")
        )

    accuracy = next(m for m in METRICS if m.name == "accuracy_score")
    out = {p.name: p for p in robustness(features, score, score(features), accuracy, seed=3)}
    noise = out["gaussian_noise"]
    assert 0 < noise.flip_rate < 0.2
    assert noise.metric_before == 1.0
    assert noise.metric_change == pytest.approx(-noise.flip_rate)
    assert out["missing_values"].error == "ValueError: cannot handle this input"
    assert out["missing_values"].flip_rate is None
    assert out["unseen_categories"].flip_rate == 0.0  # this model ignores 'kind'


def test_discovery_flags_the_planted_slice_and_controls_false_discoveries() -> None:
    from goldenpath.evaluation.failures import candidates, worst_candidates

    rng = np.random.default_rng(5)
    n = 6000
    frame = pd.DataFrame(
        {
            "region": rng.choice(list("abcdef"), n),
            "tier": rng.choice(["x", "y", "z"], n),
            "score": rng.normal(size=n),
        }
    )
    planted = ((frame["region"] == "c") & (frame["tier"] == "z")).to_numpy()
    errors = np.where(planted, rng.random(n) < 0.5, rng.random(n) < 0.15)
    tested = candidates(frame, errors, min_rows=30)
    worst = worst_candidates(tested, top=5)
    assert worst[0].rule == "region = c and tier = z"
    assert worst[0].q_value < 0.001
    # with no real effect, Benjamini-Hochberg keeps false discoveries rare
    null_errors = rng.random(n) < 0.15
    flagged = [c for c in candidates(frame, null_errors, min_rows=30) if c.q_value < 0.05]
    assert len(flagged) <= 2
