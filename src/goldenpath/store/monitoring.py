"""Repositories for monitoring: which log files a stream has read, its windows, its alerts."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from goldenpath.store.schema import alerts, monitor_files, monitor_windows

__all__ = [
    "Alert",
    "StoredWindow",
    "add_files",
    "insert_alert",
    "list_alerts",
    "load_windows",
    "processed_files",
    "save_window",
    "update_alert",
]


def processed_files(connection: Connection, project: str, stream: str) -> dict[str, int]:
    """Path -> size of every file the stream has read."""
    rows = connection.execute(
        select(monitor_files.c.path, monitor_files.c.size).where(
            monitor_files.c.project == project, monitor_files.c.stream == stream
        )
    )
    return {r.path: int(r.size) for r in rows}


def add_files(
    connection: Connection, project: str, stream: str, files: list[tuple[str, int]], at: str
) -> None:
    """Record (path, size) as read. A file recorded twice (two runs reading it at once)
    violates the primary key: the later transaction fails and writes nothing."""
    if files:
        connection.execute(
            insert(monitor_files),
            [
                {"project": project, "stream": stream, "path": p, "size": s, "processed_at": at}
                for p, s in files
            ],
        )


@dataclass(frozen=True)
class StoredWindow:
    index: int
    start: str
    end: str | None
    rows: int
    profile: dict[str, Any]  # the mergeable state (profiles, sketches, counts)
    result: dict[str, Any]  # what was judged from it


def load_windows(
    connection: Connection, project: str, stream: str, since_index: int | None = None
) -> list[StoredWindow]:
    """The stream's windows in order (from ``since_index`` on)."""
    query = select(monitor_windows).where(
        monitor_windows.c.project == project, monitor_windows.c.stream == stream
    )
    if since_index is not None:
        query = query.where(monitor_windows.c.window_index >= since_index)
    rows = connection.execute(query.order_by(monitor_windows.c.window_index))
    return [
        StoredWindow(
            r.window_index, r.start, r.end, r.rows, json.loads(r.profile), json.loads(r.result)
        )
        for r in rows
    ]


def save_window(
    connection: Connection, project: str, stream: str, window: StoredWindow, at: str
) -> None:
    """Insert or replace one window."""
    connection.execute(
        delete(monitor_windows).where(
            monitor_windows.c.project == project,
            monitor_windows.c.stream == stream,
            monitor_windows.c.window_index == window.index,
        )
    )
    connection.execute(
        insert(monitor_windows).values(
            project=project,
            stream=stream,
            window_index=window.index,
            start=window.start,
            end=window.end,
            rows=window.rows,
            profile=json.dumps(window.profile, separators=(",", ":")),
            result=json.dumps(window.result, separators=(",", ":")),
            updated_at=at,
        )
    )


@dataclass(frozen=True)
class Alert:
    id: int
    project: str
    stream: str
    metric: str
    subject: str
    rule: str
    severity: str
    status: str  # open or resolved
    value: float | None
    threshold: float | None
    window_index: int  # the window that opened it
    window_start: str
    last_window_index: int  # the last window it was seen in
    message: str
    report: str
    opened_at: str
    updated_at: str
    resolved_at: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _alert(row: Any) -> Alert:
    value = None if row.value is None else float(row.value)
    threshold = None if row.threshold is None else float(row.threshold)
    return Alert(
        row.id,
        row.project,
        row.stream,
        row.metric,
        row.subject,
        row.rule,
        row.severity,
        row.status,
        value,
        threshold,
        row.window_index,
        row.window_start,
        row.last_window_index,
        row.message,
        row.report,
        row.opened_at,
        row.updated_at,
        row.resolved_at,
    )


def list_alerts(
    connection: Connection,
    project: str,
    *,
    status: str | None = None,
    stream: str | None = None,
    limit: int | None = 50,
) -> list[Alert]:
    """The project's alerts (of one stream), open first, then the most recent."""
    query = select(alerts).where(alerts.c.project == project)
    if stream is not None:
        query = query.where(alerts.c.stream == stream)
    if status is not None:
        query = query.where(alerts.c.status == status)
    query = query.order_by((alerts.c.status == "open").desc(), alerts.c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return [_alert(r) for r in connection.execute(query)]


def _text(value: float | None) -> str | None:
    return None if value is None else repr(float(value))


def insert_alert(connection: Connection, alert: Alert) -> Alert:
    values = {k: v for k, v in alert.to_dict().items() if k != "id"}
    values["value"], values["threshold"] = _text(alert.value), _text(alert.threshold)
    result = connection.execute(insert(alerts).values(**values))
    key = result.inserted_primary_key
    assert key is not None
    return Alert(**{**alert.to_dict(), "id": int(key[0])})


def update_alert(connection: Connection, alert: Alert) -> None:
    values = {k: v for k, v in alert.to_dict().items() if k != "id"}
    values["value"], values["threshold"] = _text(alert.value), _text(alert.threshold)
    connection.execute(update(alerts).where(alerts.c.id == alert.id).values(**values))
