"""CBPE's calibration is chosen, not always isotonic: Platt scaling unless the isotonic map is
clearly better out of fold. Calibrated scores stay (nearly) as they are; a miscalibration with a
shape two parameters cannot follow gets the isotonic map; old references keep their method."""

from __future__ import annotations

import numpy as np

from goldenpath.monitoring.estimation import ScoreCalibration


def test_calibrated_scores_get_platt_close_to_the_identity() -> None:
    rng = np.random.default_rng(1)
    s = rng.beta(2.0, 5.0, 4_000)
    y = (rng.random(s.shape[0]) < s).astype(int)
    chosen = ScoreCalibration.choose(s, y)
    assert chosen.method == "platt"
    grid = np.linspace(0.05, 0.95, 19)
    assert np.max(np.abs(chosen(grid) - grid)) < 0.06


def test_over_confident_scores_are_pulled_in() -> None:
    rng = np.random.default_rng(2)
    truth = rng.beta(2.0, 2.0, 4_000)
    y = (rng.random(truth.shape[0]) < truth).astype(int)
    odds = np.log(truth / (1 - truth))
    s = 1 / (1 + np.exp(-3 * odds))  # three times the true log-odds: far too sure
    chosen = ScoreCalibration.choose(s, y)
    assert chosen.method == "platt"
    assert abs(chosen(np.array([0.95]))[0] - 0.73) < 0.06  # the truth at s = 0.95 is about 0.73


def test_a_shape_platt_cannot_follow_gets_the_isotonic_map() -> None:
    rng = np.random.default_rng(3)
    s = rng.random(5_000)
    truth = np.where(s < 0.5, 0.1, 0.9)  # a step: no logistic curve of the score follows it
    y = (rng.random(s.shape[0]) < truth).astype(int)
    chosen = ScoreCalibration.choose(s, y)
    assert chosen.method == "isotonic"
    assert abs(chosen(np.array([0.3]))[0] - 0.1) < 0.03
    assert abs(chosen(np.array([0.7]))[0] - 0.9) < 0.03


def test_methods_are_recorded_and_default_to_isotonic_for_old_references() -> None:
    assert ScoreCalibration.identity().method == "identity"
    assert ScoreCalibration(x=[0.0, 1.0], y=[0.2, 0.8]).method == "isotonic"
    assert ScoreCalibration.fit(np.array([0.2, 0.8]), np.array([0, 1])).method == "isotonic"


def test_one_wrong_row_among_many_gets_platt_instead_of_failing() -> None:
    """A multiclass model right on all held-out rows but one (the penguins example): every
    fold but one leaves the wrong row out of its training part, so no map can be fitted out of
    fold; Platt scaling on all rows is chosen, and still follows the one error."""
    rng = np.random.default_rng(4)
    s = rng.uniform(0.6, 1.0, 86)
    correct = np.ones(86, dtype=int)
    correct[np.argmin(s)] = 0  # the least confident prediction is the wrong one
    chosen = ScoreCalibration.correctness(s, correct)
    assert (chosen.method, chosen.outcome) == ("platt", "correct")
    low, high = chosen(np.array([s.min(), s.max()]))
    assert 0.0 <= low < high <= 1.0
