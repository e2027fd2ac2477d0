"""What every step of one monitor run reads: the project, its reference and the *stream* (the
model, its reference run, the window and the range), with the clock helpers they share."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from goldenpath.monitoring.drift import DriftThresholds
from goldenpath.monitoring.logs import Clock
from goldenpath.monitoring.reference import Reference, monitored_features
from goldenpath.monitoring.results import RouteOutcome
from goldenpath.monitoring.windows import WindowState
from goldenpath.project import Project
from goldenpath.spec.monitoring import MonitoringSpec, parse_window

__all__ = [
    "Context",
    "Realised",
    "drift_thresholds",
    "iso",
    "make_context",
    "parse_time",
    "state_of",
    "utc",
]

Realised = dict[str, RouteOutcome]  # per "route vVERSION"


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def utc(moment: datetime | None) -> datetime | None:
    """Times without a zone are UTC (as on the command line)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def drift_thresholds(settings: MonitoringSpec) -> DriftThresholds:
    return DriftThresholds(
        psi_warn=settings.psi_warning,
        psi_alert=settings.psi_critical,
        js_alert=settings.js_critical,
        max_missing_increase=settings.max_missing_increase,
        max_unseen_share=settings.max_unseen_share,
        significance=settings.significance,
    )


@dataclass(frozen=True)
class Context:
    """What every step of one run reads: the project, its reference and the stream."""

    project: Project
    ref: Reference
    window: str  # as given: 1d, 5000-rows
    kind: str  # time or rows
    size: int  # seconds or rows
    since: datetime | None
    until: datetime | None
    now: datetime
    features: list[str]
    outputs: list[str]
    stream: str  # names the windows, files and alerts of this comparison in the store
    folder: Path  # where its report goes
    clock: Clock = "arrival"  # the time of time windows (row windows: always arrival)

    @property
    def settings(self) -> MonitoringSpec:
        return self.project.spec.monitoring


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def make_context(
    project: Project,
    ref: Reference,
    *,
    window: str | None,
    since: datetime | None,
    until: datetime | None,
    now: datetime | None,
) -> Context:
    """The stream this run extends: the model, its reference run, the window, the range and
    the clock (event-time windows are a stream of their own; arrival keeps the name it had)."""
    window_text = window or project.spec.monitoring.window
    kind, size = parse_window(window_text)
    spec = project.spec
    clock = spec.monitoring.clock(spec.data.time_column) if kind == "time" else "arrival"
    parts = [project.name, ref.run_id, window_text, iso(since) or "", iso(until) or ""]
    stream = "|".join(parts if clock == "arrival" else [*parts, clock])
    digest = hashlib.sha256(stream.encode()).hexdigest()[:8]
    return Context(
        project,
        ref,
        window_text,
        kind,
        size,
        since,
        until,
        now or datetime.now(UTC),
        monitored_features(project),
        list(ref.outputs.features),
        stream,
        project.state_dir / "monitoring" / "reports" / _slug(f"{window_text}-{digest}"),
        clock,
    )


def state_of(context: Context, index: int, part: pd.DataFrame, outputs: list[str]) -> WindowState:
    """The state of served rows ``part``, all in window ``index``."""
    ref = context.ref
    return WindowState.of(
        index,
        context.kind,
        context.size,
        part,
        features=context.features,
        outputs=outputs,
        reference_features=ref.features,
        reference_outputs=ref.outputs,
        calibration=ref.calibration,
        contract=context.project.spec.data.contract.columns,
        version=ref.model_version,
        loss=ref.loss,
    )
