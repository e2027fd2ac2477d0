"""An experiment's life on SQLite and PostgreSQL stores: start (and what it refuses), a real
server on loopback routing by arm and logging experiment, arm and unit, feedback values in the
feedback log, decide --stop ending the routing at the server's next poll, decide --ship
promoting the treatment, a guardrail's stop, and the audit chain binding every row (a row
edited in SQL is named by audit verify, and neither decided on nor routed by)."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _live import live_server
from sqlalchemy import text
from typer.testing import CliRunner

import goldenpath
from conftest import (
    act_as,
    keep_recorded_evaluation,
    keep_recorded_training,
    project_with_versions,
    recorded_evaluation,
    small_spec,
)
from goldenpath.cli.app import app
from goldenpath.errors import (
    AuditChainBroken,
    ExperimentRefused,
    PermissionDenied,
    RecordNotFound,
)
from goldenpath.experiments.assignment import arm_of
from goldenpath.experiments.lifecycle import (
    active_experiment,
    decide_experiment,
    experiment_record,
    list_experiments,
    start_experiment,
    stop_experiment,
)
from goldenpath.gates import gate
from goldenpath.registry import audit_events, promote
from goldenpath.registry.controls import GUARDRAILS_ACTOR
from goldenpath.store import open_store
from goldenpath.store.bindings import verify_rows
from goldenpath.store.records import current_version

POLL = 0.2
NAME = "new-model"
ROW = {"age": 41, "spend": 80.5, "plan": "pro", "balance": 101.0}


def _spec() -> dict[str, Any]:
    spec = small_spec()
    spec["evaluation"] = {"resamples": 0}
    spec["gates"] = {"metrics": {"roc_auc": {"min": 0.5}}}
    spec["serving"] = {"poll_seconds": POLL, "log": {"flush_seconds": 0.1}}
    spec["experiments"] = [
        {
            "name": NAME,
            "hypothesis": "v2 brings more revenue per request",
            "primary": {"name": "revenue", "source": "value"},
            "guardrails": [
                {
                    "name": "latency",
                    "source": "latency_ms",
                    "higher_is_better": False,
                    "max_relative_change": 0.2,
                }
            ],
            "mde": 0.05,
        },
        {
            "name": "other",
            "hypothesis": "a second experiment waits for the first",
            "primary": {"name": "correct", "source": "correct", "kind": "proportion"},
            "mde": 0.05,
        },
    ]
    return spec


@dataclass(frozen=True)
class Trained:
    root: Path
    evaluation_v1: str
    evaluation_v2: str


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """Two versions, v2 evaluated against v1 (the champion of the project's own store)."""
    os.environ.pop("GOLDENPATH_STORE_URI", None)
    project = project_with_versions(tmp_path_factory.mktemp("experiment") / "project", _spec())
    evaluation_v1 = recorded_evaluation(project, "small/1")
    gate(project, "small/1", evaluation_id=evaluation_v1)
    promote(project, "small/1")
    return Trained(project.root, evaluation_v1, recorded_evaluation(project, "small/2", "champion"))


@pytest.fixture
def fresh(trained: Trained, store_uri: str) -> goldenpath.Project:
    """The trained project with a new store in which v1 is the champion (v2 not gated yet)."""
    loaded = goldenpath.open_project(trained.root)
    for version in ("1", "2"):
        keep_recorded_training(loaded, version)
    for evaluation_id in (trained.evaluation_v1, trained.evaluation_v2):
        keep_recorded_evaluation(loaded, evaluation_id)
    gate(loaded, "small/1", evaluation_id=trained.evaluation_v1)
    promote(loaded, "small/1")
    return loaded


@pytest.fixture
def project(fresh: goldenpath.Project, trained: Trained) -> goldenpath.Project:
    """... and v2, gated on its comparison with v1, the challenger."""
    gate(fresh, "small/2", evaluation_id=trained.evaluation_v2)
    promote(fresh, "small/2", to="challenger")
    return fresh


def _post(base: str, path: str, body: object) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{base}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        found: dict[str, Any] = json.loads(answer.read())
    return found


def _get(base: str, path: str) -> str:
    with urllib.request.urlopen(f"{base}{path}", timeout=30) as answer:
        return str(answer.read().decode())


def _predict(base: str, customer: int | None) -> dict[str, Any]:
    row = ROW if customer is None else {**ROW, "customer_id": customer}
    return _post(base, "/predict", {"records": [row]})


def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait for the server's poll to bring ``condition`` about (a deadline, not a timing
    claim: the poll runs every POLL seconds)."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"the server never {what}"
        time.sleep(POLL / 4)


def _rows(project: goldenpath.Project, log: str) -> list[dict[str, Any]]:
    folder = project.state_dir / "logs" / log
    query = f"SELECT * FROM read_parquet('{folder}/**/*.parquet', union_by_name = true)"
    cursor = duckdb.connect().execute(query)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _clear_logs(project: goldenpath.Project) -> None:
    import shutil

    shutil.rmtree(project.state_dir / "logs", ignore_errors=True)


def _write_old_log(project: goldenpath.Project) -> None:
    """A prediction-log file as servers wrote it before experiments (no experiment, arm or unit
    columns), which must still read, with nulls there."""
    folder = project.state_dir / "logs" / "predictions" / "date=2026-01-01" / "version=1"
    folder.mkdir(parents=True)
    table = pa.table(
        {
            "request_id": ["old-1"],
            "row": pa.array([0], pa.int32()),
            "model_version": ["1"],
            "route": ["champion"],
            "kind": ["served"],
        }
    )
    pq.write_table(table, folder / "part-0-old.parquet")


def test_start_routes_by_arm_logs_exposures_and_stop_ends_it(
    project: goldenpath.Project,
) -> None:
    _clear_logs(project)
    _write_old_log(project)
    started = start_experiment(project, NAME)
    assert (started.status, started.control_version, started.treatment_version) == (
        "running",
        "1",
        "2",
    )
    assert (started.unit, started.salt, started.allocation) == ("customer_id", NAME, 0.5)
    with pytest.raises(ExperimentRefused, match="is running"):
        start_experiment(project, "other")  # one at a time

    customers = list(range(1, 121))
    expected = {c: arm_of(str(c), salt=NAME, allocation=0.5) for c in customers}
    assert set(expected.values()) == {"control", "treatment"}
    version = {"control": "1", "treatment": "2"}
    with live_server(project) as (base, server):
        assert server.deployment.experiment is not None  # read at start, as the aliases are
        ready = json.loads(_get(base, "/v2/health/ready"))
        assert ready["experiment"] == {
            "name": NAME,
            "control": "1",
            "treatment": "2",
            "allocation": 0.5,
        }
        assert ready["problems"] == []
        answers = {c: _predict(base, c) for c in customers}
        for customer, answer in answers.items():
            assert answer["model_version"] == version[expected[customer]], customer
        again = {c: _predict(base, c)["model_version"] for c in customers[:30]}
        assert again == {c: answers[c]["model_version"] for c in customers[:30]}  # sticky
        anonymous = _predict(base, None)  # no unit: the control answers, not exposed
        assert anonymous["model_version"] == "1"
        revenue = {c: float(c % 7) for c in customers[:40]}
        accepted = _post(
            base,
            "/feedback",
            [
                {"request_id": answers[c]["request_id"], "labels": ["yes"], "values": [v]}
                for c, v in revenue.items()
            ],
        )
        assert accepted == {"accepted": 40}
        metrics = _get(base, "/metrics")
        treated = sum(1 for c in customers if expected[c] == "treatment") + sum(
            1 for c in customers[:30] if expected[c] == "treatment"
        )
        line = (
            f'goldenpath_experiment_exposures_total{{arm="treatment",experiment="{NAME}"}} '
            f"{float(treated)}"
        )
        assert line in metrics
        assert (
            f'goldenpath_experiment_unassigned_total{{experiment="{NAME}",reason="no_unit"}} 1.0'
            in (metrics)
        )

        decided = decide_experiment(project, NAME, ship=False, reason="enough for today")
        assert (decided.experiment.status, decided.experiment.decision) == ("stopped", "stop")
        assert decided.promotion_id is None
        _until(lambda: server.deployment.experiment is None, "stopped routing")
        after = [_predict(base, c)["model_version"] for c in customers]
        assert set(after) == {"1"}  # the champion answers everyone again

    rows = [r for r in _rows(project, "predictions") if r["kind"] == "served"]
    old = [r for r in rows if r["request_id"] == "old-1"]
    assert [(r["experiment"], r["arm"], r["unit"]) for r in old] == [(None, None, None)]
    by_id = {a["request_id"]: c for c, a in answers.items()}
    exposed = [r for r in rows if r["request_id"] in by_id]
    assert len(exposed) == len(customers)
    for row in exposed:
        customer = by_id[row["request_id"]]
        assert (row["experiment"], row["arm"], row["unit"]) == (
            NAME,
            expected[customer],
            str(customer),
        )
        assert row["model_version"] == version[expected[customer]]
    unexposed = [r for r in rows if r["request_id"] == anonymous["request_id"]]
    assert [(r["experiment"], r["arm"], r["unit"]) for r in unexposed] == [(None, None, None)]
    assert {r["experiment"] for r in rows if r["timestamp"] is not None} >= {None, NAME}
    # units counted once: every exposed request of a customer names the same unit and arm
    per_unit = {(r["unit"], r["arm"]) for r in rows if r["experiment"] == NAME}
    assert len(per_unit) == len(customers)

    feedback = _rows(project, "feedback")
    values = {r["request_id"]: r["value"] for r in feedback}
    assert values == {answers[c]["request_id"]: v for c, v in revenue.items()}

    actions = [e.action for e in audit_events(project) if e.subject == f"experiments/{NAME}"]
    assert actions == ["experiment.decide", "experiment.start"]  # newest first
    with open_store(project).reading() as connection:
        report = verify_rows(connection)
    assert report.ok, report.problems
    with pytest.raises(ExperimentRefused, match="already decided"):
        decide_experiment(project, NAME, ship=True, reason="changed my mind")
    with pytest.raises(ExperimentRefused, match="already ran"):
        start_experiment(project, NAME)


def _cli(project: goldenpath.Project, *args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(
        app, ["experiment", *args, "--project", str(project.root), "--json"]
    )
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None


def test_the_cli_starts_lists_and_ships(project: goldenpath.Project) -> None:
    code, listed = _cli(project, "list")
    assert code == 0
    assert [(e["name"], e["status"]) for e in listed["experiments"]] == [
        (NAME, "not_started"),
        ("other", "not_started"),
    ]
    code, started = _cli(project, "start", NAME)
    assert code == 0, started
    assert (started["status"], started["treatment_version"]) == ("running", "2")
    changed = project.spec.experiments[0].model_copy(update={"mde": 0.5})
    spec = project.spec.model_copy(update={"experiments": [changed]})
    edited = goldenpath.Project(root=project.root, spec_path=project.spec_path, spec=spec)
    assert [(e.name, e.status, e.in_spec, e.spec_changed) for e in list_experiments(edited)] == [
        (NAME, "running", True, True)
    ]
    code, refused = _cli(project, "decide", NAME, "--ship")
    assert code == ExperimentRefused.exit_code
    assert "needs a reason" in refused["error"]["message"]
    code, shipped = _cli(project, "decide", NAME, "--ship", "--reason", "revenue up 4%")
    assert code == 0, shipped
    assert (shipped["status"], shipped["decision"], shipped["decided_by"]) == (
        "shipped",
        "ship",
        started["started_by"],
    )
    assert shipped["shipped_by_promotion"] is not None
    with open_store(project).reading() as connection:
        assert current_version(connection, project.name, "champion") == "2"
    promotions = [e for e in audit_events(project) if e.action == "promote"]
    assert promotions[0].subject == "small@champion"
    assert promotions[0].payload["to_version"] == "2"
    assert "experiment new-model shipped: revenue up 4%" in promotions[0].payload["reason"]
    code, listed = _cli(project, "list")
    assert [(e["name"], e["status"]) for e in listed["experiments"]] == [
        (NAME, "shipped"),
        ("other", "not_started"),
    ]
    assert active_experiment(project) is None
    with open_store(project).reading() as connection:
        assert verify_rows(connection).ok


def test_what_start_refuses(fresh: goldenpath.Project, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RecordNotFound, match="no experiment 'nope'"):
        start_experiment(fresh, "nope")
    with pytest.raises(ExperimentRefused, match="has no challenger"):
        start_experiment(fresh, NAME)  # treatment: challenger, and there is none yet
    spec = fresh.spec.model_copy(
        update={"experiments": [fresh.spec.experiments[0].model_copy(update={"treatment": "2"})]}
    )
    by_version = goldenpath.Project(root=fresh.root, spec_path=fresh.spec_path, spec=spec)
    with pytest.raises(ExperimentRefused, match="has no gate decision"):
        start_experiment(by_version, NAME)
    act_as(monkeypatch, fresh, "viewer-vic", "viewer")
    with pytest.raises(PermissionDenied):
        start_experiment(fresh, NAME)
    with pytest.raises(PermissionDenied):
        stop_experiment(fresh, NAME, reason="a person's stop needs role developer")
    assert [e.status for e in list_experiments(fresh)] == ["not_started", "not_started"]


def test_a_guardrail_stop_then_a_decision(project: goldenpath.Project) -> None:
    start_experiment(project, NAME)
    stopped = stop_experiment(
        project,
        NAME,
        reason="guardrail latency breached",
        actor=GUARDRAILS_ACTOR,  # goldenpath's own service principal: no role asked
        details={"rule": "latency", "observed": 0.35},
    )
    assert (stopped.status, stopped.decision, stopped.reason, stopped.stopped_by) == (
        "stopped",
        None,
        "guardrail latency breached",
        "goldenpath-guardrails",
    )
    assert stop_experiment(project, NAME, reason="again") == stopped  # nothing written
    (event,) = [e for e in audit_events(project) if e.action == "experiment.stop"]
    assert event.actor == "goldenpath-guardrails"
    assert event.payload["details"] == {"rule": "latency", "observed": 0.35}
    assert event.payload["service"] is True
    decided = decide_experiment(project, NAME, ship=False, reason="the guardrail was right")
    assert (decided.experiment.status, decided.experiment.decision) == ("stopped", "stop")
    assert decided.experiment.reason == "guardrail latency breached"
    assert decided.experiment.decision_reason == "the guardrail was right"
    assert experiment_record(project, NAME).decided_by == decided.experiment.decided_by
    start_experiment(project, "other")  # the next one may start now


def test_a_row_edited_in_sql_is_caught(project: goldenpath.Project) -> None:
    started = start_experiment(project, NAME)
    with open_store(project).transaction() as connection:
        connection.execute(
            text("UPDATE gp_experiments SET allocation = 0.95 WHERE experiment_id = :id"),
            {"id": started.experiment_id},
        )
    with open_store(project).reading() as connection:
        report = verify_rows(connection)
    assert [(p.table, p.key, p.problem) for p in report.problems] == [
        ("gp_experiments", started.experiment_id, "edited")
    ]
    with pytest.raises(AuditChainBroken):
        active_experiment(project)  # what the server reads: it does not route by it
    with pytest.raises(AuditChainBroken):
        decide_experiment(project, NAME, ship=True, reason="ship it")
    with open_store(project).reading() as connection:
        assert current_version(connection, project.name, "champion") == "1"


def test_shipping_again_after_the_champion_moved(project: goldenpath.Project) -> None:
    """A ship that promoted the treatment and died before recording it (here: the champion
    moved to the treatment by hand) is recorded on the next decide, without a second move."""
    start_experiment(project, NAME)
    moved = promote(project, "small/2", reason="promoted while the experiment ran")
    decided = decide_experiment(project, NAME, ship=True, reason="it won")
    assert (decided.experiment.status, decided.promotion_id) == ("shipped", moved.id)
    assert len([e for e in audit_events(project) if e.action == "promote"]) == 3
    with open_store(project).reading() as connection:
        assert current_version(connection, project.name, "champion") == "2"
        assert verify_rows(connection).ok
