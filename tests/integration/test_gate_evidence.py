"""``gate`` judges only evidence the store recorded (issue 15, item 1): an evaluation copied from
another version and re-pointed by tag, an edited ``evaluation.json`` and a model artefact
replaced after evaluation are refused, on SQLite and PostgreSQL; an honest evaluation passes.
Its lineage rules judge the audited ``train`` and ``reproduce`` events, not the run's tags in
MLflow, which anyone who can write to MLflow can set.

Two versions are trained and evaluated once per module; every test starts with a new store in
which the module's trainings and evaluations are recorded as ``train`` and ``evaluate`` record
them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

import goldenpath
from conftest import (
    keep_recorded_evaluation,
    keep_recorded_training,
    project_with_versions,
    recorded_evaluation,
    small_spec,
    store_rows,
)
from goldenpath.cli.app import app
from goldenpath.errors import RecordNotFound, RegistryDrift
from goldenpath.evaluation.artifact import model_digest
from goldenpath.gates import gate
from goldenpath.registry.access import audit, authorized_actor
from goldenpath.spec.gates import LineageGate
from goldenpath.store import Decision, open_store
from goldenpath.store.audit import AuditEvent, latest_event, list_events
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
    both trainings and both evaluations are recorded."""
    loaded = goldenpath.open_project(trained.root)
    for version in ("1", "2"):
        keep_recorded_training(loaded, version)
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


# ------------------------------------------------------------------------------------- lineage

_CONTRACT = "training data validated by its contract"
_REPRODUCED = "run reproduced (goldenpath reproduce)"
_CLEAN_GIT = "trained from committed code (clean git tree)"


def _with_lineage(project: goldenpath.Project, **lineage: Any) -> goldenpath.Project:
    """The project with ``gates.lineage`` set to ``lineage``, in memory (the module's spec file
    is left as it is)."""
    gates = project.spec.gates.model_copy(update={"lineage": LineageGate(**lineage)})
    return replace(project, spec=project.spec.model_copy(update={"gates": gates}))


@contextmanager
def _run_tags(project: goldenpath.Project, run_id: str, tags: dict[str, str]) -> Iterator[None]:
    """Set ``tags`` on the run as any MLflow user can (``mlflow.set_tag``); put back after."""
    client = _client(project)
    before = client.get_run(run_id).data.tags
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
    try:
        yield
    finally:
        for key in tags:
            if key in before:
                client.set_tag(run_id, key, before[key])
            else:
                client.delete_tag(run_id, key)


def _lineage(decision: Decision) -> list[tuple[str, object, str, str]]:
    return [
        (r.rule, r.observed, r.evidence, r.outcome) for r in decision.rules if r.kind == "lineage"
    ]


def _latest(project: goldenpath.Project, action: str, subject: str) -> AuditEvent:
    with open_store(project).reading() as connection:
        found = latest_event(connection, project=project.name, action=action, subject=subject)
    assert found is not None
    return found


def _without_auth(payload: dict[str, Any]) -> dict[str, Any]:
    """An event's payload less ``auth`` (how the actor was authenticated, which every event has)."""
    return {k: v for k, v in payload.items() if k != "auth"}


_TAMPERED = {
    "goldenpath.reproducible": "true",
    "goldenpath.git_dirty": "false",
    "goldenpath.contract_validated": "true",
}


def test_train_audits_the_lineage_facts_and_gate_judges_them_not_the_run_tags(
    project: goldenpath.Project, trained: Trained
) -> None:
    """The module's project is no git repository and was never reproduced: the tags say
    otherwise, the verdict does not move."""
    strict = _with_lineage(project, reproduced=True, clean_git=True)
    run_v2 = _run_id(project, "2")
    train = _latest(project, "train", f"{NAME}/2")
    lineage_json = json.loads(
        Path(_client(project).download_artifacts(run_v2, "lineage.json")).read_text()
    )
    assert _without_auth(train.payload) == {
        "run_id": run_v2,
        "dataset_fingerprint": lineage_json["data"]["fingerprint"],
        "contract_validated": True,
        "git_commit": "not a git repo",
        "git_dirty": None,
        "source_hash": lineage_json["code"]["source_hash"],
        "model_flavour": "sklearn",
        "serialization": "skops",
    }
    assert train.payload["source_hash"].startswith("sha256:")
    expected = [
        (_CONTRACT, "yes", f"audit.train#{train.seq}.payload.contract_validated", "pass"),
        (_REPRODUCED, "not checked", f"audit.reproduce[subject={run_v2}]", "fail"),
        (
            _CLEAN_GIT,
            "no (not a git repository)",
            f"audit.train#{train.seq}.payload.git_dirty",
            "fail",
        ),
    ]
    honest = gate(strict, f"{NAME}/2", evaluation_id=trained.evaluation_v2)
    assert (honest.verdict, _lineage(honest)) == ("fail", expected)
    with _run_tags(project, run_v2, _TAMPERED):
        assert _client(project).get_run(run_v2).data.tags["goldenpath.reproducible"] == "true"
        tampered = gate(strict, f"{NAME}/2", evaluation_id=trained.evaluation_v2)
    assert (tampered.verdict, _lineage(tampered)) == ("fail", expected)
    assert tampered.failing == honest.failing


def test_a_train_event_without_lineage_facts_fails_as_not_recorded(
    project: goldenpath.Project, trained: Trained
) -> None:
    """A version whose newest train event is as train audited it before lineage facts (the run
    and the data only): the rules it fails say to train again, whatever the run's tags say."""
    run_v2 = _run_id(project, "2")
    fingerprint = _latest(project, "train", f"{NAME}/2").payload["dataset_fingerprint"]
    older = {"run_id": run_v2, "dataset_fingerprint": fingerprint}
    audit(project, authorized_actor(project, "train"), "train", f"{NAME}/2", older)
    seq = _latest(project, "train", f"{NAME}/2").seq
    with _run_tags(project, run_v2, _TAMPERED):
        decision = gate(
            _with_lineage(project, clean_git=True),
            f"{NAME}/2",
            evaluation_id=trained.evaluation_v2,
        )
    assert decision.verdict == "fail"
    assert _lineage(decision) == [
        (_CONTRACT, "not recorded", f"audit.train#{seq}.payload.contract_validated", "fail"),
        (_CLEAN_GIT, "not recorded", f"audit.train#{seq}.payload.git_dirty", "fail"),
    ]
    for rule in decision.failing:
        assert rule.detail.startswith(f"train event #{seq} predates lineage facts"), rule
        assert "train again with goldenpath train" in rule.detail


def test_reproduce_then_gate_passes_the_reproduced_rule_from_the_store(
    project: goldenpath.Project, trained: Trained
) -> None:
    needs_reproduction = _with_lineage(project, reproduced=True, clean_git=False)
    run_v1 = _run_id(project, "1")
    with _run_tags(project, run_v1, {"goldenpath.reproducible": "true"}):
        unproven = gate(needs_reproduction, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    assert unproven.verdict == "fail"
    assert [r.observed for r in unproven.failing] == ["not checked"]

    done = goldenpath.reproduce(project, run_v1)  # the public verb: retrain, compare, audit
    assert done.reproduced
    event = _latest(project, "reproduce", run_v1)
    assert _without_auth(event.payload) == {
        "reproduced": True,
        "tolerance": done.tolerance,
        "label_tolerance": 0.0,
    }
    with _run_tags(project, run_v1, {"goldenpath.reproducible": "false"}):
        proven = gate(needs_reproduction, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    assert proven.verdict == "pass"
    assert (_REPRODUCED, "yes", f"audit.reproduce#{event.seq}.payload.reproduced", "pass") in (
        _lineage(proven)
    )

    # the newest reproduction counts: the entrypoint changed since, and reproduce now fails
    source = project.root / "small_model.py"
    original = source.read_text()
    changed = "\n_fit = train\n\n\ndef train(frame, params):\n    return _fit(frame, {'C': 1e-4})\n"
    source.write_text(original + changed)
    try:
        again = goldenpath.reproduce(project, run_v1)
    finally:
        source.write_text(original)
    assert not again.reproduced
    assert again.code_changed
    latest = _latest(project, "reproduce", run_v1)
    assert latest.seq > event.seq
    assert latest.payload["reproduced"] is False
    with _run_tags(project, run_v1, {"goldenpath.reproducible": "true"}):
        undone = gate(needs_reproduction, f"{NAME}/1", evaluation_id=trained.evaluation_v1)
    assert undone.verdict == "fail"
    assert [(r.observed, r.evidence) for r in undone.failing] == [
        ("no", f"audit.reproduce#{latest.seq}.payload.reproduced")
    ]
