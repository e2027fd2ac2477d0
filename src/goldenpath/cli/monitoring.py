"""Monitoring commands: ``monitor`` (once, or ``--watch``) and ``alerts``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from goldenpath.cli._options import JsonOption, ProjectOption, parse_moment
from goldenpath.cli._output import Output

if TYPE_CHECKING:
    from goldenpath.monitoring import MonitorRun
    from goldenpath.monitoring.results import Incident
    from goldenpath.registry.checkpoints import ScheduledCheckpoint
    from goldenpath.store.monitoring import Alert

__all__ = ["alerts", "monitor"]

_STYLE = {"ok": "green", "warning": "yellow", "critical": "red"}


def _render_run(console: Console, run: MonitorRun, checkpoint: ScheduledCheckpoint | None) -> None:
    document = run.report
    windows = document.windows
    processed = document.processed
    reference = document.reference
    console.print(
        f"{processed.new_files} new log file(s), {processed.new_rows:,} new rows in "
        f"{processed.seconds:.2f} s; {len(windows)} window(s) of {document.window.size} "
        f"against run {reference.run_id} (version {reference.model_version or '-'})",
        highlight=False,
    )
    if windows:
        table = Table(box=box.SIMPLE, pad_edge=False, title="windows (latest 10)")
        for column in ("start", "rows", "severity", "drifted", "est. acc", "est. AUC", "domain"):
            table.add_column(column)
        for w in windows[-10:]:
            drifted = [f.feature for f in [*w.features, *w.outputs] if f.severity != "ok"]
            accuracy = None if w.estimated is None else w.estimated.accuracy
            auc = None if w.estimated is None else w.estimated.roc_auc
            domain = w.multivariate
            severity = w.severity if w.judged else "not judged"
            table.add_row(
                w.start[:16].replace("T", " "),
                f"{w.rows:,}"
                + (f" ({w.late_rows:,} late, verdict {w.revision})" if w.rejudged else ""),
                f"[{_STYLE.get(severity, 'dim')}]{severity}[/]",
                escape(", ".join(drifted[:4]) + (" ..." if len(drifted) > 4 else "")) or "-",
                "-" if accuracy is None else f"{accuracy:.3f}",
                "-" if auc is None else f"{auc:.3f}",
                "-" if domain is None else f"{domain.auc:.2f}",
            )
        console.print(table)
    _render_incidents(console, [i for i in document.incidents if i.status == "open"])
    console.print(f"report: {run.html_path}", highlight=False)
    if checkpoint is not None and checkpoint.status == "written":
        console.print(
            f"checkpoint: {checkpoint.path} (the audit chain up to event {checkpoint.head_seq})",
            highlight=False,
        )
    elif checkpoint is not None and checkpoint.status == "not_due":
        due = (checkpoint.due_at or "-")[:19].replace("T", " ")
        console.print(f"checkpoint: not due before {due} UTC", highlight=False)


def _render_incidents(console: Console, shown: Sequence[Incident]) -> None:
    """Open incidents, strongest first, each with its alerts under it."""
    if not shown:
        console.print("[green]✓ no open alert[/]")
        return
    count = sum(len(i.alerts) for i in shown)
    title = f"{len(shown)} open incident(s), {count} alert(s)"
    table = Table(box=box.SIMPLE, pad_edge=False, title=title)
    for column in ("incident", "severity", "since", "subject", "what"):
        table.add_column(column, overflow="fold")
    for i in shown:
        causes = f" (likely causes: {', '.join(i.causes)})" if i.causes else ""
        table.add_row(
            i.id,
            f"[{_STYLE[i.severity]}]{i.severity}[/]",
            i.first_window_start[:16].replace("T", " "),
            escape(i.subject),
            escape(f"{len(i.alerts)} alert(s); {i.headline}{causes}"),
        )
        for a in i.alerts:
            table.add_row(
                f"  alert {a.id}",
                f"[{_STYLE[a.severity]}]{a.severity}[/]",
                "",
                "",
                escape(f"{a.status}: {a.message}"),
            )
    console.print(table)


def _render_alerts(console: Console, shown: Sequence[Alert]) -> None:
    if not shown:
        console.print("[green]✓ no open alert[/]")
        return
    table = Table(box=box.SIMPLE, pad_edge=False, title=f"{len(shown)} alert(s)")
    for column in ("id", "status", "severity", "window", "what"):
        table.add_column(column, overflow="fold")
    for a in shown:
        table.add_row(
            str(a.id),
            a.status,
            f"[{_STYLE[a.severity]}]{a.severity}[/]",
            a.window_start[:16].replace("T", " "),
            escape(a.message),
        )
    console.print(table)


def monitor(
    project: ProjectOption = None,
    window: Annotated[
        str | None,
        typer.Option("--window", help="1h, 1d, 30m or N-rows (default: the spec's window)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only rows from this time (ISO-8601).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Only rows before this time (ISO-8601).")
    ] = None,
    reference: Annotated[
        str,
        typer.Option(
            "--reference", help="The model whose reference is used (alias, version, run)."
        ),
    ] = "champion",
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep running: process new log files as they land.")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between runs with --watch.")
    ] = 60.0,
    json_output: JsonOption = False,
) -> None:
    """Process what is new in the prediction log: windows, drift, quality, performance, alerts.

    Exits 0 whether or not alerts are open; alerts go to the spec's sinks and `goldenpath alerts`.
    With audit.checkpoints in the spec, a signed checkpoint of the audit chain is written when
    one is due; one that fails is reported (as a failed alert sink is), and the exit code stays 0.
    With --watch, a run that fails is reported and tried again after the interval.
    """
    start, end = parse_moment(since, "--since"), parse_moment(until, "--until")
    if start is not None and end is not None and start >= end:
        raise typer.BadParameter(f"{until} is not after --since {since}", param_hint="--until")
    if window is not None:
        from goldenpath.spec.monitoring import parse_window

        try:
            parse_window(window)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--window") from None
    out = Output(json_output)
    while True:
        if watch:  # a failed run (no traffic yet, a store hiccup) is reported, not the end
            try:
                _once(out, project, window, start, end, reference)
            except typer.Exit as stopped:
                if stopped.exit_code in (0, None):
                    raise
                out.stderr.print(f"[yellow]will try again in {interval:g} s[/]")
        else:
            _once(out, project, window, start, end, reference)
            return
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            return


def _once(
    out: Output,
    project: Path | None,
    window: str | None,
    start: datetime | None,
    end: datetime | None,
    reference: str,
) -> None:
    """One monitor run (the library loads the reference once and keeps the report), printed."""
    from goldenpath.monitoring.results import MonitorOutput, ReportPaths
    from goldenpath.project import open_project
    from goldenpath.workflows.monitoring import monitor

    with out.working("Monitoring the prediction log") as step:
        monitored = monitor(
            open_project(project),
            reference,
            window=window,
            since=start,
            until=end,
            progress=lambda rows: step(f"{rows:,} rows read"),
        )
    run, checkpoint = monitored.run, monitored.checkpoint
    result = MonitorOutput(
        **dict(run.report),
        report=ReportPaths.model_validate({"json": str(run.json_path), "html": str(run.html_path)}),
        events=run.events,
        sink_failures=run.sink_failures,
        incident_events=run.incident_events,
        checkpoint=checkpoint,
    )
    unscheduled = {"checkpoint"} if checkpoint is None else set()  # as before audit.checkpoints
    out.result(
        result.model_dump(mode="json", exclude=unscheduled),
        lambda console: _render_run(console, run, checkpoint),
    )
    for failure in run.sink_failures:
        out.stderr.print(f"[yellow]alert sink failed[/]: {escape(failure)}")
    if checkpoint is not None and not checkpoint.ok:
        message = escape(checkpoint.message or "")
        out.stderr.print(f"[yellow]checkpoint failed[/] ({checkpoint.reason}): {message}")


def alerts(
    project: ProjectOption = None,
    status: Annotated[str, typer.Option("--status", help="open, resolved or all.")] = "all",
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
    json_output: JsonOption = False,
) -> None:
    """List open and recent alerts (open first)."""
    from goldenpath.project import open_project
    from goldenpath.store.engine import open_store, store_exists
    from goldenpath.store.monitoring import list_alerts

    if status not in ("open", "resolved", "all"):
        raise typer.BadParameter("open, resolved or all", param_hint="--status")
    out = Output(json_output)
    with out.working("Reading alerts"):
        opened = open_project(project)
        found: list[Alert] = []
        if store_exists(opened):
            with open_store(opened).reading() as connection:
                found = list_alerts(
                    connection,
                    opened.name,
                    status=None if status == "all" else status,
                    limit=limit,
                )
    rows = [a.model_dump(mode="json") for a in found]
    out.result({"alerts": rows}, lambda console: _render_alerts(console, found))
