"""Multivariate drift: can a classifier tell the window's rows from the reference's?

A gradient-boosted classifier learns to label each row "reference" (0) or "window" (1); it is
scored on rows it was not trained on (stratified k-fold). If the window comes from the same
distribution as the reference nothing separates the two and the held-out ROC AUC sits at 0.5;
any change the model can pick up lifts it, including changes no per-feature test sees, such as
a correlation that broke while every marginal distribution stayed put.

The figures reported:

* ``auc``: the mean over the folds of the ROC AUC on each fold's held-out rows.
* ``auc_low``: a one-sided 95% lower bound on it: Student's t over the fold AUCs with Nadeau
  and Bengio's (2003) correction, ``mean - t(0.95, k - 1) * sd * sqrt(1/k + 1/(k - 1))``. The
  folds' training sets overlap, so the naive ``sd / sqrt(k)`` is too small; and a standard error
  that treats the scores as fixed (Hanley-McNeil, DeLong) leaves out the noise of fitting the
  model: on windows drawn from the reference the AUC scattered about 1.4 times wider than the
  Hanley-McNeil error, and such a bound crossed 0.5 in 9-12% of draws, against 5-7% for this
  one. ``auc_low > 0.5`` says the separation is signal, not noise.
* ``top_features``: permutation importance on the held-out rows: each feature in turn is
  shuffled within every test fold, the fold's model scores the shuffled rows, and the score is
  the drop of the fold's AUC, averaged over the folds. Shuffling either of two features whose
  joint distribution changed destroys the evidence, so both show up even when neither differs
  on its own. Only features with a positive drop are listed, at most five, largest first.
* ``severity``: ``auc`` against ``warning_auc`` and ``critical_auc``, but only when
  ``auc_low > 0.5``; a separation within noise is "ok" however the thresholds are set.

Numeric columns (booleans excepted) go in as floats with their NaNs (the model routes missing
values natively); every other column is categorical: values as strings, codes shared by both
sides, missing values left missing, and beyond the 254 most frequent categories the rest share
one code. Each side is sampled down to ``max_rows`` rows (seeded) to bound the cost; with the
defaults a call on 5,000 + 5,000 rows of 20 features takes about a second on one core.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from goldenpath.monitoring._document import Document, Severity

__all__ = ["MIN_ROWS", "DomainDrift", "corrected_lower_bound", "domain_classifier"]

MIN_ROWS = 50  # fewer rows on either side and the AUC is too noisy to mean anything
TOP_FEATURES = 5
_MAX_CODES = 254  # native categorical support takes codes below max_bins (255)


class DomainDrift(Document):
    """How well a classifier separates window rows from reference rows (see the module)."""

    auc: float  # mean of the held-out ROC AUCs of the folds
    auc_low: float  # one-sided 95% lower bound, Nadeau-Bengio corrected t over the folds
    rows_reference: int  # rows used, after sampling down to max_rows
    rows_window: int
    top_features: list[tuple[str, float]]  # permutation importance: drop of the held-out AUC
    severity: Severity


def _sample(frame: pd.DataFrame, max_rows: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= max_rows:
        return frame
    rows = np.sort(rng.choice(len(frame), size=max_rows, replace=False))
    return frame.iloc[rows]


def _is_numeric(column: pd.Series[Any]) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _finite(values: np.ndarray) -> np.ndarray:
    """Infinities moved just beyond the finite range (sklearn's binning cannot take them);
    missing values stay missing."""
    infinite = np.isinf(values)
    if not infinite.any():
        return values
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 0.0)
    step = max(high - low, 1.0)
    return np.where(infinite, np.where(values > 0, high + step, low - step), values)


def _encode(
    reference: pd.DataFrame, window: pd.DataFrame, columns: list[Any]
) -> tuple[np.ndarray, np.ndarray]:
    """Both frames stacked into one float matrix (reference rows first), and the mask of the
    categorical columns."""
    matrix = np.empty((len(reference) + len(window), len(columns)), dtype=np.float64)
    categorical = np.zeros(len(columns), dtype=bool)
    for j, name in enumerate(columns):
        left, right = reference[name], window[name]
        if _is_numeric(left) and _is_numeric(right):
            values = pd.concat([left, right], ignore_index=True)
            matrix[:, j] = _finite(
                pd.to_numeric(values, errors="coerce").to_numpy(np.float64, na_value=np.nan)
            )
            continue
        categorical[j] = True
        values = pd.concat([left.astype(object), right.astype(object)], ignore_index=True)
        missing = values.isna().to_numpy()
        text = values.where(~missing, "").astype(str)
        frequent = text[~missing].value_counts().index[:_MAX_CODES]
        codes = {value: float(code) for code, value in enumerate(frequent)}
        matrix[:, j] = text.map(codes).fillna(float(_MAX_CODES)).to_numpy(dtype=np.float64)
        matrix[missing, j] = np.nan
    return matrix, categorical


def _model(categorical: np.ndarray, rows: int, seed: int) -> HistGradientBoostingClassifier:
    """Small shallow trees with large leaves: a drift is a broad difference between the two
    samples, not a few rows, and large leaves keep the model from chasing noise (1/40 of the
    training rows, between 10 and 200)."""
    return HistGradientBoostingClassifier(
        learning_rate=0.1,
        max_iter=80,
        max_leaf_nodes=7,
        min_samples_leaf=min(max(rows // 40, 10), 200),
        l2_regularization=1.0,
        early_stopping=False,
        categorical_features=categorical if categorical.any() else None,
        random_state=seed,
    )


def _fold_aucs(
    x: np.ndarray,
    y: np.ndarray,
    categorical: np.ndarray,
    *,
    folds: int,
    seed: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """The held-out AUC of every fold, and (one row per fold, one column per feature) the
    held-out AUC with that feature shuffled within the fold's test rows."""
    columns = x.shape[1]
    aucs = np.empty(folds, dtype=np.float64)
    shuffled_aucs = np.empty((folds, columns), dtype=np.float64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fold, (train, test) in enumerate(splitter.split(x, y)):
        train_x = x[train]
        # a column with no value in the training rows carries nothing, and sklearn cannot
        # bin it: make it constant
        train_x[:, np.isnan(train_x).all(axis=0)] = 0.0
        model = _model(categorical, len(train), seed).fit(train_x, y[train])
        # the held-out rows, then a copy per column with that column shuffled: one predict call
        stacked = np.tile(x[test], (columns + 1, 1)).reshape(columns + 1, len(test), columns)
        for j in range(columns):
            stacked[j + 1, :, j] = rng.permutation(stacked[j + 1, :, j])
        predicted = model.predict_proba(stacked.reshape(-1, columns))[:, 1]
        predicted = predicted.reshape(columns + 1, len(test))
        aucs[fold] = roc_auc_score(y[test], predicted[0])
        shuffled_aucs[fold] = [roc_auc_score(y[test], p) for p in predicted[1:]]
    return aucs, shuffled_aucs


def corrected_lower_bound(
    fold_aucs: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> float:
    """One-sided lower confidence bound of the mean of k-fold scores, with Nadeau and
    Bengio's (2003) correction of the variance for the overlap of the training sets:
    ``mean - t(confidence, k - 1) * sd * sqrt(1 / k + 1 / (k - 1))``."""
    values = np.asarray(fold_aucs, dtype=np.float64)
    k = len(values)
    if k < 2:
        raise ValueError(f"a bound needs at least 2 folds; got {k}")
    spread = float(values.std(ddof=1)) * np.sqrt(1 / k + 1 / (k - 1))
    return float(values.mean() - stats.t.ppf(confidence, k - 1) * spread)


def _severity(auc: float, auc_low: float, warning_auc: float, critical_auc: float) -> Severity:
    if auc_low <= 0.5:
        return "ok"
    if auc >= critical_auc:
        return "critical"
    if auc >= warning_auc:
        return "warning"
    return "ok"


def domain_classifier(
    reference: pd.DataFrame,
    window: pd.DataFrame,
    *,
    max_rows: int = 5_000,
    folds: int = 5,
    seed: int = 0,
    warning_auc: float = 0.6,
    critical_auc: float = 0.7,
) -> DomainDrift:
    """Multivariate drift of ``window`` against ``reference`` by a domain classifier.

    Uses the columns the two frames share, in the reference's order. Raises ``ValueError``
    when either frame has fewer than ``MIN_ROWS`` rows, when they share no column, or on
    arguments out of range.
    """
    if len(reference) < MIN_ROWS or len(window) < MIN_ROWS:
        raise ValueError(
            f"domain classifier needs at least {MIN_ROWS} rows on each side; "
            f"got {len(reference)} reference and {len(window)} window rows"
        )
    shared = set(window.columns)
    columns = [c for c in reference.columns if c in shared]
    if not columns:
        raise ValueError("reference and window have no column in common")
    if max_rows < MIN_ROWS:
        raise ValueError(f"max_rows must be at least {MIN_ROWS}; got {max_rows}")
    if folds < 2:
        raise ValueError(f"folds must be at least 2; got {folds}")
    if not 0.5 <= warning_auc <= critical_auc <= 1.0:
        raise ValueError(
            "thresholds must satisfy 0.5 <= warning_auc <= critical_auc <= 1; "
            f"got {warning_auc} and {critical_auc}"
        )

    rng = np.random.default_rng(seed)
    ref = _sample(reference, max_rows, rng)
    win = _sample(window, max_rows, rng)
    x, categorical = _encode(ref, win, columns)
    y = np.concatenate([np.zeros(len(ref), dtype=np.int64), np.ones(len(win), dtype=np.int64)])

    # one OpenMP thread: on these sizes a second one gains little, and on a busy machine
    # OpenMP's spinning threads made a call 10 to 20 times slower
    with threadpool_limits(limits=1, user_api="openmp"):
        aucs, shuffled = _fold_aucs(x, y, categorical, folds=folds, seed=seed, rng=rng)

    auc = float(aucs.mean())
    auc_low = corrected_lower_bound(aucs)
    drops = (aucs[:, None] - shuffled).mean(axis=0)
    named = [(str(name), float(drop)) for name, drop in zip(columns, drops, strict=True)]
    top = sorted((d for d in named if d[1] > 0), key=lambda d: d[1], reverse=True)
    return DomainDrift(
        auc=auc,
        auc_low=auc_low,
        rows_reference=len(ref),
        rows_window=len(win),
        top_features=top[:TOP_FEATURES],
        severity=_severity(auc, auc_low, warning_auc, critical_auc),
    )
