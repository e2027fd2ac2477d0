"""Online experiments: the statistics of an A/B test on served traffic.

Pure functions over per-arm sufficient statistics (:class:`ArmStats`): :func:`compare`
(fixed-horizon or sequential, optional CUPED), :func:`bayesian`, :func:`sample_ratio_mismatch`
and :func:`plan`. docs/experiments.md ("Statistics") gives the formulas.
"""

from __future__ import annotations

from goldenpath.experiments.bayes import BayesResult, bayesian
from goldenpath.experiments.power import Plan, plan
from goldenpath.experiments.srm import SrmResult, sample_ratio_mismatch
from goldenpath.experiments.stats import ArmStats, Effect, compare

__all__ = [
    "ArmStats",
    "BayesResult",
    "Effect",
    "Plan",
    "SrmResult",
    "bayesian",
    "compare",
    "plan",
    "sample_ratio_mismatch",
]
