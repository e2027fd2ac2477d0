"""The prediction log: every answered row (and every shadow call) as Parquet, by date and version.

Requests only append to an in-memory buffer (a list append under a lock); a background thread
writes it out when ``flush_rows`` rows wait or every ``flush_seconds``, and :meth:`close` writes
the rest, so a graceful shutdown (SIGTERM) loses nothing. A hard kill loses at most what arrived
since the last write: at most ``flush_seconds`` of traffic, or ``flush_rows`` rows, whichever
comes first. Files are written under a temporary name and renamed, so a reader never sees half a
file. PII columns of the contract are hashed (HMAC-SHA256 with the project's key, see
:mod:`goldenpath.serving.pii`) or left out, as ``serving.log.pii`` says.

Nothing stops the writer. A request whose rows the schema cannot hold (an integer past int64, a
string that is not valid text, an object) is set aside, with the reason, in a quarantine file of
JSON lines, and the other requests of the same write still reach the log; so are requests whose
file cannot be written. Each is counted (``on_error``), and the writer reports its state
(``on_health``: the problem of the latest write, or None once a write succeeds again), which the
server turns into a metric and a degraded readiness.

Layout::

    .goldenpath/logs/predictions/date=YYYY-MM-DD/version=N/part-<ms>-<id>.parquet
    .goldenpath/logs/feedback/date=YYYY-MM-DD/part-<ms>-<id>.parquet
    .goldenpath/logs/quarantine/date=YYYY-MM-DD/part-<ms>-<id>.jsonl   (requests set aside)
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from goldenpath._files import write_atomic
from goldenpath.serving.pii import hash_pii
from goldenpath.spec.models import ColumnSpec
from goldenpath.spec.serving import LogSpec

__all__ = ["FEEDBACK_SCHEMA", "LogWriter", "partition_for", "prediction_schema"]

_logger = logging.getLogger("goldenpath.serving")

_ARROW = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_()}

FEEDBACK_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("row", pa.int32()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("label", pa.string()),
        ("label_value", pa.float64()),
        ("correction", pa.bool_()),  # the row had a label before (files before 0.2: absent)
        ("credential", pa.string()),  # the credential that sent it; null: anonymous
        ("value", pa.float64()),  # the row's numeric value, e.g. revenue (older files: absent)
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
        ("event_time", pa.timestamp("us", tz="UTC")),  # the contract's time column, if sent
        # a running experiment's name, arm (control, treatment) and the request's unit (hashed
        # when its column is PII); null outside experiments and in files written before them
        ("experiment", pa.string()),
        ("arm", pa.string()),
        ("unit", pa.string()),
    ]
    for name, spec in columns.items():
        if spec.pii and pii == "drop":
            continue
        kind = pa.string() if spec.pii else _ARROW.get(spec.dtype, pa.string())
        fields.append((name, kind))
    return pa.schema(fields)


@dataclass
class _Entry:
    """One request's rows, as they arrived (columns of JSON values)."""

    partition: tuple[str, ...]
    values: dict[str, list[Any]]
    rows: int


@dataclass(frozen=True)
class _SetAside:
    """An entry that did not reach the Parquet log, and why."""

    entry: _Entry
    reason: str


class _Unwritable(Exception):
    """An entry the schema cannot hold; the message names the column."""


def _text(value: object, limit: int = 500) -> str:
    """``value`` as valid UTF-8 text (a lone surrogate escaped), at most ``limit`` characters."""
    text = str(value).encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reason(exc: BaseException) -> str:
    return _text(exc) if isinstance(exc, _Unwritable) else _text(f"{type(exc).__name__}: {exc}")


def _plain(value: Any) -> Any:
    """A value as JSON holds it; anything JSON cannot hold as its ``repr``."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return _text(repr(value), limit=10_000)
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_text(k, limit=10_000): _plain(v) for k, v in value.items()}
    return _text(repr(value), limit=10_000)


class LogWriter:
    """A buffered, thread-flushed Parquet writer for one kind of log; it never stops writing.

    A request whose rows the schema cannot hold (or whose file cannot be written) is set aside in
    the quarantine, JSON lines under ``<root>/quarantine/date=YYYY-MM-DD/``, and the other
    requests of the same write still reach the log. Each request set aside, and each quarantine
    file that could not be written, is reported to ``on_error``; :attr:`problem` says what went
    wrong at the latest write (None once a write succeeds again), and ``on_health`` hears it."""

    def __init__(
        self,
        root: Path,
        schema: pa.Schema,
        settings: LogSpec,
        *,
        pii_columns: set[str] | None = None,
        pii_key: bytes | None = None,
        on_written: Callable[[int], None] = lambda rows: None,
        on_error: Callable[[int], None] = lambda count: None,
        on_health: Callable[[str | None], None] = lambda problem: None,
        name: str = "prediction log",
    ) -> None:
        self.root = root
        self.schema = schema
        self.settings = settings
        self.pii = pii_columns or set()
        if self.pii and not pii_key:
            raise ValueError("PII columns are hashed with a key: pass pii_key")
        self._pii_key = pii_key or b""
        self.on_written = on_written
        self.on_error = on_error
        self.on_health = on_health
        self.name = name
        self._buffer: list[_Entry] = []
        self._rows = 0
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # one write at a time (the thread, or close)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.written_rows = 0
        self.errors = 0
        self.quarantined = 0  # requests set aside
        self.problem: str | None = None
        self.on_health(None)
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @property
    def healthy(self) -> bool:
        """Whether the latest write reached the log without setting anything aside."""
        return self.problem is None

    def _hash(self, value: Any) -> str | None:
        return hash_pii(value, self._pii_key)

    def append(self, partition: tuple[str, ...], values: dict[str, list[Any]], rows: int) -> None:
        """Queue ``rows`` rows (``values``: column -> list); never blocks on disk."""
        with self._lock:
            self._buffer.append(_Entry(partition, values, rows))
            self._rows += rows
            full = self._rows >= self.settings.flush_rows
        if full:
            self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.settings.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:  # flush sets aside what it cannot write; this is the net
                self._count(1)  # under it, so that no fault ever ends the thread
                self._settle(f"the writer failed: {_reason(exc)}")
                _logger.exception(
                    "%s: the writer failed; it goes on with the next write", self.name
                )

    def flush(self) -> int:
        """Write everything buffered now; returns the rows written. What cannot be written is
        set aside in the quarantine, never raised."""
        with self._flushing:
            with self._lock:
                entries, self._buffer, self._rows = self._buffer, [], 0
            if not entries:
                return 0
            aside: list[_SetAside] = []
            grouped: dict[tuple[str, ...], list[_Entry]] = defaultdict(list)
            for entry in entries:
                if isinstance(entry.partition, tuple) and all(
                    isinstance(p, str) and p for p in entry.partition
                ):
                    grouped[entry.partition].append(entry)
                else:
                    aside.append(_SetAside(entry, f"partition {_text(repr(entry.partition))}"))
            total = sum(
                self._write(partition, group, aside) for partition, group in grouped.items()
            )
            self.written_rows += total
            self._settle(self._quarantine(aside) if aside else None)
            self.on_written(total)
            return total

    def _table(self, entries: list[_Entry]) -> pa.Table:
        """The entries' rows as one table of the schema; _Unwritable naming the column."""
        columns: dict[str, list[Any]] = {name: [] for name in self.schema.names}
        for entry in entries:
            n = entry.rows
            for name, values in columns.items():
                column = entry.values.get(name)
                if column is None:
                    values.extend([None] * n)
                elif len(column) != n:
                    raise _Unwritable(f"{name}: {len(column)} values for {n} rows")
                else:
                    values.extend(column)
        arrays = []
        for field in self.schema:
            try:
                values = columns[field.name]
                if field.name in self.pii:
                    values = [self._hash(v) for v in values]
                arrays.append(pa.array(values, type=field.type))
            except Exception as exc:
                raise _Unwritable(f"{field.name}: {_reason(exc)}") from exc
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def _write(
        self, partition: tuple[str, ...], group: list[_Entry], aside: list[_SetAside]
    ) -> int:
        """Write one partition's entries as one file; the rows written. When their table cannot
        be built, each entry is tried alone and only those that fail are set aside."""
        try:
            table, written = self._table(group), group
        except Exception:
            tables, written = [], []
            for entry in group:
                try:
                    tables.append(self._table([entry]))
                    written.append(entry)
                except Exception as exc:
                    aside.append(_SetAside(entry, _reason(exc)))
            if not tables:
                return 0
            table = pa.concat_tables(tables)
        folder = self.root.joinpath(*partition)
        try:
            stem = f"part-{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}"
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink)
            write_atomic(folder / f"{stem}.parquet", sink.getvalue().to_pybytes())
        except Exception as exc:
            reason = f"could not write a file in {folder}: {_reason(exc)}"
            aside.extend(_SetAside(entry, reason) for entry in written)
            return 0
        return int(table.num_rows)

    def _record(self, item: _SetAside, when: datetime) -> dict[str, Any]:
        entry = item.entry
        record: dict[str, Any] = {
            "log": self.name,
            "set_aside_at": when.isoformat(),
            "reason": item.reason,
            "partition": _plain(entry.partition),
            "rows": _plain(entry.rows),
        }
        try:
            values = {}
            for name in self.schema.names:  # PII as the log holds it: hashed, or left out
                if name in entry.values:
                    column = entry.values[name]
                    values[name] = [self._hash(v) for v in column] if name in self.pii else column
            record["values"] = _plain(values)
        except Exception as exc:
            record["values"] = None
            record["values_problem"] = _reason(exc)
        return record

    def _quarantine(self, aside: list[_SetAside]) -> str:
        """Write ``aside`` to a quarantine file (one JSON line per request); the problem."""
        requests = len(aside)
        rows = sum(i.entry.rows for i in aside if isinstance(i.entry.rows, int))
        self.quarantined += requests
        self._count(requests)
        first = aside[0].reason
        more = len({item.reason for item in aside}) - 1
        why = first if not more else f"{first} (and {more} other reason(s))"
        now = datetime.now(UTC)
        folder = self.root / "quarantine" / f"date={now.date().isoformat()}"
        try:
            lines = [
                json.dumps(self._record(item, now), ensure_ascii=False, allow_nan=False)
                for item in aside
            ]
            stem = f"part-{int(now.timestamp() * 1000)}-{uuid.uuid4().hex[:8]}"
            path = write_atomic(folder / f"{stem}.jsonl", "\n".join(lines) + "\n")
        except Exception as exc:
            self._count(1)
            _logger.error(
                "%s: %d request(s) (%d rows) could not be written (%s), nor set aside in %s; "
                "they are lost",
                self.name,
                requests,
                rows,
                why,
                folder,
                exc_info=True,
            )
            return _text(
                f"{requests} request(s) could not be written ({why}), nor set aside in the "
                f"quarantine ({_reason(exc)})"
            )
        _logger.warning(
            "%s: %d request(s) (%d rows) set aside in %s: %s", self.name, requests, rows, path, why
        )
        return _text(f"{requests} request(s) set aside in {path}: {why}")

    def _count(self, errors: int) -> None:
        self.errors += errors
        self.on_error(errors)

    def _settle(self, problem: str | None) -> None:
        """The outcome of the latest write: a problem, or None (healthy)."""
        self.problem = problem
        self.on_health(problem)

    def close(self) -> None:
        """Stop the thread and write what is left (graceful shutdown)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)
        self.flush()


def partition_for(kind: str, when: datetime, version: str | None = None) -> tuple[str, ...]:
    day = f"date={when.astimezone(UTC).date().isoformat()}"
    return (kind, day) if version is None else (kind, day, f"version={version}")
