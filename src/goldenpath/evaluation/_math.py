"""Small numeric helpers shared by the evaluation modules."""

from __future__ import annotations

import numpy as np

__all__ = ["ratio"]


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` elementwise, NaN where the denominator is not positive."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )
    return out
