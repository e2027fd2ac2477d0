"""Options and small renderers shared by the CLI's command modules."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

__all__ = ["JsonOption", "ProjectOption", "kv_table", "parse_moment"]

ProjectOption = Annotated[
    Path | None,
    typer.Option(
        "--project",
        "-p",
        help="Project folder (default: the folder holding goldenpath.yaml, searched upwards).",
        file_okay=True,
        dir_okay=True,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON on stdout and nothing else.")
]


def kv_table(rows: dict[str, Any], title: str | None = None) -> Table:
    table = Table(show_header=False, title=title, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows.items():
        table.add_row(key, str(value))
    return table


def parse_moment(value: str | None, name: str) -> datetime | None:
    """An option's ISO-8601 date or time (UTC when it names no zone), or None; a usage error
    naming the option otherwise."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("an ISO-8601 date or time", param_hint=name) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
