"""The prediction log: every answered row (and every shadow call) as Parquet, by date and version.

Requests only append to an in-memory buffer (a list append under a lock); a background thread
writes it out when ``flush_rows`` rows wait or every ``flush_seconds``, and :meth:`close` writes
the rest, so a graceful shutdown (SIGTERM) loses nothing. A hard kill loses at most what arrived
since the last write: at most ``flush_seconds`` of traffic, or ``flush_rows`` rows, whichever
comes first. Files are written under a temporary name and renamed, so a reader never sees half a
file. PII columns of the contract are hashed (SHA-256) or left out, as ``serving.log.pii`` says.

Layout::

    .goldenpath/logs/predictions/date=YYYY-MM-DD/version=N/part-<ms>-<id>.parquet
    .goldenpath/logs/feedback/date=YYYY-MM-DD/part-<ms>-<id>.parquet
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from goldenpath.spec.models import ColumnSpec
from goldenpath.spec.serving import LogSpec

__all__ = ["FEEDBACK_SCHEMA", "LogWriter", "partition_for", "prediction_schema"]

_ARROW = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_()}

FEEDBACK_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("row", pa.int32()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("label", pa.string()),
        ("label_value", pa.float64()),
    ]
)


def prediction_schema(columns: Mapping[str, ColumnSpec], pii: str) -> pa.Schema:
    fields = [
        ("request_id", pa.string()),
        ("row", pa.int32()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("model_name", pa.string()),
        ("model_version", pa.string()),
        ("route", pa.string()),
        ("kind", pa.string()),
        ("latency_ms", pa.float64()),
        ("degraded", pa.bool_()),
        ("prediction", pa.string()),
        ("prediction_value", pa.float64()),
        ("score", pa.float64()),
    ]
    for name, spec in columns.items():
        if spec.pii and pii == "drop":
            continue
        kind = pa.string() if spec.pii else _ARROW.get(spec.dtype, pa.string())
        fields.append((name, kind))
    return pa.schema(fields)


def _hash(value: Any) -> str | None:
    return None if value is None else hashlib.sha256(str(value).encode()).hexdigest()


@dataclass
class _Entry:
    """One request's rows, as they arrived (columns of JSON values)."""

    partition: tuple[str, ...]
    values: dict[str, list[Any]]


class LogWriter:
    """A buffered, thread-flushed Parquet writer for one kind of log."""

    def __init__(
        self,
        root: Path,
        schema: pa.Schema,
        settings: LogSpec,
        *,
        pii_columns: set[str] | None = None,
        on_written: Callable[[int], None] = lambda rows: None,
        on_error: Callable[[], None] = lambda: None,
    ) -> None:
        self.root = root
        self.schema = schema
        self.settings = settings
        self.pii = pii_columns or set()
        self.on_written = on_written
        self.on_error = on_error
        self._buffer: list[_Entry] = []
        self._rows = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.written_rows = 0
        self.errors = 0
        self._thread = threading.Thread(target=self._loop, name="prediction-log", daemon=True)
        self._thread.start()

    def append(self, partition: tuple[str, ...], values: dict[str, list[Any]], rows: int) -> None:
        """Queue ``rows`` rows (``values``: column -> list); never blocks on disk."""
        with self._lock:
            self._buffer.append(_Entry(partition, values))
            self._rows += rows
            full = self._rows >= self.settings.flush_rows
        if full:
            self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.settings.flush_seconds)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write everything buffered now; returns the rows written."""
        with self._lock:
            entries, self._buffer, self._rows = self._buffer, [], 0
        if not entries:
            return 0
        grouped: dict[tuple[str, ...], list[_Entry]] = defaultdict(list)
        for entry in entries:
            grouped[entry.partition].append(entry)
        total = 0
        for partition, group in grouped.items():
            columns: dict[str, list[Any]] = {name: [] for name in self.schema.names}
            for entry in group:
                n = len(entry.values["request_id"])
                for name in self.schema.names:
                    column = entry.values.get(name)
                    columns[name].extend([None] * n if column is None else column)
            for name in self.pii & set(columns):
                columns[name] = [_hash(v) for v in columns[name]]
            try:
                table = pa.Table.from_pydict(columns, schema=self.schema)
                folder = self.root.joinpath(*partition)
                folder.mkdir(parents=True, exist_ok=True)
                stem = f"part-{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}"
                partial = folder / f".{stem}.parquet.partial"
                pq.write_table(table, partial)
                partial.replace(folder / f"{stem}.parquet")
            except (OSError, pa.ArrowException):
                self.errors += 1  # counted; the rows are lost rather than the server
                self.on_error()
                continue
            total += table.num_rows
        self.written_rows += total
        self.on_written(total)
        return total

    def close(self) -> None:
        """Stop the thread and write what is left (graceful shutdown)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)
        self.flush()


def partition_for(kind: str, when: datetime, version: str | None = None) -> tuple[str, ...]:
    day = f"date={when.astimezone(UTC).date().isoformat()}"
    return (kind, day) if version is None else (kind, day, f"version={version}")
