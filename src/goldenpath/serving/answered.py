"""The requests this server answered: which ids ``POST /feedback`` may label, and which of their
rows were labelled before (a second label is a correction).

The server remembers the id and row count of every request it answers (``kind`` served) as it
answers it, and at start-up it reads the ids served in the prediction log of the last
``serving.feedback.known_days`` days (DuckDB, newest first). At most
``serving.feedback.remember_ids`` ids are kept (about 160 bytes each); past that the oldest are
forgotten, and feedback for them is refused like feedback for an id never issued.

With several worker processes (``goldenpath serve --workers N``) each worker remembers what it
answered; an id it does not know is looked up in the prediction-log files written since it last
looked (today's and yesterday's partitions, at most once a second), so an id answered by another
worker is known once that worker has written its log (within ``serving.log.flush_seconds``).
Which rows were labelled before is known for the labels this process accepted and those in the
feedback log at start-up; monitoring does not rely on it (it takes the latest label of a row).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

__all__ = ["AnsweredRequests"]

_RESCAN_SECONDS = 1.0


def _day_folders(root: Path, first: date) -> list[Path]:
    """The ``date=YYYY-MM-DD`` folders under ``root`` from ``first`` on."""
    if not root.is_dir():
        return []
    folders = []
    for folder in root.iterdir():
        if not folder.name.startswith("date="):
            continue
        try:
            day = date.fromisoformat(folder.name[5:])
        except ValueError:
            continue
        if day >= first:
            folders.append(folder)
    return folders


def _parquet_files(folders: Iterable[Path]) -> list[Path]:
    return [p for folder in folders for p in folder.rglob("*.parquet")]


def _source(paths: Sequence[Path]) -> str:
    listed = ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths)
    return f"read_parquet([{listed}], union_by_name = true, hive_partitioning = false)"


def _connect() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET memory_limit = '1GB'")
    connection.execute("SET threads = 2")
    return connection


class AnsweredRequests:
    """The ids answered (with their row counts) and the rows labelled, bounded; thread-safe."""

    def __init__(self, logs: Path, *, capacity: int, days: int) -> None:
        self.logs = logs
        self.capacity = capacity
        self.days = days
        self._rows: OrderedDict[str, int] = OrderedDict()
        self._labelled: dict[str, int] = {}  # id -> bit mask of the rows labelled
        self._lock = threading.Lock()
        self._scan_lock = threading.Lock()
        self._seen: set[Path] = set()  # prediction files already read (recent partitions)
        self._scanned_at = 0.0
        self.forgotten = 0

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, request_id: str, rows: int) -> None:
        """Remember that ``request_id`` was answered with ``rows`` rows."""
        with self._lock:
            self._put(request_id, rows)

    def _put(self, request_id: str, rows: int) -> None:
        known = self._rows.get(request_id)
        if known is not None:
            self._rows.move_to_end(request_id)
            if rows <= known:
                return
        self._rows[request_id] = rows
        while len(self._rows) > self.capacity:
            oldest, _ = self._rows.popitem(last=False)
            self._labelled.pop(oldest, None)
            self.forgotten += 1

    def rows_of(self, request_id: str) -> int | None:
        """The rows ``request_id`` was answered with; None if it is not known."""
        return self._rows.get(request_id)

    def refresh_due(self) -> bool:
        """Whether :meth:`refresh` may look at the log again (at most once a second)."""
        return time.monotonic() - self._scanned_at >= _RESCAN_SECONDS

    def label(self, request_id: str, rows: Sequence[int]) -> list[bool]:
        """Mark ``rows`` of ``request_id`` labelled; for each, whether it was labelled before."""
        with self._lock:
            mask = self._labelled.get(request_id, 0)
            before = [bool(mask >> r & 1) for r in rows]
            for r in rows:
                mask |= 1 << r
            if request_id in self._rows:
                self._labelled[request_id] = mask
        return before

    def load(self, now: datetime | None = None) -> int:
        """Read the ids served in the last ``days`` days of the prediction log, newest first up
        to the capacity, and the rows the feedback log labelled; the ids known afterwards."""
        now = now or datetime.now(UTC)
        # what is there now is read here (or is older than known_days): a refresh reads only
        # the files written after this
        recent = (now - timedelta(days=1)).date()
        self._seen = set(_parquet_files(_day_folders(self.logs / "predictions", recent)))
        self._scanned_at = time.monotonic()
        if self.days <= 0:
            return len(self)
        since = now - timedelta(days=self.days)
        predictions = _parquet_files(_day_folders(self.logs / "predictions", since.date()))
        feedback = _parquet_files(_day_folders(self.logs / "feedback", since.date()))
        if predictions:
            query = f"""
                SELECT request_id, max("row") + 1 AS n, max(timestamp) AS t
                FROM {_source(predictions)}
                WHERE kind = 'served' AND timestamp >= ? AND request_id IS NOT NULL
                GROUP BY request_id ORDER BY t DESC LIMIT {int(self.capacity)}
            """
            with _connect() as connection:
                found = connection.execute(query, [since]).fetchall()
            with self._lock:
                for request_id, n, _ in reversed(found):
                    self._put(str(request_id), int(n))
        if feedback:
            self._load_labels(feedback, since)
        return len(self)

    def _load_labels(self, feedback: list[Path], since: datetime) -> None:
        query = f"""
            SELECT request_id, list(DISTINCT "row") FROM {_source(feedback)}
            WHERE label IS NOT NULL AND timestamp >= ? AND request_id IS NOT NULL
            GROUP BY request_id
        """
        with _connect() as connection:
            found = connection.execute(query, [since]).fetchall()
        with self._lock:
            for request_id, rows in found:
                if request_id in self._rows:
                    mask = 0
                    for r in rows:
                        mask |= 1 << int(r)
                    self._labelled[str(request_id)] = mask

    def refresh(self) -> int:
        """Read the served ids of prediction files written since the last look (today's and
        yesterday's partitions); the ids added."""
        with self._scan_lock:
            now = datetime.now(UTC)
            recent = (now - timedelta(days=1)).date()
            files = _parquet_files(_day_folders(self.logs / "predictions", recent))
            fresh = [p for p in files if p not in self._seen]
            self._seen = set(files)
            self._scanned_at = time.monotonic()
            if not fresh:
                return 0
            query = f"""
                SELECT request_id, max("row") + 1 FROM {_source(fresh)}
                WHERE kind = 'served' AND request_id IS NOT NULL GROUP BY request_id
            """
            with _connect() as connection:
                found = connection.execute(query).fetchall()
            with self._lock:
                before = len(self._rows)
                for request_id, n in found:
                    self._put(str(request_id), int(n))
                return len(self._rows) - before
