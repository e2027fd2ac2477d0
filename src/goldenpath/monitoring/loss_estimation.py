"""Estimated loss of a regressor on windows whose labels have not arrived yet.

This is direct loss estimation (DLE, as NannyML calls it). On the reference's held-out labelled
rows, two gradient-boosted regressors learn the model's error from what a window also has, the
row's features and the model's prediction: one the absolute error ``|y - ŷ|``, the other the
squared error ``(y - ŷ)²``. Their predictions ``m1(x)`` and ``m2(x)`` are the expected absolute
and squared error of each row, so without a single label a window's expected mean absolute error
is the mean of ``m1`` and its expected root mean squared error the square root of the mean of
``m2``. A window whose inputs move towards rows where the model errs more (a heteroscedastic
error meeting covariate shift) gets a higher estimate, although no label is known.

What it assumes, and cannot check without labels:

* The error's distribution given the inputs and the prediction is the same in the window as in
  the reference's held-out rows (no concept drift): the mix of inputs may change, the meaning of
  an input may not. Concept drift (the same inputs now have other targets) is invisible to it.
* The window's inputs are ones the reference covered. Where it saw few rows the two regressors
  extrapolate (trees: the nearest leaf's value), and the estimate with them.

Each estimate comes with a sampling-error band: where the realised value of a window of this
size would fall (about 95% of the time) if ``m1`` and ``m2`` were the true conditional means.
Given the window's inputs the rows' errors are independent, so the variance of the sum of the
absolute errors is Σ Var(|e| | x), and of the squared errors Σ Var(e² | x). Both come from one
more assumption, fitted on the reference: the error's *shape* given x is the same everywhere,
only its scale changes (``e = s(x) z`` with one distribution of ``z``), which makes
``Var(|e| | x) = (r - 1) m1(x)²`` and ``Var(e² | x) = (k - 1) m2(x)²`` with the constants
``r = E z² / (E|z|)²`` and ``k = E z⁴ / (E z²)²`` (π/2 and 3 for a normal error). They are
estimated on the reference's rows from out-of-fold predictions of ``m1`` and ``m2``. The MAE's
band is the normal interval around the estimate; the RMSE's is the square root of the normal
interval of the mean squared error (so it is not symmetric). The band leaves out the regressors'
own error (it treats ``m1`` and ``m2`` as exact) and does not cover a broken assumption above.

A window keeps a mergeable sketch (:class:`LossSketch`): its rows and the sums of ``m1``,
``m2``, and the two variances, so sketches of separate batches add up to the sketch of their
union. Rows without a prediction are left out (there is no error to estimate).

The two regressors persist with the reference as a skops archive (no code runs when it is
read), loaded with only the types a gradient-boosted regressor needs trusted; an archive that
holds anything else is refused.
"""

from __future__ import annotations

import base64
import functools
import logging
import math
import zipfile
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from goldenpath.monitoring._document import Document

__all__ = [
    "MIN_ROWS",
    "EstimatedLoss",
    "LossEstimator",
    "LossSketch",
    "estimate_loss",
    "loss_increases",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

MIN_ROWS = 100  # fewer labelled held-out rows and no estimator is fitted
MAX_ROWS = 100_000  # held-out rows fitted on, at most (a seeded sample beyond: bounded cost)
FOLDS = 3  # out-of-fold predictions behind the band's shape constants
FLOOR = 0.05  # out-of-fold expected absolute errors below this share of the mean are raised to it
Z_95 = 1.959963984540054  # the standard normal's 97.5% quantile: a two-sided 95% band
_MAX_CODES = 254  # categories with a code of their own; the rest share the next one
# the only types outside skops' defaults that an archive of HistGradientBoostingRegressors holds
TRUSTED_TYPES = ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",)


def _numbers(values: Any) -> FloatArray:
    series = (
        pd.Series(np.asarray(values, dtype=object)) if not isinstance(values, pd.Series) else values
    )
    return np.asarray(
        pd.to_numeric(series, errors="coerce").to_numpy(np.float64, na_value=np.nan),
        dtype=np.float64,
    )


def _finite(values: FloatArray) -> FloatArray:
    """Infinities at the largest finite float (the regressors' binning cannot take them);
    missing values stay missing."""
    big = np.finfo(np.float64).max
    return np.where(np.isinf(values), np.sign(values) * big, values)


def _is_numeric(column: pd.Series[Any]) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _categories(column: pd.Series[Any]) -> list[str]:
    """The column's most frequent values as text, most frequent first (their codes)."""
    present = column.dropna().astype(str)
    return [str(v) for v in present.value_counts().index[:_MAX_CODES]]


def _matrix(
    names: list[str], categories: dict[str, list[str]], frame: pd.DataFrame, predictions: FloatArray
) -> FloatArray:
    """The regressors' inputs: each feature (numbers as floats, categories as codes of the
    reference's values by frequency, others sharing the code after them, missing values
    missing), then the prediction. A feature the frame lacks is missing in every row."""
    matrix = np.empty((len(predictions), len(names) + 1), dtype=np.float64)
    for j, name in enumerate(names):
        if name not in frame:
            matrix[:, j] = np.nan
            continue
        column = frame[name]
        if name in categories:
            codes = {value: float(code) for code, value in enumerate(categories[name])}
            missing = column.isna().to_numpy()
            text = column.astype(object).where(~missing, "").astype(str)
            values = text.map(codes).fillna(float(_MAX_CODES)).to_numpy(dtype=np.float64)
            matrix[:, j] = np.where(missing, np.nan, values)
        else:
            matrix[:, j] = _finite(_numbers(column))
    matrix[:, -1] = _finite(predictions)
    return matrix


def _regressor(rows: int, seed: int) -> Any:
    """Shallow trees with leaves of at least 1% of the rows (20 at least): an error level is a
    broad property of a region of inputs, and small leaves would chase single large errors.
    Category codes are taken as numbers (a category takes a split or two to isolate): native
    categorical support would add a preprocessing pipeline to the archive, and with it more
    types to trust."""
    return HistGradientBoostingRegressor(
        learning_rate=0.1,
        max_iter=100,
        max_leaf_nodes=7,
        min_samples_leaf=max(rows // 100, 20),
        l2_regularization=1.0,
        early_stopping=False,
        random_state=seed,
    )


def _shape(errors: FloatArray, expected: FloatArray) -> float:
    """``E a² / (E a)²`` of the errors scaled by their expected values (``a = error /
    expected``): 1 plus the variance of an error relative to its expected value, if the error's
    shape is the same everywhere. ``expected`` must be positive."""
    ratio = errors / expected
    first = float(ratio.mean())
    return max(float((ratio**2).mean()) / first**2, 1.0) if first > 0 else 1.0


def _archive(models: list[Any]) -> bytes:
    """The skops archive of ``models`` (deflated). The same models give the same archive up to
    its file names and dates (skops names arrays by object id): compare models by what they
    predict, not by their bytes."""
    import skops.io

    return bytes(skops.io.dumps(models, compression=zipfile.ZIP_DEFLATED, compresslevel=9))


@functools.lru_cache(maxsize=8)
def _load(archive: str) -> tuple[Any, Any] | None:
    """The two regressors of an archive, or None (with a warning) when it holds types other
    than a gradient-boosted regressor's or cannot be read."""
    import skops.io

    try:
        raw = base64.b64decode(archive, validate=True)
        untrusted = set(skops.io.get_untrusted_types(data=raw))
        if untrusted - set(TRUSTED_TYPES):
            logger.warning(
                "the reference's loss estimator holds types goldenpath does not trust (%s); "
                "no loss is estimated",
                ", ".join(sorted(untrusted - set(TRUSTED_TYPES))),
            )
            return None
        models = skops.io.loads(raw, trusted=sorted(untrusted))
    except Exception as error:  # a damaged or foreign archive: monitor without estimates
        logger.warning("the reference's loss estimator cannot be read (%s)", error)
        return None
    if not (
        isinstance(models, list)
        and len(models) == 2
        and all(isinstance(m, HistGradientBoostingRegressor) for m in models)
    ):
        logger.warning("the reference's loss estimator is not two regressors; no loss is estimated")
        return None
    return models[0], models[1]


class LossEstimator(Document):
    """The two regressors of the expected absolute and squared error, fitted on the reference's
    held-out rows, with what the band and the alerts need (see the module)."""

    features: list[str]  # the regressors' inputs, then the prediction
    categories: dict[str, list[str]]  # categorical features: their values, by code
    model: str  # base64 of a skops archive: [absolute error model, squared error model]
    absolute_shape: float  # r: Var(|e| | x) = (r - 1) m1(x)²
    squared_shape: float  # k: Var(e² | x) = (k - 1) m2(x)²
    rows: int  # held-out rows it was fitted on
    mean_absolute_error: float  # their realised values: what the alerts compare with
    root_mean_squared_error: float
    seed: int

    @classmethod
    def fit(
        cls,
        features: pd.DataFrame,
        predictions: Any,
        labels: Any,
        *,
        seed: int = 0,
    ) -> LossEstimator | None:
        """Fit on held-out labelled rows (never the model's training rows: their errors are too
        small); on a seeded sample of ``MAX_ROWS`` of them where there are more. None with fewer
        than ``MIN_ROWS`` rows with both a label and a prediction."""
        predicted, target = _numbers(predictions), _numbers(labels)
        if not (len(predicted) == len(target) == len(features)):
            raise ValueError("features, predictions and labels need the same rows")
        keep = np.isfinite(predicted) & np.isfinite(target)
        if int(keep.sum()) < MIN_ROWS:
            return None
        if int(keep.sum()) > MAX_ROWS:
            chosen = np.random.default_rng(seed).choice(
                np.flatnonzero(keep), MAX_ROWS, replace=False
            )
            keep = np.zeros_like(keep)
            keep[chosen] = True
        frame = features.loc[keep].reset_index(drop=True)
        names = [str(c) for c in frame.columns]
        categories = {n: _categories(frame[n]) for n in names if not _is_numeric(frame[n])}
        x = _matrix(names, categories, frame, predicted[keep])
        errors = target[keep] - predicted[keep]
        absolute, squared = np.abs(errors), errors**2
        rows = x.shape[0]
        out_of_fold = np.empty((2, rows), dtype=np.float64)
        with threadpool_limits(limits=1, user_api="openmp"):
            folds = KFold(FOLDS, shuffle=True, random_state=seed).split(x)
            for train, test in folds:
                for k, target_k in enumerate((absolute, squared)):
                    model = _regressor(len(train), seed).fit(x[train], target_k[train])
                    out_of_fold[k, test] = model.predict(x[test])
            models = [_regressor(rows, seed).fit(x, target_k) for target_k in (absolute, squared)]
        # out-of-fold expectations floored (a tree can predict ~0 where errors are small, and
        # one such row would rule the ratios): 5% of the mean absolute error, and m2 >= m1²
        expected_absolute = np.maximum(out_of_fold[0], FLOOR * float(absolute.mean()))
        expected_squared = np.maximum(out_of_fold[1], expected_absolute**2)
        return cls(
            features=names,
            categories=categories,
            model=base64.b64encode(_archive(models)).decode("ascii"),
            absolute_shape=_shape(absolute, expected_absolute),
            squared_shape=_shape(squared, expected_squared),
            rows=rows,
            mean_absolute_error=float(absolute.mean()),
            root_mean_squared_error=math.sqrt(float(squared.mean())),
            seed=seed,
        )

    @property
    def available(self) -> bool:
        """Whether the regressors can be loaded (a refused archive logs why)."""
        return _load(self.model) is not None

    def expected(self, features: pd.DataFrame, predictions: Any) -> tuple[FloatArray, FloatArray]:
        """Each row's expected absolute and squared error (``m1``, ``m2``; ``m2 >= m1²``, as
        for any distribution). Rows need a prediction."""
        models = _load(self.model)
        if models is None:
            raise ValueError("the loss estimator's regressors cannot be loaded")
        predicted = _numbers(predictions)
        if not np.all(np.isfinite(predicted)):
            raise ValueError("every row needs a finite prediction")
        if len(predicted) == 0:
            return np.empty(0), np.empty(0)
        x = _matrix(self.features, self.categories, features.reset_index(drop=True), predicted)
        with threadpool_limits(limits=1, user_api="openmp"):
            absolute = np.maximum(np.asarray(models[0].predict(x), dtype=np.float64), 0.0)
            squared = np.asarray(models[1].predict(x), dtype=np.float64)
        return absolute, np.maximum(squared, absolute**2)


class LossSketch(Document):
    """Mergeable summary of one window's expected errors: its rows (with a prediction), the
    sums of their expected absolute and squared errors, and the variances of the realised sums
    (see the module)."""

    rows: int
    absolute_sum: float
    squared_sum: float
    absolute_variance: float
    squared_variance: float

    @classmethod
    def of(
        cls, estimator: LossEstimator, features: pd.DataFrame, predictions: Any
    ) -> LossSketch | None:
        """Sketch a batch of rows (None where the estimator cannot be loaded); rows without a
        prediction are left out."""
        if not estimator.available:
            return None
        predicted = _numbers(predictions)
        if len(predicted) != len(features):
            raise ValueError(f"{len(predicted)} predictions for {len(features)} rows")
        keep = np.isfinite(predicted)
        absolute, squared = estimator.expected(
            features.loc[keep] if not keep.all() else features, predicted[keep]
        )
        return cls(
            rows=int(keep.sum()),
            absolute_sum=math.fsum(absolute.tolist()),
            squared_sum=math.fsum(squared.tolist()),
            absolute_variance=(estimator.absolute_shape - 1.0) * math.fsum((absolute**2).tolist()),
            squared_variance=(estimator.squared_shape - 1.0) * math.fsum((squared**2).tolist()),
        )

    def merged(self, other: LossSketch) -> LossSketch:
        """The sketch of the union of the two batches."""
        return LossSketch(
            rows=self.rows + other.rows,
            absolute_sum=self.absolute_sum + other.absolute_sum,
            squared_sum=self.squared_sum + other.squared_sum,
            absolute_variance=self.absolute_variance + other.absolute_variance,
            squared_variance=self.squared_variance + other.squared_variance,
        )


class EstimatedLoss(Document):
    """A window's expected mean absolute error and root mean squared error, each with its
    sampling-error band: where the window's realised value falls about 95% of the time if the
    expected errors are right (see the module)."""

    rows: int  # rows with a prediction
    mean_absolute_error: float | None
    mean_absolute_error_low: float | None = None
    mean_absolute_error_high: float | None = None
    root_mean_squared_error: float | None = None
    root_mean_squared_error_low: float | None = None
    root_mean_squared_error_high: float | None = None


def estimate_loss(sketch: LossSketch, reference_rows: int | None = None) -> EstimatedLoss:
    """The window's expected MAE and RMSE with their bands (None for a window without rows).

    With ``reference_rows`` (the rows the estimator was fitted on) the band also takes in the
    noise of the reference's own errors, which the regressors learnt as if it were signal: the
    variance of a window of ``n`` rows is scaled by ``1 + n / reference_rows``, as if the
    window's expected errors were themselves a mean over as many reference rows.
    """
    n = sketch.rows
    if n == 0:
        return EstimatedLoss(rows=0, mean_absolute_error=None)
    scale = 1.0 + (n / reference_rows if reference_rows else 0.0)
    mae = max(sketch.absolute_sum / n, 0.0)
    mae_error = Z_95 * math.sqrt(max(sketch.absolute_variance, 0.0) * scale) / n
    mse = max(sketch.squared_sum / n, 0.0)
    mse_error = Z_95 * math.sqrt(max(sketch.squared_variance, 0.0) * scale) / n
    return EstimatedLoss(
        rows=n,
        mean_absolute_error=mae,
        mean_absolute_error_low=max(mae - mae_error, 0.0),
        mean_absolute_error_high=mae + mae_error,
        root_mean_squared_error=math.sqrt(mse),
        root_mean_squared_error_low=math.sqrt(max(mse - mse_error, 0.0)),
        root_mean_squared_error_high=math.sqrt(mse + mse_error),
    )


def loss_increases(estimated: EstimatedLoss, estimator: LossEstimator) -> dict[str, float]:
    """The estimates' relative rise above the reference's held-out values (``estimate /
    reference - 1``), per metric; a metric whose reference value is 0 has none."""
    found: dict[str, float] = {}
    pairs = (
        ("mean_absolute_error", estimated.mean_absolute_error, estimator.mean_absolute_error),
        (
            "root_mean_squared_error",
            estimated.root_mean_squared_error,
            estimator.root_mean_squared_error,
        ),
    )
    for name, value, base in pairs:
        if value is not None and base > 0:
            found[name] = value / base - 1.0
    return found
