"""Confidence-based performance estimation: sketches merge exactly; the estimate is the exact
expectation of the realised metrics when the scores are calibrated; and on simulated covariate
shift with a calibrated model, estimated accuracy and ROC AUC are within 0.02 of the realised
values on windows of 5,000 rows."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, roc_auc_score
from threadpoolctl import threadpool_limits

from goldenpath.monitoring import estimation
from goldenpath.monitoring.estimation import (
    EstimatedPerformance,
    ScoreCalibration,
    ScoreSketch,
    estimate,
    realised,
)

# A deliberately non-trivial map from score to probability (for tests that draw labels from it).
_CAL = ScoreCalibration(x=[0.0, 0.3, 0.7, 1.0], y=[0.02, 0.2, 0.9, 0.99], threshold=0.5)


def _assert_same_sketch(a: ScoreSketch, b: ScoreSketch) -> None:
    assert a.threshold == b.threshold
    assert a.counts == b.counts
    assert a.positives == b.positives
    assert a.correct == b.correct
    np.testing.assert_allclose(a.prob_sums, b.prob_sums, rtol=0, atol=1e-9)
    assert a.expected_correct == pytest.approx(b.expected_correct, rel=0, abs=1e-9)


# --- merging and serialisation -----------------------------------------------------------------


def test_sketch_of_union_equals_merged_sketches() -> None:
    rng = np.random.default_rng(0)
    scores = rng.beta(2.0, 3.0, 7_500)
    labels = (rng.random(7_500) < _CAL(scores)).astype(int)
    a, b = slice(0, 3_000), slice(3_000, None)

    whole = ScoreSketch.of(scores, _CAL, labels)
    merged = ScoreSketch.of(scores[a], _CAL, labels[a]).merged(
        ScoreSketch.of(scores[b], _CAL, labels[b])
    )
    _assert_same_sketch(whole, merged)
    assert merged.rows == 7_500
    assert estimate(merged).accuracy == pytest.approx(estimate(whole).accuracy, abs=1e-12)
    assert estimate(merged).roc_auc == pytest.approx(estimate(whole).roc_auc, abs=1e-12)
    assert realised(merged) == realised(whole)

    # Unlabelled sketches merge the same way; merging with one drops the labels.
    unlabelled = ScoreSketch.of(scores[a], _CAL).merged(ScoreSketch.of(scores[b], _CAL))
    assert unlabelled.counts == whole.counts
    assert not unlabelled.labelled
    mixed = ScoreSketch.of(scores[a], _CAL, labels[a]).merged(ScoreSketch.of(scores[b], _CAL))
    assert mixed.positives is None
    assert mixed.correct is None
    with pytest.raises(ValueError, match="no labels"):
        realised(mixed)


def test_sketches_with_different_bins_or_thresholds_do_not_merge() -> None:
    scores = np.linspace(0.0, 1.0, 101)
    sketch = ScoreSketch.of(scores, _CAL)
    with pytest.raises(ValueError, match="bins"):
        sketch.merged(ScoreSketch.of(scores, _CAL, bins=100))
    other = ScoreCalibration(x=_CAL.x, y=_CAL.y, threshold=0.3)
    with pytest.raises(ValueError, match="threshold"):
        sketch.merged(ScoreSketch.of(scores, other))


def test_sketch_round_trips_through_json() -> None:
    rng = np.random.default_rng(1)
    scores = rng.random(2_000)
    labels = (rng.random(2_000) < _CAL(scores)).astype(int)
    adapter = TypeAdapter(ScoreSketch)  # as the store reads and writes it, in a window's state
    for sketch in (ScoreSketch.of(scores, _CAL, labels), ScoreSketch.of(scores, _CAL)):
        back = adapter.validate_json(adapter.dump_json(sketch))
        assert back == sketch
        assert estimate(back) == estimate(sketch)
    broken = adapter.dump_python(sketch, mode="json") | {"prob_sums": [0.5]}
    with pytest.raises(ValidationError, match="same number of values"):
        adapter.validate_python(broken)


def test_calibration_round_trips_through_json() -> None:
    rng = np.random.default_rng(2)
    scores = rng.random(20_000)
    labels = (rng.random(20_000) < scores**2).astype(int)
    calibration = ScoreCalibration.fit(scores, labels, threshold=0.4)
    adapter = TypeAdapter(ScoreCalibration)  # as reference.json holds it
    back = adapter.validate_json(adapter.dump_json(calibration))
    assert back == calibration
    grid = np.linspace(-0.5, 1.5, 1_001)
    np.testing.assert_array_equal(back(grid), calibration(grid))


def test_calibration_is_monotone_clipped_and_thinned(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    scores = rng.random(50_000)
    labels = (rng.random(50_000) < scores).astype(int)
    full = ScoreCalibration.fit(scores, labels)
    grid = np.linspace(-1.0, 2.0, 3_001)
    values = full(grid)
    assert np.all(np.diff(values) >= 0)
    assert values.min() >= 0.0
    assert values.max() <= 1.0
    assert full(np.array([-3.0]))[0] == full(np.array([0.0]))[0]  # scores are clipped to [0, 1]

    monkeypatch.setattr(estimation, "MAX_KNOTS", 20)
    thin = ScoreCalibration.fit(scores, labels)
    assert len(thin.x) <= 20 < len(full.x)
    assert (thin.x[0], thin.x[-1]) == (full.x[0], full.x[-1])
    assert np.all(np.diff(thin(grid)) >= 0)
    assert np.max(np.abs(thin(grid) - full(grid))) < 0.1


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="0 or 1"):
        ScoreCalibration.fit(np.array([0.1, 0.9]), np.array([0, 2]))
    with pytest.raises(ValueError, match="labels for"):
        ScoreSketch.of(np.array([0.1, 0.9]), _CAL, np.array([1]))
    with pytest.raises(ValueError, match="finite"):
        ScoreSketch.of(np.array([0.1, np.nan]), _CAL)
    with pytest.raises(ValueError, match="increasing"):
        ScoreCalibration(x=[0.5, 0.2], y=[0.1, 0.2])


def test_degenerate_windows() -> None:
    empty = estimate(ScoreSketch.of(np.array([]), _CAL))
    assert empty == EstimatedPerformance(rows=0, accuracy=None, roc_auc=None)
    never = ScoreCalibration(x=[0.0, 1.0], y=[0.0, 0.0])  # no row can be positive
    performance = estimate(ScoreSketch.of(np.array([0.1, 0.2, 0.7]), never))
    assert performance.rows == 3
    assert performance.accuracy == pytest.approx(2 / 3)  # the two negative predictions
    assert performance.roc_auc is None
    assert performance.model_dump() == {
        "rows": 3,
        "accuracy": performance.accuracy,
        "roc_auc": None,
        # every probability is 0: the realised accuracy cannot differ from the expected one
        "accuracy_low": performance.accuracy,
        "accuracy_high": performance.accuracy,
        "roc_auc_low": None,
        "roc_auc_high": None,
        # one row predicted positive, and it cannot be one: precision 0, recall undefined
        "confusion": {
            "true_positives": 0.0,
            "false_positives": 1.0,
            "false_negatives": 0.0,
            "true_negatives": 2.0,
        },
        "precision": 0.0,
        "recall": None,
        "f1": 0.0,
    }


# --- the estimate is the expectation of the realised metrics -----------------------------------


def _expected_auc_pairwise(scores: np.ndarray, p: np.ndarray, bins: int) -> float:
    """The expected-TP/FP ROC area written out over pairs of rows: each (positive-weight i,
    negative-weight j) pair scores 1 if i's bin is higher, 1/2 if the same bin."""
    index = np.minimum((scores * bins).astype(int), bins - 1)
    higher = index[:, None] > index[None, :]
    same = index[:, None] == index[None, :]
    weights = p[:, None] * (1.0 - p)[None, :]
    return float(np.sum(weights * (higher + 0.5 * same)) / (p.sum() * (1.0 - p).sum()))


def test_estimate_equals_direct_per_row_computation() -> None:
    rng = np.random.default_rng(4)
    scores = rng.beta(2.0, 2.0, 2_000)
    p = _CAL(scores)
    performance = estimate(ScoreSketch.of(scores, _CAL))
    expected_accuracy = float(np.mean(np.where(scores >= _CAL.threshold, p, 1.0 - p)))
    assert performance.accuracy == pytest.approx(expected_accuracy, rel=0, abs=1e-12)
    assert performance.roc_auc == pytest.approx(
        _expected_auc_pairwise(scores, p, estimation.DEFAULT_BINS), rel=0, abs=1e-12
    )


def test_estimate_matches_average_realised_metrics_when_labels_follow_calibration() -> None:
    rng = np.random.default_rng(5)
    scores = rng.beta(2.0, 2.0, 20_000)
    p = _CAL(scores)
    performance = estimate(ScoreSketch.of(scores, _CAL))
    assert performance.accuracy is not None
    assert performance.roc_auc is not None
    accuracies, aucs = [], []
    for _ in range(200):
        labels = (rng.random(scores.shape[0]) < p).astype(int)
        accuracies.append(accuracy_score(labels, scores >= _CAL.threshold))
        aucs.append(roc_auc_score(labels, scores))
    # 200 draws of 20,000 rows: the mean realised AUC's standard error is ~0.0003.
    assert abs(performance.accuracy - np.mean(accuracies)) < 0.002
    assert abs(performance.roc_auc - np.mean(aucs)) < 0.002


def test_realised_metrics_from_sketch_and_estimate_converge_on_large_samples() -> None:
    rng = np.random.default_rng(6)
    scores = rng.beta(2.0, 2.0, 1_000_000)
    labels = (rng.random(scores.shape[0]) < _CAL(scores)).astype(int)
    sketch = ScoreSketch.of(scores, _CAL, labels)
    actual, expected = realised(sketch), estimate(sketch)
    assert actual.accuracy == pytest.approx(accuracy_score(labels, scores >= 0.5), abs=1e-12)
    # Rows within one of the 1,000 bins count as ties: a negligible change to the area.
    assert actual.roc_auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-3)
    assert expected.accuracy == pytest.approx(actual.accuracy, abs=0.003)
    assert expected.roc_auc == pytest.approx(actual.roc_auc, abs=0.003)


# --- acceptance: covariate shift, calibrated model ---------------------------------------------

_WEIGHTS = np.array([1.2, -0.8, 0.6, 0.0, 0.4])
_BIAS = -0.3


def _draw(
    rng: np.random.Generator, n: int, shift: np.ndarray | float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Five standard-normal features (means moved by ``shift``); P(y|x) = logistic(linear),
    the same whatever the shift."""
    X = rng.normal(size=(n, _WEIGHTS.shape[0])) + shift
    p = 1.0 / (1.0 + np.exp(-(X @ _WEIGHTS + _BIAS)))
    return X, (rng.random(n) < p).astype(int)


def test_estimates_within_0_02_of_realised_under_covariate_shift() -> None:
    rng = np.random.default_rng(20_240_601)
    X_train, y_train = _draw(rng, 20_000)
    # One thread: OpenMP's start-up cost per predict_proba call dominates on busy small machines.
    with threadpool_limits(limits=1):
        model = HistGradientBoostingClassifier(max_iter=100, random_state=0)
        model.fit(X_train, y_train)
        # Held-out reference rows for the calibration. Its sampling error is shared by every
        # window (a fixed offset of SD ~0.0015 in accuracy at this size, ~0.003 at 20,000 rows).
        X_cal, y_cal = _draw(rng, 100_000)
        calibration = ScoreCalibration.fit(model.predict_proba(X_cal)[:, 1], y_cal)
        windows = []
        for size in (0.0, 0.25, 0.5, 0.75, 1.0):  # mean shift, in standard deviations
            for _ in range(10):
                direction = rng.normal(size=_WEIGHTS.shape[0])
                X, y = _draw(rng, 5_000, size * direction / np.linalg.norm(direction))
                windows.append((model.predict_proba(X)[:, 1], y))

    accuracy_errors, auc_errors, prevalences = [], [], []
    for scores, y in windows:
        performance = estimate(ScoreSketch.of(scores, calibration))
        assert performance.accuracy is not None
        assert performance.roc_auc is not None
        accuracy_errors.append(
            abs(performance.accuracy - accuracy_score(y, scores >= calibration.threshold))
        )
        auc_errors.append(abs(performance.roc_auc - roc_auc_score(y, scores)))
        prevalences.append(float(y.mean()))

    print(
        f"\nCBPE on {len(accuracy_errors)} windows of 5,000 rows "
        f"(positive share {min(prevalences):.2f} to {max(prevalences):.2f}): "
        f"accuracy |error| max {max(accuracy_errors):.4f} mean {np.mean(accuracy_errors):.4f}; "
        f"ROC AUC |error| max {max(auc_errors):.4f} mean {np.mean(auc_errors):.4f}"
    )
    assert max(accuracy_errors) <= 0.02
    assert max(auc_errors) <= 0.02
    # No bias: pure sampling noise (SD ~0.006) averages ~0.005 in absolute value.
    assert np.mean(accuracy_errors) <= 0.01
    assert np.mean(auc_errors) <= 0.01


def test_calibration_corrects_an_uncalibrated_model() -> None:
    rng = np.random.default_rng(7)

    def window(n: int) -> tuple[np.ndarray, np.ndarray]:
        truth = rng.random(n)  # the true probability of the positive class
        return truth**3, (rng.random(n) < truth).astype(int)  # the model squashes its scores

    calibration = ScoreCalibration.fit(*window(50_000))
    scores, labels = window(5_000)
    actual_accuracy = accuracy_score(labels, scores >= 0.5)
    actual_auc = roc_auc_score(labels, scores)

    naive = estimate(ScoreSketch.of(scores, ScoreCalibration.identity()))
    corrected = estimate(ScoreSketch.of(scores, calibration))
    assert naive.accuracy is not None
    assert naive.roc_auc is not None
    assert corrected.accuracy is not None
    assert corrected.roc_auc is not None
    print(
        f"\nsquashed scores: realised accuracy {actual_accuracy:.4f}, estimated "
        f"{naive.accuracy:.4f} raw, {corrected.accuracy:.4f} calibrated; realised AUC "
        f"{actual_auc:.4f}, estimated {naive.roc_auc:.4f} raw, {corrected.roc_auc:.4f} calibrated"
    )
    assert abs(naive.accuracy - actual_accuracy) > 0.1
    assert abs(naive.roc_auc - actual_auc) > 0.03
    assert abs(corrected.accuracy - actual_accuracy) <= 0.02
    assert abs(corrected.roc_auc - actual_auc) <= 0.02
