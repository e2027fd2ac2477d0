"""What knowing its answered ids costs a server, for ``POST /feedback``.

1. memory: the bytes per remembered id (a 32-character generated id, its string included, and
   its row count), measured with tracemalloc over ``--ids`` ids (default 1,000,000, the default
   of ``serving.feedback.remember_ids``);
2. time on the request path: one ``add`` (done for every answered request) and one
   ``feedback_rows`` of a one-label body, in microseconds;
3. start-up: reading the ids of a prediction log of ``--ids`` served requests (one row each, in
   files of 5,000 rows as ``flush_rows`` writes them) with DuckDB, in seconds.

    python benchmarks/feedback_ids.py [--ids N]

There is no peer to compare with: MLflow's and KServe's servers accept no feedback.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from goldenpath.serving.answered import AnsweredRequests
from goldenpath.serving.feedback import feedback_rows
from goldenpath.serving.validation import value_check
from goldenpath.spec.models import ColumnSpec
from goldenpath.spec.serving import LimitsSpec

FILE_ROWS = 5000


def _memory(count: int) -> float:
    """Bytes per id, the id's own string included (the server keeps the request's)."""
    tracemalloc.start()
    answered = AnsweredRequests(Path("/nonexistent"), capacity=count, days=0)
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(count):
        answered.add(uuid.uuid4().hex, 1)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return used / count


def _request_path(ids: list[str]) -> tuple[float, float]:
    answered = AnsweredRequests(Path("/nonexistent"), capacity=len(ids), days=0)
    started = time.perf_counter()
    for rid in ids:
        answered.add(rid, 1)
    add_us = (time.perf_counter() - started) / len(ids) * 1e6
    limits = LimitsSpec()
    check = value_check(ColumnSpec(dtype="str", allowed=["No", "Yes"], nullable=True), limits)
    now = datetime.now(UTC)
    sample = ids[:: max(1, len(ids) // 100_000)]
    started = time.perf_counter()
    for rid in sample:
        body = {"request_id": rid, "labels": ["Yes"]}
        feedback_rows(body, limits, now, answered=answered, check=check)
    return add_us, (time.perf_counter() - started) / len(sample) * 1e6


def _start_up(ids: list[str]) -> float:
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as folder:
        logs = Path(folder)
        day = logs / "predictions" / f"date={now.date().isoformat()}" / "version=1"
        day.mkdir(parents=True)
        for i in range(0, len(ids), FILE_ROWS):
            chunk = ids[i : i + FILE_ROWS]
            n = len(chunk)
            table = pa.table(
                {
                    "request_id": chunk,
                    "row": pa.array([0] * n, pa.int32()),
                    "timestamp": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
                    "kind": ["served"] * n,
                    "prediction": ["Yes"] * n,
                    "score": [0.5] * n,
                }
            )
            pq.write_table(table, day / f"part-{i}.parquet")
        answered = AnsweredRequests(logs, capacity=len(ids), days=7)
        started = time.perf_counter()
        known = answered.load()
        seconds = time.perf_counter() - started
        assert known == len(ids), known
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ids", type=int, default=1_000_000)
    count = parser.parse_args().ids
    ids = [uuid.uuid4().hex for _ in range(count)]
    per_id = _memory(count)
    add_us, feedback_us = _request_path(ids)
    load_s = _start_up(ids)
    print(f"ids                          {count:,}")
    print(f"memory per remembered id     {per_id:.0f} bytes ({per_id * count / 1e6:.0f} MB)")
    print(f"add, per answered request    {add_us:.2f} us")
    print(f"feedback_rows, one label     {feedback_us:.2f} us")
    print(f"start-up load of the log     {load_s:.2f} s ({count // FILE_ROWS} files)")


if __name__ == "__main__":
    main()
