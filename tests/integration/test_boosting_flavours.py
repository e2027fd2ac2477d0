"""LightGBM and XGBoost models go through the whole path: trained by the project's entrypoint,
logged with their own MLflow flavour (a scikit-learn pipeline that ends in one with the
scikit-learn flavour and skops), loaded back in a fresh process before registering, evaluated,
gated, promoted, served bit for bit as evaluated, and reproduced bit for bit."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import orjson
import pandas as pd
import pytest
from _live import live_server
from mlflow.models import Model
from mlflow.tracking import MlflowClient
from test_parity import check_parity

import goldenpath
from conftest import MakeProject, small_frame, small_spec
from goldenpath.data.dataset import load_dataset
from goldenpath.evaluation.evaluate import _scored, load_model, resolve_model
from goldenpath.store import open_store
from goldenpath.store.records import decisions_of
from goldenpath.training.recorded import run_rows
from goldenpath.training.tracking import open_tracking

pytestmark = pytest.mark.slow

# Fixed seeds, one thread, and LightGBM's deterministic mode: the same model on every run.
BOOSTING = """
import lightgbm as lgb
import xgboost as xgb
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder


def lgbm(frame, params):
    model = lgb.LGBMClassifier(
        n_estimators=30, num_leaves=7, min_child_samples=5, random_state=params["seed"],
        n_jobs=1, deterministic=True, force_row_wise=True, verbose=-1,
    )
    return model.fit(frame.drop(columns=["label"]), frame["label"])


def xgb_regressor(frame, params):
    model = xgb.XGBRegressor(
        n_estimators=30, max_depth=3, learning_rate=0.2, random_state=params["seed"],
        n_jobs=1, tree_method="hist",
    )
    return model.fit(frame.drop(columns=["spend"]), frame["spend"])


def xgb_classifier(frame, params):
    model = xgb.XGBClassifier(
        n_estimators=30, max_depth=3, random_state=params["seed"], n_jobs=1, tree_method="hist",
    )
    return model.fit(frame.drop(columns=["label"]), frame["label"])


def lgbm_pipeline(frame, params):
    prepare = ColumnTransformer(
        [("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"])],
        remainder="passthrough",
    )
    booster = lgb.LGBMClassifier(
        n_estimators=30, num_leaves=7, random_state=params["seed"], n_jobs=1,
        deterministic=True, force_row_wise=True, verbose=-1,
    )
    model = Pipeline([("prepare", prepare), ("model", booster)])
    return model.fit(frame.drop(columns=["label"]), frame["label"])
"""

NUMERIC_COLUMNS = {
    "customer_id": {"dtype": "int", "min": 1},
    "age": {"dtype": "int", "min": 0, "max": 120},
    "spend": {"dtype": "float", "min": 0},
    "balance": {"dtype": "float", "nullable": True},
}


def _project(
    make_project: MakeProject,
    entrypoint: str,
    spec: dict[str, Any],
    frame: pd.DataFrame | None = None,
) -> Path:
    spec["training"] = {"entrypoint": f"boosting:{entrypoint}", "seed": 5}
    spec["evaluation"] = {"resamples": 0}
    spec["gates"] = {}
    frame = small_frame(n=300) if frame is None else frame
    root = make_project(frame=frame[list(spec["data"]["contract"]["columns"])], spec=spec)
    (root / "boosting.py").write_text(textwrap.dedent(BOOSTING))
    return root


def _client_rows(root: Path) -> dict[int, dict[str, Any]]:
    """Each row of the project's CSV as a client sends it (JSON, missing values as null)."""
    frame = pd.read_csv(root / "data.csv")
    records = orjson.loads(
        orjson.dumps(frame.astype(object).where(frame.notna(), None).to_dict("records"))
    )
    return {r["customer_id"]: r for r in records}


def _logged(root: Path) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """Version 1's model folder in the project's artefact store, its MLflow flavours (from its
    MLmodel) and its run's lineage."""
    uri = f"sqlite:///{root / '.goldenpath' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    found = client.get_model_version("small", "1")
    location = client.get_logged_model(found.source.removeprefix("models:/")).artifact_location
    folder = Path(unquote(urlparse(location).path))
    lineage = json.loads(Path(client.download_artifacts(found.run_id, "lineage.json")).read_text())
    return folder, Model.load(str(folder)).flavors, lineage


def _reproduced_exactly(project: goldenpath.Project, run_id: str) -> None:
    result = goldenpath.reproduce(project, run_id)
    assert result.reproduced
    assert result.max_abs_score_diff == 0.0


def test_a_lightgbm_classifier_goes_the_whole_path(make_project: MakeProject) -> None:
    spec = small_spec(**{"data.slices": []})
    spec["data"]["contract"]["columns"] = {
        **NUMERIC_COLUMNS,
        "label": {"dtype": "str", "allowed": ["no", "yes"]},
    }
    root = _project(make_project, "lgbm", spec)
    project = goldenpath.open_project(root)

    rows, widest = check_parity(project, _client_rows(root), seed=4)  # train, gate, promote, serve
    assert (rows, widest) == (75, 0.0)

    _, flavours, lineage = _logged(root)
    assert flavours["lightgbm"]["serialization_format"] == "skops"
    assert flavours["lightgbm"]["model_class"] == "lightgbm.sklearn.LGBMClassifier"
    assert lineage["model"]["flavour"] == "lightgbm"
    assert lineage["model"]["executes_code_on_load"] is False
    assert lineage["model"]["libraries"] == ["lightgbm"]
    model, _ = load_model(project, resolve_model(project, "small/1"))
    assert type(model).__name__ == "LGBMClassifier"
    assert list(model.classes_) == ["no", "yes"]

    # The real server, over HTTP: it checked the files against the digest gate judged.
    from test_serving_artifact import call

    ref = resolve_model(project, "small/1")
    frame = run_rows(
        open_tracking(project, create=False),
        ref.run_id,
        load_dataset(project.spec, root),
        "test",
        hint="",
    )
    scored = _scored(model, frame[project.spec.feature_columns], frame["label"], project.spec)
    row = _client_rows(root)[int(frame["customer_id"].iloc[0])]
    with live_server(project) as (base, server):
        status, body = call(base, "/predict", row)
        champion = server.deployment.champion
        assert champion is not None
    assert (status, body["model_version"]) == (200, "1")
    assert body["scores"] == [float(scored.proba[0, 1])]
    assert champion.unverified is None
    with open_store(project).reading() as connection:
        assert champion.artifact_sha256 == decisions_of(connection, "small", "1")[0].artifact_sha256

    _reproduced_exactly(project, ref.run_id)
    card = goldenpath.write_model_card(project, "small/1").markdown_path.read_text()
    assert "MLflow lightgbm flavour, saved as skops (loading runs no code)" in card
    assert "Warning" not in card


def test_an_xgboost_regressor_goes_the_whole_path(make_project: MakeProject) -> None:
    spec = small_spec(**{"data.slices": []})
    spec["task"] = {"type": "regression", "target": "spend"}
    spec["data"]["contract"]["columns"] = dict(NUMERIC_COLUMNS)
    root = _project(make_project, "xgb_regressor", spec)
    project = goldenpath.open_project(root)

    rows, widest = check_parity(project, _client_rows(root), seed=9)
    assert (rows, widest) == (75, 0.0)

    folder, flavours, lineage = _logged(root)
    assert flavours["xgboost"]["model_format"] == "ubj"
    assert flavours["xgboost"]["model_class"] == "xgboost.sklearn.XGBRegressor"
    assert lineage["model"]["serialization"] == "xgboost_ubj"
    assert lineage["model"]["executes_code_on_load"] is False
    requirements = (folder / "requirements.txt").read_text()  # pinned: the wheel installed here
    assert "xgboost-cpu==" in requirements or "xgboost==" in requirements
    model, _ = load_model(project, resolve_model(project, "small/1"))
    assert type(model).__name__ == "XGBRegressor"

    _reproduced_exactly(project, resolve_model(project, "small/1").run_id)


def test_an_xgboost_classifier_scores_its_integer_labels(make_project: MakeProject) -> None:
    """XGBoost's classifiers take the labels 0..k-1 only: the positive label is 1."""
    spec = small_spec(**{"data.slices": [], "task.positive_label": 1})
    spec["data"]["contract"]["columns"] = {
        **NUMERIC_COLUMNS,
        "label": {"dtype": "int", "min": 0, "max": 1},
    }
    frame = small_frame(n=300).assign(label=lambda f: (f["label"] == "yes").astype(int))
    root = _project(make_project, "xgb_classifier", spec, frame)
    project = goldenpath.open_project(root)

    rows, widest = check_parity(project, _client_rows(root), seed=6)
    assert (rows, widest) == (75, 0.0)

    _, flavours, lineage = _logged(root)
    assert flavours["xgboost"]["model_class"] == "xgboost.sklearn.XGBClassifier"
    assert lineage["model"]["flavour"] == "xgboost"
    model, _ = load_model(project, resolve_model(project, "small/1"))
    assert list(model.classes_) == [0, 1]

    _reproduced_exactly(project, resolve_model(project, "small/1").run_id)


def test_a_pipeline_ending_in_lightgbm_is_logged_with_skops(make_project: MakeProject) -> None:
    spec = small_spec(**{"training.entrypoint": "boosting:lgbm_pipeline"})
    root = _project(make_project, "lgbm_pipeline", spec)
    project = goldenpath.open_project(root)

    rows, widest = check_parity(project, _client_rows(root), seed=2)
    assert (rows, widest) == (75, 0.0)

    folder, flavours, lineage = _logged(root)
    assert set(flavours) == {"python_function", "sklearn"}
    assert flavours["sklearn"]["serialization_format"] == "skops"
    assert "lightgbm.basic.Booster" in flavours["sklearn"]["skops_trusted_types"]
    assert lineage["model"] == {
        "flavour": "sklearn",
        "serialization": "skops",
        "requested": "skops",
        "trusted_types": lineage["model"]["trusted_types"],
        "libraries": ["lightgbm"],
        "executes_code_on_load": False,
    }
    requirements = (folder / "requirements.txt").read_text()
    assert "lightgbm==" in requirements

    _reproduced_exactly(project, resolve_model(project, "small/1").run_id)
