"""The metrics of an evaluation, each defined once through *sufficient statistics*.

A metric turns each row into a few numbers (its contributions: a correct prediction, a squared
error, a per-class count ...), and a final value from their (weighted) column sums. The point
estimate uses the plain sums; every bootstrap resample is the same function of resample-weighted
sums, so all resamples of all metrics come out of one matrix product (``W @ F``). Rank metrics
(ROC AUC, PR AUC) use per-distinct-score counts instead, see :mod:`._rank`.

Names follow scikit-learn: ``*_score`` is higher-is-better, ``*_loss`` / ``*_error`` lower.
Values equal scikit-learn's on the same data (the differential tests check every one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from goldenpath.evaluation._math import ratio
from goldenpath.evaluation._rank import (
    auc_from_counts,
    average_precision_from_counts,
    score_counts,
)
from goldenpath.spec.models import TaskType

__all__ = ["ECE_BINS", "METRICS", "IntervalMethod", "Metric", "Scored", "metrics_for"]

ECE_BINS = 10
_EPS = np.finfo(np.float64).eps

Array = np.ndarray


@dataclass(frozen=True)
class Scored:
    """Encoded predictions of one model on one set of rows.

    ``y`` and ``pred`` are class indices (classification) or values (regression); ``proba`` the
    class probabilities (n x K) when the model has ``predict_proba``; for binary tasks class 1 is
    the positive label.
    """

    task: TaskType
    y: Array
    pred: Array
    proba: Array | None
    classes: tuple[object, ...]

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def positive_score(self) -> Array | None:
        return None if self.proba is None else self.proba[:, 1]


IntervalMethod = Literal["percentile", "BCa", "studentized"]
StatsFn = Callable[[Scored], Array]  # rows -> (n, k) contributions
ValueFn = Callable[[Array], Array]  # (..., k) sums -> (...) values


@dataclass(frozen=True)
class Metric:
    """One metric: how rows contribute, how sums become a value, and what it needs."""

    name: str
    tasks: tuple[TaskType, ...]
    greater_is_better: bool
    needs_proba: bool
    stats: StatsFn | None = None
    value: ValueFn | None = None
    rank: str | None = None  # "roc_auc" or "average_precision": computed from score counts
    # the bootstrap interval: BCa for statistics that are biased or skewed on resamples,
    # studentized where a standard error of the value is known from the same sums
    interval: IntervalMethod = "percentile"
    standard_error: ValueFn | None = None  # (..., k) sums -> (...) standard errors

    def applies_to(self, scored: Scored) -> bool:
        return scored.task in self.tasks and (not self.needs_proba or scored.proba is not None)

    def compute(self, scored: Scored, weights: Array | None = None) -> float:
        """The metric on these rows (optionally weighted), as a float (NaN when undefined)."""
        if self.rank is not None:
            score = scored.positive_score
            assert score is not None
            counts = score_counts(score, scored.y, weights)
            fn = auc_from_counts if self.rank == "roc_auc" else average_precision_from_counts
            return float(fn(*counts))
        assert self.stats is not None
        assert self.value is not None
        contributions = self.stats(scored)
        sums = (contributions if weights is None else contributions * weights[:, None]).sum(0)
        return float(self.value(sums))


# ----------------------------------------------------------------------------- classification


def _correct(s: Scored) -> Array:
    return np.stack([(s.y == s.pred).astype(float), np.ones(s.n)], axis=1)


def _mean(sums: Array) -> Array:
    return ratio(sums[..., 0], sums[..., 1])


def _binary_confusion(s: Scored) -> Array:
    y, p = s.y == 1, s.pred == 1
    return np.stack([(y & p), (~y & p), (y & ~p)], axis=1).astype(float)  # tp, fp, fn


def _precision(sums: Array) -> Array:
    return ratio(sums[..., 0], sums[..., 0] + sums[..., 1])


def _recall(sums: Array) -> Array:
    return ratio(sums[..., 0], sums[..., 0] + sums[..., 2])


def _f1(sums: Array) -> Array:
    return ratio(2 * sums[..., 0], 2 * sums[..., 0] + sums[..., 1] + sums[..., 2])


def _log_loss_rows(s: Scored) -> Array:
    assert s.proba is not None
    proba = np.clip(s.proba / s.proba.sum(axis=1, keepdims=True), _EPS, 1 - _EPS)
    loss = -np.log(proba[np.arange(s.n), s.y.astype(int)])
    return np.stack([loss, np.ones(s.n)], axis=1)


def _brier_rows(s: Scored) -> Array:
    score = s.positive_score
    assert score is not None
    return np.stack([(score - (s.y == 1)) ** 2, np.ones(s.n)], axis=1)


def _ece_rows(s: Scored) -> Array:
    """Per bin of the positive score (10 equal-width bins): count and sum of (score - outcome)."""
    score = s.positive_score
    assert score is not None
    bins = np.minimum((score * ECE_BINS).astype(int), ECE_BINS - 1)
    out = np.zeros((s.n, 2 * ECE_BINS))
    out[np.arange(s.n), bins] = 1.0
    out[np.arange(s.n), ECE_BINS + bins] = score - (s.y == 1)
    return out


def _ece(sums: Array) -> Array:
    counts, gaps = sums[..., :ECE_BINS], sums[..., ECE_BINS:]
    total = counts.sum(axis=-1)
    return ratio(np.abs(gaps).sum(axis=-1), total)


def _ece_moment_rows(s: Scored) -> Array:
    """Per bin: count, sum of (score - outcome) and sum of its square."""
    score = s.positive_score
    assert score is not None
    bins = np.minimum((score * ECE_BINS).astype(int), ECE_BINS - 1)
    gap = score - (s.y == 1)
    out = np.zeros((s.n, 3 * ECE_BINS))
    rows = np.arange(s.n)
    out[rows, bins] = 1.0
    out[rows, ECE_BINS + bins] = gap
    out[rows, 2 * ECE_BINS + bins] = gap**2
    return out


def _debiased_calibration_error(sums: Array) -> Array:
    """The binned L2 calibration error with each bin's squared gap debiased (Kumar et al. 2019):
    ``D = sum_b n_b/N (gap_b**2 - S_b**2 / n_b)``, where ``S_b**2`` is the sample variance of
    (score - outcome) in bin b, so ``S_b**2 / n_b`` estimates the sampling variance of the
    bin's mean gap and ``D`` is unbiased for the population's squared error. The value is
    ``sign(D) * sqrt(|D|)``: about 0 on average for a calibrated model, and negative when the
    observed gaps are smaller than sampling noise alone would make them. A bin with one row has
    no variance estimate and keeps its plain squared gap."""
    k = ECE_BINS
    count, first, second = sums[..., :k], sums[..., k : 2 * k], sums[..., 2 * k :]
    gap = ratio(first, count)
    variance = ratio(second - count * gap**2, count - 1)  # sample variance, NaN for n_b <= 1
    noise = np.where(count > 1, ratio(variance, count), 0.0)
    squared = np.where(count > 0, gap**2 - noise, 0.0)
    total = count.sum(axis=-1)
    debiased = ratio((count * np.nan_to_num(squared)).sum(axis=-1), total)
    out: Array = np.sign(debiased) * np.sqrt(np.abs(debiased))
    return out


def _per_class_confusion(s: Scored) -> Array:
    """tp, fp, fn for each class, then support: (n, 4K)."""
    k = len(s.classes)
    y = s.y.astype(int)
    p = s.pred.astype(int)
    eye = np.eye(k)
    truth, predicted = eye[y], eye[p]
    tp = truth * predicted
    return np.concatenate([tp, predicted - tp, truth - tp, truth], axis=1)


def _class_f1(sums: Array) -> tuple[Array, Array]:
    k = sums.shape[-1] // 4
    tp, fp, fn, support = (sums[..., i * k : (i + 1) * k] for i in range(4))
    denominator = 2 * tp + fp + fn
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(denominator > 0, 2 * tp / np.where(denominator > 0, denominator, 1), 0.0)
    return f1, support


def _macro_f1(sums: Array) -> Array:
    """Mean F1 over the classes present in the truth or the predictions (as scikit-learn)."""
    f1, _ = _class_f1(sums)
    k = f1.shape[-1]
    tp, fp, fn = (sums[..., i * k : (i + 1) * k] for i in range(3))
    present = (2 * tp + fp + fn) > 0
    return ratio(np.where(present, f1, 0.0).sum(axis=-1), present.sum(axis=-1))


def _weighted_f1(sums: Array) -> Array:
    f1, support = _class_f1(sums)
    return ratio((f1 * support).sum(axis=-1), support.sum(axis=-1))


# ----------------------------------------------------------------------------- regression


def _abs_error(s: Scored) -> Array:
    return np.stack([np.abs(s.y - s.pred), np.ones(s.n)], axis=1)


def _squared_error(s: Scored) -> Array:
    squared = (s.y - s.pred) ** 2
    return np.stack([squared, np.ones(s.n), squared**2], axis=1)


def _rmse(sums: Array) -> Array:
    root: Array = np.sqrt(_mean(sums))
    return root


def _rmse_standard_error(sums: Array) -> Array:
    """The delta-method standard error of the RMSE: that of the mean squared error m (the
    squared errors' standard deviation over the root of their count) over 2 sqrt(m); 0 where
    every error is 0."""
    squared, count, fourth = sums[..., 0], sums[..., 1], sums[..., 2]
    mean = ratio(squared, count)
    variance = np.maximum(ratio(fourth, count) - mean**2, 0.0)
    error: Array = np.where(
        mean == 0, 0.0, ratio(np.sqrt(ratio(variance, count)), 2 * np.sqrt(mean))
    )
    return error


def _r2_rows(s: Scored) -> Array:
    # The target is centred first: the total sum of squares is a difference of two large sums,
    # which loses every digit in single precision when the target's mean dwarfs its spread.
    # The centre leaves missing labels out: they must not take the sets without them along.
    labelled = s.y[~np.isnan(s.y)]
    centred = s.y - labelled.mean() if len(labelled) else s.y
    return np.stack([(s.y - s.pred) ** 2, centred, centred**2, np.ones(s.n)], axis=1)


def _r2(sums: Array) -> Array:
    sse, sy, syy, w = (sums[..., i] for i in range(4))
    sst = syy - ratio(sy**2, w)
    return np.where(sst > 0, 1 - ratio(sse, sst), np.nan)


def _ape_rows(s: Scored) -> Array:
    defined = s.y != 0
    ape = np.where(defined, np.abs(s.y - s.pred) / np.where(defined, np.abs(s.y), 1), 0.0)
    return np.stack([ape, defined.astype(float)], axis=1)


_BINARY: tuple[TaskType, ...] = ("binary_classification",)
_CLASSIFICATION: tuple[TaskType, ...] = ("binary_classification", "multiclass_classification")
_REGRESSION: tuple[TaskType, ...] = ("regression",)

METRICS: tuple[Metric, ...] = (
    Metric("roc_auc_score", _BINARY, True, True, rank="roc_auc"),
    Metric("pr_auc_score", _BINARY, True, True, rank="average_precision"),
    Metric("log_loss", _CLASSIFICATION, False, True, _log_loss_rows, _mean, interval="BCa"),
    Metric("brier_loss", _BINARY, False, True, _brier_rows, _mean),
    Metric("accuracy_score", _CLASSIFICATION, True, False, _correct, _mean),
    Metric("precision_score", _BINARY, True, False, _binary_confusion, _precision),
    Metric("recall_score", _BINARY, True, False, _binary_confusion, _recall),
    Metric("f1_score", _BINARY, True, False, _binary_confusion, _f1),
    # calibration errors keep percentile intervals: BCa over-corrects them (|gap| has a kink at
    # zero) and covered 0.885 where the percentile interval covered 0.947 (docs/evaluation.md)
    Metric("expected_calibration_error", _BINARY, False, True, _ece_rows, _ece),
    Metric(
        "debiased_calibration_error",
        _BINARY,
        False,
        True,
        _ece_moment_rows,
        _debiased_calibration_error,
    ),
    Metric(
        "macro_f1_score",
        ("multiclass_classification",),
        True,
        False,
        _per_class_confusion,
        _macro_f1,
    ),
    Metric(
        "weighted_f1_score",
        ("multiclass_classification",),
        True,
        False,
        _per_class_confusion,
        _weighted_f1,
    ),
    Metric("mean_absolute_error", _REGRESSION, False, False, _abs_error, _mean),
    Metric(
        "root_mean_squared_error",
        _REGRESSION,
        False,
        False,
        _squared_error,
        _rmse,
        interval="studentized",
        standard_error=_rmse_standard_error,
    ),
    Metric("r2_score", _REGRESSION, True, False, _r2_rows, _r2),
    Metric("mean_absolute_percentage_error", _REGRESSION, False, False, _ape_rows, _mean),
)


def metrics_for(scored: Scored) -> list[Metric]:
    """The metrics that apply to these predictions (task, and probabilities when needed)."""
    return [m for m in METRICS if m.applies_to(scored)]
