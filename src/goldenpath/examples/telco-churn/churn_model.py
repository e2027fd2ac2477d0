"""Training entrypoint of the telco churn example.

goldenpath calls ``train(frame, params)`` with the training rows (features and the ``churn``
target) and the spec's ``training.params`` (plus ``seed``); it returns a fitted Pipeline.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

TARGET = "churn"


def train(frame: pd.DataFrame, params: dict[str, Any]) -> Pipeline:
    features = frame.drop(columns=[TARGET])
    categorical = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    numeric = [c for c in features.columns if c not in categorical]
    encode = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    kind = params.get("model", "hist_gradient_boosting")
    if kind == "hist_gradient_boosting":
        prepare = ColumnTransformer([("categorical", encode, categorical)], remainder="passthrough")
        model: Any = HistGradientBoostingClassifier(
            learning_rate=float(params.get("learning_rate", 0.1)),
            max_iter=int(params.get("max_iter", 100)),
            max_leaf_nodes=int(params.get("max_leaf_nodes", 31)),
            l2_regularization=float(params.get("l2_regularization", 0.0)),
            random_state=int(params["seed"]),
        )
    elif kind == "logistic_regression":
        scale = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
        prepare = ColumnTransformer(
            [("categorical", encode, categorical), ("numeric", scale, numeric)]
        )
        model = LogisticRegression(C=float(params.get("C", 1.0)), max_iter=2000)
    else:
        raise ValueError(
            f"unknown model {kind!r}: use hist_gradient_boosting or logistic_regression"
        )
    pipeline = Pipeline([("prepare", prepare), ("model", model)])
    pipeline.fit(features, frame[TARGET])
    return pipeline
