"""The serving part of ``make demo``, run inside the demo project after the governance steps.

Starts ``goldenpath serve`` (the champion, with the challenger as a canary, as the telco
example's spec says), replays the held-out rows through it with feedback, promotes the
challenger and shows the server swapping to it under traffic, shows what bad or oversized
requests get and the protocols' own clients' formats (MLflow CSV, Open Inference Protocol
versioned paths), prints an excerpt of the Prometheus metrics and where the prediction logs are,
stops the server gracefully, and compares every logged score with the one the version's run
recorded for the same held-out row (served = evaluated).

    python scripts/demo_serving.py GOLDENPATH_EXECUTABLE [PORT]
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from _demo import authorization, fetch, runner, serving, token_options

ROW = {  # one held-out customer of the telco example, as a client sends it
    "female": 1,
    "senior_citizen": 0,
    "partner": 0,
    "dependents": 0,
    "tenure": 2,
    "phone_service": 1,
    "multiple_lines": "No",
    "internet_service": "Fiber optic",
    "online_security": "No",
    "online_backup": "No",
    "device_protection": "No",
    "tech_support": "No",
    "streaming_tv": "No",
    "streaming_movies": "No",
    "contract": "Month-to-month",
    "paperless_billing": 1,
    "payment_method": "Electronic check",
    "monthly_charges": 70.7,
    "total_charges": 151.65,
}


def post(
    base: str, path: str, body: bytes, content_type: str, *, token: bool = True
) -> tuple[int, str]:
    headers = {"Content-Type": content_type, **(authorization() if token else {})}
    request = urllib.request.Request(base + path, body, headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def requests_as_clients_send_them(base: str) -> None:
    """Each protocol's own form, and what bad or oversized input gets."""
    row = json.dumps(ROW).encode()
    header = ",".join(ROW)
    values = ",".join(str(v) for v in ROW.values())
    tries = [
        ("POST /predict (JSON)", "/predict", row, "application/json"),
        (
            "POST /invocations (MLflow, text/csv)",
            "/invocations",
            f"{header}\n{values}\n".encode(),
            "text/csv",
        ),
        ("POST /predict as text/plain (a cross-site form post)", "/predict", row, "text/plain"),
        (
            "POST /predict with 10,001 rows",
            "/predict",
            json.dumps({"records": [ROW] * 10_001}).encode(),
            "application/json",
        ),
        (
            "POST /predict with tenure 2**63",
            "/predict",
            json.dumps({**ROW, "tenure": 2**63}).encode(),
            "application/json",
        ),
    ]
    for label, path, body, kind in tries:
        status, text = post(base, path, body, kind)
        print(f"{label}: {status} {text[:150]}", flush=True)
    status, text = post(base, "/predict", row, "application/json", token=False)
    print(f"POST /predict without the client's token: {status} {text[:150]}", flush=True)
    for path in ("/ping", "/v2/models/telco-churn/versions/2/ready"):
        print(f"GET {path}: {fetch(base, path)[:120]!r}", flush=True)


def served_equals_evaluated() -> None:
    """Every served row's score against the score its version's run recorded for the same
    held-out customer (training's own predictions, before the model was saved)."""
    logs = Path(".goldenpath") / "logs" / "predictions"
    served = pq.read_table(logs).to_pandas()
    served = served[served["kind"] == "served"]
    mlflow.set_tracking_uri(f"sqlite:///{Path('.goldenpath/mlflow.db').resolve()}")
    client = mlflow.MlflowClient()
    for version, rows in served.groupby("model_version"):
        run_id = client.get_model_version("telco-churn", str(version)).run_id
        folder = Path(client.download_artifacts(run_id, ""))
        ids = json.loads((folder / "split.json").read_text())["test_ids"]
        recorded = pd.read_parquet(folder / "predictions" / "test.parquet")
        score = pd.Series(recorded["score_Yes"].to_numpy(), index=ids)
        # the replayed held-out customers carry their id; the hand-written example rows do not
        held_out = rows[rows["rownames"].isin(score.index)]
        expected = score.loc[held_out["rownames"]].to_numpy()
        got = held_out["score"].to_numpy()
        exact = int((got == expected).sum())
        widest = float(np.abs(got - expected).max())
        print(
            f"version {version}: {len(held_out):,} served held-out rows; {exact:,} scores equal "
            f"the run's recorded score bit for bit; largest difference {widest:.3g}",
            flush=True,
        )


def main() -> None:
    goldenpath = sys.argv[1]
    port = sys.argv[2] if len(sys.argv) > 2 else "8765"
    run = runner(goldenpath)
    run("promote", "telco-churn/2", "--to", "challenger", "--reason", "canary before champion")
    with serving(goldenpath, port) as base:

        def get(path: str) -> str:
            return fetch(base, path)

        print(f"GET /version: {get('/version')}", flush=True)
        replay = ("replay", "--url", base, "--model", "telco-churn@champion", *token_options())
        run(*replay, "--feedback-share", "0.3")
        run("promote", "telco-churn/2", "--to", "champion", "--reason", "the canary held up")
        deadline = time.time() + 30
        # the swap is done when version 2 serves as champion and no longer as challenger
        while time.time() < deadline:
            state = json.loads(get("/version"))
            if (state["champion"], state["challenger"]) == ("2", None):
                break
            time.sleep(0.2)
        print(f"GET /version after the promotion (hot swap): {get('/version')}", flush=True)
        run(*replay, "--limit", "400")
        print("--- requests as each protocol's clients send them, and bad ones:", flush=True)
        requests_as_clients_send_them(base)
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
    print("--- served = evaluated: logged scores against the runs' recorded test scores")
    served_equals_evaluated()


if __name__ == "__main__":
    main()
