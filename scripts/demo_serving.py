"""The serving part of ``make demo``, run inside the demo project after the governance steps.

Starts ``goldenpath serve`` (the champion, with the challenger as a canary, as the telco
example's spec says), replays the held-out rows through it with feedback, promotes the
challenger and shows the server swapping to it under traffic, prints an excerpt of the
Prometheus metrics and where the prediction logs are, and stops the server gracefully.

    python scripts/demo_serving.py GOLDENPATH_EXECUTABLE [PORT]
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def main() -> None:
    goldenpath = sys.argv[1]
    port = sys.argv[2] if len(sys.argv) > 2 else "8765"
    base = f"http://127.0.0.1:{port}"

    def run(*args: str) -> None:
        print(f"$ goldenpath {' '.join(args)}", flush=True)
        subprocess.run([goldenpath, *args], check=True)

    def get(path: str) -> str:
        with urllib.request.urlopen(base + path, timeout=10) as response:
            return response.read().decode()

    run("promote", "telco-churn/2", "--to", "challenger", "--reason", "canary before champion")
    print(f"$ goldenpath serve --port {port} &", flush=True)
    server = subprocess.Popen([goldenpath, "serve", "--port", port])
    try:
        deadline = time.time() + 120
        while True:
            try:
                get("/v2/health/ready")
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.3)
        print(f"GET /version: {get('/version')}", flush=True)
        run("replay", "--url", base, "--model", "telco-churn@champion", "--feedback-share", "0.3")
        run("promote", "telco-churn/2", "--to", "champion", "--reason", "the canary held up")
        deadline = time.time() + 30
        # the swap is done when version 2 serves as champion and no longer as challenger
        while time.time() < deadline:
            state = json.loads(get("/version"))
            if (state["champion"], state["challenger"]) == ("2", None):
                break
            time.sleep(0.2)
        print(f"GET /version after the promotion (hot swap): {get('/version')}", flush=True)
        run("replay", "--url", base, "--model", "telco-churn@champion", "--limit", "400")
        wanted = (
            "goldenpath_requests_total{",
            "goldenpath_batch_rows_count",
            "goldenpath_model_load_seconds_count",
            "goldenpath_slo_",
            "goldenpath_prediction_log_rows_total",
        )
        print("GET /metrics (excerpt):")
        for line in get("/metrics").splitlines():
            if line.startswith(wanted):
                print(f"  {line}")
    finally:
        server.send_signal(signal.SIGTERM)  # graceful: every buffered log record is written
        server.wait(timeout=60)
    logs = Path(".goldenpath") / "logs"
    files = sorted(p.relative_to(logs) for p in logs.rglob("*.parquet"))
    print(f"Prediction logs ({len(files)} Parquet files) in {logs.resolve()}:")
    for name in files[:6]:
        print(f"  {name}")


if __name__ == "__main__":
    main()
