"""``goldenpath replay``: send real rows to a running server, as traffic, with feedback.

It reads rows (a run's held-out rows by default, or a file that honours the contract), posts
them to ``/predict`` (keyed by the id column, so a canary routes each customer consistently),
sends the true labels of a share of the answered requests to ``/feedback``, and summarises what
came back: statuses, routes, versions and latency.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from goldenpath.data.dataset import load_dataset
from goldenpath.errors import ServerUnreachable
from goldenpath.evaluation.evaluate import resolve_model
from goldenpath.project import Project
from goldenpath.training.recorded import run_rows
from goldenpath.training.tracking import open_tracking

__all__ = ["ReplayResult", "replay"]


@dataclass(frozen=True)
class ReplayResult:
    url: str
    rows: int
    requests: int
    statuses: dict[str, int]
    routes: dict[str, int]
    versions: dict[str, int]
    degraded: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    feedback_sent: int
    seconds: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _post(url: str, payload: Any, timeout: float = 30) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None
    except (urllib.error.URLError, OSError) as error:
        raise ServerUnreachable(
            f"cannot reach the server at {url}: {error}",
            hint="start it with: goldenpath serve (and pass its address with --url)",
        ) from None


def _rows(project: Project, ref: str, data: str | None) -> tuple[list[dict[str, Any]], list[Any]]:
    spec = project.spec
    dataset = load_dataset(spec, project.root, source=data)
    frame = dataset.frame
    if data is None:
        model = resolve_model(project, ref)
        client = open_tracking(project, create=False)
        frame = run_rows(client, model.run_id, dataset, "test", hint="replay a file with --data")
    columns = [c for c in [*spec.feature_columns, spec.data.id_column] if c is not None]
    records = json.loads(frame[columns].to_json(orient="records", date_format="iso"))
    labels = frame[spec.task.target].tolist()
    return records, labels


def replay(
    project: Project,
    url: str,
    *,
    ref: str = "latest",
    data: str | None = None,
    limit: int | None = None,
    concurrency: int = 4,
    feedback_share: float = 0.25,
    seed: int = 0,
) -> ReplayResult:
    """Replay rows to the server at ``url``; see the module docstring."""
    records, labels = _rows(project, ref, data)
    if limit is not None:
        records, labels = records[:limit], labels[:limit]
    id_column = project.spec.data.id_column
    rng = random.Random(seed)
    chosen = {i for i in range(len(records)) if rng.random() < feedback_share}
    base = url.rstrip("/")

    def send(i: int) -> tuple[int, Any, float, int]:
        record = records[i]
        payload: dict[str, Any] = {"records": [record]}
        if id_column is not None and record.get(id_column) is not None:
            payload["key"] = str(record[id_column])
        began = time.perf_counter()
        status, body = _post(f"{base}/predict", payload)
        elapsed = time.perf_counter() - began
        sent = 0
        if status == 200 and i in chosen:
            label = labels[i]
            feedback = {"request_id": body["request_id"], "labels": [label]}
            sent = int(_post(f"{base}/feedback", feedback)[0] == 200)
        return status, body, elapsed, sent

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        outcomes = list(pool.map(send, range(len(records))))
    seconds = time.perf_counter() - started
    ok = [body for status, body, _, _ in outcomes if status == 200]
    latencies = np.array([elapsed for status, _, elapsed, _ in outcomes if status == 200]) * 1000
    return ReplayResult(
        url=base,
        rows=len(records),
        requests=len(outcomes),
        statuses=dict(Counter(str(status) for status, *_ in outcomes)),
        routes=dict(Counter(body["route"] for body in ok)),
        versions=dict(Counter(str(body["model_version"]) for body in ok)),
        degraded=sum(1 for body in ok if body["degraded"]),
        latency_p50_ms=float(np.percentile(latencies, 50)) if len(latencies) else None,
        latency_p95_ms=float(np.percentile(latencies, 95)) if len(latencies) else None,
        feedback_sent=sum(sent for *_, sent in outcomes),
        seconds=seconds,
    )
