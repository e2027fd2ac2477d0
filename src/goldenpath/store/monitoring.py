"""Repositories for monitoring: which log files a stream has read, its windows, its alerts.

Windows come back with their state and their judged result as the pydantic models the caller
names (the monitoring layer's ``WindowRecord`` and ``MonitoringWindow``; the store does not
import the layers above it), alerts as :class:`Alert`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Row, delete, insert, select, update

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


State = TypeVar("State", bound=BaseModel)
Result = TypeVar("Result", bound=BaseModel)


@dataclass(frozen=True)
class StoredWindow(Generic[State, Result]):
    index: int
    start: str
    end: str | None
    rows: int
    profile: State  # the mergeable state (profiles, sketches, counts)
    result: Result  # what was judged from it


def load_windows(
    connection: Connection,
    project: str,
    stream: str,
    state: type[State],
    result: type[Result],
    *,
    since_index: int | None = None,
) -> list[StoredWindow[State, Result]]:
    """The stream's windows in order (from ``since_index`` on), their states read as ``state``
    and their results as ``result``."""
    query = select(monitor_windows).where(
        monitor_windows.c.project == project, monitor_windows.c.stream == stream
    )
    if since_index is not None:
        query = query.where(monitor_windows.c.window_index >= since_index)
    rows = connection.execute(query.order_by(monitor_windows.c.window_index))
    return [
        StoredWindow(
            r.window_index,
            r.start,
            r.end,
            r.rows,
            state.model_validate_json(r.profile),
            result.model_validate_json(r.result),
        )
        for r in rows
    ]


def save_window(
    connection: Connection, project: str, stream: str, window: StoredWindow[Any, Any], at: str
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
            profile=window.profile.model_dump_json(),
            result=window.result.model_dump_json(),
            updated_at=at,
        )
    )


class Alert(BaseModel):
    """One alert of a monitored stream: what ``goldenpath alerts`` lists."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")

    id: int
    project: str
    stream: str
    metric: str  # what the rule watches: feature.psi, realised.accuracy_drop, rows, ...
    subject: str  # a feature, a route, "window", "all features"
    rule: str
    severity: Literal["warning", "critical"]
    status: Literal["open", "resolved"]
    value: float | None  # the last value that fired
    threshold: float | None
    window_index: int  # the window that opened it
    window_start: str
    last_window_index: int  # the last window it was seen in
    message: str
    report: str  # the monitoring report it was raised in
    opened_at: str
    updated_at: str
    resolved_at: str | None


def _alert(row: Row[Any]) -> Alert:
    fields = dict(row._mapping)
    for name in ("value", "threshold"):  # kept as text: every digit of the float
        fields[name] = None if fields[name] is None else float(fields[name])
    return Alert.model_validate(fields)


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


def _values(alert: Alert) -> dict[str, Any]:
    values = dict(alert)
    del values["id"]
    values["value"], values["threshold"] = _text(alert.value), _text(alert.threshold)
    return values


def insert_alert(connection: Connection, alert: Alert) -> Alert:
    """Add ``alert`` (its ``id`` is ignored); the alert with the id the store gave it."""
    result = connection.execute(insert(alerts).values(**_values(alert)))
    key = result.inserted_primary_key
    assert key is not None
    return alert.model_copy(update={"id": int(key[0])})


def update_alert(connection: Connection, alert: Alert) -> None:
    connection.execute(update(alerts).where(alerts.c.id == alert.id).values(**_values(alert)))
