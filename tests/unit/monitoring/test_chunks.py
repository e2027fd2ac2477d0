"""Thresholds learnt from reference chunks: the spread per (metric, subject) and the rules
``sigmas`` turns into."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from goldenpath.errors import SpecError
from goldenpath.monitoring.alerts import Observation, firing
from goldenpath.monitoring.chunks import (
    ANY_ROUTE,
    MIN_CHUNKS,
    ChunkThresholds,
    expand_rules,
    spread_of,
)
from goldenpath.spec.monitoring import AlertRule


def _chunks(seed: int = 0, n: int = 40) -> tuple[list[list[Observation]], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    drawn = {
        "age": rng.gamma(2.0, 0.01, n),
        "plan": rng.gamma(1.0, 0.005, n),
        "drop": rng.normal(0.0, 0.01, n),
    }
    chunks = [
        [
            ("feature.psi", "age", float(drawn["age"][i])),
            ("feature.psi", "plan", float(drawn["plan"][i])),
            ("estimated.accuracy_drop", "all routes", float(drawn["drop"][i])),
            ("feature.psi", "plan", float("nan")) if i == 0 else ("rows", "window", 400.0),
        ]
        for i in range(n)
    ]
    return chunks, drawn


def _thresholds(chunks: list[list[Observation]]) -> ChunkThresholds:
    return ChunkThresholds(
        run_id="r",
        chunk_rows=400,
        chunk_count=len(chunks),
        source_rows=1000,
        spreads=spread_of(chunks),
    )


def test_spread_is_numpy_mean_and_sample_sd_per_metric_and_subject() -> None:
    chunks, drawn = _chunks()
    spreads = {(s.metric, s.subject): s for s in spread_of(chunks)}
    age = spreads[("feature.psi", "age")]
    assert age.mean == pytest.approx(np.mean(drawn["age"]), rel=1e-12)
    assert age.sd == pytest.approx(np.std(drawn["age"], ddof=1), rel=1e-12)
    assert age.chunks == 40
    # route metrics pool every route under one subject; non-finite values are left out
    assert ("estimated.accuracy_drop", ANY_ROUTE) in spreads
    assert spreads[("feature.psi", "plan")].chunks == 40
    assert spreads[("rows", "window")].chunks == 39


def test_sigmas_become_one_bound_per_subject_and_fire_above_it() -> None:
    chunks, drawn = _chunks()
    rules = [
        AlertRule(name="fixed", metric="feature.psi", above=0.25),
        AlertRule(name="learnt", metric="feature.psi", sigmas=3, severity="warning"),
        AlertRule(name="accuracy", metric="estimated.accuracy_drop", sigmas=2, windows=2),
    ]
    expanded = expand_rules(rules, _thresholds(chunks))
    assert expanded[0] == rules[0]
    learnt = {r.subjects[0]: r for r in expanded if r.name == "learnt" and r.subjects}
    exact = float(np.mean(drawn["age"]) + 3 * np.std(drawn["age"], ddof=1))
    bound = learnt["age"].above
    assert bound == float(f"{exact:.4g}")
    assert learnt["age"].severity == "warning"
    assert set(learnt) == {"age", "plan"}
    (accuracy,) = [r for r in expanded if r.name == "accuracy"]
    assert accuracy.subjects is None  # every route
    assert accuracy.windows == 2
    window = [("feature.psi", "age", bound + 1e-9), ("feature.psi", "plan", 0.0)]
    fired = firing(expanded, [window])
    assert set(fired) == {("feature.psi", "age")}
    assert fired[("feature.psi", "age")].threshold == pytest.approx(bound)
    assert firing(expanded, [[("feature.psi", "age", bound - 1e-9)]]) == {}


def test_subjects_limit_a_learnt_rule() -> None:
    chunks, _ = _chunks()
    rule = AlertRule(name="learnt", metric="feature.psi", sigmas=3, subjects=["plan"])
    (only,) = expand_rules([rule], _thresholds(chunks))
    assert only.subjects == ["plan"]


def test_a_learnt_rule_without_enough_chunks_is_an_error() -> None:
    chunks, _ = _chunks(n=MIN_CHUNKS - 1)
    rule = AlertRule(name="learnt", metric="feature.psi", sigmas=3)
    with pytest.raises(SpecError, match=r"no reference chunk observed feature\.psi"):
        expand_rules([rule], _thresholds(chunks))
    with pytest.raises(SpecError):
        expand_rules([rule], None)
    fixed = AlertRule(name="fixed", metric="feature.psi", above=0.2)
    assert expand_rules([fixed], None) == [fixed]


@pytest.mark.parametrize(
    "bounds",
    [{}, {"above": 1.0, "sigmas": 3}, {"below": 1.0, "sigmas": 3}, {"sigmas": 0}],
)
def test_a_rule_has_exactly_one_positive_bound(bounds: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        AlertRule.model_validate({"name": "r", "metric": "feature.psi", **bounds})


def test_rows_cannot_be_learnt_from_chunks_of_fixed_size() -> None:
    with pytest.raises(ValidationError, match="same number of rows"):
        AlertRule(name="volume", metric="rows", sigmas=3)


def test_chunks_of_a_large_share_of_the_rows_get_the_spread_of_independent_windows() -> None:
    """An accuracy over chunks of 400 of 1,000 held-out rows varies less than over fresh
    windows of 400 rows; corrected, its sd is the binomial one, sqrt(p (1 - p) / 400)."""
    rng = np.random.default_rng(7)
    held_out, rows, p = 1000, 400, 0.8
    correct = rng.random(held_out) < p
    chunks = [
        [
            (
                "realised.accuracy_drop",
                "r",
                1.0 - correct[rng.choice(held_out, rows, replace=False)].mean(),
            )
        ]
        for _ in range(2000)
    ]
    (raw,) = spread_of(chunks)
    (corrected,) = spread_of(chunks, share=rows / held_out)
    assert corrected.sd == pytest.approx(raw.sd / np.sqrt(1 - rows / held_out), rel=1e-12)
    held_p = correct.mean()
    assert corrected.sd == pytest.approx(np.sqrt(held_p * (1 - held_p) / rows), rel=0.05)
    assert raw.sd < 0.85 * np.sqrt(held_p * (1 - held_p) / rows)
