"""Small versions of benchmarks/experiments_simulation.py: error rates, SRM detection, CUPED's
variance reduction and the plan's power, with bounds loose enough for the sample yet tight
enough to fail a wrong method (a z test with the wrong variance, a sequential test that is not
always valid, a plan off by a factor)."""

from __future__ import annotations

import numpy as np

from _benchmarks import benchmark
from goldenpath.experiments import plan

simulation = benchmark("experiments_simulation")


def test_fixed_test_type_one_error_is_alpha() -> None:
    rate = simulation.fixed_type_one(np.random.default_rng(1), experiments=3000, n=500)
    assert 0.035 <= rate.absolute.value <= 0.065
    assert 0.035 <= rate.relative.value <= 0.065


def test_sequential_test_stays_under_alpha_when_peeked_at_daily() -> None:
    peek = simulation.peeking_type_one(np.random.default_rng(2), experiments=1000, looks=14)
    assert peek.sequential.value <= 0.05
    assert peek.sequential_relative.value <= 0.05
    assert peek.fixed.value >= 0.12  # the fixed test, peeked at, is far above alpha


def test_srm_detects_a_52_48_split_at_the_planned_size_and_rarely_false_alarms() -> None:
    rng = np.random.default_rng(3)
    total = plan(baseline_mean=0.1, mde=0.05, proportion=True).total_units
    assert simulation.srm_rate(rng, experiments=2000, total=total, share=0.52).value >= 0.99
    assert simulation.srm_rate(rng, experiments=5000, total=total, share=0.5).value <= 0.004


def test_cuped_reduces_the_variance_by_rho_squared() -> None:
    c = simulation.cuped_reduction(np.random.default_rng(4), rho=0.7, replications=2000, n=200)
    assert abs(c.variance_ratio - 0.51) <= 0.06
    assert abs(c.mean_reported_reduction - 0.49) <= 0.02


def test_the_plan_gives_the_power_asked() -> None:
    rng = np.random.default_rng(5)
    for metric in ("proportion", "mean"):
        result = simulation.planned_power(rng, experiments=2000, metric=metric)
        assert 0.75 <= result.relative_power.value <= 0.85, metric
        assert result.power.value >= result.relative_power.value - 0.02, metric
