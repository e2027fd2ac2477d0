"""The prediction log of a real server (uvicorn on loopback, in this process) never dies: a
request the log cannot hold, written through the server's own log path, is set aside in the
quarantine; the server says degraded (still ready) until the log writes again, counts it in
/metrics, and the 1,000 requests after it are all logged by the graceful shutdown."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pyarrow.parquet as pq
import pytest
from _live import live_server

import goldenpath
from conftest import MakeProject, recorded_evaluation, small_frame, small_spec
from goldenpath.gates import gate
from goldenpath.registry import promote
from goldenpath.serving.batcher import Outputs
from goldenpath.serving.deployment import Answer

ROW = {"customer_id": 1, "age": 41, "spend": 80.5, "plan": "pro", "balance": 101.0}
GOOD = 1000


@pytest.fixture
def champion(make_project: MakeProject) -> goldenpath.Project:
    spec = small_spec()
    spec["evaluation"] = {"resamples": 0}
    spec["serving"] = {"log": {"flush_seconds": 0.1}}
    project = goldenpath.open_project(make_project(spec=spec))
    goldenpath.train(project)
    gate(project, "small/1", evaluation_id=recorded_evaluation(project, "small/1"))
    promote(project, "small/1")
    return project


def _get(base: str, path: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(base + path, timeout=30) as response:
        return response.status, response.read()


def _predict(base: str, i: int) -> str:
    request = urllib.request.Request(
        f"{base}/predict",
        data=json.dumps({**ROW, "customer_id": i + 1}).encode(),
        headers={"Content-Type": "application/json", "X-Request-ID": f"good-{i}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return str(json.loads(response.read())["request_id"])


def _metric(text: str, name: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.split()[-1])


def _eventually(condition: Callable[[], bool]) -> bool:
    """Wait for the log's thread to make ``condition`` true (a wait, not a measurement)."""
    deadline = time.monotonic() + 30
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def test_a_poisoned_request_degrades_readiness_until_the_log_writes_again(
    champion: goldenpath.Project,
) -> None:
    def ready() -> dict[str, Any]:
        status, body = _get(base, "/v2/health/ready")
        assert status == 200  # a log problem never takes the server out of rotation
        return dict(json.loads(body))

    with live_server(champion) as (base, server):
        assert ready() == {"ready": True, "degraded": False, "problems": []}
        metrics = _get(base, "/metrics")[1].decode()
        assert 'goldenpath_prediction_log_healthy{log="predictions"} 1.0' in metrics

        # what validation lets through today or not, the log must survive it: 2^63 in the
        # int column, logged through the server's own log path
        poisoned = {**{k: [v] for k, v in ROW.items()}, "customer_id": [2**63]}
        answer = Answer(Outputs(["yes"], [0.9]), "1", "champion", False)
        when = datetime.now(UTC)
        server.log("poison", poisoned, answer, kind="served", latency_ms=1.0, when=when)
        assert _eventually(lambda: ready()["degraded"])
        (problem,) = ready()["problems"]
        assert problem.startswith("prediction log: 1 request(s) set aside in ")
        assert "customer_id: OverflowError" in problem
        metrics = _get(base, "/metrics")[1].decode()
        assert _metric(metrics, "goldenpath_prediction_log_errors_total") == 1.0
        assert 'goldenpath_prediction_log_healthy{log="predictions"} 0.0' in metrics
        assert 'goldenpath_prediction_log_healthy{log="feedback"} 1.0' in metrics

        with ThreadPoolExecutor(max_workers=4) as pool:
            answered = list(pool.map(lambda i: _predict(base, i), range(GOOD)))
        assert answered == [f"good-{i}" for i in range(GOOD)]
        assert _eventually(lambda: not ready()["degraded"])  # a later write cleared it
        assert ready() == {"ready": True, "degraded": False, "problems": []}
        metrics = _get(base, "/metrics")[1].decode()
        assert 'goldenpath_prediction_log_healthy{log="predictions"} 1.0' in metrics
        assert _metric(metrics, "goldenpath_prediction_log_errors_total") == 1.0

    # after the graceful shutdown: every answered request is in the log, the poisoned one is not
    logs = champion.state_dir / "logs"
    logged = [
        row
        for f in sorted((logs / "predictions").rglob("*.parquet"))
        for row in pq.read_table(f, columns=["request_id", "customer_id"]).to_pylist()
    ]
    assert sorted(r["request_id"] for r in logged) == sorted(answered)
    final = server.metrics.exposition().decode()
    assert _metric(final, "goldenpath_prediction_log_rows_total") == GOOD
    assert _metric(final, "goldenpath_prediction_log_errors_total") == 1.0
    (record,) = [
        json.loads(line)
        for f in (logs / "quarantine").rglob("*.jsonl")
        for line in f.read_text().splitlines()
    ]
    assert record["values"]["request_id"] == ["poison"]
    assert record["values"]["customer_id"] == [2**63]
    assert record["reason"].startswith("customer_id: OverflowError")
    assert record["log"] == "prediction log"


def test_the_time_column_is_accepted_and_logged_as_the_event_time(
    make_project: MakeProject,
) -> None:
    """The contract's time column is not a feature (training never saw it), but a request may
    carry it: it is checked, logged as ``event_time`` (UTC), and does not change the answer."""
    frame = small_frame()
    frame["seen_at"] = "2024-05-01T12:00:00"
    spec = small_spec()
    spec["data"]["time_column"] = "seen_at"
    spec["data"]["contract"]["columns"]["seen_at"] = {"dtype": "datetime", "nullable": True}
    spec["evaluation"] = {"resamples": 0}
    spec["serving"] = {"log": {"flush_seconds": 0.1}}
    project = goldenpath.open_project(make_project(frame=frame, spec=spec))
    goldenpath.train(project)
    gate(project, "small/1", evaluation_id=recorded_evaluation(project, "small/1"))
    promote(project, "small/1")

    def post(body: Any) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"{base}/predict",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    with live_server(project) as (base, _):
        plain = post(ROW)
        timed = post({**ROW, "seen_at": "2024-05-01T14:30:00+02:00"})
        untimed = post({**ROW, "seen_at": None})
        bad = post({**ROW, "seen_at": "yesterday"})
    assert plain[0] == timed[0] == untimed[0] == 200
    assert plain[1]["scores"] == timed[1]["scores"] == untimed[1]["scores"]
    assert bad[0] == 422
    assert [e["field"] for e in bad[1]["error"]["errors"]] == ["seen_at"]
    logged = {
        row["request_id"]: row
        for path in (project.state_dir / "logs" / "predictions").rglob("*.parquet")
        for row in pq.read_table(path).to_pylist()
    }
    assert logged[timed[1]["request_id"]]["event_time"] == datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert logged[plain[1]["request_id"]]["event_time"] is None
    assert logged[untimed[1]["request_id"]]["event_time"] is None
