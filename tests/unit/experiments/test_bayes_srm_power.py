"""bayesian(), sample_ratio_mismatch() and plan() against scipy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as st

from goldenpath.errors import InsufficientData
from goldenpath.experiments import ArmStats, bayesian, compare, plan, sample_ratio_mismatch


def arm(x: np.ndarray) -> ArmStats:
    return ArmStats(n=x.size, sum=x.sum(), sum_squares=(x * x).sum())


@pytest.mark.parametrize("shift", [-0.2, 0.0, 0.05, 0.3])
def test_bayesian_summaries_of_the_normal_posterior(shift: float) -> None:
    rng = np.random.default_rng(int(shift * 100) + 50)
    a, b = rng.normal(5, 2, 1500), rng.normal(5 + shift, 2, 1500)
    result = bayesian(arm(a), arm(b))
    effect = compare(arm(a), arm(b))
    mu, sd = result.relative, result.relative_sd
    assert effect.relative is not None
    assert mu == pytest.approx(effect.relative)
    posterior = st.norm(mu, sd)
    assert result.chance_to_beat_control == pytest.approx(posterior.sf(0.0), abs=1e-12)
    loss, _ = integrate.quad(lambda x: -x * posterior.pdf(x), mu - 12 * sd, 0.0)
    assert result.expected_loss == pytest.approx(max(loss, 0.0), abs=1e-10)
    assert result.relative_ci == pytest.approx(tuple(posterior.ppf([0.025, 0.975])))
    lower = bayesian(arm(a), arm(b), higher_is_better=False)
    assert lower.chance_to_beat_control == pytest.approx(1 - result.chance_to_beat_control)
    gain, _ = integrate.quad(lambda x: x * posterior.pdf(x), 0.0, mu + 12 * sd)
    assert lower.expected_loss == pytest.approx(gain, abs=1e-10)


def test_bayesian_needs_a_non_zero_control_mean() -> None:
    a = np.array([-1.0, 1.0, -2.0, 2.0])
    with pytest.raises(InsufficientData, match="control mean is 0"):
        bayesian(arm(a), arm(a + 1))


@pytest.mark.parametrize(
    ("observed", "shares"),
    [([5000, 5200], [0.5, 0.5]), ([1000, 2100, 2950], [0.2, 0.35, 0.45]), ([90, 10], [9, 1])],
)
def test_srm_is_pearsons_chi_square(observed: list[int], shares: list[float]) -> None:
    result = sample_ratio_mismatch(observed, shares)
    expected = np.asarray(shares) / np.sum(shares) * np.sum(observed)
    reference = st.chisquare(observed, expected)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-10)
    assert result.chi_square == pytest.approx(reference.statistic, rel=1e-10)
    assert result.flagged == (reference.pvalue < 0.001)
    assert result.observed == tuple(observed)


def test_srm_flags_below_the_threshold_only() -> None:
    assert sample_ratio_mismatch([10400, 9600], [0.5, 0.5]).flagged
    assert not sample_ratio_mismatch([5000, 5200], [0.5, 0.5]).flagged
    assert sample_ratio_mismatch([5000, 5200], [0.5, 0.5], threshold=0.05).flagged
    assert sample_ratio_mismatch([0, 0], [0.5, 0.5]).p_value == 1.0
    with pytest.raises(ValueError, match="same length"):
        sample_ratio_mismatch([1, 2, 3], [0.5, 0.5])
    with pytest.raises(ValueError, match="non-negative"):
        sample_ratio_mismatch([1, -2], [0.5, 0.5])


def test_plan_is_the_normal_sample_size_formula() -> None:
    p = 0.1
    sd = math.sqrt(p * (1 - p))
    z_a, z_b = st.norm.ppf(0.975), st.norm.ppf(0.8)
    absolute = plan(baseline_mean=p, baseline_sd=sd, mde=0.005, relative=False)
    per_arm = 2 * (z_a + z_b) ** 2 * sd**2 / 0.005**2
    assert absolute.units_per_arm == (math.ceil(per_arm), math.ceil(per_arm))
    assert absolute.total_units == 2 * math.ceil(per_arm)
    assert absolute.days is None
    # a relative mde: the relative effect's test, whose se counts the control 1.05**2 times
    result = plan(baseline_mean=p, baseline_sd=sd, mde=0.05)
    judged, spread = (1 + 1.05**2) * sd**2, 2 * sd**2
    per_arm = (z_a * math.sqrt(judged) + z_b * math.sqrt(spread)) ** 2 / (0.05 * p) ** 2
    assert result.units_per_arm == (math.ceil(per_arm), math.ceil(per_arm))
    # its power at that size: the statistic is N(delta / se_judged, spread / judged)
    n = result.units_per_arm[0]
    mean = 0.05 * p / math.sqrt(judged / n)
    power = st.norm.sf((z_a - mean) / math.sqrt(spread / judged))
    assert power == pytest.approx(0.8, abs=1e-3)


def test_plan_for_a_proportion_uses_each_arms_binomial_variance() -> None:
    p, q = 0.1, 0.11
    result = plan(baseline_mean=p, mde=0.1, proportion=True, allocation=0.4)
    z_a, z_b = st.norm.ppf(0.975), st.norm.ppf(0.8)
    judged = p * (1 - p) * 1.1**2 / 0.6 + q * (1 - q) / 0.4
    spread = p * (1 - p) / 0.6 + q * (1 - q) / 0.4
    total = (z_a * math.sqrt(judged) + z_b * math.sqrt(spread)) ** 2 / (q - p) ** 2
    assert result.units_per_arm == (math.ceil(total * 0.6), math.ceil(total * 0.4))
    same_sd = plan(baseline_mean=p, baseline_sd=math.sqrt(p * (1 - p)), mde=0.1, allocation=0.4)
    assert result.total_units > same_sd.total_units
    with pytest.raises(ValueError, match="proportion"):
        plan(baseline_mean=0.95, mde=0.1, proportion=True)
    with pytest.raises(ValueError, match="baseline_sd"):
        plan(baseline_mean=0.1, mde=0.1)


def test_plan_with_unequal_allocation_and_traffic() -> None:
    even = plan(baseline_mean=10, baseline_sd=4, mde=0.5, relative=False, units_per_day=1000)
    skew = plan(baseline_mean=10, baseline_sd=4, mde=0.5, relative=False, allocation=0.2)
    assert even.days == pytest.approx(even.total_units / 1000)
    assert skew.total_units > even.total_units  # an unbalanced split needs more units
    control, treatment = skew.units_per_arm
    assert treatment / (control + treatment) == pytest.approx(0.2, abs=1e-3)
    # a relative mde plans the relative effect's test, which counts the control's noise more
    assert plan(baseline_mean=10, baseline_sd=4, mde=0.05).total_units > even.total_units
    with pytest.raises(ValueError, match="baseline_mean"):
        plan(baseline_mean=0, baseline_sd=1, mde=0.1)
    with pytest.raises(ValueError, match="allocation"):
        plan(baseline_mean=1, baseline_sd=1, mde=0.1, allocation=1.0)
