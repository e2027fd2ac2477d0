"""goldenpath's A/B statistics against GrowthBook's stats engine (gbstats 0.8.0) on the same
inputs, to 1e-6: the answers in tests/data/gbstats_reference.json, written by
scripts/gbstats_reference.py (which ``make test`` reruns against a fresh gbstats)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from goldenpath.experiments import ArmStats, bayesian, compare, sample_ratio_mismatch

REFERENCE = Path(__file__).resolve().parents[2] / "data" / "gbstats_reference.json"
DOCUMENT: dict[str, Any] = json.loads(REFERENCE.read_text())
CASES: list[dict[str, Any]] = DOCUMENT["cases"]
TOL = 1e-6


def _arms(case: dict[str, Any]) -> tuple[ArmStats, ArmStats]:
    return ArmStats(**case["control"]), ArmStats(**case["treatment"])


def _close(found: float, expected: float) -> bool:
    return abs(found - expected) <= TOL * max(1.0, abs(expected))


def test_the_reference_is_gbstats_0_8_on_every_kind_of_metric() -> None:
    assert DOCUMENT["gbstats_version"] == "0.8.0"
    assert {c["kind"] for c in CASES} == {"mean", "proportion", "ratio", "cuped"}
    assert all(c["gbstats"]["fixed_relative"]["error"] is None for c in CASES)


@pytest.mark.parametrize("method", ["fixed", "sequential"])
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_compare_matches_gbstats(case: dict[str, Any], method: str) -> None:
    control, treatment = _arms(case)
    effect = compare(
        control,
        treatment,
        alpha=case["alpha"],
        method=method,  # type: ignore[arg-type]
        sequential_tuning=case["tuning"],
        cuped=case["kind"] == "cuped",
    )
    relative = case["gbstats"][f"{method}_relative"]
    absolute = case["gbstats"][f"{method}_absolute"]
    assert effect.relative is not None
    assert effect.relative_ci is not None
    assert effect.relative_p_value is not None
    assert _close(effect.relative, relative["expected"])
    assert _close(effect.relative_ci[0], relative["ci"][0])
    assert _close(effect.relative_ci[1], relative["ci"][1])
    assert _close(effect.relative_p_value, relative["p_value"])
    assert _close(effect.absolute, absolute["expected"])
    assert _close(effect.absolute_ci[0], absolute["ci"][0])
    assert _close(effect.absolute_ci[1], absolute["ci"][1])
    assert _close(effect.p_value, absolute["p_value"])


@pytest.mark.parametrize("higher_is_better", [True, False])
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_bayesian_matches_gbstats(case: dict[str, Any], higher_is_better: bool) -> None:
    control, treatment = _arms(case)
    result = bayesian(
        control,
        treatment,
        alpha=case["alpha"],
        higher_is_better=higher_is_better,
        cuped=case["kind"] == "cuped",
    )
    reference = case["gbstats"]["bayes" if higher_is_better else "bayes_lower_is_better"]
    # gbstats' risk is [loss of choosing control, loss of choosing treatment]
    assert _close(result.chance_to_beat_control, reference["chance_to_win"])
    assert _close(result.expected_loss, reference["risk"][1])
    assert _close(result.relative, reference["expected"])
    assert _close(result.relative_ci[0], reference["ci"][0])
    assert _close(result.relative_ci[1], reference["ci"][1])


@pytest.mark.parametrize("srm", DOCUMENT["srm"], ids=lambda s: str(s["observed"]))
def test_srm_matches_gbstats(srm: dict[str, Any]) -> None:
    result = sample_ratio_mismatch(srm["observed"], srm["shares"])
    assert _close(result.p_value, srm["p_value"])
    assert result.flagged == (srm["p_value"] < 0.001)


def test_proportions_differ_from_gbstats_binomial_variance_only_by_n_over_n_minus_1() -> None:
    """gbstats' ProportionStatistic uses p (1 - p); goldenpath the sample variance, larger by
    n / (n - 1): same estimate, intervals a hair wider (documented in stats.py)."""
    for case in (c for c in CASES if c["kind"] == "proportion"):
        control, treatment = _arms(case)
        effect = compare(control, treatment, alpha=case["alpha"])
        reference = case["gbstats"]["fixed_relative_proportion_statistic"]
        assert effect.relative is not None
        assert effect.relative_ci is not None
        assert _close(effect.relative, reference["expected"])
        ours = effect.relative_ci[1] - effect.relative_ci[0]
        theirs = reference["ci"][1] - reference["ci"][0]
        n_min = min(control.n, treatment.n)
        assert theirs <= ours <= theirs * (n_min / (n_min - 1)) ** 0.5 * (1 + 1e-3)
