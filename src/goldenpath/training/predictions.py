"""Predictions of a fitted model in one frame: the predicted value and, for classifiers, one
score column per class. Used to record a run's test predictions and to compare them later."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from goldenpath.errors import NotAModel
from goldenpath.spec.models import TaskType

__all__ = ["PredictionDiff", "compare_predictions", "predict_frame"]

PREDICTION = "prediction"
SCORE_PREFIX = "score_"


def predict_frame(model: Any, features: pd.DataFrame, task: TaskType) -> pd.DataFrame:
    """``prediction`` plus ``score_<class>`` columns (classifiers with predict_proba)."""
    try:
        out = pd.DataFrame({PREDICTION: np.asarray(model.predict(features))})
        if task != "regression" and callable(getattr(model, "predict_proba", None)):
            proba = np.asarray(model.predict_proba(features), dtype="float64")
            classes = list(getattr(model, "classes_", range(proba.shape[1])))
            for i, label in enumerate(classes):
                out[f"{SCORE_PREFIX}{label}"] = proba[:, i]
    except Exception as exc:
        raise NotAModel(
            f"the trained model failed to predict on the test rows: {type(exc).__name__}: {exc}",
            hint="check that the estimator accepts a DataFrame of the contract's feature columns",
        ) from exc
    return out


@dataclass(frozen=True)
class PredictionDiff:
    """How far two sets of predictions on the same rows are apart."""

    rows: int
    max_abs_score_diff: float
    changed_label_share: float | None  # None for regression

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def compare_predictions(
    before: pd.DataFrame, after: pd.DataFrame, task: TaskType
) -> PredictionDiff:
    """Max absolute difference of scores (of predictions, for regression), share of changed
    labels (classification)."""
    if len(before) != len(after):
        raise ValueError(f"cannot compare {len(before)} with {len(after)} predictions")
    if task == "regression":
        a = before[PREDICTION].to_numpy(dtype="float64")
        b = after[PREDICTION].to_numpy(dtype="float64")
        return PredictionDiff(len(before), _max_abs(a, b), None)
    scores = sorted(c for c in before.columns if c.startswith(SCORE_PREFIX))
    if scores and set(scores) == {c for c in after.columns if c.startswith(SCORE_PREFIX)}:
        diff = _max_abs(before[scores].to_numpy("float64"), after[scores].to_numpy("float64"))
    else:
        diff = float("inf") if scores else 0.0
    old, new = before[PREDICTION].astype(str), after[PREDICTION].astype(str)
    changed = old.to_numpy() != new.to_numpy()
    return PredictionDiff(len(before), diff, float(changed.mean()) if len(before) else 0.0)


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    if a.size == 0:
        return 0.0
    both_nan = np.isnan(a) & np.isnan(b)
    gap = np.where(both_nan, 0.0, np.abs(a - b))
    return float(np.nan_to_num(gap, nan=np.inf).max())
