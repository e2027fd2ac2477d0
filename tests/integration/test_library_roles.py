"""The library enforces what the CLI enforces.

Every public function of ``goldenpath`` that changes anything is called from Python with a
token the store does not know and as a viewer (with her token): each must refuse
(AuthenticationFailed, PermissionDenied) and leave the
goldenpath store (audit chain included), MLflow (runs, tags, versions, aliases) and the
project's files exactly as they were. And ``goldenpath.evaluate`` records its result, so that
``goldenpath.gate`` can judge it straight after.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mlflow.tracking import MlflowClient

import goldenpath
from conftest import project_with_versions, small_spec, store_rows
from goldenpath.errors import AuthenticationFailed, PermissionDenied
from goldenpath.registry.access import add_member
from goldenpath.registry.credentials import create_token
from goldenpath.reports.schemas import document_schema
from goldenpath.settings import os_user
from goldenpath.store import open_store, verify_chain
from goldenpath.store.audit import list_events

ADMIN, VIEWER = os_user(), "vic"  # the admin: the operating-system user, who claims the store
STRANGER = "gp_0123456789ab_" + "x" * 43  # a well-formed token of no credential

# What each public function changes; a new public name must be classified here.
READ_ONLY = {
    "available_examples",
    "history",
    "list_runs",
    "load_dataset",
    "load_spec",
    "open_project",
    "parse_spec",
    "validate",
    "init_project",  # creates a new folder of its own; touches no store
}
TYPES = {
    "Dataset",
    "Decision",
    "EvaluationResult",
    "GoldenpathError",
    "Project",
    "Promotion",
    "RecordedEvaluation",
    "ReproduceResult",
    "RunSummary",
    "Spec",
    "TrainResult",
    "Validation",
    "__version__",
}


def _mutations(decision_id: str) -> dict[str, Callable[[goldenpath.Project], Any]]:
    return {
        "train": goldenpath.train,
        "reproduce": lambda p: goldenpath.reproduce(p, "latest"),
        "evaluate": lambda p: goldenpath.evaluate(p, "small/2"),
        "gate": lambda p: goldenpath.gate(p, "small/2"),
        "approve": lambda p: goldenpath.approve(p, decision_id),
        "promote": lambda p: goldenpath.promote(p, "small/1", to="challenger"),
        "rollback": goldenpath.rollback,
        "write_model_card": lambda p: goldenpath.write_model_card(p, "small/1"),
    }


def test_every_public_name_is_classified() -> None:
    mutating = set(_mutations("-"))
    assert set(goldenpath.__all__) == mutating | READ_ONLY | TYPES


@pytest.fixture(scope="module")
def governed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, str]]:
    """Two versions by the admin; version 1 evaluated, gated and champion; a viewer added,
    with a token."""
    folder = tmp_path_factory.mktemp("roles") / "small"
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("GOLDENPATH_STORE_URI", raising=False)
        patch.delenv("GOLDENPATH_TOKEN", raising=False)
        patch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
        project = project_with_versions(folder, small_spec(), versions=2)
        add_member(project, VIEWER, "viewer")
        viewer_token = create_token(project, VIEWER).token
        goldenpath.evaluate(project, "small/1")
        decision = goldenpath.gate(project, "small/1")  # evaluate recorded: gate finds it
        goldenpath.promote(project, "small/1", to="champion")
        yield project, decision, viewer_token


def _mlflow_state(project: Any) -> dict[str, Any]:
    uri = f"sqlite:///{project.state_dir / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name(project.name)
    runs = client.search_runs([experiment.experiment_id], run_view_type=3)  # all, even deleted
    versions = client.search_model_versions(f"name='{project.name}'")
    return {
        "runs": sorted(
            (r.info.run_id, r.info.lifecycle_stage, sorted(r.data.tags.items())) for r in runs
        ),
        "versions": sorted((v.version, v.run_id, tuple(sorted(v.aliases))) for v in versions),
    }


def _files(root: Path) -> dict[str, str]:
    """Every file of the project but the databases (SQLite may touch its files on a read)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".db" not in p.name
    }


def _state(project: Any) -> tuple[Any, ...]:
    return store_rows(project), _mlflow_state(project), _files(project.root)


@pytest.mark.parametrize("user", [STRANGER, VIEWER])
@pytest.mark.parametrize("name", sorted(_mutations("-")))
def test_refused_and_nothing_changes(
    governed: tuple[Any, Any, str], name: str, user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, decision, viewer_token = governed
    monkeypatch.delenv("GOLDENPATH_STORE_URI", raising=False)
    before = _state(project)
    monkeypatch.setenv("GOLDENPATH_TOKEN", viewer_token if user == VIEWER else STRANGER)
    expected = PermissionDenied if user == VIEWER else AuthenticationFailed
    with pytest.raises(expected) as refused:
        _mutations(decision.decision_id)[name](project)
    assert (VIEWER if user == VIEWER else "0123456789ab") in str(refused.value)
    monkeypatch.delenv("GOLDENPATH_TOKEN")
    after = _state(project)
    assert after[0] == before[0], "the goldenpath store (or its audit chain) changed"
    assert after[1] == before[1], "MLflow changed"
    assert after[2] == before[2], "the project's files changed"


def test_python_calls_are_recorded_and_audited(governed: tuple[Any, Any, str]) -> None:
    """What the admin did from Python in the fixture is in the audit chain, attributed, in
    order, and the chain verifies."""
    project, _, _ = governed
    with open_store(project).transaction() as connection:
        events = list(reversed(list_events(connection, project=project.name)))
        report = verify_chain(connection)
    done = [(e.actor, e.action, e.subject) for e in events]
    assert done == [
        (ADMIN, "users.bootstrap", ADMIN),
        (ADMIN, "train", "small/1"),
        (ADMIN, "train", "small/2"),
        (ADMIN, "users.add", VIEWER),
        (ADMIN, "credentials.create_user", VIEWER),
        (ADMIN, "evaluate", "small/1"),
        (ADMIN, "gate", "small/1"),
        (ADMIN, "promotion.requested", "small@champion"),
        (ADMIN, "promote", "small@champion"),
    ], done
    assert report.ok


def test_written_documents_match_their_exported_schemas(governed: tuple[Any, Any, str]) -> None:
    """The evaluation.json that goldenpath.evaluate kept and the decision that gate returned
    (what `gate --json` prints) validate against `goldenpath schema --kind ...`."""
    project, decision, _ = governed
    (written,) = project.state_dir.glob("evaluations/*/evaluation.json")
    jsonschema.validate(json.loads(written.read_text()), json.loads(document_schema("evaluation")))
    document = json.loads(json.dumps(decision.to_dict(), default=str))
    jsonschema.validate(document, json.loads(document_schema("decision")))
