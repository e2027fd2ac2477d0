"""Realised performance from feedback labels: the evaluation layer's metrics and intervals under
monitoring's names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_absolute_error, root_mean_squared_error

from conftest import small_spec
from goldenpath.monitoring.performance import point_values, realised
from goldenpath.spec.models import Spec


def _regression() -> tuple[Spec, pd.Series, pd.Series, pd.Series]:
    spec = small_spec()
    spec["task"] = {"type": "regression", "target": "spend"}
    rng = np.random.default_rng(0)
    labels = pd.Series(rng.gamma(2.0, 30.0, 400))
    predictions = labels + rng.standard_t(4, 400) * 5
    return Spec.model_validate(spec), labels, predictions, pd.Series(np.nan, index=labels.index)


def test_a_regressor_reports_mae_and_rmse_with_their_intervals() -> None:
    spec, labels, predictions, scores = _regression()
    found = realised(spec, labels, predictions, scores)
    assert set(found) == {"mean_absolute_error", "root_mean_squared_error"}
    expected = {
        "mean_absolute_error": mean_absolute_error(labels, predictions),
        "root_mean_squared_error": root_mean_squared_error(labels, predictions),
    }
    for name, estimate in found.items():
        assert estimate.value == pytest.approx(expected[name], rel=1e-12), name
        assert estimate.ci_low is not None, name
        assert estimate.ci_high is not None, name
        assert estimate.ci_low < estimate.value < estimate.ci_high, name
    assert found["root_mean_squared_error"].interval_method == "studentized"  # as evaluate's
    assert point_values(spec, labels, predictions, scores) == {
        name: estimate.value for name, estimate in found.items()
    }


def test_labels_that_are_not_numbers_leave_the_metrics_undefined() -> None:
    spec, labels, predictions, scores = _regression()
    labels = labels.astype(object)
    labels[3] = "n/a"
    found = realised(spec, labels, predictions, scores)
    for name, estimate in found.items():
        assert (estimate.value, estimate.ci_low, estimate.ci_high) == (None, None, None), name
        assert estimate.undefined == "labels or predictions are missing", name
    assert point_values(spec, labels, predictions, scores) == {}
