"""Signed checkpoints on a schedule (``audit.checkpoints``): the spec section and its durations,
when a checkpoint is due, and :func:`scheduled_checkpoint` on SQLite and PostgreSQL: written when
due, not when not, every failure an outcome with its reason (never an exception), two processes
never both signing for one period, and the server's record of outcomes (counted, logged once
per new reason)."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text

import goldenpath
from conftest import MakeProject, act_as, small_spec, store_rows
from goldenpath.errors import SpecInvalid, SpecUnknownKey
from goldenpath.registry import checkpoints as checkpoints_module
from goldenpath.registry.checkpoints import (
    ScheduledCheckpoint,
    checkpoint_due,
    create_checkpoint_key,
    scheduled_checkpoint,
    verify_with_checkpoints,
)
from goldenpath.serving import server as server_module
from goldenpath.serving.metrics import ServerMetrics
from goldenpath.serving.server import Checkpoints
from goldenpath.spec import parse_spec
from goldenpath.spec._durations import parse_duration
from goldenpath.spec.monitoring import parse_window
from goldenpath.spec.serving import SloSpec
from goldenpath.store import open_store

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# ------------------------------------------------------------------------------ the spec


@pytest.mark.parametrize(
    ("given", "seconds"), [("1s", 1), ("45s", 45), ("15m", 900), ("1h", 3600), ("2d", 172800)]
)
def test_durations_are_a_whole_number_and_a_unit(given: str, seconds: int) -> None:
    assert parse_duration(given) == seconds


@pytest.mark.parametrize("given", ["0s", "0h", "1.5h", "1w", "h", "", "-1m", "10"])
def test_anything_else_is_not_a_duration(given: str) -> None:
    with pytest.raises(ValueError, match="not a positive duration"):
        parse_duration(given)


def test_monitoring_windows_keep_their_units() -> None:
    assert parse_window("30m") == ("time", 1800)
    assert parse_window("5000-rows") == ("rows", 5000)
    for refused in ("30s", "0-rows", "0m", "1w"):
        with pytest.raises(ValueError, match="not a duration"):
            parse_window(refused)


def _spec_text(**audit: Any) -> str:
    spec = small_spec()
    if audit:
        spec["audit"] = audit
    return yaml.safe_dump(spec)


def test_the_audit_section_is_optional_and_schedules_nothing_by_default() -> None:
    assert parse_spec(_spec_text()).audit.checkpoints is None
    assert parse_spec(_spec_text(checkpoints=None)).audit.checkpoints is None


def test_the_audit_section_reads_every_and_out() -> None:
    spec = parse_spec(_spec_text(checkpoints={"every": "15m", "out": "/vault/checkpoints"}))
    schedule = spec.audit.checkpoints
    assert schedule is not None
    assert (schedule.every, schedule.every_seconds, schedule.out) == (
        "15m",
        900,
        "/vault/checkpoints",
    )
    default = parse_spec(_spec_text(checkpoints={"every": "1h"})).audit.checkpoints
    assert default is not None
    assert default.out is None


def test_the_audit_section_refuses_a_bad_duration_and_unknown_keys() -> None:
    with pytest.raises(SpecInvalid, match="every"):
        parse_spec(_spec_text(checkpoints={"every": "1 week"}))
    with pytest.raises(SpecInvalid):
        parse_spec(_spec_text(checkpoints={"out": "kept"}))  # every is required
    with pytest.raises(SpecUnknownKey, match="key"):
        parse_spec(_spec_text(checkpoints={"every": "1h", "key": "/secrets/checkpoint.key"}))


def test_every_spec_key_of_the_section_is_described() -> None:
    from goldenpath.spec.audit import AuditSpec, CheckpointScheduleSpec

    for model in (AuditSpec, CheckpointScheduleSpec):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


# ------------------------------------------------------------------------------ when it is due


def test_a_checkpoint_is_due_with_none_yet_or_once_the_newest_is_every_old() -> None:
    hour = timedelta(hours=1)
    assert checkpoint_due(None, hour, NOW)
    assert checkpoint_due(NOW - hour, hour, NOW)
    assert checkpoint_due(NOW - 2 * hour, hour, NOW)
    assert not checkpoint_due(NOW - hour + timedelta(seconds=1), hour, NOW)
    assert not checkpoint_due(NOW, hour, NOW)
    assert not checkpoint_due(NOW + timedelta(minutes=5), hour, NOW)  # a clock behind the store's


def test_the_time_until_due() -> None:
    due = ScheduledCheckpoint(
        status="not_due", every_seconds=3600, due_at=(NOW + timedelta(minutes=10)).isoformat()
    )
    assert due.seconds_until_due(NOW) == 600
    assert due.seconds_until_due(NOW + timedelta(hours=1)) == 0
    assert ScheduledCheckpoint(status="failed", every_seconds=60).seconds_until_due(NOW) == 0


# ------------------------------------------------------------------------------ on a store


@pytest.fixture
def keyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    key = tmp_path / "keys" / "checkpoint.key"
    created = create_checkpoint_key(key)
    monkeypatch.setenv("GOLDENPATH_CHECKPOINT_KEY", str(key))
    return key, Path(created.public_key)


def _scheduled(make_project: MakeProject, every: str = "1h", **extra: Any) -> Any:
    spec = small_spec()
    spec["audit"] = {"checkpoints": {"every": every, **extra}}
    return goldenpath.open_project(make_project(spec=spec))


def test_without_the_section_nothing_is_scheduled(
    store_uri: str, make_project: MakeProject, keyed: tuple[Path, Path]
) -> None:
    project = goldenpath.open_project(make_project())
    assert scheduled_checkpoint(project) is None
    assert not (project.root / ".goldenpath" / "checkpoints").exists()


def test_written_when_due_then_not_due_until_every_has_passed(
    store_uri: str,
    make_project: MakeProject,
    keyed: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = _scheduled(make_project, out="kept")
    act_as(monkeypatch, project, "auditor", "approver")

    first = scheduled_checkpoint(project)
    assert first is not None
    assert first.status == "written", first.message
    assert first.path is not None
    assert Path(first.path).parent == project.root / "kept"  # out: relative to the project
    assert first.last_at is not None
    assert first.due_at == (datetime.fromisoformat(first.last_at) + timedelta(hours=1)).isoformat()

    before = store_rows(project)
    again = scheduled_checkpoint(project)
    assert again is not None
    assert again.status == "not_due"
    assert (again.path, again.head_seq) == (None, first.head_seq)
    assert store_rows(project) == before  # not due: nothing written, nothing audited
    assert [p.name for p in (project.root / "kept").iterdir()] == [Path(first.path).name]

    verification = verify_with_checkpoints(project, [project.root / "kept"], [keyed[1]])
    assert verification.ok
    assert verification.checkpoints[0].ok


def test_due_again_once_every_has_passed(
    store_uri: str,
    make_project: MakeProject,
    keyed: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = _scheduled(make_project, every="1s")
    act_as(monkeypatch, project, "auditor", "approver")
    first = scheduled_checkpoint(project)
    assert first is not None
    assert first.status == "written", first.message
    threading.Event().wait(1.2)  # a wait for the period to pass, not a measurement
    second = scheduled_checkpoint(project)
    assert second is not None
    assert second.status == "written", second.message
    assert first.head_seq is not None
    assert second.head_seq is not None
    assert second.head_seq > first.head_seq  # the second covers the first's event
    folder = project.root / ".goldenpath" / "checkpoints"  # the default folder
    assert len(list(folder.glob("*.json"))) == 2


def test_two_processes_never_both_sign_for_one_period(
    store_uri: str,
    make_project: MakeProject,
    keyed: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = _scheduled(make_project)
    act_as(monkeypatch, project, "auditor", "approver")
    real = checkpoints_module.read_private_key
    both_found_it_due = threading.Barrier(2, timeout=30)

    def read_after_both_checked(path: Path) -> Any:
        both_found_it_due.wait()  # each saw no checkpoint yet; the chain's lock decides
        return real(path)

    monkeypatch.setattr(checkpoints_module, "read_private_key", read_after_both_checked)
    outcomes: list[ScheduledCheckpoint | None] = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(scheduled_checkpoint(project)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(o.status for o in outcomes if o is not None) == ["not_due", "written"]
    folder = project.root / ".goldenpath" / "checkpoints"
    assert len(list(folder.glob("*.json"))) == 1


def test_no_key_is_a_failure_that_changes_nothing(
    store_uri: str, make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _scheduled(make_project)
    act_as(monkeypatch, project, "auditor", "approver")
    monkeypatch.delenv("GOLDENPATH_CHECKPOINT_KEY", raising=False)
    before = store_rows(project)
    outcome = scheduled_checkpoint(project)
    assert outcome is not None
    assert (outcome.status, outcome.reason) == ("failed", "no_key")
    assert "GOLDENPATH_CHECKPOINT_KEY" in (outcome.message or "")
    assert store_rows(project) == before


def test_a_key_others_may_read_is_refused(
    store_uri: str,
    make_project: MakeProject,
    keyed: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = _scheduled(make_project)
    act_as(monkeypatch, project, "auditor", "approver")
    keyed[0].chmod(0o644)
    outcome = scheduled_checkpoint(project)
    assert outcome is not None
    assert (outcome.status, outcome.reason) == ("failed", "key_unreadable")
    assert "chmod 600" in (outcome.message or "")
    monkeypatch.setenv("GOLDENPATH_CHECKPOINT_KEY", str(keyed[0].parent / "missing.key"))
    missing = scheduled_checkpoint(project)
    assert missing is not None
    assert missing.reason == "key_unreadable"


def test_an_identity_without_role_approver_is_refused(
    store_uri: str,
    make_project: MakeProject,
    keyed: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = _scheduled(make_project)
    act_as(monkeypatch, project, "dev", "developer")
    before = store_rows(project)
    outcome = scheduled_checkpoint(project)
    assert outcome is not None
    assert (outcome.status, outcome.reason) == ("failed", "permission_denied")
    assert store_rows(project) == before
    assert not (project.root / ".goldenpath" / "checkpoints").exists()
    monkeypatch.setenv("GOLDENPATH_TOKEN", "gp_not-a-token")
    unproven = scheduled_checkpoint(project)
    assert unproven is not None
    assert unproven.reason == "authentication_failed"


def test_a_broken_chain_is_never_signed(
    store_uri: str,
    make_project: MakeProject,
    keyed: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = _scheduled(make_project)
    act_as(monkeypatch, project, "auditor", "approver")
    with open_store(project).transaction() as connection:
        connection.execute(text("UPDATE gp_audit_events SET actor = 'mallory' WHERE seq = 1"))
    outcome = scheduled_checkpoint(project)
    assert outcome is not None
    assert (outcome.status, outcome.reason) == ("failed", "chain_broken")
    assert not (project.root / ".goldenpath" / "checkpoints").exists()


def test_a_store_that_cannot_be_reached_is_a_failure_not_an_exception(
    make_project: MakeProject, keyed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _scheduled(make_project)
    monkeypatch.setenv("GOLDENPATH_STORE_URI", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    outcome = scheduled_checkpoint(project)
    assert outcome is not None
    assert (outcome.status, outcome.reason) == ("failed", "store_unavailable")


def test_a_folder_that_cannot_be_written_is_a_failure(
    make_project: MakeProject, keyed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _scheduled(make_project, out="blocked/checkpoints")
    (project.root / "blocked").write_text("a file where the folder should be")
    before = store_rows(project)
    outcome = scheduled_checkpoint(project)
    assert outcome is not None
    assert (outcome.status, outcome.reason) == ("failed", "write_failed")
    assert store_rows(project) == before  # no file, no event


# ------------------------------------------------------------------------------ in the server


def _failed(reason: Any) -> ScheduledCheckpoint:
    return ScheduledCheckpoint(status="failed", every_seconds=60, reason=reason, message="boom")


def test_the_server_counts_every_failure_and_logs_each_new_reason_once(
    make_project: MakeProject, caplog: pytest.LogCaptureFixture
) -> None:
    project = _scheduled(make_project)
    metrics = ServerMetrics(SloSpec())
    schedule = Checkpoints(project, metrics)
    caplog.set_level(logging.INFO, logger="goldenpath.serving")
    for reason in ("no_key", "no_key", "no_key", "permission_denied"):
        schedule.observe(_failed(reason))
    assert schedule.problems() == ["checkpoints: permission_denied: boom"]
    written = ScheduledCheckpoint(
        status="written",
        every_seconds=60,
        path="/kept/x.json",
        head_seq=7,
        last_at=NOW.isoformat(),
    )
    schedule.observe(written)
    schedule.observe(_failed("no_key"))

    exposition = metrics.exposition().decode()
    assert 'goldenpath_checkpoint_failures_total{reason="no_key"} 4.0' in exposition
    assert 'goldenpath_checkpoint_failures_total{reason="permission_denied"} 1.0' in exposition
    assert "goldenpath_checkpoints_written_total 1.0" in exposition
    assert "goldenpath_checkpoint_head_seq 7.0" in exposition
    stamp = metrics.checkpoint_last_success._value.get()
    assert stamp == NOW.timestamp()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3  # no_key, permission_denied, and no_key again after a success
    assert "(no_key)" in warnings[0]
    assert "(permission_denied)" in warnings[1]


def test_the_schedule_outlives_a_check_that_raises(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _scheduled(make_project)
    metrics = ServerMetrics(SloSpec())
    schedule = Checkpoints(project, metrics)
    calls: list[int] = []

    async def check() -> float:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        raise asyncio.CancelledError  # the server's shutdown

    monkeypatch.setattr(schedule, "check", check)
    monkeypatch.setattr(server_module, "_CHECKPOINT_RETRY_SECONDS", 0.0)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(schedule.run())
    assert len(calls) == 2  # checked again after the failure
    exposition = metrics.exposition().decode()
    assert 'goldenpath_checkpoint_failures_total{reason="unexpected"} 1.0' in exposition
