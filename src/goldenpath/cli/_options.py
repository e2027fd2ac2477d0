"""Options and small renderers shared by the CLI's command modules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

__all__ = ["JsonOption", "ProjectOption", "kv_table"]

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
