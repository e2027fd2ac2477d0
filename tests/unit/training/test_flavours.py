"""How a fitted model is saved (flavour, file format, trusted types) and loaded back."""

from __future__ import annotations

import io
import sys
from importlib import metadata
from pathlib import Path

import lightgbm as lgb
import mlflow.lightgbm
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.base import BaseEstimator
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from goldenpath.errors import ModelNotLoadable
from goldenpath.training.flavours import (
    ModelFormat,
    library_requirements,
    load_native,
    model_format,
)


def _data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(120, 3)), columns=["a", "b", "c"])
    return X, (X["a"] + rng.normal(size=120) > 0).astype(int).to_numpy()


def _lgbm() -> lgb.LGBMClassifier:
    X, y = _data()
    return lgb.LGBMClassifier(n_estimators=5, n_jobs=1, verbose=-1).fit(X, y)


def test_a_lightgbm_estimator_is_its_own_flavour_with_skops() -> None:
    fmt = model_format(_lgbm(), "skops")
    assert (fmt.flavour, fmt.serialization, fmt.libraries) == ("lightgbm", "skops", ("lightgbm",))
    assert "lightgbm.basic.Booster" in fmt.trusted_types
    assert not fmt.executes_code_on_load


def test_an_xgboost_estimator_is_saved_in_xgboosts_own_format_whatever_is_asked() -> None:
    X, y = _data()
    model = xgb.XGBClassifier(n_estimators=5, n_jobs=1).fit(X, y)
    fmt = model_format(model, "cloudpickle")
    assert fmt == ModelFormat("xgboost", "xgboost_ubj", "cloudpickle", (), ("xgboost",))
    assert not fmt.executes_code_on_load


def test_a_pipeline_ending_in_xgboost_is_sklearn_with_skops_trusting_the_booster() -> None:
    X, y = _data()
    model = make_pipeline(StandardScaler(), xgb.XGBRegressor(n_estimators=5, n_jobs=1)).fit(X, y)
    fmt = model_format(model, "skops")
    assert (fmt.flavour, fmt.serialization, fmt.libraries) == ("sklearn", "skops", ("xgboost",))
    assert {"xgboost.core.Booster", "xgboost.sklearn.XGBRegressor"} <= set(fmt.trusted_types)


def test_cloudpickle_is_used_only_when_asked_and_said() -> None:
    X, y = _data()
    fmt = model_format(LinearRegression().fit(X, y), "cloudpickle")
    assert (fmt.flavour, fmt.serialization, fmt.trusted_types) == ("sklearn", "cloudpickle", ())
    assert fmt.to_dict()["executes_code_on_load"] is True


class _HoldsAStream(BaseEstimator):
    def fit(self, x: object, y: object) -> _HoldsAStream:
        self.stream_ = io.StringIO("state skops cannot write")
        return self


def test_a_model_skops_cannot_write_is_refused_with_cloudpickle_as_a_fix() -> None:
    with pytest.raises(ModelNotLoadable) as error:
        model_format(_HoldsAStream().fit(None, None), "skops")
    assert "cannot be saved with skops" in str(error.value)
    assert "`training.serialization: cloudpickle`" in (error.value.hint or "")


def test_library_requirements_pin_the_installed_distribution() -> None:
    pins = library_requirements(("lightgbm", "xgboost"))
    assert pins[0] == f"lightgbm=={metadata.version('lightgbm')}"
    name, version = pins[1].split("==")
    assert name in ("xgboost-cpu", "xgboost")
    assert version == metadata.version(name)


def test_load_native_gives_the_estimator_or_the_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _lgbm()
    folder = tmp_path / "model"
    mlflow.lightgbm.save_model(
        model, str(folder), serialization_format="skops", pip_requirements=["lightgbm"]
    )
    loaded = load_native(folder)
    X, _ = _data()
    assert type(loaded) is lgb.LGBMClassifier
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))

    for name in [m for m in sys.modules if m == "lightgbm" or m.startswith("lightgbm.")]:
        monkeypatch.setitem(sys.modules, name, None)  # as if it were not installed
    with pytest.raises(ModelNotLoadable) as error:
        load_native(folder)
    assert error.value.hint == "install it with: pip install 'goldenpath[lightgbm]'"
