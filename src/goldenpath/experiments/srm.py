"""Sample ratio mismatch: does the observed split of units match the configured one?

Pearson's chi-square goodness-of-fit test of the unit counts against the expected shares, with
``k - 1`` degrees of freedom, flagged below ``threshold`` (0.001, GrowthBook's default: an SRM
check runs at every look, so a strict threshold keeps false alarms rare). As gbstats 0.8's
``check_srm``: shares are normalised to sum to 1, an arm with share 0 adds nothing to the
statistic (it still counts in the degrees of freedom), and no units at all give ``p = 1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as st

__all__ = ["SrmResult", "sample_ratio_mismatch"]


@dataclass(frozen=True)
class SrmResult:
    observed: tuple[int, ...]
    expected_shares: tuple[float, ...]
    p_value: float
    flagged: bool
    chi_square: float = 0.0


def sample_ratio_mismatch(
    observed: Sequence[int], expected_shares: Sequence[float], *, threshold: float = 0.001
) -> SrmResult:
    """The chi-square SRM test of ``observed`` unit counts against ``expected_shares``."""
    counts = np.asarray(observed, dtype=float)
    shares = np.asarray(expected_shares, dtype=float)
    if counts.ndim != 1 or counts.shape != shares.shape or counts.size < 2:
        raise ValueError("observed and expected_shares need the same length, at least 2")
    if (counts < 0).any() or (shares < 0).any() or not shares.sum() > 0:
        raise ValueError("counts and shares must be non-negative, with some share positive")
    total = counts.sum()
    chi_square = 0.0
    p_value = 1.0
    if total > 0:
        expected = shares / shares.sum() * total
        used = shares > 0
        chi_square = float((((counts - expected) ** 2)[used] / expected[used]).sum())
        p_value = float(st.chi2.sf(chi_square, counts.size - 1))
    return SrmResult(
        observed=tuple(int(c) for c in observed),
        expected_shares=tuple(float(s) for s in expected_shares),
        p_value=p_value,
        flagged=p_value < threshold,
        chi_square=chi_square,
    )
