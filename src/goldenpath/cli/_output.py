"""How the CLI talks: results on stdout (JSON with ``--json``, Rich otherwise), progress and
errors on stderr. Errors are translated to messages and exit codes here, and only here."""

from __future__ import annotations

import contextlib
import json
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from goldenpath.errors import GoldenpathError, all_error_classes

__all__ = ["PIPE_WIDTH", "Output", "console_for", "exit_codes_help"]


def exit_codes_help() -> str:
    """The exit-code table shown by ``goldenpath --help``."""
    rows = ["0 success", "1 unexpected error (a bug: please report it)", "2 usage error"]
    seen: set[int] = set()
    for cls in all_error_classes():
        if cls is GoldenpathError or cls.exit_code in seen:
            continue
        if any(sub.exit_code == cls.exit_code for sub in cls.__subclasses__()):
            continue  # a base class that shares its code with a more specific one
        seen.add(cls.exit_code)
        rows.append(f"{cls.exit_code} {cls.code}")
    rows.sort(key=lambda r: int(r.split()[0]))
    return "Exit codes: " + "; ".join(rows) + "."


# Wide enough that no logical line is ever folded: a pipe or a file has no width of its own.
PIPE_WIDTH = 100_000


def console_for(*, stderr: bool) -> Console:
    """A console for stdout or stderr. A terminal keeps its own width; anything else (a pipe, a
    file, a CI log) gets lines that are never folded, so a fingerprint, a run id or a table row
    stays on one line for ``grep``, ``cut`` and whoever reads the log."""
    console = Console(stderr=stderr, soft_wrap=True)
    if console.is_terminal:
        return console
    return Console(stderr=stderr, soft_wrap=True, width=PIPE_WIDTH)


@dataclass
class Output:
    """One command's output channel."""

    json_mode: bool
    stdout: Console = field(default_factory=lambda: console_for(stderr=False))
    stderr: Console = field(default_factory=lambda: console_for(stderr=True))

    def result(self, data: dict[str, Any] | list[Any], render: Callable[[Console], None]) -> None:
        """Print a command's result: JSON only with ``--json``, a human rendering otherwise."""
        if self.json_mode:
            sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
            sys.stdout.flush()
        else:
            render(self.stdout)

    @contextlib.contextmanager
    def working(self, title: str, steps: int | None = None) -> Iterator[Callable[[str], None]]:
        """Run library code: a progress bar over its ``steps`` on a terminal (a spinner when the
        count is unknown; quiet elsewhere), anything the libraries print kept off stdout, and
        goldenpath errors turned into exit codes."""
        show = self.stderr.is_terminal and not self.json_mode
        progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.stderr,
            transient=True,
            disable=not show,
        )
        task = progress.add_task(title, total=steps)
        started = [0]

        def step(description: str) -> None:
            # a new step starting means the one before it is done
            progress.update(task, description=description, completed=started[0])
            started[0] += 1

        try:
            with progress, contextlib.redirect_stdout(sys.stderr):
                yield step
        except GoldenpathError as error:
            self.fail(error)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception:
            self.stderr.print("[bold red]goldenpath: unexpected error (a bug: please report it)")
            traceback.print_exc(file=sys.stderr)
            raise typer.Exit(1) from None

    def fail(self, error: GoldenpathError) -> NoReturn:
        """Report a user error without a traceback and exit with its code."""
        if self.json_mode:
            sys.stdout.write(json.dumps({"error": error.to_dict()}, indent=2, default=str) + "\n")
        self.stderr.print(f"[bold red]error[/] [dim]({error.code})[/]: ", end="")
        self.stderr.print(error.message, markup=False, highlight=False)
        if error.hint:
            self.stderr.print("[bold]How to fix:[/] ", end="")
            self.stderr.print(error.hint, markup=False, highlight=False)
        raise typer.Exit(error.exit_code)
