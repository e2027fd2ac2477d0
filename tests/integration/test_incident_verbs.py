"""``goldenpath incident``: pin, safe-mode, resume and status on SQLite and PostgreSQL stores,
audited with the actor and timed from the alert they answer; a real server on loopback serves
the pinned former champion, then the fallback in safe mode, each from its next poll, and the
champion again after resume."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from _live import live_server
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
from goldenpath.errors import AuditChainBroken, PermissionDenied, PromotionRefused
from goldenpath.gates import gate
from goldenpath.registry import audit_events, promote, rollback, verify_audit
from goldenpath.registry.controls import pin, serving_controls
from goldenpath.store import open_store
from goldenpath.store.monitoring import Alert, insert_alert
from goldenpath.store.schema import settings

ROW = {"customer_id": 1, "age": 41, "spend": 80.5, "plan": "pro", "balance": 101.0}
POLL = 0.2


@dataclass(frozen=True)
class Trained:
    root: Path
    evaluation_v1: str
    evaluation_v2: str


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    spec = small_spec()
    spec["evaluation"] = {"resamples": 0}
    spec["gates"] = {"metrics": {"roc_auc": {"min": 0.5}}}
    spec["serving"] = {"poll_seconds": POLL, "fallback": {"constant": "no"}}
    root = tmp_path_factory.mktemp("incident") / "project"
    os.environ.pop("GOLDENPATH_STORE_URI", None)
    project = project_with_versions(root, spec)
    return Trained(
        root, recorded_evaluation(project, "small/1"), recorded_evaluation(project, "small/2")
    )


@pytest.fixture
def project(trained: Trained, store_uri: str) -> goldenpath.Project:
    """The trained project with a new store in which v1 is the champion."""
    loaded = goldenpath.open_project(trained.root)
    for version in ("1", "2"):
        keep_recorded_training(loaded, version)
    for evaluation_id in (trained.evaluation_v1, trained.evaluation_v2):
        keep_recorded_evaluation(loaded, evaluation_id)
    gate(loaded, "small/1", evaluation_id=trained.evaluation_v1)
    promote(loaded, "small/1")
    return loaded


def _alert(project: goldenpath.Project, opened: datetime) -> Alert:
    at = opened.isoformat()
    alert = Alert(
        id=0,
        project=project.name,
        stream="small|run|1h||",
        metric="feature.psi",
        subject="spend",
        rule="psi",
        severity="critical",
        status="open",
        value=0.4,
        threshold=0.2,
        window_index=3,
        window_start=at,
        last_window_index=3,
        message="feature.psi of spend is 0.4, above 0.2 (psi)",
        report="",
        opened_at=at,
        updated_at=at,
        resolved_at=None,
    )
    with open_store(project).transaction() as connection:
        return insert_alert(connection, alert)


def _cli(project: goldenpath.Project, *args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(app, ["incident", *args, "--project", str(project.root), "--json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else None


def _get(base: str, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base}{path}", timeout=30) as answer:
        body: dict[str, Any] = json.loads(answer.read())
    return body


def _predict(base: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{base}/predict",
        data=json.dumps({"records": [ROW]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        body: dict[str, Any] = json.loads(answer.read())
    return body


def test_pin_safe_mode_resume_are_audited_and_timed_from_the_alert(
    project: goldenpath.Project,
) -> None:
    alert = _alert(project, datetime.now(UTC) - timedelta(seconds=90))
    code, pinned = _cli(project, "pin", "small/1", "--reason", "spend drifted")
    assert code == 0
    assert pinned["action"] == "pin"
    assert pinned["version"] == "1"
    assert pinned["alert_id"] == alert.id
    assert pinned["seconds_since_alert"] >= 90

    # promotions and rollbacks are refused while pinned, with a clear error
    gate(project, "small/2", evaluation_id=recorded_evaluation(project, "small/2", "champion"))
    with pytest.raises(PromotionRefused, match="pinned to v1"):
        promote(project, "small/2")
    with pytest.raises(PromotionRefused, match="pinned to v1"):
        rollback(project)
    # a version that never served cannot be pinned
    with pytest.raises(PromotionRefused, match="never its champion"):
        pin(project, "2")

    code, safe = _cli(project, "safe-mode", "--alert", str(alert.id))
    assert code == 0
    assert safe["version"] == "constant"
    assert safe["alert_id"] == alert.id

    code, status = _cli(project, "status")
    assert code == 0
    assert status["pinned"] == "1"
    assert status["safe_mode"] is True
    assert [m["action"] for m in status["mitigations"]] == ["pin", "safe_mode"]
    assert status["mttr_seconds"] == pytest.approx(pinned["seconds_since_alert"])

    events = {e.action: e for e in audit_events(project)}
    assert events["incident.pin"].payload["reason"] == "spend drifted"
    assert events["incident.safe_mode"].actor == events["incident.pin"].actor != ""

    code, resumed = _cli(project, "resume")
    assert code == 0
    assert resumed["reason"] == "pin, safe_mode"
    after = serving_controls(project)
    assert after.pinned is None
    assert after.safe_mode is False
    assert "incident.resume" in {e.action for e in audit_events(project)}
    promote(project, "small/2")  # promotions flow again
    code, refused = _cli(project, "resume")
    assert code == 76  # nothing to lift
    assert refused["error"]["code"] == "record_not_found"
    assert verify_audit(project).ok


def test_controls_edited_in_the_database_are_refused(project: goldenpath.Project) -> None:
    pin(project, "1")
    forged = serving_controls(project).model_copy(update={"pinned": None})
    with open_store(project).transaction() as connection:
        connection.execute(
            settings.update()
            .where(settings.c.key == "serving.controls:small")
            .values(value=forged.model_dump_json())
        )
    assert not verify_audit(project).ok
    with pytest.raises(AuditChainBroken, match="serving controls"):
        serving_controls(project)
    with pytest.raises(AuditChainBroken):
        promote(project, "small/2")


def test_a_viewer_cannot_pin(project: goldenpath.Project, monkeypatch: pytest.MonkeyPatch) -> None:
    act_as(monkeypatch, project, "watcher", "viewer")
    with pytest.raises(PermissionDenied):
        pin(project, "1")
    assert serving_controls(project).pinned is None


def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait (bounded) for the server's next polls to apply a change; a server that never does
    fails the test."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"the server never applied {what}"
        time.sleep(POLL)


def test_a_server_applies_the_pin_and_safe_mode_at_its_poll(project: goldenpath.Project) -> None:
    evaluation = recorded_evaluation(project, "small/2", "champion")
    gate(project, "small/2", evaluation_id=evaluation)
    promote(project, "small/2")  # v2 is the champion, v1 a former one
    with live_server(project) as (base, _):
        assert {_predict(base)["model_version"] for _ in range(5)} == {"2"}
        assert _cli(project, "pin", "1")[0] == 0  # back to v1, whatever the alias says
        _until(lambda: _get(base, "/version")["champion"] == "1", "the pin")
        answers = [_predict(base) for _ in range(20)]
        assert {(a["route"], a["model_version"]) for a in answers} == {("champion", "1")}
        assert _get(base, "/v2/health/ready")["controls"]["pinned"] == "1"
        assert _cli(project, "safe-mode")[0] == 0
        _until(lambda: _predict(base)["route"] == "fallback", "safe mode")
        answers = [_predict(base) for _ in range(20)]
        assert {(a["route"], a["degraded"]) for a in answers} == {("fallback", True)}
        assert {a["predictions"][0] for a in answers} == {"no"}
        assert _cli(project, "resume")[0] == 0
        _until(lambda: _get(base, "/version")["champion"] == "2", "the resume")
        answers = [_predict(base) for _ in range(20)]
        assert {(a["route"], a["model_version"]) for a in answers} == {("champion", "2")}
        assert "controls" not in _get(base, "/v2/health/ready")
