"""Training entrypoint of the Ames housing example.

goldenpath calls ``train(frame, params)`` with the training rows (features and the
``Sale_Price`` target) and the spec's ``training.params`` (plus ``seed``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

TARGET = "Sale_Price"


def train(frame: pd.DataFrame, params: dict[str, Any]) -> Pipeline:
    features = frame.drop(columns=[TARGET])
    categorical = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    encode = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
    )
    prepare = ColumnTransformer(
        [("categorical", encode, categorical)],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    n_categorical = len(categorical)
    booster = HistGradientBoostingRegressor(
        learning_rate=float(params.get("learning_rate", 0.1)),
        max_iter=int(params.get("max_iter", 100)),
        max_leaf_nodes=int(params.get("max_leaf_nodes", 31)),
        categorical_features=list(range(n_categorical)),
        random_state=int(params["seed"]),
    )
    model: Any = booster
    if params.get("log_target", True):
        model = TransformedTargetRegressor(regressor=booster, func=np.log, inverse_func=np.exp)
    pipeline = Pipeline([("prepare", prepare), ("model", model)])
    pipeline.fit(features, frame[TARGET])
    return pipeline
