"""Direct loss estimation (DLE): a regressor's MAE and RMSE on windows without labels.

The simulation: a linear model of a target whose noise grows with one feature (and one
category) and that the model gets partly wrong (a sine it cannot follow); windows of 1,000 rows
whose mix of inputs moves towards the noisy region by a random amount (covariate shift, the
target's distribution given the inputs unchanged). ``pytest -s -k tracks`` prints the figures
docs/monitoring.md quotes; ``python tests/unit/monitoring/test_loss_estimation.py`` repeats the
simulation with ten other seeds (a minute or two) and prints how the bias and the bands' coverage
vary with the reference's draw.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # run as a script: tests/ (for _benchmarks) is not on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import base64
import logging
import math
import zipfile
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.preprocessing import FunctionTransformer

from _benchmarks import benchmark
from goldenpath.monitoring import loss_estimation
from goldenpath.monitoring.loss_estimation import (
    MIN_ROWS,
    EstimatedLoss,
    LossEstimator,
    LossSketch,
    estimate_loss,
    loss_increases,
)
from goldenpath.monitoring.reference import ReferenceRecord
from goldenpath.monitoring.windows import WindowRecord
from goldenpath.spec.monitoring import METRICS, MonitoringSpec

REFERENCE_ROWS = 5_000
WINDOW_ROWS = 1_000
WINDOWS = 200


# the simulation benchmarks/differential.py also runs NannyML's DLE on
differential = benchmark("differential")
_draw = differential.dle_draw


class _Setup:
    """The model (fitted on its own training rows) and the estimator (on held-out rows)."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.model, held, y_held = differential.dle_reference(rng, REFERENCE_ROWS)
        estimator = LossEstimator.fit(held, self.predict(held), y_held, seed=0)
        assert estimator is not None
        self.estimator = estimator

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict(differential.dle_inputs(frame)), dtype=np.float64)


@pytest.fixture(scope="module")
def setup() -> _Setup:
    return _Setup()


@dataclass
class _Outcome:
    """Per window: realised and estimated MAE and RMSE, whether each band held the realised
    value, and whether the default alert fired."""

    shifted: np.ndarray
    mae: np.ndarray
    rmse: np.ndarray
    estimated_mae: np.ndarray
    estimated_rmse: np.ndarray
    mae_covered: np.ndarray
    rmse_covered: np.ndarray
    alerted: np.ndarray


def _simulate(setup: _Setup, seed: int) -> _Outcome:
    """``WINDOWS`` windows: every other one without a shift, the rest with a shift of random
    strength (uniform in [0, 1])."""
    estimator, rng = setup.estimator, np.random.default_rng(seed)
    shifted = np.arange(WINDOWS) % 2 == 1
    found = []
    for k in range(WINDOWS):
        strength = float(rng.uniform(0.0, 1.0)) if shifted[k] else 0.0
        frame, y = _draw(rng, WINDOW_ROWS, shift=strength)
        predicted = setup.predict(frame)
        sketch = LossSketch.of(estimator, frame, predicted)
        assert sketch is not None
        loss = estimate_loss(sketch, estimator.rows)
        error = y - predicted
        mae, rmse = float(np.abs(error).mean()), math.sqrt(float((error**2).mean()))
        increase = loss_increases(loss, estimator)["mean_absolute_error"]
        assert loss.mean_absolute_error_low is not None
        assert loss.mean_absolute_error_high is not None
        assert loss.root_mean_squared_error_low is not None
        assert loss.root_mean_squared_error_high is not None
        found.append(
            (
                mae,
                rmse,
                loss.mean_absolute_error,
                loss.root_mean_squared_error,
                loss.mean_absolute_error_low <= mae <= loss.mean_absolute_error_high,
                loss.root_mean_squared_error_low <= rmse <= loss.root_mean_squared_error_high,
                increase > MonitoringSpec().max_loss_increase,
            )
        )
    columns = [np.asarray(c) for c in zip(*found, strict=True)]
    return _Outcome(shifted, *columns)


def _summary(estimated: np.ndarray, realised: np.ndarray, covered: np.ndarray) -> str:
    bias, error = np.mean(estimated - realised), np.mean(np.abs(estimated - realised))
    correlation = np.corrcoef(estimated, realised)[0, 1]
    return (
        f"bias {bias:+.4f}, mean |error| {error:.4f}, correlation {correlation:.3f}, "
        f"band coverage {covered.mean():.3f}"
    )


def test_estimated_loss_tracks_realised_under_covariate_shift(setup: _Setup) -> None:
    estimator = setup.estimator
    found = _simulate(setup, seed=1)
    mae, rmse, shifted, alerted = found.mae, found.rmse, found.shifted, found.alerted
    # the default alert (estimated MAE more than 10% above the reference's held-out MAE):
    # in windows without a shift, and against the truth (the realised MAE more than 10% above
    # it) in shifted ones
    truly = mae / estimator.mean_absolute_error - 1.0 > MonitoringSpec().max_loss_increase
    print(
        f"\nreference: {estimator.rows} held-out rows, MAE {estimator.mean_absolute_error:.4f},"
        f" RMSE {estimator.root_mean_squared_error:.4f}; shape constants r "
        f"{estimator.absolute_shape:.3f}, k {estimator.squared_shape:.3f}\n"
        f"{WINDOWS} windows of {WINDOW_ROWS} rows: realised MAE {mae.min():.3f}-{mae.max():.3f}, "
        f"RMSE {rmse.min():.3f}-{rmse.max():.3f}\n"
        f"MAE: {_summary(found.estimated_mae, mae, found.mae_covered)}\n"
        f"RMSE: {_summary(found.estimated_rmse, rmse, found.rmse_covered)}\n"
        f"without a shift: realised MAE {mae[~shifted].mean():.4f} on average, estimated "
        f"{found.estimated_mae[~shifted].mean():.4f}; the alert fired in "
        f"{int(alerted[~shifted].sum())} of {int((~shifted).sum())}\n"
        f"shifted: the alert fired in {int((alerted & truly & shifted).sum())} of "
        f"{int((truly & shifted).sum())} windows whose realised MAE was >10% above the "
        f"reference's, and in {int((alerted & ~truly & shifted).sum())} of "
        f"{int((~truly & shifted).sum())} others"
    )
    assert abs(np.mean(found.estimated_mae - mae)) < 0.03 * mae.mean()
    assert abs(np.mean(found.estimated_rmse - rmse)) < 0.04 * rmse.mean()
    assert np.corrcoef(found.estimated_mae, mae)[0, 1] > 0.9
    assert np.corrcoef(found.estimated_rmse, rmse)[0, 1] > 0.9
    assert 0.85 <= found.mae_covered.mean() <= 0.99
    assert 0.85 <= found.rmse_covered.mean() <= 0.99
    assert alerted[~shifted].sum() <= 0.05 * (~shifted).sum()
    assert (alerted & truly & shifted).sum() >= 0.8 * (truly & shifted).sum()


def test_sketches_merge_into_the_sketch_of_the_union(setup: _Setup) -> None:
    frame, _ = _draw(np.random.default_rng(2), 600, shift=0.5)
    predicted = setup.predict(frame)
    whole = LossSketch.of(setup.estimator, frame, predicted)
    first = LossSketch.of(setup.estimator, frame.iloc[:250], predicted[:250])
    second = LossSketch.of(setup.estimator, frame.iloc[250:], predicted[250:])
    assert whole is not None
    assert first is not None
    assert second is not None
    merged = first.merged(second)
    assert merged.rows == whole.rows == 600
    for name in ("absolute_sum", "squared_sum", "absolute_variance", "squared_variance"):
        assert getattr(merged, name) == pytest.approx(getattr(whole, name), rel=1e-12)
    assert _close(estimate_loss(merged, 5000), estimate_loss(whole, 5000))


def _close(a: EstimatedLoss, b: EstimatedLoss) -> bool:
    return all(
        getattr(a, f) == pytest.approx(getattr(b, f), rel=1e-9) for f in EstimatedLoss.model_fields
    )


def test_the_estimator_round_trips_through_reference_json(setup: _Setup) -> None:
    record = ReferenceRecord(
        run_id="run",
        model_version="1",
        features={"rows": 0, "features": {}},
        outputs={"rows": 0, "features": {}},
        calibration=None,
        metrics={"mean_absolute_error": setup.estimator.mean_absolute_error},
        evaluation_rows=REFERENCE_ROWS,
        loss=setup.estimator,
    )
    back = ReferenceRecord.model_validate_json(record.model_dump_json())
    assert back == record
    assert back.loss is not None
    frame, _ = _draw(np.random.default_rng(3), 300)
    predicted = setup.predict(frame)
    np.testing.assert_array_equal(
        back.loss.expected(frame, predicted)[0], setup.estimator.expected(frame, predicted)[0]
    )
    # a reference written before DLE has none, and loads
    text = record.model_dump_json(exclude={"loss"})
    assert ReferenceRecord.model_validate_json(text).loss is None
    # and a window state written before it
    window = WindowRecord(
        rows=1,
        first=None,
        last=None,
        features=None,
        outputs=None,
        scores=None,
        routes={},
        out_of_range={},
    )
    assert WindowRecord.model_validate_json(window.model_dump_json(exclude={"loss"})).loss is None


def test_an_archive_with_other_types_is_refused(
    setup: _Setup, caplog: pytest.LogCaptureFixture
) -> None:
    archive = skops.io.dumps([FunctionTransformer(func=print)], compression=zipfile.ZIP_DEFLATED)
    forged = setup.estimator.model_copy(update={"model": base64.b64encode(archive).decode("ascii")})
    frame, _ = _draw(np.random.default_rng(4), 50)
    with caplog.at_level(logging.WARNING):
        assert not forged.available
        assert LossSketch.of(forged, frame, setup.predict(frame)) is None
    assert "does not trust" in caplog.text
    assert "builtins.print" in caplog.text


def test_all_null_features_a_single_row_and_missing_predictions(setup: _Setup) -> None:
    estimator = setup.estimator
    blank = pd.DataFrame({"x1": [None] * 20, "x2": [None] * 20, "kind": [None] * 20})
    sketch = LossSketch.of(estimator, blank, np.zeros(20))
    assert sketch is not None
    assert sketch.rows == 20
    found = estimate_loss(sketch, estimator.rows)
    assert found.mean_absolute_error is not None
    assert math.isfinite(found.mean_absolute_error)
    # a feature the rows lack altogether counts as missing in each of them
    absent = LossSketch.of(estimator, blank.drop(columns=["kind"]), np.zeros(20))
    assert absent is not None
    assert absent.rows == 20

    frame, _ = _draw(np.random.default_rng(5), 1)
    one = LossSketch.of(estimator, frame, setup.predict(frame))
    assert one is not None
    assert one.rows == 1
    single = estimate_loss(one, estimator.rows)
    assert single.mean_absolute_error_low is not None
    assert single.mean_absolute_error_high
    assert single.mean_absolute_error_low <= single.mean_absolute_error
    assert single.mean_absolute_error <= single.mean_absolute_error_high
    assert single.root_mean_squared_error_low is not None
    assert single.root_mean_squared_error_high is not None
    assert single.root_mean_squared_error is not None
    assert single.root_mean_squared_error_low <= single.root_mean_squared_error
    assert single.root_mean_squared_error <= single.root_mean_squared_error_high

    frame, _ = _draw(np.random.default_rng(6), 40)
    predicted = pd.Series(setup.predict(frame), dtype=object)
    predicted[::4] = None  # rows the model did not answer: no error to estimate
    partial = LossSketch.of(estimator, frame, predicted)
    assert partial is not None
    assert partial.rows == 30
    none = LossSketch.of(estimator, frame, [None] * 40)
    assert none is not None
    assert none.rows == 0
    assert estimate_loss(none) == EstimatedLoss(rows=0, mean_absolute_error=None)


def test_too_few_held_out_rows_fit_nothing() -> None:
    frame, y = _draw(np.random.default_rng(7), MIN_ROWS + 20)
    y[:30] = np.nan  # rows without a label do not count
    assert LossEstimator.fit(frame, np.zeros(len(y)), y) is None


def test_many_held_out_rows_are_sampled_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loss_estimation, "MAX_ROWS", 300)
    frame, y = _draw(np.random.default_rng(8), 1000)
    first = LossEstimator.fit(frame, np.zeros(len(y)), y, seed=3)
    assert first is not None
    assert first.rows == 300
    again = LossEstimator.fit(frame, np.zeros(len(y)), y, seed=3)  # seeded: the same fit
    assert again is not None
    assert again.model_dump(exclude={"model"}) == first.model_dump(exclude={"model"})
    np.testing.assert_array_equal(
        again.expected(frame, np.zeros(len(y)))[1], first.expected(frame, np.zeros(len(y)))[1]
    )


def test_the_default_rules_watch_the_estimated_loss() -> None:
    rules = {r.name: r for r in MonitoringSpec(max_loss_increase=0.2).alert_rules()}
    assert rules["estimated-mae"].metric == "estimated.mean_absolute_error_increase"
    assert rules["estimated-rmse"].metric == "estimated.root_mean_squared_error_increase"
    assert rules["estimated-mae"].above == rules["estimated-rmse"].above == 0.2
    assert {r.metric for r in rules.values()} <= set(METRICS)


def _seeds(seeds: range) -> None:
    """The simulation again with other seeds (reference rows and windows): per seed and on
    average, the estimates' bias and the bands' coverage."""
    found = []
    for seed in seeds:
        outcome = _simulate(_Setup(seed), seed + 1000)
        row = (
            float(np.mean(outcome.estimated_mae - outcome.mae)),
            float(outcome.mae_covered.mean()),
            float(np.mean(outcome.estimated_rmse - outcome.rmse)),
            float(outcome.rmse_covered.mean()),
        )
        found.append(row)
        print(
            f"seed {seed}: MAE bias {row[0]:+.4f} coverage {row[1]:.3f} | RMSE bias "
            f"{row[2]:+.4f} coverage {row[3]:.3f}",
            flush=True,
        )
    table = np.asarray(found)
    mean, sd, low = table.mean(axis=0), table.std(axis=0, ddof=1), table.min(axis=0)
    print(
        f"{len(seeds)} seeds: MAE bias {mean[0]:+.4f} (sd {sd[0]:.4f}), coverage {mean[1]:.3f} "
        f"(lowest {low[1]:.3f}) | RMSE bias {mean[2]:+.4f} (sd {sd[2]:.4f}), coverage "
        f"{mean[3]:.3f} (lowest {low[3]:.3f})"
    )


if __name__ == "__main__":
    _seeds(range(10, 20))
