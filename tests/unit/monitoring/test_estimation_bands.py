"""CBPE's sampling-error bands: with calibrated probabilities, the realised accuracy and ROC AUC
of a window fall inside the estimate's 95% band 93-97% of the time (seeded simulation, 1,000
windows per setting: the binomial standard error of a coverage near 0.95 is 0.007)."""

from __future__ import annotations

import numpy as np
import pytest

from goldenpath.monitoring.estimation import ScoreCalibration, ScoreSketch, estimate, realised

SETTINGS = [  # rows per window, and the Beta distribution of the true probabilities
    (200, 2.0, 5.0),
    (1_000, 2.0, 5.0),
    (1_000, 0.5, 0.5),
    (5_000, 1.0, 3.0),
]


def _coverage(rows: int, a: float, b: float, windows: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    calibration = ScoreCalibration.identity()
    accuracy = auc = 0
    for _ in range(windows):
        p = rng.beta(a, b, rows)
        y = (rng.random(rows) < p).astype(np.int64)
        sketch = ScoreSketch.of(p, calibration, y)
        band, truth = estimate(sketch), realised(sketch)
        assert band.accuracy_low is not None
        assert band.accuracy_high is not None
        assert band.roc_auc_low is not None
        assert band.roc_auc_high is not None
        assert truth.accuracy is not None
        assert truth.roc_auc is not None
        accuracy += band.accuracy_low <= truth.accuracy <= band.accuracy_high
        auc += band.roc_auc_low <= truth.roc_auc <= band.roc_auc_high
    return accuracy / windows, auc / windows


@pytest.mark.parametrize(("rows", "a", "b"), SETTINGS)
def test_bands_cover_the_realised_values(rows: int, a: float, b: float) -> None:
    accuracy, auc = _coverage(rows, a, b, windows=1_000, seed=rows + int(10 * a))
    print(f"{rows} rows, p ~ Beta({a}, {b}): accuracy {accuracy:.3f}, ROC AUC {auc:.3f}")
    assert 0.93 <= accuracy <= 0.97
    assert 0.93 <= auc <= 0.97


def test_the_band_is_mergeable_and_absent_from_old_sketches() -> None:
    rng = np.random.default_rng(3)
    p = rng.beta(2.0, 5.0, 4_000)
    calibration = ScoreCalibration.identity()
    whole = ScoreSketch.of(p, calibration)
    halves = ScoreSketch.of(p[:1_500], calibration).merged(ScoreSketch.of(p[1_500:], calibration))
    assert whole.correct_variance == pytest.approx(float(np.sum(p * (1 - p))), rel=1e-12)
    assert halves.correct_variance == pytest.approx(whole.correct_variance, rel=1e-12)
    old = ScoreSketch(
        threshold=0.5,
        counts=whole.counts,
        prob_sums=whole.prob_sums,
        expected_correct=whole.expected_correct,
    )
    assert estimate(old).accuracy_low is None  # written before the band was kept
    assert estimate(old.merged(whole)).accuracy_high is None
    assert estimate(whole).accuracy_low is not None


def test_the_confusion_matrix_is_the_expectation_and_the_realised_one_is_sklearns() -> None:
    from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score

    rng = np.random.default_rng(11)
    calibration = ScoreCalibration.identity(threshold=0.4)
    p = rng.beta(2.0, 3.0, 2_000)
    expected = estimate(ScoreSketch.of(p, calibration)).confusion
    assert expected is not None
    draws = []
    for _ in range(400):
        y = (rng.random(p.shape[0]) < p).astype(np.int64)
        seen = realised(ScoreSketch.of(p, calibration, y))
        assert seen.confusion is not None
        draws.append(
            [
                seen.confusion.true_positives,
                seen.confusion.false_positives,
                seen.confusion.false_negatives,
                seen.confusion.true_negatives,
            ]
        )
    mean = np.asarray(draws).mean(axis=0)
    truth = [
        expected.true_positives,
        expected.false_positives,
        expected.false_negatives,
        expected.true_negatives,
    ]
    assert np.allclose(mean, truth, atol=3.0)  # the sd of each mean is under 1 (400 draws)

    predicted = (p >= 0.4).astype(np.int64)
    y = (rng.random(p.shape[0]) < p).astype(np.int64)
    seen = realised(ScoreSketch.of(p, calibration, y))
    assert seen.confusion is not None
    tn, fp, fn, tp = confusion_matrix(y, predicted).ravel()
    assert (seen.confusion.true_positives, seen.confusion.false_positives) == (tp, fp)
    assert (seen.confusion.false_negatives, seen.confusion.true_negatives) == (fn, tn)
    assert seen.precision == pytest.approx(precision_score(y, predicted), abs=1e-12)
    assert seen.recall == pytest.approx(recall_score(y, predicted), abs=1e-12)
    assert seen.f1 == pytest.approx(f1_score(y, predicted), abs=1e-12)
