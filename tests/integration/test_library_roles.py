"""The library enforces what the CLI enforces.

Every public function of ``goldenpath`` that changes anything is called from Python as a user
the store does not know and as a viewer: each must refuse with PermissionDenied and leave the
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
import sqlalchemy as sa
from mlflow.tracking import MlflowClient

import goldenpath
from conftest import project_with_versions, small_spec
from goldenpath.errors import PermissionDenied
from goldenpath.registry.access import add_member
from goldenpath.reports.schemas import document_schema
from goldenpath.store import open_store, verify_chain
from goldenpath.store.audit import list_events

ADMIN, VIEWER, STRANGER = "alice", "vic", "mallory"

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
def governed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """Two versions by the admin; version 1 evaluated, gated and champion; a viewer added."""
    folder = tmp_path_factory.mktemp("roles") / "small"
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("GOLDENPATH_STORE_URI", raising=False)
        patch.setenv("GOLDENPATH_USER", ADMIN)
        project = project_with_versions(folder, small_spec(), versions=2)
        add_member(project, VIEWER, "viewer")
        goldenpath.evaluate(project, "small/1")
        decision = goldenpath.gate(project, "small/1")  # evaluate recorded: gate finds it
        goldenpath.promote(project, "small/1", to="champion")
        yield project, decision


def _store_rows(project: Any) -> dict[str, list[tuple[Any, ...]]]:
    store = open_store(project)
    tables = {}
    with store.transaction() as connection:
        for name in sa.inspect(connection).get_table_names():
            if name.startswith("gp_"):
                rows = connection.execute(sa.text(f"SELECT * FROM {name}")).all()
                tables[name] = sorted(tuple(map(str, row)) for row in rows)
    return tables


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
    return _store_rows(project), _mlflow_state(project), _files(project.root)


@pytest.mark.parametrize("user", [STRANGER, VIEWER])
@pytest.mark.parametrize("name", sorted(_mutations("-")))
def test_refused_and_nothing_changes(
    governed: tuple[Any, Any], name: str, user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, decision = governed
    monkeypatch.delenv("GOLDENPATH_STORE_URI", raising=False)
    before = _state(project)
    monkeypatch.setenv("GOLDENPATH_USER", user)
    with pytest.raises(PermissionDenied) as refused:
        _mutations(decision.decision_id)[name](project)
    assert user in str(refused.value)
    monkeypatch.setenv("GOLDENPATH_USER", ADMIN)
    after = _state(project)
    assert after[0] == before[0], "the goldenpath store (or its audit chain) changed"
    assert after[1] == before[1], "MLflow changed"
    assert after[2] == before[2], "the project's files changed"


def test_python_calls_are_recorded_and_audited(governed: tuple[Any, Any]) -> None:
    """What the admin did from Python in the fixture is in the audit chain, attributed, in
    order, and the chain verifies."""
    project, _ = governed
    with open_store(project).transaction() as connection:
        events = list(reversed(list_events(connection, project=project.name)))
        report = verify_chain(connection)
    done = [(e.actor, e.action, e.subject) for e in events]
    assert done == [
        (ADMIN, "users.bootstrap", ADMIN),
        (ADMIN, "train", "small/1"),
        (ADMIN, "train", "small/2"),
        (ADMIN, "users.add", VIEWER),
        (ADMIN, "evaluate", "small/1"),
        (ADMIN, "gate", "small/1"),
        (ADMIN, "promotion.requested", "small@champion"),
        (ADMIN, "promote", "small@champion"),
    ], done
    assert report.ok


def test_written_documents_match_their_exported_schemas(governed: tuple[Any, Any]) -> None:
    """The evaluation.json that goldenpath.evaluate kept and the decision that gate returned
    (what `gate --json` prints) validate against `goldenpath schema --kind ...`."""
    project, decision = governed
    (written,) = project.state_dir.glob("evaluations/*/evaluation.json")
    jsonschema.validate(json.loads(written.read_text()), json.loads(document_schema("evaluation")))
    document = json.loads(json.dumps(decision.to_dict(), default=str))
    jsonschema.validate(document, json.loads(document_schema("decision")))
