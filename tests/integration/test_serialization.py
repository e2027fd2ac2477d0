"""``training.serialization``: skops by default, in which loading runs no code; cloudpickle only
when the spec asks for it, and then said in the run, the lineage, the ``train`` audit event and
the model card ("executes code on load")."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from mlflow.models import Model
from mlflow.tracking import MlflowClient

import goldenpath
from conftest import MakeProject, small_spec
from goldenpath.errors import ModelNotLoadable
from goldenpath.evaluation.evaluate import load_model, resolve_model
from goldenpath.store import open_store
from goldenpath.store.audit import latest_event

pytestmark = pytest.mark.slow

LAMBDA_ENTRY = """
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer


def fit(frame, params):
    numbers = ColumnTransformer([("numbers", "passthrough", ["age", "spend"])])
    model = Pipeline([("numbers", numbers),
                      ("halve", FunctionTransformer(lambda x: x / 2)),
                      ("model", LogisticRegression())])
    return model.fit(frame.drop(columns=["label"]), frame["label"])
"""


def _project(make_project: MakeProject, serialization: str | None) -> Path:
    spec = small_spec(**{"training.entrypoint": "lambda_entry:fit"})
    spec["evaluation"] = {"resamples": 0}
    if serialization is not None:
        spec["training"]["serialization"] = serialization
    root = make_project(spec=spec)
    (root / "lambda_entry.py").write_text(textwrap.dedent(LAMBDA_ENTRY))
    return root


def test_skops_refuses_a_lambda_and_names_cloudpickle_as_a_fix(make_project: MakeProject) -> None:
    root = _project(make_project, None)  # skops, the default
    with pytest.raises(ModelNotLoadable) as error:
        goldenpath.train(goldenpath.open_project(root))
    assert "halve__func=lambda_entry.fit.<locals>.<lambda>" in str(error.value)
    assert "`training.serialization: cloudpickle`" in (error.value.hint or "")
    assert "executes code on load" in (error.value.hint or "")
    assert not (root / ".goldenpath" / "mlflow.db").exists()  # nothing logged


def test_cloudpickle_by_choice_registers_loads_and_says_so(make_project: MakeProject) -> None:
    root = _project(make_project, "cloudpickle")
    project = goldenpath.open_project(root)
    result = goldenpath.train(project)  # the load check ran the lambda in a fresh process
    assert (result.model_version, result.serialization) == ("1", "cloudpickle")
    assert result.load_check_s > 0

    uri = f"sqlite:///{root / '.goldenpath' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = client.get_run(result.run_id)
    assert run.data.tags["goldenpath.serialization"] == "cloudpickle"
    assert run.data.tags["goldenpath.model_flavour"] == "sklearn"
    lineage = json.loads(Path(client.download_artifacts(result.run_id, "lineage.json")).read_text())
    assert lineage["model"]["serialization"] == "cloudpickle"
    assert lineage["model"]["requested"] == "cloudpickle"
    assert lineage["model"]["executes_code_on_load"] is True
    source = client.get_model_version("small", "1").source
    location = client.get_logged_model(source.removeprefix("models:/")).artifact_location
    flavours = Model.load(location.removeprefix("file://")).flavors
    assert flavours["sklearn"]["serialization_format"] == "cloudpickle"

    with open_store(project).reading() as connection:
        trained = latest_event(connection, project="small", action="train", subject="small/1")
    assert trained is not None
    assert trained.payload["serialization"] == "cloudpickle"

    model, _ = load_model(project, resolve_model(project, "small/1"))
    assert model.named_steps["halve"].func(4.0) == 2.0  # the lambda itself, loaded back
    evaluation = goldenpath.evaluate(project, "small/1")
    assert evaluation.result.metrics

    card = goldenpath.write_model_card(project, "small/1")
    markdown = card.markdown_path.read_text()
    html = card.html_path.read_text()
    assert "> **Warning:** this model is saved with cloudpickle, which executes code on load" in (
        markdown
    )
    assert "saved as cloudpickle (executes code on load)" in markdown
    assert '<p class="warn">Warning: this model is saved with cloudpickle, which executes' in html

    reproduced = goldenpath.reproduce(project, result.run_id)  # the spec snapshot keeps the choice
    assert reproduced.reproduced
    recorded = Path(client.download_artifacts(result.run_id, "goldenpath.yaml")).read_text()
    assert yaml.safe_load(recorded)["training"]["serialization"] == "cloudpickle"
