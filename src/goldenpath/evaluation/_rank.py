"""Rank metrics (ROC AUC, average precision) from weighted counts per distinct score.

Grouping rows by distinct score turns both metrics into cumulative sums over those groups, which
handles ties exactly as scikit-learn does and vectorises over bootstrap resamples: the counts of
all resamples come from one sparse-dense product (see :class:`ScoreGroups`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = [
    "ScoreGroups",
    "auc_from_counts",
    "average_precision_from_counts",
    "score_counts",
]

Array = np.ndarray


class ScoreGroups:
    """Rows grouped by (distinct score, class), for weighted counts per distinct score.

    One sparse indicator matrix (2 x distinct scores, rows) maps any weights (rows, resamples)
    to the counts of every resample in one sparse-dense product.
    """

    def __init__(
        self,
        group: Array,
        positive: Array,
        *,
        n_groups: int,
        columns: Array | None = None,
        n_columns: int | None = None,
    ) -> None:
        """``group``: each row's distinct-score index (0 .. n_groups - 1, ascending scores);
        ``columns``: where each row sits in the weights the counts will be taken of (default:
        in order), so a slice reads the full weight matrix without copying its rows out."""
        self.n_scores = n_groups
        n = len(group)
        key = 2 * group.astype(np.int64) + positive.astype(np.int64)
        cols = np.arange(n) if columns is None else np.asarray(columns)
        width = n if n_columns is None else n_columns
        self.indicator = sp.csr_matrix(
            (np.ones(n, dtype=np.float32), (key, cols)), shape=(2 * n_groups, width)
        )

    def counts(self, weights: Array) -> tuple[Array, Array]:
        """(positive, negative) weighted counts per distinct score (ascending) for weights of
        shape (rows,) or (rows, resamples); the score axis comes last in the result."""
        summed = np.asarray(self.indicator @ weights, dtype=np.float64)
        return summed[1::2].T, summed[0::2].T


def score_counts(score: Array, y: Array, weights: Array | None = None) -> tuple[Array, Array]:
    """(positive, negative) weighted counts per distinct score, ascending."""
    w = np.ones(len(score)) if weights is None else np.asarray(weights, dtype=np.float64)
    distinct, group = np.unique(score, return_inverse=True)
    return ScoreGroups(group, y == 1, n_groups=len(distinct)).counts(w)


def auc_from_counts(pos: Array, neg: Array) -> Array:
    """ROC AUC: P(score of a positive > score of a negative) + half the ties. Axis -1: scores."""
    total_pos, total_neg = pos.sum(axis=-1), neg.sum(axis=-1)
    below = np.cumsum(neg, axis=-1) - neg
    wins = (pos * (below + 0.5 * neg)).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((total_pos > 0) & (total_neg > 0), wins / (total_pos * total_neg), np.nan)


def average_precision_from_counts(pos: Array, neg: Array) -> Array:
    """Average precision: sum over thresholds (distinct scores, high to low) of the recall gained
    times the precision there."""
    pos_desc, neg_desc = pos[..., ::-1], neg[..., ::-1]
    tp = np.cumsum(pos_desc, axis=-1)
    fp = np.cumsum(neg_desc, axis=-1)
    total_pos = pos.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        ap = (pos_desc * precision).sum(axis=-1) / total_pos
    return np.where(total_pos > 0, ap, np.nan)
