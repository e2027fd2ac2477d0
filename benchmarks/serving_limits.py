"""Bounded requests, a responsive server: what the largest requests cost ``goldenpath serve``.

Against one server (the telco example's champion, the spec's default ``serving.limits``):

1. a maximum-size request (``max_rows`` telco rows, the default 10,000) sent while a client
   probes ``GET /v2/health/live`` every 10 ms: the probes' latencies (p50, p99, max) during the
   request, and the request's own status and time;
2. a 10 MB body of five million bare integers (``[1,1,...]``) to ``/predict``: its status, the
   time to answer it and how much the server's peak resident memory (VmHWM) grew.

    python benchmarks/serving_limits.py [--project DIR] [--src DIR]

Without --project it builds a telco project in a temporary folder (about a minute). ``--src``
runs the server from another checkout's ``src`` (for a before/after comparison on the same
machine, e.g. a ``git worktree`` of an older commit). Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from serving import BIN, _build_project, _free_port, _payload, _wait_ready


def _peak_kib(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+)", text)
    return int(found.group(1)) if found else 0


def _post(port: int, body: bytes, timeout: float = 300) -> tuple[int, float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    started = time.perf_counter()
    try:
        connection.request(
            "POST", "/predict", body=body, headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        connection.close()


def _probe_during(port: int, body: bytes) -> dict[str, Any]:
    """Probe /v2/health/live every 10 ms while ``body`` is posted; latencies of the probes
    sent while the post was in flight."""
    result: dict[str, Any] = {}

    def send() -> None:
        result["status"], result["seconds"] = _post(port, body)

    sender = threading.Thread(target=send)
    latencies: list[float] = []
    failures = 0
    sender.start()
    time.sleep(0.05)  # the body is on its way
    while sender.is_alive():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        started = time.perf_counter()
        try:
            connection.request("GET", "/v2/health/live")
            response = connection.getresponse()
            response.read()
            if sender.is_alive():
                latencies.append(time.perf_counter() - started)
            failures += response.status != 200
        except OSError:
            failures += 1
        finally:
            connection.close()
        time.sleep(0.01)
    sender.join()
    ms = np.array(latencies) * 1000 if latencies else np.array([float("nan")])
    result.update(
        probes=len(latencies),
        failures=failures,
        p50=float(np.percentile(ms, 50)),
        p99=float(np.percentile(ms, 99)),
        max=float(ms.max()),
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=None)
    parser.add_argument("--src", type=Path, default=None, help="serve from this src folder")
    parser.add_argument("--rows", type=int, default=10_000, help="rows of the large request")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.project or _build_project(Path(tmp))
        record = _payload(root)
        big = json.dumps([record] * args.rows).encode()
        integers = b"[" + b"1," * 4_999_999 + b"1]"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        if args.src is not None:
            env["PYTHONPATH"] = str(args.src.resolve())
        port = _free_port()
        server = subprocess.Popen(
            [str(BIN / "goldenpath"), "serve", "--port", str(port)],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(Path(tmp) / "server.log").open("wb"),
        )
        try:
            _wait_ready(port, "/v2/health/ready", server)
            _post(port, json.dumps(record).encode())  # warm
            print(f"server from {args.src or 'this checkout'}; python {sys.version.split()[0]}")
            during = _probe_during(port, big)
            print(
                f"{args.rows} rows ({len(big) / 1e6:.1f} MB): status {during['status']} in "
                f"{during['seconds']:.2f} s; /v2/health/live during it: {during['probes']} probes, "
                f"p50 {during['p50']:.1f} ms, p99 {during['p99']:.1f} ms, "
                f"max {during['max']:.1f} ms, {during['failures']} failed"
            )
            before = _peak_kib(server.pid)
            status, seconds = _post(port, integers)
            grown = (_peak_kib(server.pid) - before) / 1024
            print(
                f"10 MB of bare integers: status {status} in {seconds:.2f} s; "
                f"peak memory grew {grown:.0f} MiB (VmHWM)"
            )
        finally:
            server.terminate()
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
