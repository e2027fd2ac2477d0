"""Frequentist comparison of two arms of an A/B test from their sufficient statistics.

The definitions follow GrowthBook's stats engine (gbstats 0.8) so that the figures agree with
it (tests/unit/experiments/test_gbstats_differential.py checks them to 1e-6):

- per-unit variance is the sample variance ``(sum_squares - sum**2 / n) / (n - 1)``; a ratio
  metric's (``sum / denominator_sum``) comes from the delta method on the two per-unit sums;
- the absolute effect is ``mean_t - mean_c`` with variance ``var_t / n_t + var_c / n_c``; the
  relative effect is ``(mean_t - mean_c) / mean_c`` with the delta-method variance
  ``var_t / (mean_c**2 n_t) + var_c mean_t**2 / (mean_c**4 n_c)``;
- the fixed-horizon test is Welch's t test (Welch-Satterthwaite degrees of freedom, used for
  both the absolute and the relative effect); the sequential one is the mixture SPRT of
  :mod:`goldenpath.experiments.sequential`;
- CUPED is regression adjustment on a pre-period covariate, with one slope ``theta`` fitted on
  both arms pooled: ``mean - theta * covariate_mean`` per arm.

Where goldenpath differs from gbstats: a 0/1 metric gets the sample variance like any other
(gbstats' ``ProportionStatistic`` uses ``p (1 - p)``, smaller by ``(n - 1) / n``); ``p_value``
is the test of the absolute difference (the classical Welch test; gbstats reports the test of
the relative effect, here ``relative_p_value``); a control mean of 0 leaves the relative effect
``None`` and keeps the absolute one (gbstats returns no result at all); means reported are the
observed (unadjusted) ones, also under CUPED.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from scipy import stats as st

from goldenpath.errors import InsufficientData
from goldenpath.experiments.sequential import sequential_half_width, sequential_p_value

__all__ = ["ArmStats", "Effect", "compare"]

Method = Literal["fixed", "sequential"]


@dataclass(frozen=True)
class ArmStats:
    """One arm, one metric: the per-unit values of its ``n`` units aggregated.

    A mean or proportion metric needs ``n``, ``sum`` and ``sum_squares`` (a 0/1 metric:
    ``sum_squares == sum``). A ratio metric (``sum(numerator) / sum(denominator)`` over the
    arm, e.g. clicks per session with users as units) adds the denominators' sums and the sum
    of products; CUPED adds a pre-period covariate's sums and its cross sum with the metric.
    """

    n: int
    sum: float
    sum_squares: float
    denominator_sum: float | None = None
    denominator_sum_squares: float | None = None
    cross_sum: float | None = None
    covariate_sum: float | None = None
    covariate_sum_squares: float | None = None
    covariate_cross_sum: float | None = None

    def __post_init__(self) -> None:
        # numpy scalars in, plain Python numbers out (JSON-ready results)
        object.__setattr__(self, "n", int(self.n))
        for name in (
            "sum",
            "sum_squares",
            "denominator_sum",
            "denominator_sum_squares",
            "cross_sum",
            "covariate_sum",
            "covariate_sum_squares",
            "covariate_cross_sum",
        ):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, float(value))
        if self.n < 0:
            raise ValueError(f"ArmStats.n must be >= 0, got {self.n}")
        ratio = (self.denominator_sum, self.denominator_sum_squares, self.cross_sum)
        if any(v is None for v in ratio) and any(v is not None for v in ratio):
            raise ValueError(
                "a ratio metric needs denominator_sum, denominator_sum_squares and cross_sum"
            )
        covariate = (self.covariate_sum, self.covariate_sum_squares, self.covariate_cross_sum)
        if any(v is None for v in covariate) and any(v is not None for v in covariate):
            raise ValueError(
                "CUPED needs covariate_sum, covariate_sum_squares and covariate_cross_sum"
            )

    @property
    def is_ratio(self) -> bool:
        return self.denominator_sum is not None

    @property
    def has_covariate(self) -> bool:
        return self.covariate_sum is not None

    @property
    def mean(self) -> float:
        """The observed metric: ``sum / n``, or ``sum / denominator_sum`` for a ratio metric."""
        if self.denominator_sum is not None:
            return self.sum / self.denominator_sum if self.denominator_sum else 0.0
        return self.sum / self.n if self.n else 0.0


@dataclass(frozen=True)
class Effect:
    """Treatment against control on one metric.

    ``absolute`` and its interval are on the metric's scale (CUPED-adjusted when ``cuped``);
    ``relative`` is ``absolute / control_mean`` with a delta-method interval, ``None`` when the
    control mean is 0. ``p_value`` tests the absolute difference, ``relative_p_value`` the
    relative one (they differ slightly: the delta method's variance is not a rescaling).
    ``variance_reduction`` is ``1 - var_cuped / var_raw`` of the absolute effect.
    """

    control_mean: float
    treatment_mean: float
    absolute: float
    absolute_ci: tuple[float, float]
    relative: float | None
    relative_ci: tuple[float, float] | None
    p_value: float
    alpha: float
    method: Method
    cuped: bool
    variance_reduction: float | None
    relative_p_value: float | None = None
    degrees_of_freedom: float | None = None

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha


@dataclass(frozen=True)
class _Moments:
    """One arm as the tests see it: estimated mean (adjusted under CUPED), observed mean, and
    the per-unit variance of the estimate."""

    n: int
    mean: float
    observed_mean: float
    variance: float


def _given(value: float | None) -> float:
    if value is None:  # ArmStats.__post_init__ makes a family of fields all-or-none
        raise ValueError("a ratio or CUPED sum is missing")
    return value


def _var(n: int, total: float, squares: float) -> float:
    return (squares - total * total / n) / (n - 1) if n > 1 else 0.0


def _cov(n: int, a: float, b: float, cross: float) -> float:
    return (cross - a * b / n) / (n - 1) if n > 1 else 0.0


def _ratio_moments(arm: ArmStats) -> _Moments:
    n = arm.n
    den_sum = _given(arm.denominator_sum)
    m = arm.sum / n
    d = den_sum / n
    if d == 0:
        raise InsufficientData(
            "the ratio metric's denominator sums to 0 in an arm",
            hint="wait for units with a non-zero denominator",
        )
    var_m = _var(n, arm.sum, arm.sum_squares)
    var_d = _var(n, den_sum, _given(arm.denominator_sum_squares))
    cov = _cov(n, arm.sum, den_sum, _given(arm.cross_sum))
    variance = var_m / d**2 - 2.0 * cov * m / d**3 + m * m * var_d / d**4
    return _Moments(n, m / d, m / d, variance)


def _plain_moments(arm: ArmStats, theta: float) -> _Moments:
    n = arm.n
    mean = arm.sum / n
    variance = _var(n, arm.sum, arm.sum_squares)
    if theta == 0.0:
        return _Moments(n, mean, mean, variance)
    x_sum = _given(arm.covariate_sum)
    var_x = _var(n, x_sum, _given(arm.covariate_sum_squares))
    cov = _cov(n, arm.sum, x_sum, _given(arm.covariate_cross_sum))
    adjusted = variance + theta * theta * var_x - 2.0 * theta * cov
    return _Moments(n, mean - theta * x_sum / n, mean, adjusted)


def cuped_theta(control: ArmStats, treatment: ArmStats) -> float:
    """The CUPED slope ``cov(metric, covariate) / var(covariate)`` on both arms pooled (0 when
    either pooled variance is 0, which leaves the metric unadjusted)."""
    if not (control.has_covariate and treatment.has_covariate):
        raise ValueError("CUPED needs the covariate sums in both arms")
    n = control.n + treatment.n
    y = control.sum + treatment.sum
    x = _given(control.covariate_sum) + _given(treatment.covariate_sum)
    var_y = _var(n, y, control.sum_squares + treatment.sum_squares)
    x_squares = _given(control.covariate_sum_squares) + _given(treatment.covariate_sum_squares)
    var_x = _var(n, x, x_squares)
    if var_x == 0.0 or var_y == 0.0:
        return 0.0
    cross = _given(control.covariate_cross_sum) + _given(treatment.covariate_cross_sum)
    cov = _cov(n, y, x, cross)
    return cov / var_x


def _check(control: ArmStats, treatment: ArmStats) -> None:
    if control.is_ratio != treatment.is_ratio:
        raise ValueError("both arms must be ratio metrics, or neither")
    for name, arm in (("control", control), ("treatment", treatment)):
        if arm.n < 2:
            raise InsufficientData(
                f"the {name} arm has {arm.n} unit(s); a comparison needs at least 2 per arm",
                hint="wait for more exposed units",
                details={"arm": name, "n": arm.n},
            )


def arm_moments(
    control: ArmStats, treatment: ArmStats, *, cuped: bool = False
) -> tuple[_Moments, _Moments]:
    """Both arms' moments, CUPED-adjusted when asked; raises when a variance is not positive."""
    _check(control, treatment)
    if control.is_ratio:
        if cuped:
            raise ValueError("CUPED on a ratio metric is not supported (gbstats 0.8 has none)")
        moments = (_ratio_moments(control), _ratio_moments(treatment))
    else:
        theta = cuped_theta(control, treatment) if cuped else 0.0
        moments = (_plain_moments(control, theta), _plain_moments(treatment, theta))
    for name, m in zip(("control", "treatment"), moments, strict=True):
        if not m.variance > 0.0:
            raise InsufficientData(
                f"the metric has no variance in the {name} arm",
                hint="wait for more units, or check that the metric is computed",
                details={"arm": name, "n": m.n},
            )
    return moments


def relative_variance(a: _Moments, b: _Moments) -> float:
    """Delta-method variance of ``(mean_b - mean_a) / observed_mean_a``."""
    ua, ub = a.observed_mean, b.observed_mean
    return b.variance / (ua * ua * b.n) + a.variance * ub * ub / (ua**4 * a.n)


def welch_dof(a: _Moments, b: _Moments) -> float:
    """Welch-Satterthwaite degrees of freedom."""
    qa, qb = a.variance / a.n, b.variance / b.n
    return (qa + qb) ** 2 / (qa * qa / (a.n - 1) + qb * qb / (b.n - 1))


def _test(
    estimate: float,
    variance: float,
    *,
    dof: float,
    n_total: int,
    alpha: float,
    method: Method,
    tuning: float,
) -> tuple[tuple[float, float], float]:
    se = math.sqrt(variance)
    if method == "fixed":
        width = float(st.t.ppf(1.0 - alpha / 2.0, dof)) * se
        p = float(2.0 * st.t.sf(abs(estimate) / se, dof))
    else:
        width = sequential_half_width(variance, n_total, alpha, tuning)
        p = sequential_p_value(estimate, variance, n_total, alpha, tuning)
    return (estimate - width, estimate + width), p


def compare(
    control: ArmStats,
    treatment: ArmStats,
    *,
    alpha: float = 0.05,
    method: Method = "fixed",
    sequential_tuning: float = 5000.0,
    cuped: bool = False,
) -> Effect:
    """Treatment against control: effect, interval and two-sided p-value.

    ``method="fixed"`` is valid at one look at the planned sample size; ``"sequential"`` at
    every look (``sequential_tuning``: the total units where its interval is tightest).
    Raises :class:`~goldenpath.errors.InsufficientData` when an arm has fewer than 2 units or
    no variance, ``ValueError`` on inconsistent inputs.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    if method not in ("fixed", "sequential"):
        raise ValueError(f"method must be 'fixed' or 'sequential', got {method!r}")
    if sequential_tuning <= 0:
        raise ValueError("sequential_tuning must be positive")
    a, b = arm_moments(control, treatment, cuped=cuped)
    dof = welch_dof(a, b)
    n_total = a.n + b.n

    def test(estimate: float, variance: float) -> tuple[tuple[float, float], float]:
        return _test(
            estimate,
            variance,
            dof=dof,
            n_total=n_total,
            alpha=alpha,
            method=method,
            tuning=sequential_tuning,
        )

    absolute = b.mean - a.mean
    var_abs = b.variance / b.n + a.variance / a.n
    absolute_ci, p_value = test(absolute, var_abs)
    relative: float | None = None
    relative_ci: tuple[float, float] | None = None
    relative_p: float | None = None
    if a.observed_mean != 0.0:
        relative = absolute / a.observed_mean
        relative_ci, relative_p = test(relative, relative_variance(a, b))
    reduction: float | None = None
    if cuped:
        raw_a, raw_b = arm_moments(control, treatment, cuped=False)
        reduction = 1.0 - var_abs / (raw_b.variance / raw_b.n + raw_a.variance / raw_a.n)
    return Effect(
        control_mean=a.observed_mean,
        treatment_mean=b.observed_mean,
        absolute=absolute,
        absolute_ci=absolute_ci,
        relative=relative,
        relative_ci=relative_ci,
        p_value=p_value,
        alpha=alpha,
        method=method,
        cuped=cuped,
        variance_reduction=reduction,
        relative_p_value=relative_p,
        degrees_of_freedom=dof if method == "fixed" else None,
    )
