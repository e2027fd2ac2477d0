"""CBPE for multiclass classifiers: estimated accuracy from the top class probability alone.

The simulation: three classes whose true probabilities are a softmax of two Gaussian inputs; the
model predicts the most probable class, and its score (the top probability, what the log keeps)
is an over-confident distortion of the true one, ``sigmoid(1.5 * logit(q) + 0.5)``. The
reference's calibration (fitted on 20,000 labelled rows) maps it back to P(correct). Windows of
1,000 rows, without shift and with the inputs' mean moved (covariate shift: P(y | x) unchanged,
and the calibrated scores are the true probabilities of being right, so the estimate's
assumption holds). ``pytest -s -k covers`` prints the figures docs/monitoring.md quotes;
``python tests/unit/monitoring/test_multiclass_estimation.py`` repeats the simulation with ten
other seeds and prints how they vary with the reference's draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
from pydantic import TypeAdapter

from goldenpath.monitoring.estimation import (
    ScoreCalibration,
    ScoreSketch,
    estimate,
    realised,
)
from goldenpath.monitoring.reference import ReferenceRecord
from goldenpath.monitoring.windows import WindowRecord

REFERENCE_ROWS = 20_000
WINDOW_ROWS = 1_000
WINDOWS = 1_000  # per setting: the binomial standard error of a coverage near 0.95 is 0.007
SHIFTS = {"none": (0.0, 0.0), "inputs' mean moved by (1, 1)": (1.0, 1.0)}

_ANGLES = np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3])
_WEIGHTS = 1.5 * np.stack([np.cos(_ANGLES), np.sin(_ANGLES)])  # inputs (2) x classes (3)


def _draw(
    rng: np.random.Generator, n: int, mean: tuple[float, float]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """``n`` rows: the model's top score and whether its prediction was right (0/1)."""
    x = rng.normal(0.0, 1.0, (n, 2)) + np.asarray(mean)
    logits = x @ _WEIGHTS
    q = np.exp(logits - logits.max(axis=1, keepdims=True))
    q /= q.sum(axis=1, keepdims=True)
    predicted = q.argmax(axis=1)
    label = (rng.random(n)[:, None] < q.cumsum(axis=1)).argmax(axis=1)
    top = np.clip(q.max(axis=1), None, 1.0 - 1e-12)
    score = 1.0 / (1.0 + np.exp(-(1.5 * np.log(top / (1.0 - top)) + 0.5)))  # over-confident
    return score, (label == predicted).astype(np.int64)


@dataclass(frozen=True)
class Setting:
    coverage: float  # share of windows whose realised accuracy is inside the estimate's band
    mean_error: float  # estimate minus realised, averaged over windows
    error_sd: float
    realised: float  # mean realised accuracy
    raw_error: float  # the mean raw top score minus realised: what no calibration would say


def _simulate(seed: int, windows: int = WINDOWS) -> tuple[str, dict[str, Setting]]:
    rng = np.random.default_rng(seed)
    calibration = ScoreCalibration.correctness(*_draw(rng, REFERENCE_ROWS, SHIFTS["none"]))
    found: dict[str, Setting] = {}
    for name, mean in SHIFTS.items():
        covered, errors, values, raw = 0, [], [], []
        for _ in range(windows):
            score, correct = _draw(rng, WINDOW_ROWS, mean)
            sketch = ScoreSketch.of(score, calibration, correct)
            guess, truth = estimate(sketch), realised(sketch)
            assert guess.accuracy is not None
            assert guess.accuracy_low is not None
            assert guess.accuracy_high is not None
            assert truth.accuracy is not None
            covered += guess.accuracy_low <= truth.accuracy <= guess.accuracy_high
            errors.append(guess.accuracy - truth.accuracy)
            values.append(truth.accuracy)
            raw.append(float(score.mean()) - truth.accuracy)
        found[name] = Setting(
            coverage=covered / windows,
            mean_error=float(np.mean(errors)),
            error_sd=float(np.std(errors)),
            realised=float(np.mean(values)),
            raw_error=float(np.mean(raw)),
        )
    return calibration.method, found


def _show(seed: int, method: str, found: dict[str, Setting]) -> None:
    for name, s in found.items():
        print(
            f"seed {seed} ({method}), shift {name}: coverage {s.coverage:.3f}, "
            f"mean error {s.mean_error:+.4f} (sd {s.error_sd:.4f}), "
            f"realised accuracy {s.realised:.3f}, raw top score error {s.raw_error:+.4f}"
        )


def test_estimated_accuracy_covers_the_realised_one_with_and_without_shift() -> None:
    method, found = _simulate(seed=0)
    _show(0, method, found)
    calm, shifted = found.values()
    assert shifted.realised - calm.realised > 0.04  # the shift changes the accuracy
    for setting in found.values():
        assert setting.coverage >= 0.93
        assert abs(setting.mean_error) < 0.005
        assert setting.raw_error > 0.05  # the raw top scores alone would be far off


# --- the kind of estimate ----------------------------------------------------------------------


def _calibrated() -> tuple[ScoreCalibration, npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    rng = np.random.default_rng(1)
    calibration = ScoreCalibration.correctness(*_draw(rng, 5_000, (0.0, 0.0)))
    score, correct = _draw(rng, 3_000, (0.5, 0.0))
    return calibration, score, correct


def test_a_multiclass_estimate_has_accuracy_and_its_band_only() -> None:
    calibration, score, correct = _calibrated()
    assert calibration.outcome == "correct"
    assert calibration.threshold == 0.0
    sketch = ScoreSketch.of(score, calibration)
    assert sketch.outcome == "correct"
    assert sketch.expected_correct == pytest.approx(float(calibration(score).sum()), rel=1e-12)
    guess = estimate(sketch)
    assert guess.accuracy is not None
    assert guess.accuracy == pytest.approx(float(calibration(score).mean()), rel=1e-12)
    assert guess.accuracy_low is not None
    assert guess.accuracy_high is not None
    assert guess.accuracy_low < guess.accuracy < guess.accuracy_high
    blank = {"roc_auc", "roc_auc_low", "roc_auc_high", "confusion", "precision", "recall", "f1"}
    assert all(getattr(guess, name) is None for name in blank)

    truth = realised(ScoreSketch.of(score, calibration, correct))
    assert truth.accuracy == pytest.approx(float(correct.mean()), rel=1e-12)
    assert all(getattr(truth, name) is None for name in blank)


def test_multiclass_sketches_merge_exactly_and_not_with_binary_ones() -> None:
    calibration, score, correct = _calibrated()
    whole = ScoreSketch.of(score, calibration, correct)
    merged = ScoreSketch.of(score[:1_000], calibration, correct[:1_000]).merged(
        ScoreSketch.of(score[1_000:], calibration, correct[1_000:])
    )
    assert merged.outcome == "correct"
    assert merged.counts == whole.counts
    assert merged.correct == whole.correct
    assert realised(merged) == realised(whole)
    assert estimate(merged).accuracy == pytest.approx(estimate(whole).accuracy, abs=1e-12)
    binary = ScoreSketch.of(score, ScoreCalibration.identity(threshold=0.0))
    with pytest.raises(ValueError, match="outcomes"):
        whole.merged(binary)
    with pytest.raises(ValueError, match="threshold 0"):
        ScoreCalibration(x=[0.0, 1.0], y=[0.0, 1.0], threshold=0.5, outcome="correct")


# --- records -----------------------------------------------------------------------------------

# a calibration and a sketch as they were written before multiclass: no ``outcome``
OLD_CALIBRATION = '{"x": [0.0, 1.0], "y": [0.1, 0.9], "threshold": 0.5, "method": "platt"}'
OLD_SKETCH = """{"threshold": 0.5, "counts": [1, 1], "prob_sums": [0.2, 0.8],
 "expected_correct": 1.6, "positives": null, "correct": null, "correct_variance": 0.32,
 "predicted_positives": 1, "expected_true_positives": 0.8, "true_positives": null}"""
OLD_REFERENCE = f"""{{"run_id": "abc", "model_version": null,
 "features": {{"rows": 0, "features": {{}}}}, "outputs": {{"rows": 0, "features": {{}}}},
 "calibration": {OLD_CALIBRATION}, "metrics": {{"accuracy": 0.75}}, "evaluation_rows": 2}}"""
OLD_WINDOW = f"""{{"rows": 2, "first": null, "last": null, "features": null, "outputs": null,
 "scores": {OLD_SKETCH}, "routes": {{}}, "out_of_range": {{}}}}"""


def test_records_written_without_an_outcome_load_as_binary() -> None:
    reference = ReferenceRecord.model_validate_json(OLD_REFERENCE)
    assert reference.calibration is not None
    assert reference.calibration.outcome == "positive"
    window = WindowRecord.model_validate_json(OLD_WINDOW)
    assert window.scores is not None
    assert window.scores.outcome == "positive"
    old = estimate(window.scores)
    assert old.accuracy == pytest.approx(0.8)
    assert old.roc_auc is not None  # a binary estimate, as before
    assert old.confusion is not None


def test_multiclass_records_round_trip_with_their_outcome() -> None:
    calibration, score, correct = _calibrated()
    sketch = ScoreSketch.of(score, calibration, correct)
    for kind, value in ((ScoreCalibration, calibration), (ScoreSketch, sketch)):
        adapter = TypeAdapter(kind)
        text = adapter.dump_json(value)
        assert b'"outcome":"correct"' in text
        assert adapter.validate_json(text) == value


def _seeds(seeds: range) -> None:
    for seed in seeds:
        method, found = _simulate(seed)
        _show(seed, method, found)


if __name__ == "__main__":
    _seeds(range(1, 11))
