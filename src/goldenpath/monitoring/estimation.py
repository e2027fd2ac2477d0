"""Estimated performance of a binary classifier on windows whose labels have not arrived yet.

This is confidence-based performance estimation (CBPE). If a model's score for a row can be turned
into the true probability ``p`` that the row is positive, then every row carries its own expected
outcome: a row predicted positive (score at or above the decision threshold) is correct with
probability ``p``, a row predicted negative with probability ``1 - p``. Adding these up over a
window gives the expected number of correct predictions, hence the expected accuracy, without a
single label. In the same way each row contributes ``p`` expected positives and ``1 - p`` expected
negatives at its own score, which gives expected true- and false-positive counts at every
threshold, an expected ROC curve, and its area.

Two things must hold for the estimate to be right, and neither can be checked without labels:

* The scores are calibrated. Raw model scores rarely are, so a map from score to probability is
  fitted once on held-out labelled reference rows and applied to every window: Platt scaling,
  or the isotonic map where that is clearly better (:meth:`ScoreCalibration.choose`).
* The probability of a positive at a given score is the same in the window as in the reference
  rows the calibration was fitted on. A change in the mix of inputs alone (covariate shift, with
  P(y | x) unchanged) does not guarantee this: at each score the calibration averages P(y | x)
  over the reference's inputs with that score, so if the window's inputs at that score are ones
  the model ranks too high (or too low), the estimate is off, even though no input changed its
  meaning. It holds under any covariate shift only where the scores are the true P(y | x). If the
  same inputs start to mean something else (concept drift), the calibrated probabilities are
  wrong outright, and the estimate with them. Shifts into score ranges the reference barely
  covered make the calibration, and so the estimate, less reliable too.

Each estimate comes with a sampling-error band: where the realised value of a window of this
size would fall (about 95% of the time) if the calibrated probabilities were right. It says how
far a window's realised value may stray by chance; it does not cover a broken assumption.

Windows are summarised in a mergeable sketch: per fine score bin (fixed, equal-width edges shared
by every sketch) the number of rows and the sum of calibrated probabilities, plus the exact sum of
expected-correct over rows. Sketches of separate batches add up to the sketch of their union, so
hourly sketches merge into daily ones without the rows. Rows within one bin count as tied when the
ROC curve is drawn (half credit, as the trapezoid rule gives); with 1,000 bins on [0, 1] this moves
the area by far less than sampling noise does. When labels are known, the sketch also keeps the
positives per bin and the number of correct predictions, so realised accuracy and AUC come from
the same summary.

Scores are probabilities of the positive class, in [0, 1]; values outside are clipped.

Multiclass classifiers. The prediction log keeps only the top class probability as a row's
score, not the vector of class probabilities, so what can be estimated is accuracy alone. The
calibration maps the top probability to the probability that the prediction is correct, fitted
on held-out rows labelled 1 where the prediction equals the label
(:meth:`ScoreCalibration.correctness`); every row counts as predicted correct (threshold 0), and
the expected accuracy is the mean of the calibrated probabilities. It assumes what the binary
estimate does, with "correct" for "positive": the probability that a prediction is correct at a
given top probability is the same in the window as in the reference. A ROC AUC or confusion
matrix of correct-vs-confident would say nothing about the classes, and per-class metrics need
the per-class probabilities the log does not keep, so such an estimate has accuracy and its band
only. ``outcome`` in the calibration and the sketch says which of the two a probability is of;
records written without it are binary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from goldenpath.monitoring._document import Document

__all__ = [
    "DEFAULT_BINS",
    "MAX_KNOTS",
    "EstimatedPerformance",
    "Outcome",
    "ScoreCalibration",
    "ScoreSketch",
    "estimate",
    "realised",
]

DEFAULT_BINS = 1000  # equal-width score bins on [0, 1]
MAX_KNOTS = 2000  # calibration knots kept (thinned evenly beyond this, so the JSON stays small)
_MIN_CLASS_MASS = 1e-6  # expected positives (or negatives) below this: no ROC AUC

FloatArray = npt.NDArray[np.float64]
Outcome = Literal["positive", "correct"]
"""What a calibrated probability is of: the positive class (binary classifiers, the score is
P(positive)) or a correct prediction (multiclass, the score is the top class probability)."""
_N = TypeVar("_N", int, float)


def _scores(scores: npt.ArrayLike) -> FloatArray:
    values = np.asarray(scores, dtype=np.float64).ravel()
    if not np.all(np.isfinite(values)):
        raise ValueError("scores must be finite")
    return np.clip(values, 0.0, 1.0)


def _labels(labels: npt.ArrayLike, n: int) -> npt.NDArray[np.int64]:
    values = np.asarray(labels).ravel()
    if values.shape[0] != n:
        raise ValueError(f"{values.shape[0]} labels for {n} scores")
    if not np.all((values == 0) | (values == 1)):
        raise ValueError("labels must be 0 or 1")
    return values.astype(np.int64)


_PLATT_KNOTS = 1001
_LOGIT_EDGE = 1e-6  # scores are clipped to [edge, 1 - edge] before their log-odds are taken


def _log_odds(s: FloatArray) -> FloatArray:
    clipped = np.clip(s, _LOGIT_EDGE, 1.0 - _LOGIT_EDGE)
    return np.asarray(np.log(clipped / (1.0 - clipped)), dtype=np.float64)


def _platt_model(s: FloatArray, y: npt.NDArray[np.int64]) -> LogisticRegression:
    return LogisticRegression(C=1e6).fit(_log_odds(s).reshape(-1, 1), y)


def _platt_apply(model: LogisticRegression, s: FloatArray) -> FloatArray:
    return np.asarray(model.predict_proba(_log_odds(s).reshape(-1, 1))[:, 1], dtype=np.float64)


@dataclass(frozen=True)
class ScoreCalibration:
    """Isotonic map from the model's score (P(positive)) to a calibrated probability, fitted on
    the reference's held-out rows.

    The map is piecewise linear between the knots ``(x, y)`` and constant beyond the outer ones.
    ``threshold`` is the decision threshold of the model's predictions: a score at or above it
    is a positive prediction. With ``outcome`` "correct" (multiclass: the score is the top class
    probability, the map gives P(prediction correct)) the threshold is 0: every row is predicted
    "correct", and is right with its calibrated probability.
    """

    x: list[float]
    y: list[float]
    threshold: float = 0.5
    method: str = "isotonic"  # identity, platt or isotonic: how the map was made
    outcome: Outcome = "positive"  # records written before multiclass have none: binary

    def __post_init__(self) -> None:
        if not self.x or len(self.x) != len(self.y):
            raise ValueError("a calibration needs as many knot values as knots, at least one")
        if any(b <= a for a, b in zip(self.x, self.x[1:], strict=False)):
            raise ValueError("calibration knots must be strictly increasing")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError("the decision threshold must be in [0, 1]")
        if self.outcome == "correct" and self.threshold != 0.0:
            raise ValueError("a calibration of correctness has threshold 0 (all rows count)")

    @classmethod
    def fit(
        cls, scores: npt.ArrayLike, labels: npt.ArrayLike, threshold: float = 0.5
    ) -> ScoreCalibration:
        """Fit the monotone map from score to the observed frequency of positives.

        ``labels`` are 0/1. The rows should be held out from the model's training data, or the
        map learns the model's over-confidence on rows it has seen.
        """
        s = _scores(scores)
        if s.shape[0] == 0:
            raise ValueError("cannot calibrate on no rows")
        y = _labels(labels, s.shape[0])
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0, increasing=True)
        iso.fit(s, y.astype(np.float64))
        knots_x = np.asarray(iso.X_thresholds_, dtype=np.float64)
        knots_y = np.asarray(iso.y_thresholds_, dtype=np.float64)
        if knots_x.shape[0] > MAX_KNOTS:
            keep = np.unique(np.linspace(0, knots_x.shape[0] - 1, MAX_KNOTS).round().astype(int))
            knots_x, knots_y = knots_x[keep], knots_y[keep]
        return cls(
            x=[float(v) for v in knots_x],
            y=[float(v) for v in np.clip(knots_y, 0.0, 1.0)],
            threshold=float(threshold),
        )

    @classmethod
    def platt(
        cls, scores: npt.ArrayLike, labels: npt.ArrayLike, threshold: float = 0.5
    ) -> ScoreCalibration:
        """Platt scaling: a logistic regression of the label on the score's log-odds (two
        parameters, so little noise of its own), kept as knots on a fine grid of scores."""
        s = _scores(scores)
        y = _labels(labels, s.shape[0])
        model = _platt_model(s, y)
        grid = np.linspace(0.0, 1.0, _PLATT_KNOTS)
        return cls(
            x=[float(v) for v in grid],
            y=[float(v) for v in _platt_apply(model, grid)],
            threshold=float(threshold),
            method="platt",
        )

    @classmethod
    def choose(
        cls,
        scores: npt.ArrayLike,
        labels: npt.ArrayLike,
        threshold: float = 0.5,
        *,
        folds: int = 5,
        seed: int = 0,
    ) -> ScoreCalibration:
        """Platt scaling, unless the isotonic map predicts held-out labels clearly better.

        Both are compared by their Brier score out of fold (``folds``-fold cross-validation,
        seeded), row by row: the isotonic map is chosen only when its advantage is more than
        twice the standard error of the paired difference, i.e. when the miscalibration has a
        shape two parameters cannot follow. An isotonic map fitted on a thousand rows otherwise
        learns steps from chance, which makes probabilities more extreme than they are and the
        estimated ROC AUC too high; taking an over-confident model's raw scores at their word
        does the same. Platt scaling of calibrated scores is close to the identity. Figures on
        the telco example: docs/monitoring.md. When the rarer outcome is so rare that a fold
        holds all of it, Platt scaling is chosen without the comparison."""
        s = _scores(scores)
        y = _labels(labels, s.shape[0])
        if s.shape[0] < 2 * folds or y.min() == y.max():
            return cls.fit(s, y, threshold)
        fold = np.random.default_rng(seed).permutation(s.shape[0]) % folds
        if any(np.ptp(y[fold != k]) == 0 for k in range(folds)):
            # a fold holds every row of the rarer outcome (a model that is almost always
            # right): out of fold, the maps cannot be fitted, let alone compared
            return cls.platt(s, y, threshold)
        platt_oof, isotonic_oof = np.empty_like(s), np.empty_like(s)
        for k in range(folds):
            held = fold == k
            platt_oof[held] = _platt_apply(_platt_model(s[~held], y[~held]), s[held])
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
            isotonic_oof[held] = iso.fit(s[~held], y[~held]).predict(s[held])
        advantage = (platt_oof - y) ** 2 - (isotonic_oof - y) ** 2
        error = advantage.std(ddof=1) / np.sqrt(advantage.shape[0])
        if advantage.mean() <= 2.0 * error:
            return cls.platt(s, y, threshold)
        return cls.fit(s, y, threshold)

    @classmethod
    def correctness(
        cls, top_scores: npt.ArrayLike, correct: npt.ArrayLike, *, seed: int = 0
    ) -> ScoreCalibration:
        """Multiclass: the map from the top class probability to the probability that the
        prediction is correct (``correct`` is 1 where the prediction equals the label), chosen
        between Platt scaling and the isotonic map as :meth:`choose` does."""
        return replace(cls.choose(top_scores, correct, 0.0, seed=seed), outcome="correct")

    @classmethod
    def identity(cls, threshold: float = 0.5) -> ScoreCalibration:
        """Take the scores at their word (for a model known to be calibrated)."""
        return cls(x=[0.0, 1.0], y=[0.0, 1.0], threshold=threshold, method="identity")

    def __call__(self, scores: npt.ArrayLike) -> FloatArray:
        """Calibrated probabilities of the positive class, one per score."""
        values = np.interp(_scores(scores), self.x, self.y)
        return np.asarray(values, dtype=np.float64)


def _sum(a: _N | None, b: _N | None) -> _N | None:
    """The sum of two sketches' totals; None when either sketch predates the total."""
    return None if a is None or b is None else a + b


@dataclass
class ScoreSketch:
    """Mergeable summary of one window's scores.

    Per fine score bin (``len(counts)`` equal-width bins on [0, 1], shared by every sketch that
    is merged): the number of rows and the sum of their calibrated probabilities. Plus the exact
    sum over rows of expected-correct (``p`` if score >= threshold else ``1 - p``). When labels
    were given, also the positives per bin and the number of correct predictions; a merge with an
    unlabelled sketch drops them (the union is not fully labelled).

    ``outcome`` is the calibration's: with "correct" (multiclass) the labels are 1 where the
    prediction was right, ``positives`` counts the correct rows per bin, and there is no
    confusion matrix (its fields stay None).
    """

    threshold: float
    counts: list[int]
    prob_sums: list[float]
    expected_correct: float
    positives: list[int] | None = None
    correct: int | None = None
    # Σ p(1 - p): the variance of the number of correct predictions (None in sketches written
    # before it was kept: their estimates come without a sampling-error band)
    correct_variance: float | None = None
    # rows predicted positive, and Σ p over them: the expected confusion matrix (None in
    # sketches written before they were kept); with labels, the true positives
    predicted_positives: int | None = None
    expected_true_positives: float | None = None
    true_positives: int | None = None
    outcome: Outcome = "positive"  # sketches written before multiclass have none: binary

    def __post_init__(self) -> None:
        if len(self.prob_sums) != len(self.counts) or (
            self.positives is not None and len(self.positives) != len(self.counts)
        ):
            raise ValueError("a sketch needs the same number of values in every bin list")

    @property
    def rows(self) -> int:
        return int(sum(self.counts))

    @property
    def bins(self) -> int:
        return len(self.counts)

    @property
    def labelled(self) -> bool:
        return self.positives is not None and self.correct is not None

    @classmethod
    def of(
        cls,
        scores: npt.ArrayLike,
        calibration: ScoreCalibration,
        labels: npt.ArrayLike | None = None,
        *,
        bins: int = DEFAULT_BINS,
    ) -> ScoreSketch:
        """Sketch a batch of the model's scores (and, if known, its labels: 0/1 for the
        calibration's outcome, i.e. positive or, for multiclass, correct)."""
        if bins < 1:
            raise ValueError("a sketch needs at least one bin")
        s = _scores(scores)
        p = calibration(s)
        index = np.minimum((s * bins).astype(np.int64), bins - 1)
        predicted = s >= calibration.threshold
        counts = np.bincount(index, minlength=bins)
        prob_sums = np.bincount(index, weights=p, minlength=bins)
        expected_correct = math.fsum(np.where(predicted, p, 1.0 - p).tolist())
        correct_variance = math.fsum((p * (1.0 - p)).tolist())
        binary = calibration.outcome == "positive"
        expected_true_positives = math.fsum(p[predicted].tolist()) if binary else None
        true_positives: int | None = None
        positives: list[int] | None = None
        correct: int | None = None
        if labels is not None:
            y = _labels(labels, s.shape[0])
            positives = [int(v) for v in np.bincount(index, weights=y, minlength=bins).round()]
            correct = int(np.count_nonzero(predicted == (y == 1)))
            true_positives = int(np.count_nonzero(predicted & (y == 1))) if binary else None
        return cls(
            threshold=calibration.threshold,
            counts=[int(v) for v in counts],
            prob_sums=[float(v) for v in prob_sums],
            expected_correct=expected_correct,
            positives=positives,
            correct=correct,
            correct_variance=correct_variance,
            predicted_positives=int(np.count_nonzero(predicted)) if binary else None,
            expected_true_positives=expected_true_positives,
            true_positives=true_positives,
            outcome=calibration.outcome,
        )

    def merged(self, other: ScoreSketch) -> ScoreSketch:
        """The sketch of the union of the two batches."""
        if other.bins != self.bins:
            raise ValueError("sketches with different bins cannot be merged")
        if other.threshold != self.threshold or other.outcome != self.outcome:
            raise ValueError("sketches with different thresholds or outcomes cannot be merged")
        positives: list[int] | None = None
        correct: int | None = None
        if self.positives is not None and other.positives is not None:
            positives = [a + b for a, b in zip(self.positives, other.positives, strict=True)]
        if self.correct is not None and other.correct is not None:
            correct = self.correct + other.correct
        return ScoreSketch(
            threshold=self.threshold,
            counts=[a + b for a, b in zip(self.counts, other.counts, strict=True)],
            prob_sums=[a + b for a, b in zip(self.prob_sums, other.prob_sums, strict=True)],
            expected_correct=self.expected_correct + other.expected_correct,
            positives=positives if correct is not None else None,
            correct=correct if positives is not None else None,
            correct_variance=_sum(self.correct_variance, other.correct_variance),
            predicted_positives=_sum(self.predicted_positives, other.predicted_positives),
            expected_true_positives=_sum(
                self.expected_true_positives, other.expected_true_positives
            ),
            true_positives=_sum(self.true_positives, other.true_positives)
            if correct is not None
            else None,
            outcome=self.outcome,
        )


class Confusion(Document):
    """Counts of a window at the decision threshold: expected (sums of probabilities, so not
    whole numbers) or realised."""

    true_positives: float
    false_positives: float
    false_negatives: float
    true_negatives: float

    def rates(self) -> tuple[float | None, float | None, float | None]:
        """Precision, recall and F1 (None where the denominator is ~0)."""
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        precision = tp / (tp + fp) if tp + fp > _MIN_CLASS_MASS else None
        recall = tp / (tp + fn) if tp + fn > _MIN_CLASS_MASS else None
        f1 = 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn > _MIN_CLASS_MASS else None
        return precision, recall, f1


def _confusion(
    rows: int, predicted: int | None, true_positive: float | None, positives: float
) -> Confusion | None:
    if predicted is None or true_positive is None:
        return None
    false_negatives = max(positives - true_positive, 0.0)
    return Confusion(
        true_positives=true_positive,
        false_positives=max(predicted - true_positive, 0.0),
        false_negatives=false_negatives,
        true_negatives=max(rows - predicted - false_negatives, 0.0),
    )


def _with_confusion(
    performance: EstimatedPerformance, confusion: Confusion | None
) -> EstimatedPerformance:
    if confusion is None:
        return performance
    precision, recall, f1 = confusion.rates()
    return performance.model_copy(
        update={"confusion": confusion, "precision": precision, "recall": recall, "f1": f1}
    )


class EstimatedPerformance(Document):
    """Accuracy and ROC AUC of a window (expected, or realised when computed from labels); a
    multiclass classifier's has accuracy only (ROC AUC and the confusion matrix stay None).

    An estimate carries its sampling-error band: the range (about 95%) in which the realised
    value of a window of this size falls when the calibrated probabilities are right. Realised
    values, and estimates from sketches that predate the band, have none.
    """

    rows: int
    accuracy: float | None
    roc_auc: float | None  # None when the (expected) positives or negatives are ~0
    accuracy_low: float | None = None
    accuracy_high: float | None = None
    roc_auc_low: float | None = None
    roc_auc_high: float | None = None
    # the (expected) confusion matrix at the decision threshold and what follows from it; None
    # for sketches that predate it, and precision/recall/F1 where their denominator is ~0
    confusion: Confusion | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None


def _binned_auc(positives: FloatArray, negatives: FloatArray) -> float | None:
    """Area under the ROC curve drawn through the bins from the highest score to the lowest.

    Each negative in bin ``b`` is credited with the positives in higher bins plus half those in
    its own bin: the trapezoid rule on the (expected) TPR/FPR curve.
    """
    total_pos = float(positives.sum())
    total_neg = float(negatives.sum())
    if total_pos < _MIN_CLASS_MASS or total_neg < _MIN_CLASS_MASS:
        return None
    above = np.cumsum(positives[::-1])[::-1] - positives  # positives in strictly higher bins
    area = float(np.dot(negatives, above + 0.5 * positives)) / (total_pos * total_neg)
    return min(max(area, 0.0), 1.0)


Z_95 = 1.959963984540054  # the standard normal's 97.5% quantile: a two-sided 95% band


def _band(value: float, standard_error: float) -> tuple[float, float]:
    return max(value - Z_95 * standard_error, 0.0), min(value + Z_95 * standard_error, 1.0)


AUC_DRAWS = 400  # simulated label draws behind an estimated ROC AUC's band
BAND_BINS = 100  # score bins the draws are made in (the sketch's 1,000 summed in tens)


def _auc_band(counts: FloatArray, positives: FloatArray) -> tuple[float, float] | None:
    """The central 95% of the ROC AUC this window's rows would realise if their labels were
    drawn from the calibrated probabilities: ``AUC_DRAWS`` draws of the positives in each score
    bin (binomial, at the bin's mean probability), each scored like :func:`realised` does.
    Conditional on the window's scores, as the realised value is; seeded, so an estimate is
    reproducible."""
    if counts.shape[0] % BAND_BINS == 0:  # coarser bins: the band's width, not its detail
        counts = counts.reshape(BAND_BINS, -1).sum(axis=1)
        positives = positives.reshape(BAND_BINS, -1).sum(axis=1)
    occupied = counts > 0
    n, mass = counts[occupied].astype(np.int64), positives[occupied]
    rate = np.clip(mass / n, 0.0, 1.0)
    drawn = np.random.default_rng(0).binomial(n, rate, size=(AUC_DRAWS, n.shape[0]))
    pos = drawn.astype(np.float64)
    neg = n - pos
    total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
    above = np.cumsum(pos[:, ::-1], axis=1)[:, ::-1] - pos  # positives in strictly higher bins
    area = np.einsum("ij,ij->i", neg, above + 0.5 * pos)
    defined = (total_pos > 0) & (total_neg > 0)
    if defined.sum() < AUC_DRAWS // 2:
        return None
    aucs = area[defined] / (total_pos[defined] * total_neg[defined])
    low, high = np.quantile(aucs, [0.025, 0.975])
    return float(low), float(high)


def estimate(sketch: ScoreSketch) -> EstimatedPerformance:
    """Expected accuracy and ROC AUC of the window from its calibrated scores alone, each with
    its sampling-error band, and the expected confusion matrix with precision, recall and F1
    (ratios of expected counts). A sketch of correctness (multiclass) gives accuracy and its
    band only.

    Accuracy: each row is correct with probability ``q`` (``p`` or ``1 - p``; for multiclass
    ``p`` itself), so the number of correct rows has variance Σ q(1 - q) = Σ p(1 - p), kept
    exactly in the sketch. ROC AUC: the spread of the AUC under labels drawn from the
    probabilities (:func:`_auc_band`).
    """
    rows = sketch.rows
    if rows == 0:
        return EstimatedPerformance(rows=0, accuracy=None, roc_auc=None)
    accuracy = min(max(sketch.expected_correct / rows, 0.0), 1.0)
    accuracy_band: tuple[float | None, float | None] = (None, None)
    if sketch.correct_variance is not None:
        accuracy_band = _band(accuracy, math.sqrt(max(sketch.correct_variance, 0.0)) / rows)
    if sketch.outcome == "correct":
        low, high = accuracy_band
        return EstimatedPerformance(
            rows=rows, accuracy=accuracy, roc_auc=None, accuracy_low=low, accuracy_high=high
        )
    counts = np.asarray(sketch.counts, dtype=np.float64)
    positives = np.clip(np.asarray(sketch.prob_sums, dtype=np.float64), 0.0, counts)
    auc = _binned_auc(positives, counts - positives)
    auc_band: tuple[float | None, float | None] = (None, None)
    if auc is not None:
        auc_band = _auc_band(counts, positives) or (None, None)
    performance = EstimatedPerformance(
        rows=rows,
        accuracy=accuracy,
        roc_auc=auc,
        accuracy_low=accuracy_band[0],
        accuracy_high=accuracy_band[1],
        roc_auc_low=auc_band[0],
        roc_auc_high=auc_band[1],
    )
    confusion = _confusion(
        rows,
        sketch.predicted_positives,
        sketch.expected_true_positives,
        float(np.sum(sketch.prob_sums)),
    )
    return _with_confusion(performance, confusion)


def realised(sketch: ScoreSketch) -> EstimatedPerformance:
    """Realised accuracy and ROC AUC of a labelled window (rows within one bin count as ties),
    and its confusion matrix with precision, recall and F1; accuracy only for a sketch of
    correctness (multiclass)."""
    if sketch.positives is None or sketch.correct is None:
        raise ValueError("the sketch has no labels")
    rows = sketch.rows
    if rows == 0:
        return EstimatedPerformance(rows=0, accuracy=None, roc_auc=None)
    if sketch.outcome == "correct":
        return EstimatedPerformance(rows=rows, accuracy=sketch.correct / rows, roc_auc=None)
    counts = np.asarray(sketch.counts, dtype=np.float64)
    positives = np.asarray(sketch.positives, dtype=np.float64)
    performance = EstimatedPerformance(
        rows=rows,
        accuracy=sketch.correct / rows,
        roc_auc=_binned_auc(positives, counts - positives),
    )
    true_positives = None if sketch.true_positives is None else float(sketch.true_positives)
    confusion = _confusion(
        rows, sketch.predicted_positives, true_positives, float(np.sum(sketch.positives))
    )
    return _with_confusion(performance, confusion)
