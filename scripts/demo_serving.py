"""The serving part of ``make demo``, run inside the demo project after the governance steps.

Starts ``goldenpath serve`` (the champion, with the challenger as a canary, as the telco
example's spec says), replays the held-out rows through it with feedback, promotes the
challenger and shows the server swapping to it under traffic, prints an excerpt of the
Prometheus metrics and where the prediction logs are, and stops the server gracefully.

    python scripts/demo_serving.py GOLDENPATH_EXECUTABLE [PORT]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from _demo import fetch, runner, serving


def main() -> None:
    goldenpath = sys.argv[1]
    port = sys.argv[2] if len(sys.argv) > 2 else "8765"
    run = runner(goldenpath)
    run("promote", "telco-churn/2", "--to", "challenger", "--reason", "canary before champion")
    with serving(goldenpath, port) as base:

        def get(path: str) -> str:
            return fetch(base, path)

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
    logs = Path(".goldenpath") / "logs"
    files = sorted(p.relative_to(logs) for p in logs.rglob("*.parquet"))
    print(f"Prediction logs ({len(files)} Parquet files) in {logs.resolve()}:")
    for name in files[:6]:
        print(f"  {name}")


if __name__ == "__main__":
    main()
