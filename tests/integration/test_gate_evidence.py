"""``gate`` judges only evidence the store recorded (issue 15, item 1): an evaluation copied from
another version and re-pointed by tag, an edited ``evaluation.json`` and a model artefact
replaced after evaluation are refused, on SQLite and PostgreSQL; an honest evaluation passes.

Two versions are trained and evaluated once per module; every test starts with a new store in
which the module's evaluations are recorded as ``evaluate`` records them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

import goldenpath
from conftest import (
    keep_recorded_evaluation,
    project_with_versions,
    recorded_evaluation,
    small_spec,
    store_rows,
)
from goldenpath.cli.app import app
from goldenpath.errors import RecordNotFound, RegistryDrift
from goldenpath.evaluation.artifact import model_digest
from goldenpath.gates import gate
from goldenpath.store import open_store
from goldenpath.store.audit import list_events
from goldenpath.store.evaluations import get_evaluation
from goldenpath.store.records import get_decision

NAME = "small"


@dataclass(frozen=True)
class Trained:
    root: Path
    evaluation_v1: str
    evaluation_v2: str


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    spec = small_spec()
    spec["evaluation"] = {"resamples": 50, "seed": 1}
    spec["gates"] = {"metrics": {"roc_auc": {"min": 0.5}}, "lineage": {"clean_git": False}}
    root = tmp_path_factory.mktemp("evidence") / "project"
    project = project_with_versions(root, spec)
    return Trained(
        root, recorded_evaluation(project, f"{NAME}/1"), recorded_evaluation(project, f"{NAME}/2")
    )


@pytest.fixture
def project(trained: Trained, store_uri: str) -> goldenpath.Project:
    """The trained project with a new store (claimed by the operating-system user) in which
    both evaluations are recorded."""
    loaded = goldenpath.open_project(trained.root)
    for evaluation_id in (trained.evaluation_v1, trained.evaluation_v2):
        keep_recorded_evaluation(loaded, evaluation_id)
    return loaded


def _client(project: goldenpath.Project) -> MlflowClient:
    return MlflowClient(f"sqlite:///{project.state_dir / 'mlflow.db'}")


def _run_id(project: goldenpath.Project, version: str) -> str:
    run_id = _client(project).get_model_version(NAME, version).run_id
    assert run_id is not None
    return run_id


def _log_json(project: goldenpath.Project, run_id: str, evaluation_id: str, raw: bytes) -> None:
    """Put ``raw`` as ``evaluations/ID/evaluation.json`` of run ``run_id``, as anyone who can
    write to the MLflow server can."""
    folder = project.state_dir / "forged" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    (folder / "evaluation.json").write_bytes(raw)
    _client(project).log_artifacts(run_id, str(folder), f"evaluations/{evaluation_id}")


def _evaluation_bytes(project: goldenpath.Project, evaluation_id: str) -> bytes:
    return (project.state_dir / "evaluations" / evaluation_id / "evaluation.json").read_bytes()


@contextmanager
def _tag(project: goldenpath.Project, run_id: str, evaluation_id: str) -> Iterator[None]:
    """Re-point the run's ``goldenpath.last_evaluation`` tag, and put it back afterwards."""
    client = _client(project)
    before = client.get_run(run_id).data.tags["goldenpath.last_evaluation"]
    client.set_tag(run_id, "goldenpath.last_evaluation", evaluation_id)
    try:
        yield
    finally:
        client.set_tag(run_id, "goldenpath.last_evaluation", before)


def _model_folder(project: goldenpath.Project, version: str) -> Path:
    """Where MLflow keeps the files of the version's model (a local artefact store)."""
    client = _client(project)
    source = client.get_model_version(NAME, version).source
    assert source.startswith("models:/")
    location = client.get_logged_model(source.removeprefix("models:/")).artifact_location
    return Path(unquote(urlparse(location).path))


def _nothing_written(project: goldenpath.Project, before: dict[str, Any]) -> None:
    assert store_rows(project) == before


def test_an_honest_evaluation_passes_and_binds_the_model_files(
    project: goldenpath.Project,
) -> None:
    saved = goldenpath.evaluate(project, f"{NAME}/1")  # the public verb, as the CLI runs it
    with open_store(project).reading() as connection:
        kept = get_evaluation(connection, saved.result.evaluation_id)
        events = list_events(connection, project=project.name)
    assert kept is not None
    digest = model_digest(project, f"models:/{NAME}/1")
    assert kept.evaluation_sha256 == hashlib.sha256(saved.json_path.read_bytes()).hexdigest()
    assert kept.evaluation_sha256 == saved.sha256
    assert kept.artifact_sha256 == digest == saved.result.model.artifact_sha256
    assert kept.data_fingerprint == saved.result.data.fingerprint
    assert (kept.model_name, kept.model_version, kept.run_id) == (
        NAME,
        "1",
        _run_id(project, "1"),
    )
    evaluated = events[0]  # newest first: recorded with the evaluate event
    assert evaluated.action == "evaluate"
    assert evaluated.payload["evaluation_sha256"] == kept.evaluation_sha256
    assert evaluated.payload["artifact_sha256"] == digest

    decision = gate(project, f"{NAME}/1")  # the run's tag points at it
    assert decision.verdict == "pass"
    assert decision.evaluation_id == kept.evaluation_id
    assert decision.artifact_sha256 == digest
    with open_store(project).reading() as connection:
        assert get_decision(connection, decision.decision_id) == decision
        gated = list_events(connection, project=project.name, limit=1)[0]
    assert (gated.action, gated.payload["artifact_sha256"]) == ("gate", digest)


def test_another_versions_evaluation_copied_and_re_pointed_is_refused(
    project: goldenpath.Project, trained: Trained
) -> None:
    """Item 1 as reported: version 1's evaluation.json logged into version 2's run, and the
    run's tag pointed at it; under its own id, and under a new one."""
    run_v2 = _run_id(project, "2")
    copied = _evaluation_bytes(project, trained.evaluation_v1)
    before = store_rows(project)
    _log_json(project, run_v2, trained.evaluation_v1, copied)
    with (
        _tag(project, run_v2, trained.evaluation_v1),
        pytest.raises(
            RegistryDrift,
            match=rf"evaluation {trained.evaluation_v1} was recorded for {NAME}/1 .*, not for "
            rf"{NAME}/2",
        ),
    ):
        gate(project, f"{NAME}/2")
    with _tag(project, run_v2, trained.evaluation_v1):  # the CLI: exit 78, an error, no decision
        done = CliRunner().invoke(
            app, ["gate", f"{NAME}/2", "--json", "--project", str(project.root)]
        )
    assert done.exit_code == RegistryDrift.exit_code == 78, done.output
    assert json.loads(done.stdout)["error"]["code"] == "registry_drift"
    fresh = uuid.uuid4().hex
    _log_json(project, run_v2, fresh, copied)
    with (
        _tag(project, run_v2, fresh),
        pytest.raises(RecordNotFound, match=rf"evaluation {fresh} of {NAME}/2 is not recorded"),
    ):
        gate(project, f"{NAME}/2")
    _nothing_written(project, before)


def test_an_edited_evaluation_is_refused_naming_the_mismatch(
    project: goldenpath.Project, trained: Trained
) -> None:
    run_v2 = _run_id(project, "2")
    original = _evaluation_bytes(project, trained.evaluation_v2)
    edited = original + b"\n"  # one byte more: still valid JSON, the same document
    before = store_rows(project)
    _log_json(project, run_v2, trained.evaluation_v2, edited)
    try:
        with pytest.raises(RegistryDrift, match="changed since it was recorded") as refused:
            gate(project, f"{NAME}/2", evaluation_id=trained.evaluation_v2)
        message = str(refused.value)
        assert hashlib.sha256(edited).hexdigest() in message
        assert hashlib.sha256(original).hexdigest() in message
        _nothing_written(project, before)
    finally:
        _log_json(project, run_v2, trained.evaluation_v2, original)
    assert gate(project, f"{NAME}/2", evaluation_id=trained.evaluation_v2).verdict == "pass"


def test_a_model_artefact_replaced_after_evaluation_is_refused(
    project: goldenpath.Project, trained: Trained
) -> None:
    """Version 2's estimator swapped for version 1's under the same version."""
    target = _model_folder(project, "2") / "model.skops"
    original = target.read_bytes()
    before = store_rows(project)
    shutil.copyfile(_model_folder(project, "1") / "model.skops", target)
    try:
        assert target.read_bytes() != original
        with pytest.raises(
            RegistryDrift,
            match=rf"the model artefact of {NAME}/2 changed since evaluation "
            rf"{trained.evaluation_v2} evaluated it",
        ):
            gate(project, f"{NAME}/2", evaluation_id=trained.evaluation_v2)
        _nothing_written(project, before)
    finally:
        target.write_bytes(original)
    assert gate(project, f"{NAME}/2", evaluation_id=trained.evaluation_v2).verdict == "pass"
