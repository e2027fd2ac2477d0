"""Training entrypoint of the Palmer penguins example.

goldenpath calls ``train(frame, params)`` with the training rows (features and the ``species``
target) and the spec's ``training.params`` (plus ``seed``); it returns a fitted Pipeline whose
``predict_proba`` gives one column per species, in the order of ``classes_``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

TARGET = "species"


def train(frame: pd.DataFrame, params: dict[str, Any]) -> Pipeline:
    features = frame.drop(columns=[TARGET])
    categorical = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    # island and sex as codes (a missing sex stays missing); the booster handles missing
    # measurements and codes natively
    encode = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
    )
    prepare = ColumnTransformer(
        [("categorical", encode, categorical)],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    model = HistGradientBoostingClassifier(
        learning_rate=float(params.get("learning_rate", 0.1)),
        max_iter=int(params.get("max_iter", 100)),
        max_leaf_nodes=int(params.get("max_leaf_nodes", 15)),
        l2_regularization=float(params.get("l2_regularization", 0.0)),
        categorical_features=list(range(len(categorical))),
        random_state=int(params["seed"]),
    )
    pipeline = Pipeline([("prepare", prepare), ("model", model)])
    pipeline.fit(features, frame[TARGET])
    return pipeline
