"""Sample size of a two-arm test: how many units find an effect of ``mde`` with ``power``.

The normal approximation of the two-sided fixed-horizon test, with a share ``a``
(``allocation``) of units in treatment and ``delta = mde * |baseline_mean|`` (relative) or
``mde`` (absolute)::

    total = (z_{1-alpha/2} sqrt(S_judged) + z_{power} sqrt(S)) ** 2 / delta ** 2
    S        = sd_c**2 / (1 - a) + sd_t**2 / a                 (variance of the difference)
    S_judged = k sd_c**2 / (1 - a) + sd_t**2 / a               (what the test's se estimates)

``k = 1`` for an absolute mde: the textbook formula (e.g. Kohavi, Tang and Xu, "Trustworthy
Online Controlled Experiments", ch. 17). A relative mde plans the test of the relative effect,
as the readout reports it: its delta-method standard error counts the control's variance
``k = (1 + mde)**2`` times, while its statistic ``(mean_t - mean_c) / se`` varies with ``S``
only (the control mean divides out), so the statistic has a standard deviation below 1 under
the alternative and the two terms differ.

A mean metric takes ``sd_c = sd_t = baseline_sd``. A proportion (``proportion=True``,
``baseline_mean`` the rate ``p``) takes each arm's binomial standard deviation,
``sqrt(p (1 - p))`` and ``sqrt(p' (1 - p'))`` with ``p' = p + delta``: one ``baseline_sd`` for
both arms plans too few units for a lift. gbstats 0.8 has no planner;
benchmarks/experiments_simulation.py checks by simulation that the planned size gives the power
asked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats as st

__all__ = ["Plan", "plan"]


@dataclass(frozen=True)
class Plan:
    """``units_per_arm`` is ``(control, treatment)``; ``days`` is ``None`` without a traffic
    figure."""

    units_per_arm: tuple[int, int]
    total_units: int
    days: float | None
    mde: float
    relative: bool
    alpha: float
    power: float


def plan(
    *,
    baseline_mean: float,
    baseline_sd: float | None = None,
    mde: float,
    relative: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    allocation: float = 0.5,
    units_per_day: float | None = None,
    proportion: bool = False,
) -> Plan:
    """Units each arm needs for the fixed-horizon test; days at ``units_per_day`` exposed units.

    ``baseline_sd`` is required unless ``proportion``."""
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0 or not 0.0 < allocation < 1.0:
        raise ValueError("alpha, power and allocation must lie in (0, 1)")
    if mde == 0:
        raise ValueError("mde must be non-zero")
    delta = abs(mde * baseline_mean) if relative else abs(mde)
    if delta == 0:
        raise ValueError("a relative mde needs a non-zero baseline_mean")
    if proportion:
        rate = baseline_mean + (mde * baseline_mean if relative else mde)
        if not (0.0 < baseline_mean < 1.0 and 0.0 < rate < 1.0):
            raise ValueError(
                "a proportion's baseline_mean and baseline_mean + effect lie in (0, 1)"
            )
        var_c, var_t = baseline_mean * (1 - baseline_mean), rate * (1 - rate)
    elif baseline_sd is None or not baseline_sd > 0:
        raise ValueError("baseline_sd must be positive (or proportion=True for a rate)")
    else:
        var_c = var_t = baseline_sd * baseline_sd
    if units_per_day is not None and not units_per_day > 0:
        raise ValueError("units_per_day must be positive")
    z_alpha = float(st.norm.ppf(1.0 - alpha / 2.0))
    z_power = float(st.norm.ppf(power))
    # the variance of the difference of means, and the one the test's standard error estimates
    # (for the relative effect the delta method counts the control's (1 + mde)**2 times)
    spread = var_c / (1.0 - allocation) + var_t / allocation
    inflate = (1.0 + mde) ** 2 if relative else 1.0
    judged = var_c * inflate / (1.0 - allocation) + var_t / allocation
    total = (z_alpha * math.sqrt(judged) + z_power * math.sqrt(spread)) ** 2 / delta**2
    treatment = math.ceil(total * allocation)
    control = math.ceil(total * (1.0 - allocation))
    all_units = control + treatment
    return Plan(
        units_per_arm=(control, treatment),
        total_units=all_units,
        days=all_units / units_per_day if units_per_day is not None else None,
        mde=mde,
        relative=relative,
        alpha=alpha,
        power=power,
    )
