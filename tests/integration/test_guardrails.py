"""Guardrails on a real server on loopback: a deliberately slow challenger at canary share 0.5,
under a bounded load, is halted by its p95 latency guardrail; after the halt no answer comes
from it (answers and the prediction log), and the alert, the audit event and readiness say why.
Readmitted as the treatment of a running experiment, it is halted again and the experiment is
stopped.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from _live import live_server

import goldenpath
from conftest import project_with_versions, recorded_evaluation, small_spec
from goldenpath.experiments.lifecycle import experiment_record, start_experiment
from goldenpath.gates import gate
from goldenpath.registry import audit_events, promote
from goldenpath.registry.controls import resume, serving_controls
from goldenpath.serving.batcher import Columns, Outputs
from goldenpath.serving.models import ServedModel
from goldenpath.serving.server import Server
from goldenpath.store import open_store
from goldenpath.store.monitoring import list_alerts

ROW = {"customer_id": 1, "age": 41, "spend": 80.5, "plan": "pro", "balance": 101.0}
POLL = 0.2


def _spec() -> dict[str, Any]:
    spec = small_spec()
    spec["evaluation"] = {"resamples": 0}
    spec["gates"] = {"metrics": {"roc_auc": {"min": 0.5}}}
    spec["serving"] = {
        "challenger": "canary",
        "canary_share": 0.5,
        "poll_seconds": POLL,
        "log": {"flush_seconds": 0.1},
        "guardrails": [
            {
                "metric": "p95_latency_ms",
                "max_relative_increase": 1.0,
                "min_rows": 30,
                "window": "10m",
                "name": "challenger latency",
            }
        ],
    }
    spec["experiments"] = [
        {
            "name": "guarded",
            "hypothesis": "v2 is right more often",
            "primary": {"name": "correct", "source": "correct", "kind": "proportion"},
            "mde": 0.05,
        }
    ]
    return spec


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> goldenpath.Project:
    os.environ.pop("GOLDENPATH_STORE_URI", None)
    folder = tmp_path_factory.mktemp("guardrails") / "project"
    project: goldenpath.Project = project_with_versions(folder, _spec())
    gate(project, "small/1", evaluation_id=recorded_evaluation(project, "small/1"))
    promote(project, "small/1")
    evaluation = recorded_evaluation(project, "small/2", "champion")
    gate(project, "small/2", evaluation_id=evaluation)
    promote(project, "small/2", to="challenger")
    return project


def _predict(base: str, key: str, customer: int = 1) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{base}/predict",
        data=json.dumps({"records": [{**ROW, "customer_id": customer}], "key": key}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        body: dict[str, Any] = json.loads(answer.read())
    return body


def _until(condition: Callable[[], bool]) -> None:
    """Wait (bounded) for the server's poll to apply the halt; one that never does fails."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, "the server never applied the halt"
        time.sleep(POLL)


def _get(base: str, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base}{path}", timeout=30) as answer:
        body: dict[str, Any] = json.loads(answer.read())
    return body


def test_a_slow_challenger_is_rolled_back_under_load(
    project: goldenpath.Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    with live_server(project) as (base, server):
        deployment = server.deployment
        assert deployment.challenger is not None
        assert deployment.challenger.version == "2"
        original = deployment._ask

        async def slow_challenger(served: ServedModel, columns: Columns) -> Outputs:
            if served.version == "2":  # the deliberately bad candidate: 250 ms more per answer
                await asyncio.sleep(0.25)
            return await original(served, columns)

        monkeypatch.setattr(deployment, "_ask", slow_challenger)
        before: list[dict[str, Any]] = []
        for i in range(600):  # bounded load: stop once the breach is recorded
            before.append(_predict(base, f"customer-{i}"))
            if i % 20 == 19 and serving_controls(project).halted:
                break
        controls = serving_controls(project)
        assert "2" in controls.halted, "the guardrail never fired"
        assert {a["model_version"] for a in before} == {"1", "2"}  # both answered at first
        _until(lambda: _get(base, "/version")["challenger"] is None)  # applied at its poll
        applied = datetime.now(UTC)
        after = [_predict(base, f"customer-{i}") for i in range(200)]
        assert {(a["route"], a["model_version"]) for a in after} == {("champion", "1")}
        ready = _get(base, "/v2/health/ready")
        assert ready["controls"]["halted"] == ["2"]
        assert ready["problems"] == []
        metrics = urllib.request.urlopen(f"{base}/metrics", timeout=30).read().decode()
        assert "goldenpath_guardrail_rollbacks_total 1.0" in metrics
        assert 'goldenpath_serving_control{control="halted"} 1.0' in metrics

    # the log: once the halt is applied every served row is the champion's
    logged = pq.read_table(project.state_dir / "logs" / "predictions").to_pylist()
    late = [r for r in logged if r["timestamp"] >= applied]
    assert len(late) >= 200
    assert {(r["route"], r["model_version"]) for r in late} == {("champion", "1")}

    # the evidence: an audit event with the verdict, an open alert, a notification to the sinks
    events = [e for e in audit_events(project) if e.action == "guardrail.rollback"]
    assert len(events) == 1
    (verdict,) = events[0].payload["evidence"]["verdicts"]
    assert verdict["metric"] == "p95_latency_ms"
    assert verdict["status"] == "breached"
    assert verdict["challenger_rows"] >= 30
    assert verdict["champion_rows"] >= 30
    assert verdict["observed"] > verdict["threshold"] == 1.0
    assert events[0].actor == "goldenpath-guardrails"
    with open_store(project).reading() as connection:
        (alert,) = list_alerts(connection, project.name, status="open")
    assert alert.metric == "guardrail.p95_latency_ms"
    assert alert.severity == "critical"
    assert controls.mitigations[-1].alert_id == alert.id
    sent = Path(project.root / ".goldenpath" / "monitoring" / "alerts.jsonl").read_text()
    assert json.loads(sent.splitlines()[-1])["id"] == alert.id


def _slowed(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    deployment = server.deployment
    original = deployment._ask

    async def slow_treatment(served: ServedModel, columns: Columns) -> Outputs:
        if served.version == "2":
            await asyncio.sleep(0.25)
        return await original(served, columns)

    monkeypatch.setattr(deployment, "_ask", slow_treatment)


def test_a_breach_stops_the_experiment_on_the_treatment(
    project: goldenpath.Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    if serving_controls(project).active:  # the canary test halted v2: readmit it
        resume(project, readmit=True, reason="v2 as an experiment's treatment")
    start_experiment(project, "guarded")
    with live_server(project) as (base, server):
        assert server.deployment.experiment is not None
        _slowed(server, monkeypatch)
        before = []
        for i in range(600):
            before.append(_predict(base, f"k{i}", customer=1000 + i))
            if i % 20 == 19 and serving_controls(project).halted:
                break
        assert "2" in serving_controls(project).halted, "the guardrail never fired"
        assert {a["model_version"] for a in before} == {"1", "2"}
        _until(lambda: _get(base, "/version")["challenger"] is None)
        after = [_predict(base, f"k{i}", customer=1000 + i) for i in range(100)]
        assert {a["model_version"] for a in after} == {"1"}
    stopped = experiment_record(project, "guarded")
    assert stopped.status == "stopped"
    assert stopped.decision is None  # stopped, not decided: the readout is still to be done
    assert stopped.stopped_by == "goldenpath-guardrails"
    assert stopped.reason is not None
    assert stopped.reason.startswith("guardrail: challenger latency of challenger v2")
    (event,) = [e for e in audit_events(project) if e.action == "experiment.stop"]
    assert event.payload["details"]["verdicts"][0]["metric"] == "p95_latency_ms"
