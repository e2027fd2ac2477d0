"""``monitor`` as a library verb: the reference loaded once, the engine run, the report kept,
and a signed checkpoint of the audit chain when the spec's ``audit.checkpoints`` finds one due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from goldenpath.monitoring import MonitorRun, reference, run_monitor
from goldenpath.monitoring.monitor import Progress
from goldenpath.project import Project
from goldenpath.registry.checkpoints import ScheduledCheckpoint, scheduled_checkpoint
from goldenpath.reports.monitoring import write_monitoring_report

__all__ = ["Monitored", "monitor"]


@dataclass(frozen=True)
class Monitored:
    """A monitor run, and what the checkpoint schedule did after it (None: no
    ``audit.checkpoints``). A checkpoint that failed leaves the run's results whole, as an
    alert sink that failed does."""

    run: MonitorRun
    checkpoint: ScheduledCheckpoint | None


def monitor(
    project: Project,
    reference_of: str = "champion",
    *,
    window: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    progress: Progress | None = None,
) -> Monitored:
    """Process what is new in the prediction log against the reference of ``reference_of`` (an
    alias, a version, a run id, or a .csv/.parquet file), loaded once for the run; alerts go to
    the spec's sinks. The stream's ``monitoring.json`` and ``monitoring.html`` are written again
    when a window changed (or when they are missing), atomically. Then, with
    ``audit.checkpoints``, a checkpoint is signed if the project's newest is older than
    ``every`` (the key from ``GOLDENPATH_CHECKPOINT_KEY``, the caller's role approver)."""
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
    return Monitored(run, scheduled_checkpoint(project))
