"""Bounded requests and a responsive server (``serving.limits``), against ``goldenpath serve`` as
a real process on loopback: body size (on Content-Length and while reading), body timeout, rows,
string length, the error cap, shown values, Content-Type, request ids, work off the event loop,
no model time for a request nobody waits for, and no 500 for any bad body.

The project and the server helpers are test_serving's. Bodies are made in memory; the limits are
small so that each test is quick. No assertion is about a duration: liveness is shown by order
(the probe is answered before the big request is) and by completion within a client timeout.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from test_serving import ROW, _logged, call, root, serving

__all__ = ["root"]  # the module-scoped project fixture, shared with test_serving

# small limits, so that big bodies are quick to make; max_batch_size 1 makes a large request
# many predict calls (its slices), and timeout_ms bounds how long it is in flight
SMALL = {
    "limits": {
        "max_body_bytes": 1_048_576,
        "max_rows": 10_000,
        "max_string_chars": 1000,
        "body_timeout_seconds": 1,
        "slice_rows": 1,
    },
    "max_batch_size": 1,
    "timeout_ms": 1000,
}
Served = tuple[str, Any]


@pytest.fixture(scope="module")
def small(root: Path) -> Iterator[Served]:
    with serving(root, poll_seconds=60, **SMALL) as served:
        yield served


@pytest.fixture(scope="module")
def default(root: Path) -> Iterator[Served]:
    with serving(root, poll_seconds=60, log={"flush_seconds": 0.2}) as served:
        yield served


def raw_http(base: str, head: bytes, parts: list[bytes] = (), *, pause: float = 0.0) -> Any:
    """(status, headers, body) for a request written by hand: ``head`` (request line and
    headers), then each of ``parts``; stops writing once the server answers or closes."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=10) as s:
        s.sendall(head)
        for part in parts:
            try:
                s.sendall(part)
            except OSError:  # the server answered and closed: read what it said
                break
            time.sleep(pause)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        header_text, _, body = data.partition(b"\r\n\r\n")
        lines = header_text.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(lines[0].split()[1]), headers, json.loads(body) if body else None


def _post_head(path: str, *extra: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _code(reply: tuple[int, Any, Any]) -> tuple[int, str | None]:
    """(status, goldenpath's error code); the code is None in another protocol's format."""
    error = reply[1].get("error") if isinstance(reply[1], dict) else None
    return reply[0], error["code"] if isinstance(error, dict) else None


def test_bodies_are_bounded_before_and_while_reading(small: Served) -> None:
    base = small[0]
    # Content-Length past the limit: refused before a byte of the body is read
    status, headers, body = raw_http(base, _post_head("/predict", "Content-Length: 2000000"))
    assert (status, body["error"]["code"]) == (413, "body_too_large")
    assert headers["connection"] == "close"
    # no Content-Length (chunked): counted while reading, refused once past the limit
    chunk = b"[" + b"1," * 32767 + b"1]"  # 64 KiB
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    status, _, body = raw_http(
        base, _post_head("/predict", "Transfer-Encoding: chunked"), [framed] * 40
    )
    assert (status, body["error"]["code"]) == (413, "body_too_large")
    # a body that stops arriving: 408 once body_timeout_seconds has passed
    status, _, body = raw_http(base, _post_head("/predict", "Content-Length: 100"), [b"[{"])
    assert (status, body["error"]["code"]) == (408, "body_timeout")
    # /feedback (a FastAPI route) is read within the same limits
    status, _, body = raw_http(base, _post_head("/feedback", "Content-Length: 2000000"))
    assert (status, body["error"]["code"]) == (413, "body_too_large")
    # the server still answers
    assert call(base, "/predict", ROW)[0] == 200


def test_rows_strings_and_errors_are_bounded(small: Served) -> None:
    base = small[0]
    many = [ROW] * 10_001
    assert _code(call(base, "/predict", many)) == (413, "too_many_rows")
    split = {"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())] * 10_001}}
    assert call(base, "/invocations", split)[0] == 413
    tensors = [
        {"name": k, "shape": [10_001], "datatype": "BYTES", "data": [v] * 10_001}
        for k, v in ROW.items()
    ]
    assert call(base, "/v2/models/small/infer", {"inputs": tensors})[0] == 413
    assert call(base, "/feedback", {"request_id": "r", "labels": ["yes"] * 10_001})[0] == 413

    # a string past max_string_chars: 422 naming the field, without echoing the value
    status, body, _ = call(base, "/predict", {**ROW, "plan": "x" * 5000})
    assert status == 422
    [error] = body["error"]["errors"]
    assert error["field"] == "plan"
    assert "5000 characters" in error["problem"]
    assert "xxxxxxxxxx" not in error["problem"]
    # a value shown in a problem is cut to error_value_chars
    status, body, _ = call(base, "/predict", {**ROW, "plan": "y" * 900})
    problem = body["error"]["errors"][0]["problem"]
    assert status == 422
    assert "y" * 99 in problem
    assert "y" * 101 not in problem
    assert "…" in problem

    # the error cap holds for every kind of error, and the scan stops there
    status, body, _ = call(base, "/predict", [1] * 999)
    assert (status, len(body["error"]["errors"])) == (422, 50)
    wide = {**ROW, **{f"extra_{i}_{'z' * 300}": 1 for i in range(200)}}
    status, body, _ = call(base, "/predict", wide)
    assert (status, len(body["error"]["errors"])) == (422, 50)
    assert all(len(e["field"]) <= 101 for e in body["error"]["errors"])


def test_only_json_is_read(default: Served) -> None:
    payload = json.dumps(ROW).encode()
    base = default[0]
    for kind in ("application/json", "application/json; charset=utf-8", "application/x+json"):
        assert call(base, "/predict", raw=payload, headers={"Content-Type": kind})[0] == 200
    for path in ("/predict", "/invocations", "/v2/models/small/infer", "/feedback"):
        for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
            status, code = _code(call(base, path, raw=payload, headers={"Content-Type": kind}))
            assert status == 415, (path, kind)
            assert code in ("unsupported_media_type", None)
    # without a Content-Type (what a cross-site page can send without a preflight)
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=10) as s:
        s.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(payload)
            + payload
        )
        assert s.recv(65536).split(b" ", 2)[1] == b"415"


def test_request_ids_are_kept_only_when_safe(root: Path, default: Served) -> None:
    started = time.time()
    bad = ["a" * 129, "<script>alert(1)</script>", "id with spaces", "é"]
    base = default[0]
    status, body, headers = call(base, "/predict", ROW, headers={"X-Request-ID": "c-42.x"})
    assert (status, body["request_id"], headers["x-request-id"]) == (200, "c-42.x", "c-42.x")
    for given in bad:
        request = urllib.request.Request(
            base + "/predict",
            data=json.dumps(ROW).encode(),
            headers={"Content-Type": "application/json", "X-Request-ID": given},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
            assert response.status == 200
            assert re.fullmatch("[0-9a-f]{32}", answer["request_id"])
            assert response.headers["X-Request-ID"] == answer["request_id"]
    tensors = [{"name": k, "shape": [1], "datatype": "BYTES", "data": [v]} for k, v in ROW.items()]
    status, body, _ = call(base, "/v2/models/small/infer", {"id": "x" * 500, "inputs": tensors})
    assert status == 200
    assert re.fullmatch("[0-9a-f]{32}", body["id"])
    assert call(base, "/feedback", {"request_id": "x" * 500, "labels": ["yes"]})[0] == 422
    deadline = time.time() + 30
    while "c-42.x" not in (logged := {r["request_id"] for r in _logged(root, started)}):
        assert time.time() < deadline, "the log was not written"
        time.sleep(0.2)
    time.sleep(0.5)  # everything answered above is written by now (flush_seconds: 0.2)
    logged = {r["request_id"] for r in _logged(root, started)}
    assert "c-42.x" in logged
    assert not logged & {*bad, "x" * 500}
    assert all(len(r) <= 128 for r in logged)


NASTY: list[Any] = [
    {},
    [],
    [{}],
    [[]],
    [[1]],
    None,
    1,
    "text",
    {"records": {}},
    {"records": [None]},
    {"records": "x", "key": [1]},
    {**ROW, "age": 10**30},
    {**ROW, "age": -(2**63) - 1},
    {**ROW, "spend": 1e308},
    {**ROW, "age": [1, [2, [3]]]},
    {**ROW, "plan": {"a": {"b": {}}}},
    {**ROW, "customer_id": 2**64 - 1},
    {"dataframe_split": {"columns": [[1]], "data": [[1]]}},
    {"dataframe_split": {"columns": [{}], "data": [[1]]}},
    {"dataframe_split": {"columns": [None, 1], "data": [[1, 2]]}},
    {"dataframe_split": {"columns": ["age"], "data": [1]}},
    {"dataframe_split": {"columns": "age", "data": None}},
    {"dataframe_split": []},
    {"dataframe_records": {}},
    {"dataframe_records": [[1]]},
    {"instances": {"age": {"x": 1}}},
    {"instances": None},
    {"inputs": [{"name": "age", "data": [[1], [2]]}]},
    {"inputs": [{"name": 1, "data": [1]}]},
    {"inputs": [{"name": "age", "data": {"a": 1}}, {"name": "age", "data": None}]},
    {"inputs": {"age": [1]}},
    {"id": ["x"], "inputs": [{"name": "age", "data": [1]}]},
    {"request_id": ["x"], "labels": [[1]]},
    {"request_id": "r", "labels": [{}, 1e308, -1, True, None]},
    [{"request_id": "r", "labels": [1]}, 5],
]
RAW_NASTY = [
    b"",
    b"NaN",
    b'{"age": NaN}',
    b'{"age": Infinity}',
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 2000 + b"1" + b"}" * 2000,
    b'{"age": 1e999}',
    b'{"age": 123456789012345678901234567890}',
    b"\xff\xfe",
    b'{"\\ud800": 1}',
    b"[1,]",
]


def test_no_bad_body_gets_a_server_error(default: Served) -> None:
    paths = ("/predict", "/invocations", "/v2/models/small/infer", "/feedback")
    bodies = [json.dumps(b).encode() for b in NASTY] + RAW_NASTY
    base = default[0]
    failures = []
    for path in paths:
        for body in bodies:
            status = call(base, path, raw=body)[0]
            if status >= 500:
                failures.append((path, body[:80], status))
    assert failures == []


def _peak_rss_kib(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", text).group(1))  # type: ignore[union-attr]


def test_ten_megabytes_of_bare_integers_is_refused_at_once(default: Served) -> None:
    body = b"[" + b"1," * 4_999_999 + b"1]"  # 10 MB: five million rows that are not objects
    base, process = default  # the default limits
    before = _peak_rss_kib(process.pid)
    status, answer, _ = call(base, "/predict", raw=body)
    assert (status, answer["error"]["code"]) == (413, "too_many_rows")
    status, answer, _ = call(base, "/predict", {"records": [1] * 10_000})
    assert (status, len(answer["error"]["errors"])) == (422, 50)
    # it used to take 1.5 GB: now the body, its parse and one list, well under 1 GB
    assert _peak_rss_kib(process.pid) - before < 1024 * 1024


def test_liveness_answers_while_a_maximum_size_request_is_processed(small: Served) -> None:
    big = json.dumps([{**ROW, "customer_id": i + 1} for i in range(10_000)]).encode()
    assert len(big) < 1_048_576  # as large as the limits allow: 10,000 rows
    base = small[0]
    done: dict[str, float] = {}

    def send_big() -> None:
        done["status"] = call(base, "/predict", raw=big)[0]
        done["big"] = time.monotonic()

    sender = threading.Thread(target=send_big)
    sender.start()
    time.sleep(0.3)  # the body is sent and being checked, or predicted (1 s at most)
    probes = []
    for _ in range(3):
        with urllib.request.urlopen(base + "/v2/health/live", timeout=2) as response:
            probes.append((response.status, time.monotonic()))
    sender.join(timeout=60)
    assert [p[0] for p in probes] == [200, 200, 200]
    assert done["status"] in (200, 504)
    assert probes[0][1] < done["big"]  # answered while the big request was in flight


def _predict_calls(base: str) -> float:
    metrics = call(base, "/metrics")[1]
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("goldenpath_batch_rows_count")
    )


def test_a_timed_out_request_stops_costing_model_time(small: Served) -> None:
    base = small[0]
    before = _predict_calls(base)
    status, body, _ = call(base, "/predict", [ROW] * 10_000)  # 10,000 slices of 1 row
    assert (status, body["error"]["code"]) == (504, "timeout")
    time.sleep(0.3)  # at most the slice in flight at the timeout finishes
    after = _predict_calls(base)
    time.sleep(0.5)
    assert _predict_calls(base) == after  # the model stopped
    assert after - before < 10_000  # long before all the request's slices
    assert call(base, "/predict", ROW)[0] == 200
