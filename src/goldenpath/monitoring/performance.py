"""Realised performance of served predictions once feedback labels arrive, with bootstrap
confidence intervals from the evaluation layer (the same estimator as ``goldenpath evaluate``).

Binary classifiers report accuracy and ROC AUC, multiclass accuracy, regressors the mean
absolute error and the root mean squared error; the names match the estimated ones (CBPE, DLE)
so the two can be compared.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from goldenpath.evaluation.bootstrap import Estimate, bootstrap
from goldenpath.evaluation.metrics import METRICS, Scored
from goldenpath.spec.models import Spec

__all__ = ["NAMES", "point_values", "realised"]

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
) -> dict[str, Estimate]:
    """Metrics of logged predictions against their feedback labels, with 95% intervals."""
    scored = _scored(
        spec, labels.reset_index(drop=True), predictions.reset_index(drop=True), scores
    )
    metrics = [m for m in METRICS if m.name in NAMES and m.applies_to(scored)]
    if scored.n == 0 or not metrics:
        return {}
    found = bootstrap(
        scored, metrics, {"all": np.arange(scored.n)}, n_resamples=resamples, seed=seed
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
