"""Bayesian readout of an A/B test: chance to beat control, expected loss, credible interval.

As GrowthBook's effect-based Bayesian engine (gbstats 0.8) with its default flat (improper)
prior on the relative effect: the posterior of the relative effect is then normal with the
frequentist point estimate and delta-method variance of :func:`~goldenpath.experiments.compare`.
With ``x ~ N(mu, sigma**2)`` the relative effect and ``z = mu / sigma``:

- chance to beat control ``P(x > 0) = Phi(z)`` (``P(x < 0)`` when lower is better);
- expected loss of choosing treatment ``E[max(-x, 0)] = sigma phi(z) - mu Phi(-z)`` (gbstats'
  "risk" of the treatment; ``E[max(x, 0)]`` when lower is better), in relative units;
- the credible interval ``mu -/+ Phi^-1(1 - alpha/2) sigma``.

gbstats computes the loss through scipy's truncated-normal mean; the closed form here is the
same quantity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats as st

from goldenpath.errors import InsufficientData
from goldenpath.experiments.stats import ArmStats, arm_moments, relative_variance

__all__ = ["BayesResult", "bayesian"]


@dataclass(frozen=True)
class BayesResult:
    """``expected_loss``: what choosing treatment costs, in relative units, averaged over the
    posterior (0 when treatment is surely better)."""

    chance_to_beat_control: float
    expected_loss: float
    relative_ci: tuple[float, float]
    relative: float = 0.0
    relative_sd: float = 0.0


def bayesian(
    control: ArmStats,
    treatment: ArmStats,
    *,
    alpha: float = 0.05,
    higher_is_better: bool = True,
    cuped: bool = False,
) -> BayesResult:
    """The posterior of the relative effect under a flat prior, summarised.

    Raises :class:`~goldenpath.errors.InsufficientData` when an arm has fewer than 2 units or
    no variance, or the control mean is 0 (no relative effect).
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    a, b = arm_moments(control, treatment, cuped=cuped)
    if a.observed_mean == 0.0:
        raise InsufficientData(
            "the control mean is 0: the relative effect is undefined",
            hint="use the absolute effect of compare() for this metric",
        )
    mu = (b.mean - a.mean) / a.observed_mean
    sigma = math.sqrt(relative_variance(a, b))
    z = mu / sigma
    density = float(st.norm.pdf(z))
    if higher_is_better:
        chance = float(st.norm.cdf(z))
        loss = sigma * density - mu * float(st.norm.cdf(-z))
    else:
        chance = float(st.norm.cdf(-z))
        loss = sigma * density + mu * float(st.norm.cdf(z))
    q = float(st.norm.ppf(1.0 - alpha / 2.0))
    return BayesResult(
        chance_to_beat_control=chance,
        expected_loss=max(loss, 0.0),
        relative_ci=(mu - q * sigma, mu + q * sigma),
        relative=mu,
        relative_sd=sigma,
    )
