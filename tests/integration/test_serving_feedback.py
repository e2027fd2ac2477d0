"""``POST /feedback`` on a real server (uvicorn on loopback, in this process): only ids it
answered, labels the contract allows, JSON only and no foreign browser origin; a second label is
written as a correction; a restarted server knows the ids of its log. PII columns are logged as
HMAC digests under the project's key."""

from __future__ import annotations

import json
import stat
import time
import urllib.error
import urllib.request
from typing import Any

import pyarrow.parquet as pq
import pytest
from _live import live_server

import goldenpath
from conftest import MakeProject, recorded_evaluation, small_spec
from goldenpath.gates import gate
from goldenpath.registry import promote
from goldenpath.serving.pii import KEY_FILE, hash_pii
from goldenpath.settings import PII_KEY_VAR

ROW = {"customer_id": 1, "age": 41, "spend": 80.5, "plan": "pro", "balance": 101.0}
ALLOWED = "https://labels.example.com"


@pytest.fixture
def champion(make_project: MakeProject, monkeypatch: pytest.MonkeyPatch) -> goldenpath.Project:
    monkeypatch.delenv(PII_KEY_VAR, raising=False)
    spec = small_spec()
    spec["data"]["contract"]["columns"]["plan"]["pii"] = True
    spec["evaluation"] = {"resamples": 0}
    spec["serving"] = {
        "log": {"flush_seconds": 0.1},
        "feedback": {"allowed_origins": [ALLOWED]},
    }
    project = goldenpath.open_project(make_project(spec=spec))
    goldenpath.train(project)
    gate(project, "small/1", evaluation_id=recorded_evaluation(project, "small/1"))
    promote(project, "small/1")
    return project


def _post(
    base: str, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(
        base + path,
        data=body if isinstance(body, bytes) else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _preflight(base: str, origin: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(
        base + "/feedback",
        method="OPTIONS",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def _code(answer: tuple[int, Any]) -> tuple[int, str]:
    status, body = answer
    return status, body["error"]["code"]


def test_feedback_accepts_only_what_it_should(champion: goldenpath.Project) -> None:
    with live_server(champion) as (base, _):
        status, answer = _post(base, "/predict", [ROW, {**ROW, "customer_id": 2}])
        assert status == 200
        rid = answer["request_id"]

        assert _post(base, "/feedback", {"request_id": rid, "labels": ["yes", None]}) == (
            200,
            {"accepted": 2},
        )
        # a second label for row 0 (a correction), and a first one for row 1
        assert _post(base, "/feedback", {"request_id": rid, "labels": ["no", "yes"]})[0] == 200

        unknown = _post(base, "/feedback", {"request_id": "never-issued", "labels": ["yes"]})
        assert _code(unknown) == (422, "unknown_request_id")
        mixed = [{"request_id": rid, "labels": ["yes"]}, {"request_id": "f" * 32, "labels": ["no"]}]
        assert _code(_post(base, "/feedback", mixed)) == (422, "unknown_request_id")
        status, body = _post(base, "/feedback", {"request_id": rid, "labels": ["yes", "maybe"]})
        assert (status, body["error"]["code"]) == (422, "invalid_label")
        assert "item 0, label 1" in body["error"]["message"]
        three = {"request_id": rid, "labels": ["yes", "no", "no"]}
        assert _code(_post(base, "/feedback", three)) == (422, "invalid_feedback")

        good = json.dumps({"request_id": rid, "labels": ["yes"]}).encode()
        plain = _post(base, "/feedback", good, {"Content-Type": "text/plain"})
        assert _code(plain) == (415, "unsupported_media_type")
        foreign = _post(base, "/feedback", good, {"Origin": "https://evil.example"})
        assert _code(foreign) == (403, "forbidden_origin")
        assert _post(base, "/feedback", good, {"Origin": "null"})[0] == 403
        assert _post(base, "/feedback", good, {"Origin": ALLOWED}) == (200, {"accepted": 1})
        # the CORS preflight lets pages of the allowed origin send JSON, and no other page
        status, headers = _preflight(base, ALLOWED)
        assert status == 204
        assert headers["access-control-allow-origin"] == ALLOWED
        assert "Content-Type" in headers["access-control-allow-headers"]
        status, headers = _preflight(base, "https://evil.example")
        assert status == 403
        assert "access-control-allow-origin" not in {k.lower() for k in headers}

        schema = json.loads(urllib.request.urlopen(base + "/openapi.json", timeout=30).read())
        operation = schema["paths"]["/feedback"]["post"]
        assert {"403", "415", "422"} <= set(operation["responses"])
        assert "unknown_request_id" in operation["description"]

    logs = champion.state_dir / "logs"
    rows = [r for f in (logs / "feedback").rglob("*.parquet") for r in pq.read_table(f).to_pylist()]
    assert len(rows) == 5  # nothing of the refused bodies
    assert {r["request_id"] for r in rows} == {rid}
    by_order = sorted(rows, key=lambda r: (r["timestamp"], r["row"]))
    assert [(r["row"], r["label"], r["correction"]) for r in by_order] == [
        (0, "yes", False),
        (1, None, False),
        (0, "no", True),
        (1, "yes", False),
        (0, "yes", True),
    ]
    assert {r["credential"] for r in rows} == {None}  # anonymous until tokens exist

    # the PII column is an HMAC under the project's key, which only its owner may read
    key_file = champion.state_dir / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip().encode()
    logged = [
        r for f in (logs / "predictions").rglob("*.parquet") for r in pq.read_table(f).to_pylist()
    ]
    assert {r["plan"] for r in logged} == {hash_pii("pro", key)}

    # a restarted server knows the ids of its log, and which rows were labelled
    with live_server(champion) as (base, server):
        assert server.answered.rows_of(rid) == 2
        assert _post(base, "/feedback", {"request_id": rid, "labels": [None, "no"]})[0] == 200
        assert _code(_post(base, "/feedback", {"request_id": "nope", "labels": ["no"]}))[0] == 422
    rows = [r for f in (logs / "feedback").rglob("*.parquet") for r in pq.read_table(f).to_pylist()]
    at = max(r["timestamp"] for r in rows)
    latest = sorted((r["row"], r["label"], r["correction"]) for r in rows if r["timestamp"] == at)
    assert latest == [(0, None, False), (1, "no", True)]


def test_an_id_another_worker_answered_is_found_in_its_log(champion: goldenpath.Project) -> None:
    # two servers on one project, as two workers: feedback reaches the one that did not answer
    with live_server(champion) as (first, _), live_server(champion) as (second, other):
        status, answer = _post(first, "/predict", ROW)
        assert status == 200
        rid = answer["request_id"]
        assert other.answered.rows_of(rid) is None
        deadline = time.monotonic() + 30
        while True:  # accepted once the first has written its log (flush_seconds: 0.1)
            status, body = _post(second, "/feedback", {"request_id": rid, "labels": ["no"]})
            if status == 200 or time.monotonic() > deadline:
                break
            assert body["error"]["code"] == "unknown_request_id"
            time.sleep(0.2)
        assert (status, body) == (200, {"accepted": 1})
        assert other.answered.rows_of(rid) == 1
