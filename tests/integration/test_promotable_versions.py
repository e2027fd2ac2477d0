"""Only a version whose training completed can be promoted: its MLflow run ended FINISHED and
the store holds its audited ``train`` event. (A ``train`` killed right after registering the
model leaves a RUNNING run and no event.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

import goldenpath
from conftest import MakeProject, small_spec
from goldenpath.errors import PromotionRefused
from goldenpath.evaluation.evaluate import resolve_model


def _project(make_project: MakeProject) -> goldenpath.Project:
    spec = small_spec()
    spec["project"]["risk_tier"] = "medium"
    spec["evaluation"] = {"resamples": 0}
    spec["gates"] = {"metrics": {"roc_auc": {"min": 0.5}}, "lineage": {"clean_git": False}}
    return goldenpath.open_project(make_project(spec=spec))


def _mlflow(project: goldenpath.Project) -> MlflowClient:
    uri = f"sqlite:///{project.state_dir / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_a_version_whose_run_did_not_finish_is_refused(make_project: MakeProject) -> None:
    project = _project(make_project)
    goldenpath.train(project)
    goldenpath.evaluate(project, "small/1")
    goldenpath.gate(project, "small/1")
    run_id = resolve_model(project, "small/1").run_id
    _mlflow(project).update_run(run_id, status="RUNNING")  # as a killed train leaves it
    with pytest.raises(PromotionRefused, match="RUNNING, not FINISHED"):
        goldenpath.promote(project, "small/1")
    _mlflow(project).update_run(run_id, status="FINISHED")
    assert goldenpath.promote(project, "small/1").state == "completed"


def test_a_version_without_its_train_event_is_refused(
    make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(make_project)
    goldenpath.train(project)  # audited in the project's own store
    monkeypatch.setenv("GOLDENPATH_STORE_URI", f"sqlite:///{tmp_path / 'other.db'}")
    goldenpath.evaluate(project, "small/1")  # another store: it never saw the train
    goldenpath.gate(project, "small/1")
    with pytest.raises(PromotionRefused, match="no audited train event"):
        goldenpath.promote(project, "small/1")
