"""The server serves only the model files that were judged (issue 15): every load checks the
digest of the files it loads against the one recorded by the decision its promotion names.

A model whose ``model.skops`` is replaced in MLflow's artefact store after promotion is refused
at start (nothing is served) and at a hot swap (the previous version keeps serving), counted as
``artifact_mismatch``; an honest promotion is served with the digest on record; a decision with no
digest (taken before store revision 0005) is served with the ``unverified`` signal. The store
lookup (:func:`~goldenpath.store.records.expected_artifact`) is checked on SQLite and PostgreSQL.

Two versions of the small model are trained once per module (the real server in this process,
:mod:`_live`); v1 is the champion, v2 gated against it and not promoted. Each test leaves the
module as it found it.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
import sqlalchemy as sa
from _live import live_server
from mlflow.tracking import MlflowClient

import goldenpath
import goldenpath.registry
from conftest import project_with_versions, recorded_evaluation, small_spec
from goldenpath.errors import RegistryDrift
from goldenpath.evaluation.artifact import artifact_digest
from goldenpath.gates import gate
from goldenpath.registry import promote, rollback
from goldenpath.serving.models import load_served
from goldenpath.serving.validation import RowValidator
from goldenpath.store import append_event, open_store
from goldenpath.store.bindings import binding
from goldenpath.store.records import (
    Decision,
    ExpectedArtifact,
    decisions_of,
    end_promotion,
    expected_artifact,
    insert_decision,
    start_promotion,
)
from goldenpath.store.schema import decisions as decisions_table

NAME = "small"
ROW = {"customer_id": 1, "age": 41, "spend": 80.5, "plan": "pro", "balance": 101.0}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> goldenpath.Project:
    spec = small_spec()
    spec["evaluation"] = {"resamples": 0}
    spec["gates"] = {"metrics": {"roc_auc": {"min": 0.5}}}
    spec["serving"] = {"poll_seconds": 0.2}
    loaded = project_with_versions(tmp_path_factory.mktemp("artifact") / "project", spec)
    gate(loaded, f"{NAME}/1", evaluation_id=recorded_evaluation(loaded, f"{NAME}/1"))
    promote(loaded, f"{NAME}/1")
    evaluation_v2 = recorded_evaluation(loaded, f"{NAME}/2", against="champion")
    gate(loaded, f"{NAME}/2", evaluation_id=evaluation_v2)
    return loaded


def _client(project: goldenpath.Project) -> MlflowClient:
    return MlflowClient(f"sqlite:///{project.state_dir / 'mlflow.db'}")


def _model_file(project: goldenpath.Project, version: str) -> Path:
    """The version's ``model.skops`` where MLflow keeps it (the project's local artefact store,
    ``.goldenpath/artifacts``)."""
    client = _client(project)
    source = client.get_model_version(NAME, version).source
    location = client.get_logged_model(source.removeprefix("models:/")).artifact_location
    return Path(unquote(urlparse(location).path)) / "model.skops"


@contextmanager
def _replaced(project: goldenpath.Project, version: str) -> Iterator[Path]:
    """Replace ``version``'s estimator by the other version's (a valid model, not garbage:
    only the digest tells them apart), and put it back afterwards."""
    target = _model_file(project, version)
    original = target.read_bytes()
    shutil.copyfile(_model_file(project, "2" if version == "1" else "1"), target)
    assert target.read_bytes() != original
    try:
        yield target
    finally:
        target.write_bytes(original)


def _recorded_digest(project: goldenpath.Project, version: str) -> str:
    with open_store(project).reading() as connection:
        digest = decisions_of(connection, NAME, version)[0].artifact_sha256
    assert digest is not None
    return digest


def call(base: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base + path, data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text.decode()


def _metric(base: str, name: str) -> float | None:
    lines = [line for line in call(base, "/metrics")[1].splitlines() if line.startswith(name)]
    return float(lines[0].split()[-1]) if lines else None


def _eventually(condition: Callable[[], bool]) -> bool:
    """Wait for the watcher to make ``condition`` true (a wait, not a measurement)."""
    deadline = time.monotonic() + 30
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


MISMATCH = 'goldenpath_model_load_failures_total{reason="artifact_mismatch"}'


def test_an_honest_promotion_is_served_with_the_digest_on_record(
    project: goldenpath.Project,
) -> None:
    with live_server(project) as (base, server):
        status, body = call(base, "/predict", ROW)
        assert (status, body["model_version"]) == (200, "1")
        champion = server.deployment.champion
        assert champion is not None
        assert champion.artifact_sha256 == _recorded_digest(project, "1")
        assert champion.unverified is None
        assert _metric(base, MISMATCH) is None
        assert _metric(base, "goldenpath_model_unverified") is None
        assert call(base, "/version")[1]["last_error"] is None


def test_a_champion_replaced_after_promotion_is_refused_at_start(
    project: goldenpath.Project,
) -> None:
    expected = _recorded_digest(project, "1")
    with _replaced(project, "1"), live_server(project) as (base, server):
        assert server.deployment.champion is None  # nothing else to serve: nothing served
        status, body = call(base, "/predict", ROW)
        assert status == 503
        assert "model_version" not in body
        assert call(base, "/v2/health/ready")[0] == 503
        error = call(base, "/version")[1]["last_error"]
        assert error.startswith("champion v1: RegistryDrift: version 1 of small")
        assert expected[:12] in error
        assert "replaced after gate" in error
        assert _metric(base, MISMATCH) == 1.0
    # the library's error: both digests in full, and how to fix it
    validator = RowValidator(project.spec)
    with _replaced(project, "1"), pytest.raises(RegistryDrift) as refused:
        load_served(project, project.spec, "1", validator, lambda *_: pytest.fail("loaded"))
    details = refused.value.details
    assert details["reason"] == "artifact_mismatch"
    assert details["expected_sha256"] == expected
    assert details["found_sha256"] != expected
    assert len(str(details["found_sha256"])) == 64
    assert str(details["found_sha256"])[:12] in refused.value.message
    assert refused.value.hint is not None
    assert f"gate {NAME}/1 again" in refused.value.hint
    # restored, the same files load again
    with live_server(project) as (base, _):
        assert call(base, "/predict", ROW)[1]["model_version"] == "1"


def test_a_version_replaced_before_the_hot_swap_is_refused_and_the_champion_keeps_serving(
    project: goldenpath.Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Keep the server from noticing the promotion until v2's files are replaced: the window
    # between a promotion and the server's next load, held open.
    noticing = threading.Event()
    verified_alias = goldenpath.registry.verified_alias

    def held(project: goldenpath.Project, alias: Any, **kwargs: Any) -> str | None:
        return verified_alias(project, alias, **kwargs) if noticing.is_set() else "1"

    monkeypatch.setattr(goldenpath.registry, "verified_alias", held)
    with live_server(project) as (base, server):
        assert call(base, "/predict", ROW)[1]["model_version"] == "1"
        promote(project, f"{NAME}/2", reason="test: honest evidence")
        try:
            with _replaced(project, "2"):
                noticing.set()
                assert _eventually(lambda: _metric(base, MISMATCH) == 1.0)
                status, body = call(base, "/predict", ROW)
                assert (status, body["model_version"]) == (200, "1")
                assert server.deployment.champion is not None
                assert server.deployment.champion.version == "1"
                error = call(base, "/version")[1]["last_error"]
                assert error.startswith("champion v2: RegistryDrift: version 2 of small")
                assert _recorded_digest(project, "2")[:12] in error
                time.sleep(0.5)  # more polls: the refusal is counted once
                assert _metric(base, MISMATCH) == 1.0
        finally:
            rollback(project, to="1", reason="test: back to the module's champion")


def test_a_decision_without_a_digest_is_served_unverified(
    project: goldenpath.Project, caplog: pytest.LogCaptureFixture
) -> None:
    store = open_store(project)
    decisions = sa.table("gp_decisions", sa.column("model_version"), sa.column("artifact_sha256"))
    digest = _recorded_digest(project, "1")
    with store.transaction() as connection:  # as a decision taken before revision 0005
        connection.execute(
            sa.update(decisions)
            .where(decisions.c.model_version == "1")
            .values(artifact_sha256=None)
        )
        _rebind(connection, "1")  # as revision 0006's migration bound such rows
    try:
        with (
            caplog.at_level(logging.WARNING, logger="goldenpath.serving"),
            live_server(project) as (base, server),
        ):
            status, body = call(base, "/predict", ROW)
            assert (status, body["model_version"]) == (200, "1")
            champion = server.deployment.champion
            assert champion is not None
            assert champion.unverified is not None
            assert "before the store recorded model digests" in champion.unverified
            assert _metric(base, 'goldenpath_model_unverified{version="1"}') == 1.0
            assert _metric(base, MISMATCH) is None
            time.sleep(0.5)  # more polls: warned once
        warned = [r for r in caplog.records if "unverified" in r.getMessage()]
        assert len(warned) == 1
        assert "champion v1" in warned[0].getMessage()
    finally:
        with store.transaction() as connection:
            connection.execute(
                sa.update(decisions)
                .where(decisions.c.model_version == "1")
                .values(artifact_sha256=digest)
            )
            _rebind(connection, "1")


def _rebind(connection: sa.Connection, version: str) -> None:
    """Bind the version's decisions as they are now into the audit chain (what a goldenpath
    write, or the migration to revision 0006, does)."""
    ids = [d.decision_id for d in decisions_of(connection, NAME, version)]
    rows = [binding(connection, decisions_table, i) for i in ids]
    append_event(
        connection,
        actor="test",
        action="store.bind",
        project="*",
        subject="store",
        payload={"rows": rows},
    )


def test_a_digest_rewritten_in_the_database_is_refused(project: goldenpath.Project) -> None:
    """Someone who can write both MLflow's artefacts and the store's database replaces v1's
    files and writes their digest into its decision: the decision row no longer matches what
    the audit chain recorded of it, and the server refuses to load v1."""
    store = open_store(project)
    decisions = sa.table("gp_decisions", sa.column("model_version"), sa.column("artifact_sha256"))
    digest = _recorded_digest(project, "1")
    with _replaced(project, "1") as replaced:
        forged = artifact_digest(replaced.parent)
        assert forged != digest
        with store.transaction() as connection:
            connection.execute(
                sa.update(decisions)
                .where(decisions.c.model_version == "1")
                .values(artifact_sha256=forged)
            )
        try:
            with live_server(project) as (base, server):
                assert server.deployment.champion is None
                assert call(base, "/predict", ROW)[0] == 503
                error = call(base, "/version")[1]["last_error"]
                assert error.startswith("champion v1: AuditChainBroken: serving version 1")
                assert "gp_decisions row" in error
                refused = 'goldenpath_model_load_failures_total{reason="audit_chain_broken"}'
                assert _metric(base, refused) == 1.0
        finally:
            with store.transaction() as connection:
                connection.execute(
                    sa.update(decisions)
                    .where(decisions.c.model_version == "1")
                    .values(artifact_sha256=digest)
                )
    with live_server(project) as (base, _):  # restored: served again
        assert call(base, "/predict", ROW)[1]["model_version"] == "1"


def _decision(decision_id: str, version: str, digest: str | None) -> Decision:
    return Decision(
        decision_id=decision_id,
        project=NAME,
        model_name=NAME,
        model_version=version,
        run_id=f"run-{version}",
        evaluation_id=f"evaluation-{decision_id}",
        evaluation_sha256="e" * 64,
        compared_with=None,
        verdict="pass",
        rules=(),
        gates_sha256="g" * 64,
        actor="tests",
        created_at="2026-01-01T00:00:00+00:00",
        artifact_sha256=digest,
    )


def _move(
    connection: sa.Connection,
    version: str,
    decision_id: str | None,
    *,
    kind: str = "promote",
    alias: str = "champion",
    state: str = "completed",
) -> int:
    promotion_id = start_promotion(
        connection,
        project=NAME,
        model_name=NAME,
        alias=alias,
        from_version=None,
        to_version=version,
        kind=kind,
        decision_id=decision_id,
        actor="tests",
        reason="",
        owner="tests:1",
        created_at="2026-01-01T00:00:00+00:00",
        completed_at=None,
    )
    if state != "pending":
        end_promotion(connection, promotion_id, state, "2026-01-01T00:00:01+00:00")
    return promotion_id


def test_the_expected_digest_is_the_newest_completed_decision_bearing_move(
    store_uri: str,
) -> None:
    store = open_store(uri=store_uri)
    with store.transaction() as connection:
        for decision_id, version, digest in (
            ("d1", "1", "a" * 64),
            ("d1b", "1", "b" * 64),
            ("d2", "2", None),
            ("d3", "3", "c" * 64),
        ):
            insert_decision(connection, _decision(decision_id, version, digest))
        _move(connection, "1", "d1")
        newest_v1 = _move(connection, "1", "d1b", alias="challenger")
        first_v2 = _move(connection, "2", "d2")
        _move(connection, "1", None, kind="restore")  # names no decision: passed over
        _move(connection, "3", "d3", state="abandoned")
        pending = _move(connection, "3", "d3", state="pending")

    def expected(version: str) -> ExpectedArtifact | None:
        with store.reading() as connection:
            return expected_artifact(connection, NAME, version)

    assert expected("1") == ExpectedArtifact("d1b", newest_v1, "b" * 64)
    assert expected("2") == ExpectedArtifact("d2", first_v2, None)  # before revision 0005
    assert expected("3") is None  # never completed
    assert expected("4") is None  # never promoted
    with store.transaction() as connection:  # a rollback naming the decision it returns to
        end_promotion(connection, pending, "abandoned", "2026-01-01T00:00:02+00:00")
        rolled = _move(connection, "1", "d1", kind="rollback")
    assert expected("1") == ExpectedArtifact("d1", rolled, "a" * 64)
