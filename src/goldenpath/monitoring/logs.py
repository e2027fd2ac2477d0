"""Reading the server's Parquet prediction and feedback logs with DuckDB.

DuckDB reads only the columns a query names and skips row groups by their timestamp statistics,
and hands results back as Arrow record batches, so a window of any size is processed in bounded
memory. Files are immutable once they appear (the log writer renames a complete file into
place), so "what is new" is the set of files not read before.

Windows keep time by one *clock*: arrival (``timestamp``, when the server answered) or event
(``event_time``, the contract's time column as the server logged it). With the event clock, a
row's window time is its event time, or its arrival time when it has none (a request without the
time column, or a file written before the log kept ``event_time``); the rows read say which with
``event_time_missing``. Every query here reads, filters and returns the clock's time as
``timestamp``, so windows, labels and samples agree on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

import duckdb
import pandas as pd
import pyarrow as pa

__all__ = ["EVENT_TIME_MISSING", "Clock", "LogFile", "PredictionLog"]

BATCH_ROWS = 500_000
Clock = Literal["event", "arrival"]
# the column served rows carry with the event clock: the event time was null (arrival stands in)
EVENT_TIME_MISSING = "event_time_missing"


class LogFile(tuple[str, int]):
    """(path relative to the log folder, size in bytes)."""

    @property
    def path(self) -> str:
        return self[0]

    @property
    def size(self) -> int:
        return self[1]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _partition_day(path: str) -> date | None:
    for part in Path(path).parts:
        if part.startswith("date="):
            try:
                return date.fromisoformat(part[5:])
            except ValueError:
                return None
    return None


def _frame(
    connection: duckdb.DuckDBPyConnection, query: str, parameters: list[object]
) -> pd.DataFrame:
    table = connection.sql(query, params=parameters).to_arrow_table()
    assert table is not None
    frame: pd.DataFrame = table.to_pandas()
    return frame


class PredictionLog:
    """The ``predictions/`` and ``feedback/`` folders of a project's log."""

    def __init__(
        self,
        folder: Path,
        *,
        memory_limit: str = "1GB",
        threads: int = 2,
        clock: Clock = "arrival",
    ) -> None:
        self.folder = folder
        self.memory_limit = memory_limit
        self.threads = threads
        self.clock = clock

    def _time(self, paths: list[str], table: str = "") -> str:
        """The SQL expression of each row's window time in ``paths`` (see the module)."""
        if self.clock == "event" and "event_time" in self.columns(paths):
            return f"coalesce({table}event_time, {table}timestamp)"
        return f"{table}timestamp"

    def files(self, kind: str) -> list[LogFile]:
        """Every complete Parquet file of ``kind`` (predictions or feedback), oldest first."""
        root = self.folder / kind
        if not root.exists():
            return []
        found = [
            (p.stat().st_mtime, LogFile((str(p.relative_to(self.folder)), p.stat().st_size)))
            for p in root.rglob("*.parquet")
        ]
        return [f for _, f in sorted(found)]

    def _connect(self) -> duckdb.DuckDBPyConnection:
        connection = duckdb.connect()
        connection.execute(f"SET memory_limit = '{self.memory_limit}'")
        connection.execute(f"SET threads = {int(self.threads)}")
        connection.execute("SET preserve_insertion_order = false")
        return connection

    def _source(self, paths: list[str]) -> str:
        listed = ", ".join("'" + str(self.folder / p).replace("'", "''") + "'" for p in paths)
        return f"read_parquet([{listed}], union_by_name = true, hive_partitioning = false)"

    def _between(self, start: datetime | None, end: datetime | None) -> list[str]:
        """The prediction files whose day partition can hold rows in [start, end] (a row near
        midnight may sit in the next day's partition); every file without bounds, and with the
        event clock (files are partitioned by arrival, and events arrive late or early)."""
        if self.clock == "event":
            start = end = None
        low = None if start is None else start.date()
        high = None if end is None else end.date() + timedelta(days=1)
        return [
            f.path
            for f in self.files("predictions")
            if (day := _partition_day(f.path)) is None
            or ((low is None or low <= day) and (high is None or day <= high))
        ]

    def columns(self, paths: list[str]) -> list[str]:
        """The columns the files hold (their union)."""
        if not paths:
            return []
        with self._connect() as connection:
            described = connection.execute(f"DESCRIBE SELECT * FROM {self._source(paths)}")
            return [str(row[0]) for row in described.fetchall()]

    @staticmethod
    def _where(
        since: datetime | None, until: datetime | None, table: str = "", time: str = "timestamp"
    ) -> tuple[str, list[object]]:
        """Served rows whose window time (the SQL ``time``) is in [since, until)."""
        clauses: list[str] = [f"{table}kind = 'served'"]
        parameters: list[object] = []
        if since is not None:
            clauses.append(f"{time} >= ?")
            parameters.append(since)
        if until is not None:
            clauses.append(f"{time} < ?")
            parameters.append(until)
        return " AND ".join(clauses), parameters

    def served(
        self,
        paths: list[str],
        columns: list[str],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        ordered: bool = False,
        batch_rows: int = BATCH_ROWS,
    ) -> Iterator[pa.RecordBatch]:
        """The served rows of ``paths`` whose window time is in [since, until), ``columns``
        only (``timestamp``: the window time), batch by batch (in timestamp order when
        ``ordered``). With the event clock, each row also says whether its event time was
        missing (:data:`EVENT_TIME_MISSING`)."""
        if not paths:
            return
        time = self._time(paths)
        where, parameters = self._where(since, until, time=time)
        order = f' ORDER BY {time}, request_id, "row"' if ordered else ""
        selected = [f"{time} AS timestamp" if c == "timestamp" else _quoted(c) for c in columns]
        if self.clock == "event":
            missing = "event_time IS NULL" if time != "timestamp" else "true"
            selected.append(f"{missing} AS {EVENT_TIME_MISSING}")
        query = f"SELECT {', '.join(selected)} FROM {self._source(paths)} WHERE {where}{order}"
        with self._connect() as connection:
            reader = connection.sql(query, params=parameters).to_arrow_reader(batch_rows)
            assert reader is not None
            yield from reader

    def sample(
        self,
        columns: list[str],
        start: datetime,
        end: datetime,
        rows: int,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        seed: int = 0,
    ) -> pd.DataFrame:
        """A uniform sample of up to ``rows`` served rows with start <= window time <= end, of
        the ``columns`` the files hold."""
        paths = self._between(start, end)
        present = set(self.columns(paths))
        columns = [c for c in columns if c in present]
        if not paths or not columns:
            return pd.DataFrame(columns=columns)
        time = self._time(paths)
        where, parameters = self._where(since, until, time=time)
        query = (
            f"SELECT {', '.join(map(_quoted, columns))} FROM {self._source(paths)} "
            f"WHERE {where} AND {time} >= ? AND {time} <= ? "
            f"USING SAMPLE reservoir({int(rows)} ROWS) REPEATABLE ({int(seed)})"
        )
        with self._connect() as connection:
            return _frame(connection, query, [*parameters, start, end])

    def labelled(
        self,
        feedback: list[str],
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pd.DataFrame:
        """Served rows joined with their feedback labels (the latest label of each row, so a
        correction replaces the label it corrects; a null label is no label) whose window time
        is in [start, end]: timestamp (the window time), route, prediction, score, label."""
        predictions = self._between(start, end)
        if not predictions or not feedback:
            return pd.DataFrame(
                columns=[
                    "timestamp",
                    "request_id",
                    "row",
                    "route",
                    "model_version",
                    "prediction",
                    "score",
                    "label",
                ]
            )
        time = self._time(predictions, "p.")
        where, parameters = self._where(since, until, "p.", time)
        if start is not None:
            where += f" AND {time} >= ?"
            parameters.append(start)
        if end is not None:
            where += f" AND {time} <= ?"
            parameters.append(end)
        # a later label of a row is a correction: the latest one counts (by arrival; at an
        # equal time, the one marked as a correction). Files written before the correction
        # column existed hold none.
        later = (
            ", coalesce(correction, false) DESC" if "correction" in self.columns(feedback) else ""
        )
        query = f"""
            WITH labels AS (
                SELECT request_id, "row", label FROM {self._source(feedback)}
                WHERE label IS NOT NULL
                QUALIFY row_number() OVER (PARTITION BY request_id, "row"
                                           ORDER BY timestamp DESC{later}) = 1
            )
            SELECT {time} AS timestamp, p.request_id, p."row", p.route, p.model_version,
                   p.prediction, p.score, l.label
            FROM {self._source(predictions)} AS p
            JOIN labels AS l ON p.request_id = l.request_id AND p."row" = l."row"
            WHERE {where}
            ORDER BY 1
        """
        with self._connect() as connection:
            return _frame(connection, query, parameters)
