"""compare() against scipy on raw generated data: Welch's t test, the delta method (as the
variance of linearised per-unit values), CUPED (as OLS on the pooled arms), and edge cases."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats as st

from goldenpath.errors import InsufficientData
from goldenpath.experiments import ArmStats, compare
from goldenpath.experiments.stats import cuped_theta

Array = NDArray[np.floating]


def arm(x: Array) -> ArmStats:
    return ArmStats(n=x.size, sum=x.sum(), sum_squares=(x * x).sum())


def ratio_arm(m: Array, d: Array) -> ArmStats:
    return ArmStats(
        n=m.size,
        sum=m.sum(),
        sum_squares=(m * m).sum(),
        denominator_sum=d.sum(),
        denominator_sum_squares=(d * d).sum(),
        cross_sum=(m * d).sum(),
    )


def cuped_arm(y: Array, x: Array) -> ArmStats:
    return ArmStats(
        n=y.size,
        sum=y.sum(),
        sum_squares=(y * y).sum(),
        covariate_sum=x.sum(),
        covariate_sum_squares=(x * x).sum(),
        covariate_cross_sum=(y * x).sum(),
    )


def welch_ci(b: Array, a: Array, alpha: float) -> tuple[float, float, float]:
    """scipy's Welch test of b - a: (p-value, low, high)."""
    result = st.ttest_ind(b, a, equal_var=False)
    ci = result.confidence_interval(1 - alpha)
    return float(result.pvalue), float(ci.low), float(ci.high)


@pytest.mark.parametrize(
    ("n_a", "n_b", "shift", "alpha"),
    [(30, 45, 0.0, 0.05), (800, 700, 0.3, 0.05), (5000, 5000, 0.05, 0.1)],
)
def test_fixed_test_is_welchs_t_test(n_a: int, n_b: int, shift: float, alpha: float) -> None:
    rng = np.random.default_rng(n_a)
    a = rng.gamma(2.0, 2.0, n_a)
    b = rng.gamma(2.0, 2.0, n_b) + shift
    effect = compare(arm(a), arm(b), alpha=alpha)
    p, low, high = welch_ci(b, a, alpha)
    assert effect.absolute == pytest.approx(b.mean() - a.mean(), rel=1e-10)
    assert effect.p_value == pytest.approx(p, rel=1e-8)
    assert effect.absolute_ci == pytest.approx((low, high), rel=1e-8)
    assert effect.control_mean == pytest.approx(a.mean())
    assert effect.treatment_mean == pytest.approx(b.mean())
    assert effect.method == "fixed"
    assert not effect.cuped
    assert effect.variance_reduction is None


def test_relative_effect_is_the_delta_method_on_the_ratio_of_means() -> None:
    rng = np.random.default_rng(7)
    a = rng.lognormal(1.0, 0.7, 2000)
    b = rng.lognormal(1.05, 0.7, 1800)
    effect = compare(arm(a), arm(b))
    ma, mb = a.mean(), b.mean()
    # gradient of mb / ma - 1 at the means, applied to the two independent means' variances
    variance = (1 / ma) ** 2 * b.var(ddof=1) / b.size + (mb / ma**2) ** 2 * a.var(ddof=1) / a.size
    qa, qb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    dof = (qa + qb) ** 2 / (qa**2 / (a.size - 1) + qb**2 / (b.size - 1))
    half = st.t.ppf(0.975, dof) * np.sqrt(variance)
    assert effect.relative == pytest.approx(mb / ma - 1, rel=1e-10)
    assert effect.relative_ci == pytest.approx((mb / ma - 1 - half, mb / ma - 1 + half), rel=1e-9)
    assert effect.relative_p_value == pytest.approx(
        2 * st.t.sf(abs(mb / ma - 1) / np.sqrt(variance), dof), rel=1e-8
    )
    assert effect.degrees_of_freedom == pytest.approx(dof)


def test_ratio_metric_is_welch_on_linearised_units() -> None:
    """The delta-method variance of sum(m) / sum(d) is the variance of the linearised
    per-unit values (m - R d) / mean(d): Welch on those gives the same interval."""
    rng = np.random.default_rng(11)
    arms = []
    for n, p in ((1500, 0.30), (1600, 0.32)):
        d = rng.poisson(3.0, n) + 1.0
        m = rng.binomial(d.astype(int), p).astype(float)
        arms.append((m, d))
    (ma, da), (mb, db) = arms
    effect = compare(ratio_arm(ma, da), ratio_arm(mb, db))
    ra, rb = ma.sum() / da.sum(), mb.sum() / db.sum()
    la = (ma - ra * da) / da.mean()
    lb = (mb - rb * db) / db.mean()
    p, low, high = welch_ci(lb + rb, la + ra, 0.05)  # the linearised values, centred on R
    assert effect.absolute == pytest.approx(rb - ra, rel=1e-10)
    assert effect.p_value == pytest.approx(p, rel=1e-8)
    assert effect.absolute_ci == pytest.approx((low, high), rel=1e-8)
    assert effect.control_mean == pytest.approx(ra)


def test_cuped_is_ols_on_the_pooled_arms_then_welch_on_adjusted_values() -> None:
    rng = np.random.default_rng(3)
    xa, xb = rng.normal(5, 1, 3000), rng.normal(5, 1, 3100)
    ya = 2 + 0.8 * xa + rng.normal(0, 1, xa.size)
    yb = 2.1 + 0.8 * xb + rng.normal(0, 1, xb.size)
    control, treatment = cuped_arm(ya, xa), cuped_arm(yb, xb)
    theta = st.linregress(np.concatenate([xa, xb]), np.concatenate([ya, yb])).slope
    assert cuped_theta(control, treatment) == pytest.approx(theta, rel=1e-10)
    effect = compare(control, treatment, cuped=True)
    p, low, high = welch_ci(yb - theta * xb, ya - theta * xa, 0.05)
    assert effect.cuped
    assert effect.p_value == pytest.approx(p, rel=1e-8)
    assert effect.absolute_ci == pytest.approx((low, high), rel=1e-8)
    # means shown are the observed ones; the effect is the adjusted one
    assert effect.control_mean == pytest.approx(ya.mean())
    raw = compare(control, treatment)
    assert effect.variance_reduction is not None
    se_cuped = effect.absolute_ci[1] - effect.absolute_ci[0]
    se_raw = raw.absolute_ci[1] - raw.absolute_ci[0]
    assert 1 - (se_cuped / se_raw) ** 2 == pytest.approx(effect.variance_reduction, abs=1e-3)
    rho = np.corrcoef(np.concatenate([xa, xb]), np.concatenate([ya, yb]))[0, 1]
    assert effect.variance_reduction == pytest.approx(rho**2, abs=0.02)


def test_cuped_with_a_constant_covariate_changes_nothing() -> None:
    rng = np.random.default_rng(5)
    ya, yb = rng.normal(0, 1, 100), rng.normal(0.2, 1, 100)
    one = np.ones(100)
    effect = compare(cuped_arm(ya, one), cuped_arm(yb, one), cuped=True)
    raw = compare(arm(ya), arm(yb))
    assert effect.absolute_ci == pytest.approx(raw.absolute_ci)
    assert effect.variance_reduction == pytest.approx(0.0)


def test_sequential_interval_is_wider_than_fixed_and_contains_the_estimate() -> None:
    rng = np.random.default_rng(9)
    a, b = rng.normal(10, 2, 4000), rng.normal(10.1, 2, 4000)
    fixed = compare(arm(a), arm(b))
    seq = compare(arm(a), arm(b), method="sequential")
    assert seq.absolute == fixed.absolute
    assert seq.absolute_ci[0] < fixed.absolute_ci[0] < fixed.absolute < fixed.absolute_ci[1]
    assert fixed.absolute_ci[1] < seq.absolute_ci[1]
    assert seq.p_value >= fixed.p_value
    assert seq.degrees_of_freedom is None
    # the interval and the p-value agree: 0 is outside exactly when p < alpha
    for shift in (0.0, 0.05, 0.1, 0.15, 0.2):
        s = compare(arm(a), arm(b + shift), method="sequential")
        outside = not s.absolute_ci[0] <= 0.0 <= s.absolute_ci[1]
        assert outside == (s.p_value < s.alpha)


def test_control_mean_zero_leaves_no_relative_effect() -> None:
    a = np.array([-1.0, 1.0, -2.0, 2.0])
    b = np.array([0.5, 1.5, 2.5, 0.0])
    effect = compare(arm(a), arm(b))
    assert effect.relative is None
    assert effect.relative_ci is None
    assert effect.relative_p_value is None
    assert effect.absolute == pytest.approx(1.125)


@pytest.mark.parametrize("n", [0, 1])
def test_fewer_than_two_units_is_insufficient_data(n: int) -> None:
    with pytest.raises(InsufficientData, match="at least 2"):
        compare(arm(np.ones(n)), arm(np.array([1.0, 2.0, 3.0])))


def test_zero_variance_is_insufficient_data() -> None:
    zeros = np.zeros(50)  # no conversion yet in control
    with pytest.raises(InsufficientData, match="no variance in the control arm"):
        compare(arm(zeros), arm(np.r_[np.zeros(45), np.ones(5)]))


def test_ratio_with_zero_denominator_is_insufficient_data() -> None:
    z = np.zeros(10)
    with pytest.raises(InsufficientData, match="denominator"):
        compare(ratio_arm(z, z), ratio_arm(np.ones(10), np.arange(10.0)))


def test_inconsistent_inputs_are_value_errors() -> None:
    x = np.arange(10.0)
    with pytest.raises(ValueError, match="denominator_sum"):
        ArmStats(n=3, sum=1.0, sum_squares=1.0, denominator_sum=2.0)
    with pytest.raises(ValueError, match="covariate"):
        ArmStats(n=3, sum=1.0, sum_squares=1.0, covariate_sum=2.0)
    with pytest.raises(ValueError, match=">= 0"):
        ArmStats(n=-1, sum=0.0, sum_squares=0.0)
    with pytest.raises(ValueError, match="both arms"):
        compare(arm(x), ratio_arm(x, x + 1))
    with pytest.raises(ValueError, match="covariate"):
        compare(arm(x), arm(x + 1), cuped=True)
    both = replace(
        ratio_arm(x, x + 1), covariate_sum=1.0, covariate_sum_squares=1.0, covariate_cross_sum=1.0
    )
    with pytest.raises(ValueError, match="ratio"):
        compare(both, both, cuped=True)
    with pytest.raises(ValueError, match="alpha"):
        compare(arm(x), arm(x + 1), alpha=1.5)
    with pytest.raises(ValueError, match="method"):
        compare(arm(x), arm(x + 1), method="bayes")  # type: ignore[arg-type]


def test_results_are_plain_json_ready_numbers() -> None:
    rng = np.random.default_rng(1)
    effect = compare(arm(rng.normal(1, 1, 50)), arm(rng.normal(1, 1, 50)))
    document = json.loads(json.dumps(asdict(effect)))
    assert document["method"] == "fixed"
    assert all(type(v) is float for v in (effect.absolute, effect.p_value, effect.control_mean))
