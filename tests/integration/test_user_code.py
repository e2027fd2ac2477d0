"""Bring your own code (issue 16 §2): the project's modules ship with the model, nothing is
registered that does not load outside the project, and a failing entrypoint points at the
user's own line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow.artifacts
import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

import goldenpath
from conftest import MakeProject, small_frame, tree
from goldenpath.errors import EntrypointFailed, ModelNotLoadable

ENTRY = """
import mylib.models
from mylib import features


def fit(frame, params):
    model = mylib.models.build(params)
    return model.fit(features.inputs(frame), frame["label"])
"""

MYLIB = {
    "mylib/__init__.py": "",
    "mylib/models.py": """
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline

        from .features import Numbers


        def build(params):
            return Pipeline([("numbers", Numbers()),
                             ("model", LogisticRegression(C=params.get("C", 1.0)))])
    """,
    "mylib/features.py": """
        from sklearn.base import BaseEstimator, TransformerMixin


        def inputs(frame):
            return frame.drop(columns=["label"])


        class Numbers(TransformerMixin, BaseEstimator):
            '''Keeps the numeric columns: a class of the project's own, loaded by its name.'''

            def fit(self, X, y=None):
                return self

            def transform(self, X):
                return X[["age", "spend"]].to_numpy()
    """,
    "mylib/lookup.csv": "plan,weight\nbasic,1\n",  # data next to the code: never packed
    "unused.py": "VALUE = 1\n",  # not imported by the entrypoint: not packed
}


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def _project(make_project: MakeProject, entry: str, files: dict[str, str]) -> Path:
    root = make_project(**{"training.entrypoint": "byo_entry:fit"})
    _write(root, {"byo_entry.py": entry, **files})
    return root


def _uri(root: Path) -> str:
    return f"sqlite:///{root / '.goldenpath' / 'mlflow.db'}"


def _client(root: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=_uri(root), registry_uri=_uri(root))


def test_a_local_package_is_packed_and_the_version_loads_outside_the_project(
    make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(make_project, ENTRY, MYLIB)
    project = goldenpath.open_project(root)
    result = goldenpath.train(project)
    assert result.packed_code == ("byo_entry.py", "mylib/")
    assert result.load_check_s > 0

    client = _client(root)
    lineage = json.loads(Path(client.download_artifacts(result.run_id, "lineage.json")).read_text())
    assert lineage["code"]["packed_code"] == ["byo_entry.py", "mylib/"]
    source = client.get_model_version("small", "1").source  # models:/<logged model id>
    with monkeypatch.context() as patched:  # MLflow resolves models:/ ids in its global store
        patched.setenv("MLFLOW_TRACKING_URI", _uri(root))
        model_dir = Path(
            mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(tmp_path / "dl"))
        )
    packed = {p.relative_to(model_dir / "code").as_posix() for p in (model_dir / "code").rglob("*")}
    assert packed == {
        "byo_entry.py",
        "mylib",
        "mylib/__init__.py",
        "mylib/models.py",
        "mylib/features.py",
    }

    # Plain MLflow, in another process and another folder, loads the version and predicts.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    rows = small_frame().head(7)[project.spec.feature_columns]
    rows.to_csv(elsewhere / "rows.csv", index=False)
    script = (
        "import mlflow.pyfunc, pandas as pd\n"
        "model = mlflow.pyfunc.load_model('models:/small/1')\n"
        "print(list(model.predict(pd.read_csv('rows.csv'))))\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": _uri(root)}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("'yes'") + done.stdout.count("'no'") == 7

    # goldenpath's own evaluate loads it without the project's modules imported.
    for name in [m for m in sys.modules if m == "mylib" or m.startswith("mylib.")]:
        del sys.modules[name]
    evaluation = goldenpath.evaluate(project, "small/1")
    assert evaluation.result.model.version == "1"
    assert evaluation.result.metrics


def test_a_lambda_is_refused_before_anything_is_written(make_project: MakeProject) -> None:
    entry = """
        from sklearn.compose import ColumnTransformer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import FunctionTransformer


        def fit(frame, params):
            numbers = ColumnTransformer([("numbers", "passthrough", ["age", "spend"])])
            model = Pipeline([("numbers", numbers),
                              ("same", FunctionTransformer(lambda x: x)),
                              ("model", LogisticRegression())])
            return model.fit(frame.drop(columns=["label"]), frame["label"])
    """
    root = _project(make_project, textwrap.dedent(entry), {})
    before = tree(root)
    with pytest.raises(ModelNotLoadable) as error:
        goldenpath.train(goldenpath.open_project(root))
    message = str(error.value)
    assert "same__func=byo_entry.fit.<locals>.<lambda>" in message
    assert "named function" in message  # how to fix it
    assert error.value.exit_code == 33
    assert tree(root) == before  # no MLflow store, so no run and no registered model


HIDDEN_ENTRY = """
import importlib

helpers = importlib.import_module("hidden" + "_helpers")  # no import statement to follow


def fit(frame, params):
    return helpers.Majority().fit(frame.drop(columns=["label"]), frame["label"])
"""

HIDDEN_HELPERS = """
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class Majority(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.label_ = y.mode()[0]
        return self

    def predict(self, X):
        return np.full(len(X), self.label_)
"""


def test_a_model_that_needs_an_unpacked_module_is_not_registered(
    make_project: MakeProject,
) -> None:
    root = _project(make_project, HIDDEN_ENTRY, {"hidden_helpers.py": HIDDEN_HELPERS})
    with pytest.raises(ModelNotLoadable) as error:
        goldenpath.train(goldenpath.open_project(root))
    message = str(error.value)
    assert "ModuleNotFoundError" in message
    assert "'hidden_helpers' is not packed" in message
    assert "nothing was registered" in message

    client = _client(root)
    assert client.search_registered_models() == []
    runs = client.search_runs(["1"], run_view_type=ViewType.ALL)
    assert [(r.info.status, r.info.lifecycle_stage) for r in runs] == [("FAILED", "deleted")]
    assert client.search_logged_models(["1"]) == []  # the model that failed is deleted too


def test_entrypoint_failed_names_the_users_line_not_pandas(make_project: MakeProject) -> None:
    entry = """
        def fit(frame, params):
            frame = frame.copy()
            frame["ratio"] = frame["no_such_column"] / 2
            return None
    """
    root = _project(make_project, textwrap.dedent(entry), {})
    with pytest.raises(EntrypointFailed) as error:
        goldenpath.train(goldenpath.open_project(root))
    details = error.value.details
    assert details["file"] == str(root / "byo_entry.py")
    assert details["line"] == 4
    assert details["code"] == 'frame["ratio"] = frame["no_such_column"] / 2'
    assert "pandas" in str(details["raised_in"])
    assert f"byo_entry.py:4: {details['code']}" in error.value.message


def test_a_missing_boosting_library_at_training_names_the_extra_to_install(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = """
        def fit(frame, params):
            import lightgbm
            return lightgbm.LGBMClassifier().fit(frame.drop(columns=["label"]), frame["label"])
    """
    root = _project(make_project, textwrap.dedent(entry), {})
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # as if it were not installed
    with pytest.raises(EntrypointFailed) as error:
        goldenpath.train(goldenpath.open_project(root))
    assert error.value.details["exception"] == "ModuleNotFoundError"
    assert error.value.hint == "install it with: pip install 'goldenpath[lightgbm]'"
