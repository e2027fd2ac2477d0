"""``monitor`` as a library verb: the reference loaded once, the engine run, the report kept."""

from __future__ import annotations

from datetime import datetime

from goldenpath.monitoring import MonitorRun, reference, run_monitor
from goldenpath.monitoring.monitor import Progress
from goldenpath.project import Project
from goldenpath.reports.monitoring import write_monitoring_report

__all__ = ["monitor"]


def monitor(
    project: Project,
    reference_of: str = "champion",
    *,
    window: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    progress: Progress | None = None,
) -> MonitorRun:
    """Process what is new in the prediction log against the reference of ``reference_of`` (an
    alias, a version, a run id, or a .csv/.parquet file), loaded once for the run; alerts go to
    the spec's sinks. The stream's ``monitoring.json`` and ``monitoring.html`` are written again
    when a window changed (or when they are missing), atomically."""
    run = run_monitor(
        project,
        reference(project, reference_of),
        window=window,
        since=since,
        until=until,
        progress=progress,
    )
    if run.changed or not run.html_path.exists():
        write_monitoring_report(run.report, run.folder)
    return run
