"""Signed checkpoints on a schedule from a real server (uvicorn on loopback, in this process) and
from ``goldenpath monitor``: with ``audit.checkpoints`` the server writes checkpoints into the
folder every period, and ``goldenpath audit verify --checkpoint`` verifies them; without a key
it keeps serving, counts each failure in /metrics and says so in readiness; monitor writes one
when one is due and not when not, and reports a failure without losing its results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from _live import live_server
from test_monitor import DAY_ONE, _log

import goldenpath
from conftest import (
    MakeProject,
    act_as,
    project_with_versions,
    recorded_evaluation,
    small_frame,
    small_spec,
)
from goldenpath.gates import gate
from goldenpath.monitoring import MonitorOutput
from goldenpath.registry import promote
from goldenpath.registry.checkpoints import create_checkpoint_key, verify_with_checkpoints
from goldenpath.workflows.monitoring import monitor

GOLDENPATH = str(Path(sys.executable).parent / "goldenpath")
ROW = {"customer_id": 1, "age": 41, "spend": 80.5, "plan": "pro", "balance": 101.0}


def _get(base: str, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(base + path, timeout=30) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode()


def _sample(text: str, name: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.split()[-1])


def _eventually(condition: Callable[[], bool]) -> bool:
    """Wait for the schedule to make ``condition`` true (a wait, not a measurement)."""
    deadline = time.monotonic() + 60
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    return condition()


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GOLDENPATH, *args], cwd=root, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "keys" / "checkpoint.key"
    return key, Path(create_checkpoint_key(key).public_key)


@pytest.fixture
def served(
    make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> goldenpath.Project:
    """A project whose server signs a checkpoint every second into a folder outside it, acting
    as an approver; no model is trained (a constant fallback answers): checkpoints need none."""
    spec = small_spec()
    spec["serving"] = {"fallback": {"constant": "no"}}
    spec["audit"] = {"checkpoints": {"every": "1s", "out": str(tmp_path / "vault")}}
    project = goldenpath.open_project(make_project(spec=spec))
    act_as(monkeypatch, project, "auditor", "approver")
    return project


def test_the_server_writes_checkpoints_every_period_and_they_verify(
    served: goldenpath.Project,
    keys: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOLDENPATH_CHECKPOINT_KEY", str(keys[0]))
    vault = tmp_path / "vault"
    with live_server(served) as (base, _):
        assert _eventually(lambda: len(list(vault.glob("*.json"))) >= 3)
        status, metrics = _get(base, "/metrics")
        assert status == 200
        assert _sample(metrics, "goldenpath_checkpoints_written_total") >= 3
        assert 'goldenpath_checkpoint_failures_total{reason="' not in metrics
        assert _sample(metrics, "goldenpath_checkpoint_last_success_timestamp_seconds") > 0
        assert _sample(metrics, "goldenpath_checkpoint_head_seq") > 0
        status, ready = _get(base, "/v2/health/ready")
        assert (status, ready["degraded"], ready["problems"]) == (200, False, [])
        assert ready["checkpoints"]["status"] in ("written", "not_due")
        assert ready["checkpoints"]["every_seconds"] == 1

    written = sorted(vault.glob("*.json"))
    heads = [json.loads(p.read_text())["head_seq"] for p in written]
    assert heads == sorted(set(heads))  # each a new head: one checkpoint per period
    done = _cli(
        served.root,
        "audit",
        "verify",
        "--checkpoint",
        str(vault),
        "--public-key",
        str(keys[1]),
        "--json",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"]
    assert len(report["checkpoints"]) == len(written)
    assert all(check["ok"] for check in report["checkpoints"])


def test_without_a_key_the_server_keeps_serving_and_counts_each_failure(
    served: goldenpath.Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOLDENPATH_CHECKPOINT_KEY", raising=False)

    def failures() -> float:
        _, metrics = _get(base, "/metrics")
        line = 'goldenpath_checkpoint_failures_total{reason="no_key"}'
        return _sample(metrics, line) if line in metrics else 0.0

    with live_server(served) as (base, _):
        assert _eventually(lambda: failures() >= 2)  # tried again: the schedule did not die
        assert _get(base, "/v2/health/live") == (200, {"live": True})
        status, ready = _get(base, "/v2/health/ready")
        assert (status, ready["ready"], ready["degraded"]) == (200, True, True)
        assert ready["problems"][0].startswith("checkpoints: no_key: ")
        assert ready["checkpoints"]["reason"] == "no_key"
        request = urllib.request.Request(
            f"{base}/predict",
            data=json.dumps(ROW).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # still answering
            assert json.loads(response.read())["predictions"] == ["no"]
    assert not (tmp_path / "vault").exists()


# ------------------------------------------------------------------------------ monitor


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> goldenpath.Project:
    """One small trained champion with a day of prediction log, for the monitor tests (each
    monitors it with a store of its own, ``store_uri``, so that no checkpoint is there yet)."""
    folder = tmp_path_factory.mktemp("checkpoints") / "project"
    os.environ.pop("GOLDENPATH_STORE_URI", None)
    spec = small_spec()
    spec["evaluation"] = {"resamples": 0}
    spec["monitoring"] = {"window": "1d"}
    spec["audit"] = {"checkpoints": {"every": "1h"}}
    project = project_with_versions(folder, spec, versions=1)
    gate(project, "small/1", evaluation_id=recorded_evaluation(project, "small/1"))
    promote(project, "small/1")
    _log(project, small_frame(n=600, seed=7), DAY_ONE, prefix="a")
    return project


def _written(project: goldenpath.Project) -> list[Path]:
    return sorted((project.root / ".goldenpath" / "checkpoints").glob("*.json"))


def test_monitor_writes_a_checkpoint_when_due_and_not_when_not(
    store_uri: str,
    champion: goldenpath.Project,
    keys: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOLDENPATH_CHECKPOINT_KEY", str(keys[0]))
    act_as(monkeypatch, champion, "auditor", "approver")
    before = _written(champion)

    first = monitor(champion, "1")  # the version: this new store has no champion alias
    assert first.run.report.windows[0].rows == 600  # the monitor's results are whole
    assert first.checkpoint is not None
    assert first.checkpoint.status == "written", first.checkpoint.message
    (new,) = set(_written(champion)) - set(before)
    assert str(new) == first.checkpoint.path

    second = monitor(champion, "1")
    assert second.checkpoint is not None
    assert second.checkpoint.status == "not_due"  # every: 1h
    assert second.checkpoint.last_at == first.checkpoint.last_at
    assert second.checkpoint.due_at is not None
    assert datetime.fromisoformat(second.checkpoint.due_at) > datetime.now(UTC)
    assert set(_written(champion)) - set(before) == {new}
    verified = verify_with_checkpoints(champion, [new], [keys[1]])
    assert verified.ok


def test_monitor_reports_a_failed_checkpoint_and_keeps_its_results(
    store_uri: str,
    champion: goldenpath.Project,
    keys: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    act_as(monkeypatch, champion, "auditor", "approver")
    monkeypatch.delenv("GOLDENPATH_CHECKPOINT_KEY", raising=False)
    args = ("monitor", "--reference", "1", "--json")
    done = _cli(champion.root, *args)
    assert done.returncode == 0, done.stderr  # as a failed alert sink: reported, exit 0
    printed = MonitorOutput.model_validate(json.loads(done.stdout))
    assert printed.windows[0].rows == 600
    assert printed.checkpoint is not None
    assert (printed.checkpoint.status, printed.checkpoint.reason) == ("failed", "no_key")
    assert "checkpoint failed (no_key)" in done.stderr

    monkeypatch.setenv("GOLDENPATH_CHECKPOINT_KEY", str(keys[0]))
    done = _cli(champion.root, *args)
    assert done.returncode == 0, done.stderr
    written = MonitorOutput.model_validate(json.loads(done.stdout)).checkpoint
    assert written is not None
    assert written.status == "written"
    assert written.path is not None
    assert Path(written.path).exists()
    text = _cli(champion.root, "monitor", "--reference", "1")
    assert text.returncode == 0, text.stderr
    assert "checkpoint: not due before" in text.stdout
