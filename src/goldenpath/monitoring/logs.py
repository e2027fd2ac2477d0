"""Reading the server's Parquet prediction and feedback logs with DuckDB.

DuckDB reads only the columns a query names and skips row groups by their timestamp statistics,
and hands results back as Arrow record batches, so a window of any size is processed in bounded
memory. Files are immutable once they appear (the log writer renames a complete file into
place), so "what is new" is the set of files not read before.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

__all__ = ["LogFile", "PredictionLog"]

BATCH_ROWS = 500_000


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

    def __init__(self, folder: Path, *, memory_limit: str = "1GB", threads: int = 2) -> None:
        self.folder = folder
        self.memory_limit = memory_limit
        self.threads = threads

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
        midnight may sit in the next day's partition); every file without bounds."""
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
        since: datetime | None, until: datetime | None, table: str = ""
    ) -> tuple[str, list[object]]:
        clauses: list[str] = [f"{table}kind = 'served'"]
        parameters: list[object] = []
        if since is not None:
            clauses.append(f"{table}timestamp >= ?")
            parameters.append(since)
        if until is not None:
            clauses.append(f"{table}timestamp < ?")
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
        """The served rows of ``paths`` in [since, until), ``columns`` only, batch by batch
        (in timestamp order when ``ordered``)."""
        if not paths:
            return
        where, parameters = self._where(since, until)
        order = ' ORDER BY timestamp, request_id, "row"' if ordered else ""
        query = (
            f"SELECT {', '.join(map(_quoted, columns))} FROM {self._source(paths)} "
            f"WHERE {where}{order}"
        )
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
        """A uniform sample of up to ``rows`` served rows with start <= timestamp <= end, of
        the ``columns`` the files hold."""
        paths = self._between(start, end)
        present = set(self.columns(paths))
        columns = [c for c in columns if c in present]
        if not paths or not columns:
            return pd.DataFrame(columns=columns)
        where, parameters = self._where(since, until)
        query = (
            f"SELECT {', '.join(map(_quoted, columns))} FROM {self._source(paths)} "
            f"WHERE {where} AND timestamp >= ? AND timestamp <= ? "
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
        correction replaces the label it corrects; a null label is no label):
        timestamp, route, prediction, score, label."""
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
        where, parameters = self._where(since, until, "p.")
        if start is not None:
            where += " AND p.timestamp >= ?"
            parameters.append(start)
        if end is not None:
            where += " AND p.timestamp <= ?"
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
            SELECT p.timestamp, p.request_id, p."row", p.route, p.model_version, p.prediction,
                   p.score, l.label
            FROM {self._source(predictions)} AS p
            JOIN labels AS l ON p.request_id = l.request_id AND p."row" = l."row"
            WHERE {where}
            ORDER BY p.timestamp
        """
        with self._connect() as connection:
            return _frame(connection, query, parameters)
