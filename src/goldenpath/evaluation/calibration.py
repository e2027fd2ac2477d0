"""Calibration and decision thresholds of a binary classifier.

The reliability curve bins the positive-class score into equal-width bins and compares the mean
score with the observed positive rate in each (its weighted gap is the ECE of
:mod:`.metrics`). The threshold analysis evaluates precision, recall and F1 for "predict
positive when score >= t" on a grid of thresholds and finds the F1-optimal threshold and, when
the spec gives the costs of a false positive and a false negative, the cost-optimal one — both
exactly, over every distinct score, with one sort and cumulative sums.
"""

from __future__ import annotations

import numpy as np

from goldenpath.evaluation.document import Calibration, Curves, Thresholds
from goldenpath.evaluation.metrics import ECE_BINS

__all__ = [
    "Calibration",
    "Curves",
    "Thresholds",
    "calibration",
    "curves",
    "threshold_analysis",
]

Array = np.ndarray


def _none_if_nan(values: Array) -> tuple[float | None, ...]:
    return tuple(None if np.isnan(v) else float(v) for v in values)


def calibration(score: Array, y: Array, bins: int = ECE_BINS) -> Calibration:
    index = np.minimum((score * bins).astype(int), bins - 1)
    count = np.bincount(index, minlength=bins)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_score = np.bincount(index, weights=score, minlength=bins) / count
        positive_rate = np.bincount(index, weights=(y == 1), minlength=bins) / count
    return Calibration(
        bin_edges=tuple(float(e) for e in np.linspace(0.0, 1.0, bins + 1)),
        mean_score=_none_if_nan(mean_score),
        positive_rate=_none_if_nan(positive_rate),
        count=tuple(int(c) for c in count),
    )


def _cumulative(score: Array, y: Array) -> tuple[Array, Array, Array]:
    """Distinct scores (descending) and the tp, fp of thresholding at each of them."""
    order = np.argsort(-score, kind="stable")
    s, positive = score[order], (y[order] == 1)
    last_of_run = np.r_[s[1:] != s[:-1], True]
    tp = np.cumsum(positive)[last_of_run].astype(float)
    fp = np.cumsum(~positive)[last_of_run].astype(float)
    return s[last_of_run], tp, fp


def threshold_analysis(
    score: Array,
    y: Array,
    *,
    cost_false_positive: float | None = None,
    cost_false_negative: float | None = None,
    grid: int = 99,
) -> Thresholds:
    distinct, tp, fp = _cumulative(score, y)
    positives = float((y == 1).sum())
    n = float(len(y))
    with np.errstate(divide="ignore", invalid="ignore"):
        f1_all = np.where(positives + tp + fp > 0, 2 * tp / (positives + tp + fp), 0.0)
    best = int(np.argmax(f1_all))
    thresholds = np.linspace(0.01, 0.99, grid)
    # number of distinct scores >= t, i.e. the cumulative position for threshold t
    at = np.searchsorted(-distinct, -thresholds, side="right") - 1
    tp_t = np.where(at >= 0, tp[np.maximum(at, 0)], 0.0)
    fp_t = np.where(at >= 0, fp[np.maximum(at, 0)], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp_t + fp_t > 0, tp_t / (tp_t + fp_t), np.nan)
        recall = tp_t / positives if positives else np.zeros_like(tp_t)
        f1 = np.where(positives + tp_t + fp_t > 0, 2 * tp_t / (positives + tp_t + fp_t), 0.0)
    best_cost_threshold = best_cost = None
    if cost_false_positive is not None and cost_false_negative is not None:
        # predicting nothing positive (threshold above every score) is a candidate too
        fp_all = np.r_[0.0, fp]
        fn_all = positives - np.r_[0.0, tp]
        cost = (cost_false_positive * fp_all + cost_false_negative * fn_all) / n
        i = int(np.argmin(cost))
        best_cost = float(cost[i])
        best_cost_threshold = (
            float(np.nextafter(distinct[0], np.inf)) if i == 0 else float(distinct[i - 1])
        )
    return Thresholds(
        thresholds=tuple(float(t) for t in thresholds),
        precision=_none_if_nan(precision),
        recall=tuple(float(r) for r in recall),
        f1=tuple(float(f) for f in f1),
        best_f1_threshold=float(distinct[best]),
        best_f1=float(f1_all[best]),
        cost_false_positive=cost_false_positive,
        cost_false_negative=cost_false_negative,
        best_cost_threshold=best_cost_threshold,
        best_cost_per_row=best_cost,
    )


def curves(score: Array, y: Array, points: int = 200) -> Curves:
    _, tp, fp = _cumulative(score, y)
    positives, negatives = float((y == 1).sum()), float((y != 1).sum())
    keep = np.unique(np.linspace(0, len(tp) - 1, min(points - 1, len(tp))).astype(int))
    tp, fp = tp[keep], fp[keep]
    tpr = tp / positives if positives else np.zeros_like(tp)
    fpr = fp / negatives if negatives else np.zeros_like(fp)
    precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 1.0)
    return Curves(
        false_positive_rate=(0.0, *(float(v) for v in fpr)),
        true_positive_rate=(0.0, *(float(v) for v in tpr)),
        recall=tuple(float(v) for v in tpr),
        precision=tuple(float(v) for v in precision),
    )
