"""Prediction frames and their comparison, checked on hand-made numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from goldenpath.errors import NotAModel
from goldenpath.training.predictions import compare_predictions, predict_frame


def test_classifier_frame_has_one_score_per_class() -> None:
    X = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]})
    model = LogisticRegression().fit(X, ["a", "a", "a", "b", "b", "b"])
    frame = predict_frame(model, X, "binary_classification")
    assert list(frame.columns) == ["prediction", "score_a", "score_b"]
    np.testing.assert_allclose(frame["score_a"] + frame["score_b"], 1.0)
    np.testing.assert_allclose(frame["score_b"], model.predict_proba(X)[:, 1])


def test_regressor_frame_has_only_predictions() -> None:
    X = pd.DataFrame({"x": [0.0, 1.0, 2.0]})
    frame = predict_frame(LinearRegression().fit(X, [1.0, 3.0, 5.0]), X, "regression")
    assert list(frame.columns) == ["prediction"]
    np.testing.assert_allclose(frame["prediction"], [1.0, 3.0, 5.0])


def test_model_that_cannot_predict_the_features_is_not_a_model() -> None:
    model = LinearRegression().fit(pd.DataFrame({"x": [0.0, 1.0]}), [0.0, 1.0])
    with pytest.raises(NotAModel, match="failed to predict"):
        predict_frame(model, pd.DataFrame({"y": [1.0]}), "regression")


def test_compare_classification() -> None:
    before = pd.DataFrame({"prediction": ["a", "b", "b", "a"], "score_b": [0.1, 0.9, 0.6, 0.4]})
    after = pd.DataFrame({"prediction": ["a", "b", "a", "a"], "score_b": [0.1, 0.8, 0.45, 0.4]})
    diff = compare_predictions(before, after, "binary_classification")
    assert diff.rows == 4
    assert diff.max_abs_score_diff == pytest.approx(0.15)
    assert diff.changed_label_share == 0.25


def test_compare_regression_treats_matching_nans_as_equal() -> None:
    before = pd.DataFrame({"prediction": [1.0, np.nan, 3.0]})
    after = pd.DataFrame({"prediction": [1.5, np.nan, 3.0]})
    diff = compare_predictions(before, after, "regression")
    assert diff.max_abs_score_diff == 0.5
    assert diff.changed_label_share is None
    one_nan = pd.DataFrame({"prediction": [1.0, 2.0, 3.0]})
    assert compare_predictions(before, one_nan, "regression").max_abs_score_diff == np.inf


def test_compare_refuses_different_lengths() -> None:
    with pytest.raises(ValueError, match="cannot compare"):
        compare_predictions(
            pd.DataFrame({"prediction": [1]}), pd.DataFrame({"prediction": []}), "regression"
        )
