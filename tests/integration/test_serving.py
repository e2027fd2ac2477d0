"""``goldenpath serve`` as a real process on loopback: every protocol, hot swap under load,
overload, refusals, graceful shutdown, canary and shadow, and OpenAPI fuzzing.

Two versions of a small model are trained once per module; version 2 is the champion and
version 1 a former champion (so a rollback swaps the served version without new gates).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from mlflow.tracking import MlflowClient

import goldenpath
from conftest import project_with_versions, recorded_evaluation, small_spec
from goldenpath.gates import gate
from goldenpath.registry import promote, rollback

GOLDENPATH = str(Path(sys.executable).parent / "goldenpath")
ROW = {"customer_id": 1, "age": 41, "spend": 80.5, "plan": "pro", "balance": 101.0}


def _spec(**serving: Any) -> dict[str, Any]:
    spec = small_spec()
    spec["evaluation"] = {"resamples": 0}
    spec["gates"] = {"metrics": {"roc_auc": {"min": 0.5}}}
    spec["serving"] = {"poll_seconds": 0.2, **serving}
    return spec


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("serving") / "project"
    os.environ.pop("GOLDENPATH_STORE_URI", None)
    project = project_with_versions(folder, _spec())

    def evaluated(ref: str, against: str | None = None) -> str:
        return recorded_evaluation(project, ref, against)

    gate(project, "small/1", evaluation_id=evaluated("small/1"))
    promote(project, "small/1")
    gate(project, "small/2", evaluation_id=evaluated("small/2", against="champion"))
    promote(project, "small/2")
    gate(project, "small/1", evaluation_id=evaluated("small/1", against="champion"))
    promote(project, "small/1", to="challenger")
    return folder


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(
    base: str, path: str, body: Any = None, *, raw: bytes | None = None, headers: dict | None = None
) -> tuple[int, Any, dict[str, str]]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(
        base + path,
        data=data,
        method="GET" if data is None else "POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
            status, got = response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        text, status, got = error.read(), error.code, dict(error.headers)
    got = {k.lower(): v for k, v in got.items()}  # header names are case-insensitive
    try:
        return status, json.loads(text), got
    except ValueError:
        return status, text.decode(), got


@contextmanager
def serving(root: Path, **settings: Any) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    (root / "goldenpath.yaml").write_text(yaml.safe_dump(_spec(**settings)))
    port = _port()
    process = subprocess.Popen(
        [GOLDENPATH, "serve", "--port", str(port)],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if call(base, "/v2/health/ready")[0] == 200:
                break
        except OSError:
            pass
        if process.poll() is not None:
            raise AssertionError(process.stdout.read() if process.stdout else "server died")
        time.sleep(0.2)
    try:
        yield base, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


def _logged(root: Path, since: float) -> list[dict[str, Any]]:
    files = [
        f
        for f in (root / ".goldenpath" / "logs" / "predictions").rglob("*.parquet")
        if f.stat().st_mtime >= since
    ]
    rows: list[dict[str, Any]] = []
    for f in files:
        rows.extend(pq.read_table(f).to_pylist())
    return rows


class Load:
    """Threads sending /predict one after another until stopped; every answer recorded."""

    def __init__(self, base: str, threads: int = 4) -> None:
        self.base = base
        self.answers: list[list[tuple[int, str | None, str | None]]] = [[] for _ in range(threads)]
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, i: int) -> None:
        while not self.stop.is_set():
            try:
                status, body, _ = call(self.base, "/predict", ROW)
            except OSError:  # the server stopped listening (shutdown)
                return
            ok = isinstance(body, dict) and status == 200
            self.answers[i].append(
                (
                    status,
                    body.get("model_version") if ok else None,
                    body.get("request_id") if ok else None,
                )
            )

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    @property
    def all(self) -> list[tuple[int, str | None, str | None]]:
        return [a for answers in self.answers for a in answers]


# --------------------------------------------------------------------------------- protocols


def test_every_protocol_answers_and_bad_input_gets_4xx(root: Path) -> None:
    with serving(root) as (base, _):
        status, body, headers = call(base, "/predict", ROW)
        assert status == 200
        assert (body["model_version"], body["route"], body["degraded"]) == ("2", "champion", False)
        assert body["predictions"][0] in ("yes", "no")
        assert 0 <= body["scores"][0] <= 1
        assert headers["x-request-id"] == body["request_id"]
        many = call(base, "/predict", {"records": [ROW, {**ROW, "age": 70}], "key": "c-1"})[1]
        assert len(many["predictions"]) == 2
        assert call(base, "/predict", [ROW])[1]["scores"] == body["scores"]

        columns = list(ROW)
        split = {"dataframe_split": {"columns": columns, "data": [list(ROW.values())]}}
        for payload in (
            split,
            {"dataframe_records": [ROW]},
            {"instances": [ROW]},
            {"inputs": {k: [v] for k, v in ROW.items()}},
        ):
            status, answer, _ = call(base, "/invocations", payload)
            assert (status, answer) == (200, {"predictions": body["predictions"]})

        tensors = [
            {"name": k, "shape": [1], "datatype": "BYTES", "data": [v]} for k, v in ROW.items()
        ]
        status, inferred, _ = call(base, "/v2/models/small/infer", {"id": "r-9", "inputs": tensors})
        assert status == 200
        assert (inferred["id"], inferred["model_version"]) == ("r-9", "2")
        assert inferred["outputs"][0]["data"] == body["predictions"]
        assert call(base, "/v2/models/other/infer", {"inputs": tensors})[0] == 404
        assert call(base, "/v2/models/small")[1]["versions"] == ["2"]
        assert call(base, "/v2/models/small/ready")[1]["ready"] is True
        assert call(base, "/v2/health/live")[1] == {"live": True}
        assert call(base, "/version")[1]["champion"] == "2"

        status, problem, _ = call(base, "/predict", {**ROW, "age": "old", "plan": "gold"})
        assert status == 422
        assert {(e["row"], e["field"]) for e in problem["error"]["errors"]} == {
            (0, "age"),
            (0, "plan"),
        }
        status, problem, _ = call(base, "/predict", raw=b'{"age": 4')
        assert (status, problem["error"]["code"]) == (400, "malformed_request")
        assert call(base, "/invocations", {"nothing": 1})[0] == 400
        assert call(base, "/feedback", {"request_id": body["request_id"], "labels": ["yes"]})[
            1
        ] == {"accepted": 1}
        assert call(base, "/feedback", {"labels": ["yes"]})[0] == 422

        metrics = call(base, "/metrics")[1]
        requests = [line for line in metrics.splitlines() if line.startswith("goldenpath_requests")]
        assert any(
            all(
                f in line
                for f in ('endpoint="predict"', 'route="champion"', 'status="200"', 'version="2"')
            )
            for line in requests
        )
        assert "goldenpath_batch_rows_bucket" in metrics
        assert 'goldenpath_queue_depth{version="2"} 0.0' in metrics
        assert "goldenpath_slo_error_budget_burn_rate" in metrics
        assert 'status="422"' in metrics


# ------------------------------------------------------------------------------ reliability


def test_graceful_shutdown_under_load_loses_no_log_record(root: Path) -> None:
    started = time.time()
    with serving(root, log={"flush_seconds": 60, "flush_rows": 100000}) as (base, process):
        with Load(base) as load:
            time.sleep(1.5)
            process.send_signal(signal.SIGTERM)  # while requests keep coming
            process.wait(timeout=60)
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert process.returncode in (0, -signal.SIGTERM)
        assert "Traceback" not in (process.stdout.read() if process.stdout else "")
    answered = [a for a in load.all if a[0] == 200]
    assert len(answered) > 20
    logged = {r["request_id"] for r in _logged(root, started) if r["kind"] == "served"}
    assert logged == {a[2] for a in answered}


def test_hot_swap_under_load_drops_nothing_and_never_mixes(root: Path) -> None:
    project = goldenpath.open_project(root)
    started = time.time()
    with serving(root) as (base, _), Load(base) as load:
        time.sleep(1.0)
        rollback(project, reason="test: swap under load")  # champion 2 -> 1
        deadline = time.time() + 30
        while time.time() < deadline and call(base, "/version")[1]["champion"] != "1":
            time.sleep(0.1)
        time.sleep(1.0)
    try:
        answers = load.all
        assert {a[0] for a in answers} == {200}  # zero non-2xx during the swap
        assert {a[1] for a in answers} == {"1", "2"}
        for thread in load.answers:  # once a thread saw v1, the swap was done: no v2 after
            versions = [a[1] for a in thread]
            if "1" in versions:
                assert "2" not in versions[versions.index("1") :]
        by_request: dict[str, set[str]] = {}
        for row in _logged(root, started):
            by_request.setdefault(row["request_id"], set()).add(row["model_version"])
        assert all(len(v) == 1 for v in by_request.values())
    finally:
        promote(project, "small/2")  # back to the module's state (a former champion)


def test_overload_is_shed_with_503_and_bounded_latency(root: Path) -> None:
    with serving(root, max_queue=2, max_batch_size=1) as (base, _):
        results: list[tuple[int, float, str | None]] = []
        lock = threading.Lock()

        def fire() -> None:
            began = time.perf_counter()
            status, _, headers = call(base, "/predict", {"records": [ROW] * 50})
            with lock:
                results.append((status, time.perf_counter() - began, headers.get("retry-after")))

        burst = [threading.Thread(target=fire) for _ in range(48)]
        for t in burst:
            t.start()
        for t in burst:
            t.join()
        statuses = [r[0] for r in results]
        assert set(statuses) <= {200, 503}
        assert statuses.count(503) > 0
        assert statuses.count(200) > 0
        assert all(r[2] == "1" for r in results if r[0] == 503)
        assert max(r[1] for r in results if r[0] == 200) < 5.0  # the request timeout
        metrics = call(base, "/metrics")[1]
        assert "goldenpath_shed_requests_total" in metrics


def test_moved_alias_and_corrupt_artifact_are_refused_while_serving(root: Path) -> None:
    project = goldenpath.open_project(root)
    client = MlflowClient(f"sqlite:///{root / '.goldenpath' / 'mlflow.db'}")
    with serving(root) as (base, _):
        client.set_registered_model_alias("small", "champion", "1")  # outside goldenpath
        time.sleep(1.5)
        assert call(base, "/predict", ROW)[1]["model_version"] == "2"  # still the vouched one
        state = call(base, "/version")[1]
        assert "moved outside goldenpath" in state["last_error"]
        assert 'reason="registry_drift"' in call(base, "/metrics")[1]
        client.set_registered_model_alias("small", "champion", "2")

        model_id = client.get_model_version("small", "1").source.removeprefix("models:/")
        model_file = next((root / ".goldenpath" / "artifacts").rglob(f"{model_id}/**/*.skops"))
        saved = model_file.read_bytes()
        model_file.write_bytes(b"not a model")
        try:
            rollback(project, reason="test: to a corrupt version")
            time.sleep(2.0)
            status, body, _ = call(base, "/predict", ROW)
            assert (status, body["model_version"]) == (200, "2")
            # its files no longer hash to the digest its decision recorded: refused unloaded
            assert 'reason="artifact_mismatch"' in call(base, "/metrics")[1]
        finally:
            model_file.write_bytes(saved)
            promote(project, "small/2")


def test_canary_is_sticky_by_key_and_shadow_only_logs(root: Path) -> None:
    with serving(root, challenger="canary", canary_share=0.5) as (base, _):
        routes = {}
        for key in [f"customer-{i}" for i in range(40)]:
            seen = {
                call(base, "/predict", {"records": [ROW], "key": key})[1]["route"] for _ in range(3)
            }
            assert len(seen) == 1  # the same key always takes the same route
            routes[key] = seen.pop()
        assert set(routes.values()) == {"champion", "challenger"}
    started = time.time()
    with serving(root, challenger="shadow") as (base, _):
        answers = [call(base, "/predict", ROW)[1] for _ in range(10)]
        assert {(a["route"], a["model_version"]) for a in answers} == {("champion", "2")}
        time.sleep(0.5)
    shadow = [r for r in _logged(root, started) if r["kind"] == "shadow"]
    assert {r["model_version"] for r in shadow} == {"1"}
    assert {r["request_id"] for r in shadow} == {a["request_id"] for a in answers}


def fuzz_openapi(
    base: str, headers: dict[str, str] | None = None, examples: int = 30
) -> tuple[list[int], list[tuple[str, int, str]]]:
    """Every operation of the server's OpenAPI document called with generated requests
    (schemathesis, ``examples`` each, with ``headers``): the statuses, and the 5xx answers."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    failures: list[tuple[str, int, str]] = []
    statuses: list[int] = []

    def fuzz(operation: Any) -> None:
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
        @given(operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call(base_url=base, headers=headers)
            statuses.append(response.status_code)
            if response.status_code >= 500:
                failures.append((operation.label, response.status_code, response.text[:200]))

        check()

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        fuzz(operation)
    return statuses, failures


def test_fuzzing_the_openapi_finds_no_server_error(root: Path) -> None:
    with serving(root) as (base, _):
        statuses, failures = fuzz_openapi(base)
    assert failures == []
    assert len(statuses) >= 100  # the fuzzer really called the server
    assert {400, 422} & set(statuses)  # and reached the validation paths


def test_replay_sends_held_out_rows_with_feedback(root: Path) -> None:
    from goldenpath.serving.replay import replay

    project = goldenpath.open_project(root)
    started = time.time()
    with serving(root) as (base, _):
        result = replay(project, base, ref="small/2", limit=60, feedback_share=0.5, seed=1)
    assert result.rows == 60
    assert result.statuses == {"200": 60}
    assert result.versions == {"2": 60}
    assert 15 < result.feedback_sent < 45
    feedback = [
        row
        for f in (root / ".goldenpath" / "logs" / "feedback").rglob("*.parquet")
        if f.stat().st_mtime >= started
        for row in pq.read_table(f).to_pylist()
    ]
    assert len(feedback) == result.feedback_sent
    assert {r["label"] for r in feedback} <= {"yes", "no"}
    served = {r["request_id"] for r in _logged(root, started)}
    assert {r["request_id"] for r in feedback} <= served
