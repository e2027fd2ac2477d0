"""Robustness: how predictions and the primary metric move when inputs are damaged.

Three perturbations, each applied to a copy of the evaluation rows with a fixed seed:
Gaussian noise on numeric features (0.1 of each feature's standard deviation), 10% of the
values of every feature set missing, and 10% of the values of every text feature replaced by
a category the model has never seen. Each reports the share of rows whose prediction changes
(classification: the label; regression: more than 10% relative change) and the primary metric
before and after. A model that raises on damaged input is reported as failing, with the error.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from goldenpath.evaluation.document import RobustnessProbe
from goldenpath.evaluation.metrics import Metric, Scored

__all__ = ["MAX_ROWS", "NOISE_SCALE", "PERTURBED_SHARE", "robustness"]

NOISE_SCALE = 0.1
MAX_ROWS = 50_000
PERTURBED_SHARE = 0.1
UNSEEN = "__goldenpath_unseen__"


def _noise(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            spread = float(values.std(skipna=True) or 0.0)
            noise = rng.normal(0.0, NOISE_SCALE * spread, len(out))
            out[column] = values.astype("float64") + noise
    return out


def _missing(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        hit = rng.random(len(out)) < PERTURBED_SHARE
        if pd.api.types.is_integer_dtype(out[column]) or pd.api.types.is_bool_dtype(out[column]):
            out[column] = out[column].astype("float64")
        out.loc[hit, column] = np.nan
    return out


def _unseen(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        kind = out[column].dtype
        if pd.api.types.is_string_dtype(kind) or pd.api.types.is_object_dtype(kind):  # text only
            hit = rng.random(len(out)) < PERTURBED_SHARE
            out.loc[hit, column] = UNSEEN
    return out


_PERTURBATIONS = (
    ("gaussian_noise", f"numeric features + N(0, {NOISE_SCALE} x feature SD)", _noise),
    ("missing_values", f"{PERTURBED_SHARE:.0%} of every feature's values set missing", _missing),
    (
        "unseen_categories",
        f"{PERTURBED_SHARE:.0%} of text values set to an unseen category",
        _unseen,
    ),
)


def _flips(before: Scored, after: Scored) -> float:
    if before.task == "regression":
        scale = np.maximum(np.abs(before.pred), 1e-12)
        return float((np.abs(after.pred - before.pred) / scale > PERTURBED_SHARE).mean())
    return float((after.pred != before.pred).mean())


def robustness(
    features: pd.DataFrame,
    score: Callable[[pd.DataFrame], Scored],
    baseline: Scored,
    primary: Metric,
    *,
    seed: int,
    max_rows: int = MAX_ROWS,
) -> list[RobustnessProbe]:
    """Each perturbation of ``features``, scored with ``score`` and compared with ``baseline``.

    Past ``max_rows`` rows, a seeded random sample of that many rows is perturbed (flip rates
    and metric changes are shares and averages: a sample of 50,000 pins them to well under a
    percentage point), so the cost of scoring three perturbed copies stays bounded.
    """
    if len(features) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(features), max_rows, replace=False))
        features = features.iloc[keep]
        baseline = Scored(
            baseline.task,
            baseline.y[keep],
            baseline.pred[keep],
            None if baseline.proba is None else baseline.proba[keep],
            baseline.classes,
        )
    before = primary.compute(baseline)
    results: list[RobustnessProbe] = []
    for name, description, damage in _PERTURBATIONS:
        rng = np.random.default_rng(seed)
        damaged = damage(features, rng)
        try:
            after_scored = score(damaged)
        except Exception as exc:  # the model's own failure is the finding
            results.append(
                RobustnessProbe(
                    name=name,
                    description=description,
                    flip_rate=None,
                    metric=primary.name,
                    metric_before=float(before) if np.isfinite(before) else None,
                    metric_after=None,
                    metric_change=None,
                    error=f"{type(exc).__name__}: {exc}"[:300],
                )
            )
            continue
        after = primary.compute(after_scored)
        finite = np.isfinite(before) and np.isfinite(after)
        results.append(
            RobustnessProbe(
                name=name,
                description=description,
                flip_rate=_flips(baseline, after_scored),
                metric=primary.name,
                metric_before=float(before) if np.isfinite(before) else None,
                metric_after=float(after) if np.isfinite(after) else None,
                metric_change=float(after - before) if finite else None,
            )
        )
    return results
