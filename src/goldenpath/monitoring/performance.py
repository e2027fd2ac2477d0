"""Realised performance of served predictions once feedback labels arrive, with bootstrap
confidence intervals from the evaluation layer (the same estimator as ``goldenpath evaluate``).

Binary classifiers report accuracy and ROC AUC, multiclass accuracy, regressors the mean
absolute error and the root mean squared error; the names match the estimated ones (CBPE, DLE)
so the two can be compared.

A regressor's reference keeps the 95% intervals of its held-out MAE and RMSE, made as
``goldenpath evaluate`` makes them (:func:`held_out_intervals`); a window's realised loss is
compared with their top (:func:`realised_loss_increases`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np
import pandas as pd

from goldenpath.evaluation.bootstrap import Estimate, bootstrap
from goldenpath.evaluation.metrics import METRICS, Scored
from goldenpath.spec.models import Spec
from goldenpath.spec.monitoring import LOSS_METRICS, LossMetric

__all__ = [
    "NAMES",
    "held_out_intervals",
    "loss_metric",
    "point_values",
    "realised",
    "realised_loss_increases",
]

# evaluation metric -> monitoring name
NAMES = {
    "accuracy_score": "accuracy",
    "roc_auc_score": "roc_auc",
    "mean_absolute_error": "mean_absolute_error",
    "root_mean_squared_error": "root_mean_squared_error",
}
RESAMPLES = 500


def _scored(spec: Spec, labels: pd.Series, predictions: pd.Series, scores: pd.Series) -> Scored:
    task = spec.task.type
    if task == "regression":
        y = pd.to_numeric(labels, errors="coerce").to_numpy(dtype="float64")
        pred = pd.to_numeric(predictions, errors="coerce").to_numpy(dtype="float64")
        return Scored(task, y, pred, None, ())
    text = labels.astype(str)
    if task == "binary_classification":
        positive = str(spec.task.positive_label)
        y = (text == positive).to_numpy().astype(int)
        pred = (predictions.astype(str) == positive).to_numpy().astype(int)
        proba = None
        if scores.notna().all():
            s = scores.to_numpy(dtype="float64")
            proba = np.stack([1.0 - s, s], axis=1)
        return Scored(task, y, pred, proba, ("other", positive))
    classes = sorted(set(text) | set(predictions.astype(str)))
    index = {c: i for i, c in enumerate(classes)}
    return Scored(
        task,
        text.map(index).to_numpy(dtype=int),
        predictions.astype(str).map(index).to_numpy(dtype=int),
        None,
        tuple(classes),
    )


def realised(
    spec: Spec,
    labels: pd.Series,
    predictions: pd.Series,
    scores: pd.Series,
    *,
    resamples: int = RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Estimate]:
    """Metrics of logged predictions against their feedback labels, with 95% intervals."""
    scored = _scored(
        spec, labels.reset_index(drop=True), predictions.reset_index(drop=True), scores
    )
    metrics = [m for m in METRICS if m.name in NAMES and m.applies_to(scored)]
    if scored.n == 0 or not metrics:
        return {}
    found = bootstrap(
        scored,
        metrics,
        {"all": np.arange(scored.n)},
        n_resamples=resamples,
        confidence=confidence,
        seed=seed,
    )["all"]
    return {NAMES[name]: estimate for name, estimate in found.items()}


def point_values(
    spec: Spec, labels: pd.Series, predictions: pd.Series, scores: pd.Series
) -> dict[str, float]:
    """The same metrics without intervals (the reference's held-out values)."""
    scored = _scored(
        spec, labels.reset_index(drop=True), predictions.reset_index(drop=True), scores
    )
    values = {
        NAMES[m.name]: m.compute(scored)
        for m in METRICS
        if m.name in NAMES and m.applies_to(scored)
    }
    return {k: v for k, v in values.items() if np.isfinite(v)}


def held_out_intervals(
    spec: Spec, labels: pd.Series, predictions: pd.Series
) -> dict[str, Estimate]:
    """A regressor's MAE and RMSE on its held-out rows with the intervals ``goldenpath
    evaluate`` gives them there: the same estimator, resamples, confidence and seed (its
    ``overall`` figures of the run's held-out rows, when the spec's evaluation settings have not
    changed since). With ``evaluation.resamples: 0``, points without intervals."""
    settings = spec.evaluation
    scores = pd.Series(np.nan, index=range(len(labels)), dtype="float64")
    found = realised(
        spec,
        labels,
        predictions,
        scores,
        resamples=settings.resamples,
        seed=settings.seed,
        confidence=settings.confidence,
    )
    return {name: found[name] for name in LOSS_METRICS if name in found}


def loss_metric(spec: Spec) -> LossMetric:
    """The realised loss a regressor's default rule watches: the root mean squared error when
    it is the evaluation's primary metric, otherwise the mean absolute error."""
    if spec.evaluation.primary_metric == "root_mean_squared_error":
        return "root_mean_squared_error"
    return "mean_absolute_error"


class _Interval(Protocol):
    @property
    def ci_low(self) -> float | None: ...

    @property
    def ci_high(self) -> float | None: ...


def realised_loss_increases(
    window: Mapping[str, _Interval], reference: Mapping[str, _Interval]
) -> dict[str, float]:
    """Per loss metric (MAE, RMSE) with both intervals: the bottom of the window's interval
    over the top of the reference's, minus 1. Above 0, the labels make sure the loss is higher
    than the reference's could be."""
    found: dict[str, float] = {}
    for name in LOSS_METRICS:
        mine, theirs = window.get(name), reference.get(name)
        if mine is None or theirs is None or mine.ci_low is None or not theirs.ci_high:
            continue
        found[name] = mine.ci_low / theirs.ci_high - 1.0
    return found
