"""Rank metrics (ROC AUC, average precision) from weighted counts per distinct score.

Grouping rows by distinct score turns both metrics into cumulative sums over those groups, which
handles ties exactly as scikit-learn does and vectorises over bootstrap resamples: the counts of
all resamples are one sparse product ``W @ S`` (S: rows x distinct scores).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = [
    "auc_from_counts",
    "average_precision_from_counts",
    "score_counts",
    "score_groups",
]

Array = np.ndarray


def score_groups(score: Array, positive: Array) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Sparse (rows x distinct scores, ascending) indicators of positives and of negatives."""
    _, group = np.unique(score, return_inverse=True)
    n, u = len(score), int(group.max()) + 1 if len(score) else 0
    rows = np.arange(n)
    pos = positive.astype(bool)

    def indicator(mask: Array) -> sp.csr_matrix:
        data = np.ones(int(mask.sum()))
        return sp.csr_matrix((data, (rows[mask], group[mask])), shape=(n, u))

    return indicator(pos), indicator(~pos)


def score_counts(score: Array, y: Array, weights: Array | None = None) -> tuple[Array, Array]:
    """(positive, negative) weighted counts per distinct score, ascending."""
    pos, neg = score_groups(score, y == 1)
    w = np.ones(len(score)) if weights is None else weights
    return np.asarray(pos.T @ w), np.asarray(neg.T @ w)


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
