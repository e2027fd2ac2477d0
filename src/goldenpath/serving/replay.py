"""``goldenpath replay``: send real rows to a running server, as traffic, with feedback.

It reads rows (a run's held-out rows by default, or a file that honours the contract), posts
them to ``/predict`` (keyed by the id column, so a canary routes each customer consistently),
sends the true labels of a share of the answered requests to ``/feedback`` (with a numeric
column's value per row as ``values``, e.g. the revenue an experiment's value metric reads, when
``value_column`` names one), and summarises what came back: statuses, routes, versions and
latency.

Rows are sent with the data's exact values: every float is written with as many digits as it
takes to read back the same float (orjson), NaN and other missing values as ``null``, and
datetimes as ISO-8601 text with their full precision. (``DataFrame.to_json`` keeps 10 decimals,
and values off by 1e-11 are enough to move rows across the monitor's bin edges.)
"""

from __future__ import annotations

import random
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date, datetime
from datetime import time as clock
from typing import Any

import numpy as np
import orjson
import pandas as pd

from goldenpath.data.contract import validate_frame
from goldenpath.data.dataset import load_dataset
from goldenpath.data.fingerprint import row_hashes
from goldenpath.data.sources import read_source, source_label
from goldenpath.errors import DataReadError, ServerUnreachable
from goldenpath.evaluation.evaluate import resolve_model
from goldenpath.project import Project
from goldenpath.training.recorded import run_rows
from goldenpath.training.tracking import require_tracking

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
    value_column: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


RATE_LIMIT_RETRIES = 5


def _post(url: str, payload: Any, token: str | None = None, timeout: float = 30) -> tuple[int, Any]:
    """POST ``payload`` as JSON (with the bearer ``token``); a 429 is retried after its
    Retry-After, a few times, as a well-behaved client does."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=orjson.dumps(payload), headers=headers)
    for _ in range(RATE_LIMIT_RETRIES):
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, orjson.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code != 429:
                return error.code, None
            time.sleep(min(float(error.headers.get("Retry-After") or 1), 10.0))
        except (urllib.error.URLError, OSError) as error:
            raise ServerUnreachable(
                f"cannot reach the server at {url}: {error}",
                hint="start it with: goldenpath serve (and pass its address with --url)",
            ) from None
    return 429, None


def _plain(value: Any) -> Any:
    """One value as JSON can hold it exactly: a Python bool, int, float or str, ISO-8601 text
    for a date or time, None for every kind of missing value."""
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)  # exact: float32 and float64 values are all doubles
        return None if np.isnan(number) else number
    if isinstance(value, datetime | date | clock):
        return value.isoformat()  # pd.Timestamp keeps its nanoseconds
    if isinstance(value, str):
        return value
    return str(value)


def _column(values: pd.Series) -> list[Any]:
    """A column's values for JSON, exactly (see the module docstring)."""
    if pd.api.types.is_float_dtype(values.dtype) and isinstance(values.dtype, np.dtype):
        array = values.to_numpy()
        plain: list[Any] = array.tolist()  # Python floats: the same doubles
        for i in np.flatnonzero(np.isnan(array)).tolist():
            plain[i] = None
        return plain
    if values.dtype.kind in "iub" and isinstance(values.dtype, np.dtype):
        return list(values.to_numpy().tolist())
    return [_plain(v) for v in values.astype(object).tolist()]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as JSON objects that hold its exact values."""
    columns = {name: _column(frame[name]) for name in frame.columns}
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _numeric(values: pd.Series, column: str) -> list[float | None]:
    """The value column as numbers for ``/feedback``'s ``values`` (missing: ``None``)."""
    if values.dtype.kind not in "iuf":
        raise DataReadError(
            f"the value column {column!r} is not numeric (dtype {values.dtype})",
            hint="--value-column names a column of numbers, e.g. the revenue each row brought",
            details={"column": column, "dtype": str(values.dtype)},
        )
    array = values.to_numpy(dtype=float)
    plain: list[float | None] = array.tolist()
    for i in np.flatnonzero(~np.isfinite(array)).tolist():
        plain[i] = None
    return plain


def _with_values(project: Project, data: str, column: str) -> tuple[pd.DataFrame, pd.Series]:
    """The file's rows validated as ``load_dataset`` does (in its order), with the value column,
    which the contract does not declare, set aside and kept aligned with them."""
    raw = read_source(data, project.root)
    if column not in raw.columns:
        raise DataReadError(
            f"the value column {column!r} is not in {source_label(data, project.root)}",
            hint=f"the file's columns: {', '.join(map(str, raw.columns))}",
            details={"column": column},
        )
    values = raw.pop(column)
    frame = validate_frame(raw, project.spec.data.contract, source=source_label(data, project.root))
    order = np.argsort(row_hashes(frame), kind="stable")
    return frame.iloc[order].reset_index(drop=True), values.iloc[order].reset_index(drop=True)


def _rows(
    project: Project, ref: str, data: str | None, value_column: str | None = None
) -> tuple[list[dict[str, Any]], list[Any], list[float | None] | None]:
    spec = project.spec
    values: pd.Series | None = None
    if value_column is not None and value_column not in spec.data.contract.columns:
        if data is None:
            raise DataReadError(
                f"the value column {value_column!r} is not in the data contract",
                hint="replay a file that has it with --data, or name a contract column",
                details={"column": value_column},
            )
        frame, values = _with_values(project, data, value_column)
    else:
        dataset = load_dataset(spec, project.root, source=data)
        frame = dataset.frame
        if data is None:
            model = resolve_model(project, ref)
            frame = run_rows(
                require_tracking(project),
                model.run_id,
                dataset,
                "test",
                hint="replay a file with --data",
            )
        if value_column is not None:
            values = frame[value_column]
    columns = [c for c in [*spec.feature_columns, spec.data.id_column] if c is not None]
    records = _records(frame[columns])
    labels = _column(frame[spec.task.target])
    return records, labels, None if values is None else _numeric(values, value_column or "")


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
    token: str | None = None,
    value_column: str | None = None,
) -> ReplayResult:
    """Replay rows to the server at ``url``; see the module docstring. With ``value_column``
    (a numeric column: of the contract, or of the ``data`` file beside the contract's), each
    feedback also carries that row's value as ``values`` (a missing value as ``null``)."""
    records, labels, values = _rows(project, ref, data, value_column)
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
        status, body = _post(f"{base}/predict", payload, token)
        elapsed = time.perf_counter() - began
        sent = 0
        if status == 200 and i in chosen:
            label = labels[i]
            feedback: dict[str, Any] = {"request_id": body["request_id"], "labels": [label]}
            if values is not None:
                feedback["values"] = [values[i]]
            sent = int(_post(f"{base}/feedback", feedback, token)[0] == 200)
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
        value_column=value_column,
    )
