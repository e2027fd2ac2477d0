"""Always-valid inference for an A/B test that is looked at as often as one likes.

The asymptotic confidence sequence of Waudby-Smith et al. (2023, "Time-uniform central limit
theory and asymptotic confidence sequences", eq. 9; the mixture over a normal prior of
precision ``rho**2``), as GrowthBook's stats engine (gbstats 0.8) uses it. ``N`` is the units of
both arms together and ``var`` the variance of the estimate (so ``var * N`` is the per-unit
variance the paper's ``sigma**2`` stands for). The tuning parameter is the sample size at which
the interval is narrowest relative to a fixed-horizon one: ``rho`` is chosen so (eq. 161).
"""

from __future__ import annotations

import math

__all__ = ["mixture_rho", "sequential_half_width", "sequential_p_value"]


def mixture_rho(alpha: float, tuning: float) -> float:
    """The mixing precision that makes the sequence tightest at ``tuning`` units."""
    log_alpha = -2.0 * math.log(alpha)
    return math.sqrt((log_alpha + math.log(log_alpha + 1.0)) / tuning)


def sequential_half_width(variance: float, n_total: int, alpha: float, tuning: float) -> float:
    """Half the width of the ``1 - alpha`` confidence sequence for an estimate of ``variance``
    after ``n_total`` units: valid at every look, however many looks there are."""
    rho = mixture_rho(alpha, tuning)
    n_rho2 = n_total * rho * rho
    return math.sqrt(variance * n_total) * math.sqrt(
        2.0 * (n_rho2 + 1.0) * math.log(math.sqrt(n_rho2 + 1.0) / alpha) / (n_total * rho) ** 2
    )


def sequential_p_value(
    estimate: float, variance: float, n_total: int, alpha: float, tuning: float
) -> float:
    """The always-valid p-value: the inverse of the mixture e-value, capped at 1 (eq. 155)."""
    rho = mixture_rho(alpha, tuning)
    n_rho2p1 = n_total * rho * rho + 1.0
    z2 = estimate * estimate / variance  # (estimate / se)**2, the paper's S_t**2 / (t sigma**2)
    log_e = rho * rho * z2 * n_total / (2.0 * n_rho2p1) - 0.5 * math.log(n_rho2p1)
    return min(1.0, math.exp(-log_e))
