"""``goldenpath monitor``: the prediction log, window by window, against the model's reference.

One run reads only the log files its *stream* (model, reference run, window, since/until, clock)
has not read before, adds their rows to the windows they fall in (window states are mergeable,
see ``windows.py``; time windows by event or arrival time, ``monitoring.time``), judges every
window it touched (a complete window that late rows reached is judged again as its next
revision, see ``judge.py``), computes realised performance where feedback
labels arrived, the domain classifier on the latest judged window, and then rebuilds the alert
timeline over the stream's windows. Windows, read files and alerts are written to the store in one
transaction, so a run that dies changes nothing and the next one starts from the same place.
Alert events are then sent to the spec's sinks.

:func:`run_monitor` is those steps, one small function each, over a reference loaded once by the
caller (or from the ``reference`` text given). It returns a :class:`MonitorRun` with the typed
:class:`~goldenpath.monitoring.results.MonitoringReport`; it writes no report: the caller does
(``goldenpath monitor`` writes ``monitoring.json`` and ``monitoring.html`` into
:attr:`MonitorRun.folder`, the path the alerts name).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from goldenpath import __version__
from goldenpath.errors import DuplicateRecord, RunNotFound, SpecError, StoreError
from goldenpath.monitoring._context import (
    Context,
    Realised,
    iso,
    make_context,
    parse_time,
    state_of,
    utc,
)
from goldenpath.monitoring.alerts import SEVERITY_RANK, Observation, deliver, timeline
from goldenpath.monitoring.chunks import chunk_thresholds, expand_rules
from goldenpath.monitoring.incidents import incident_events, incidents
from goldenpath.monitoring.judge import domain, judge, judge_windows, observed
from goldenpath.monitoring.logs import LogFile, PredictionLog
from goldenpath.monitoring.performance import loss_metric, realised
from goldenpath.monitoring.reference import Reference, reference
from goldenpath.monitoring.results import (
    Alert,
    AlertEvent,
    IncidentEvent,
    MetricInterval,
    MonitoringReport,
    MonitoringWindow,
    Processed,
    ReferenceSummary,
    RouteOutcome,
    SkippedRule,
    Thresholds,
    TimeRange,
    WindowSize,
)
from goldenpath.monitoring.windows import WindowRecord, WindowState, row_keys, window_keys
from goldenpath.project import Project
from goldenpath.spec.monitoring import AlertRule
from goldenpath.store.engine import Store, open_store
from goldenpath.store.monitoring import (
    StoredWindow,
    add_files,
    insert_alert,
    list_alerts,
    load_windows,
    processed_files,
    save_window,
    update_alert,
)

__all__ = ["MonitorRun", "run_monitor"]

logger = logging.getLogger(__name__)

Progress = Callable[[int], None]  # rows read so far
EventKind = Literal["opened", "escalated", "resolved", "reopened"]


@dataclass(frozen=True)
class MonitorRun:
    """One monitor run: its document, where its report goes, and the alert events it sent."""

    report: MonitoringReport
    folder: Path  # the stream's report folder (the alerts name its monitoring.html)
    changed: bool  # whether any window changed: the report must be written again
    events: list[AlertEvent]
    sink_failures: list[str]
    incident_events: list[IncidentEvent] = field(default_factory=list)  # what the sinks got

    @property
    def json_path(self) -> Path:
        return self.folder / "monitoring.json"

    @property
    def html_path(self) -> Path:
        return self.folder / "monitoring.html"

    @property
    def open_alerts(self) -> list[Alert]:
        return self.report.open_alerts


@dataclass(frozen=True)
class _Stored:
    """What the store holds of a stream: the files read and the windows judged."""

    done: dict[str, int]  # path -> size
    windows: dict[int, StoredWindow[WindowRecord, MonitoringWindow]]


def _stored(store: Store, context: Context) -> _Stored:
    name = context.project.name
    with store.transaction() as connection:
        done = processed_files(connection, name, context.stream)
        found = load_windows(connection, name, context.stream, WindowRecord, MonitoringWindow)
    return _Stored(done, {w.index: w for w in found})


@dataclass(frozen=True)
class _LogFiles:
    """The log's files: all of them, and those the stream has not read yet."""

    predictions: list[LogFile]
    feedback: list[LogFile]
    new_predictions: list[str]
    new_feedback: list[str]


def _log_files(log: PredictionLog, stored: _Stored) -> _LogFiles:
    predictions, feedback = log.files("predictions"), log.files("feedback")
    new_predictions = [f.path for f in predictions if f.path not in stored.done]
    new_feedback = [f.path for f in feedback if f.path not in stored.done]
    if not stored.windows and not new_predictions and not stored.done:
        raise RunNotFound(
            "no served predictions in the prediction log",
            hint="serve traffic first (goldenpath serve, goldenpath replay)",
        )
    return _LogFiles(predictions, feedback, new_predictions, new_feedback)


def _read(
    context: Context,
    log: PredictionLog,
    paths: list[str],
    states: dict[int, WindowState],
    *,
    offset: int,
    progress: Progress | None,
) -> set[int]:
    """Add the served rows of ``paths`` to ``states``; the windows touched."""
    available = set(log.columns(paths))
    outputs = [c for c in context.outputs if c in available]
    sort_key = ["request_id", "row"] if context.kind == "rows" else []  # row windows' order
    wanted = ["timestamp", "route", *sort_key, "model_version", *context.features]
    wanted += [c for c in outputs if c not in wanted]
    columns = [c for c in wanted if c in available]  # absent features count as missing
    touched: set[int] = set()
    read = 0
    for batch in log.served(
        paths, columns, since=context.since, until=context.until, ordered=context.kind == "rows"
    ):
        frame = batch.to_pandas()
        keys = window_keys(frame["timestamp"], context.kind, context.size, offset + read)
        read += len(frame)
        order = np.argsort(keys, kind="stable")  # the rows of each window, contiguous
        keys = keys[order]
        frame = frame.iloc[order]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        for begin, end in zip(starts, [*starts[1:], len(keys)], strict=True):
            key = keys[begin]
            state = state_of(context, int(key), frame.iloc[begin:end], outputs)
            known = states.get(int(key))
            states[int(key)] = state if known is None else known.merged(state)
            touched.add(int(key))
        if progress is not None:
            progress(read)
    return touched


def _window_of(rows: pd.DataFrame, context: Context, states: dict[int, WindowState]) -> np.ndarray:
    """Window index of each served row (timestamp, request_id, row); -1 before the first.
    Row windows are found by their first row's sort key, so the rows of one request that
    straddle a boundary land where they were counted."""
    if context.kind == "time":
        return window_keys(rows["timestamp"], "time", context.size)
    ordered = sorted(
        (s for s in states.values() if s.first_key is not None), key=lambda s: str(s.first_key)
    )
    firsts = np.asarray([s.first_key for s in ordered], dtype=object)
    positions = np.searchsorted(firsts, row_keys(rows).to_numpy(dtype=object), side="right") - 1
    indices = np.asarray([s.index for s in ordered] or [-1])
    return np.where(positions >= 0, indices[np.clip(positions, 0, None)], -1)


def _realised(
    context: Context,
    log: PredictionLog,
    states: dict[int, WindowState],
    touched: set[int],
    files: _LogFiles,
) -> dict[int, Realised]:
    """Realised performance per route of the windows touched or reached by new feedback."""
    all_feedback = [f.path for f in files.feedback]
    if not all_feedback or not states:
        return {}
    affected = set(touched)
    if files.new_feedback:
        fresh = log.labelled(files.new_feedback, since=context.since, until=context.until)
        affected |= {int(k) for k in _window_of(fresh, context, states) if k >= 0}
    affected &= set(states)
    if not affected:
        return {}
    start = min(parse_time(states[i].first or states[i].start) for i in affected)
    end = max(parse_time(states[i].last or states[i].start) for i in affected)
    rows = log.labelled(all_feedback, start, end, since=context.since, until=context.until)
    keys = _window_of(rows, context, states)
    spec = context.project.spec
    found: dict[int, Realised] = {}
    for index in sorted(affected):
        chosen = rows[keys == index]
        per_route: Realised = {}
        for (route, version), group in chosen.groupby(["route", "model_version"]):
            estimates = realised(spec, group["label"], group["prediction"], group["score"])
            per_route[f"{route} v{version}"] = RouteOutcome(
                rows=len(group),
                metrics={
                    name: MetricInterval(value=e.value, ci_low=e.ci_low, ci_high=e.ci_high)
                    for name, e in estimates.items()
                },
            )
        found[index] = per_route
    return found


def _save(
    store: Store,
    context: Context,
    states: dict[int, WindowState],
    *,
    results: dict[int, MonitoringWindow],
    changed: list[int],
    files: _LogFiles,
    rules: list[AlertRule],
    at: str,
) -> tuple[list[AlertEvent], list[Alert]]:
    """Write the changed windows, the files read and the alerts in one transaction; the alert
    events to send and the stream's alerts."""
    project = context.project
    sizes = {f.path: f.size for f in [*files.predictions, *files.feedback]}
    report = str(context.folder / "monitoring.html")
    try:
        with store.transaction() as connection:
            for index in changed:
                state = states[index]
                stored_window = StoredWindow(
                    index, state.start, state.end, state.rows, state.record(), results[index]
                )
                save_window(connection, project.name, context.stream, stored_window, at)
            read = [(p, sizes[p]) for p in [*files.new_predictions, *files.new_feedback]]
            add_files(connection, project.name, context.stream, read, at)
            events = (
                _reconcile(connection, context, results, rules=rules, report=report, at=at)
                if changed
                else []
            )
            alerts = list_alerts(connection, project.name, stream=context.stream, limit=None)
    except DuplicateRecord as error:
        if error.table != "gp_monitor_files":
            raise
        raise StoreError(
            "another monitor run read the same log files at the same time; this run wrote nothing",
            hint="run one monitor per stream at a time (the other run's results are stored)",
        ) from None
    return events, alerts


def _document(
    context: Context,
    results: dict[int, MonitoringWindow],
    alerts: list[Alert],
    processed: Processed,
    at: str,
    *,
    skipped: list[SkippedRule],
) -> MonitoringReport:
    project, ref, settings = context.project, context.ref, context.settings
    return MonitoringReport(
        goldenpath_version=__version__,
        project=project.name,
        model=project.name,
        generated_at=at,
        reference=ReferenceSummary(
            run_id=ref.run_id,
            model_version=ref.model_version,
            rows=ref.features.rows,
            evaluation_rows=ref.evaluation_rows,
            metrics=ref.metrics,
            intervals=ref.intervals,
        ),
        window=WindowSize.model_validate(
            {"kind": context.kind, "size": context.window, "time": context.clock}
        ),
        thresholds=Thresholds(
            psi_warning=settings.psi_warning,
            psi_critical=settings.psi_critical,
            js_critical=settings.js_critical,
            domain_warning_auc=settings.domain_warning_auc,
            domain_critical_auc=settings.domain_critical_auc,
        ),
        range=TimeRange(since=iso(context.since), until=iso(context.until)),
        processed=processed,
        windows=[results[i] for i in sorted(results)],
        alerts=alerts,
        skipped_rules=skipped,
        incidents=incidents(alerts),
    )


def _send(context: Context, events: list[IncidentEvent]) -> list[str]:
    """Send every event (one per incident) to every sink; the failures, as text."""
    failures: list[str] = []
    for event in events:
        failures += deliver(context.settings.alerts.sinks, event, context.project.root)
    return failures


def run_monitor(
    project: Project,
    reference_of: Reference | str = "champion",
    *,
    window: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> MonitorRun:
    """Process what is new in the prediction log against ``reference_of``: a
    :class:`Reference` the caller loaded (:func:`~goldenpath.monitoring.reference.reference`),
    or the model or data file that names one (an alias, a version, a run id, ``latest``, a
    .csv or .parquet path), loaded once here. See the module docstring."""
    began = time.perf_counter()
    since, until, now = (utc(t) for t in (since, until, now))
    if isinstance(reference_of, str):
        reference_of = reference(project, reference_of)
    context = make_context(project, reference_of, window=window, since=since, until=until, now=now)
    # before reading: a rule that cannot be judged stops the run (or, without the reference
    # figures it compares with, is skipped)
    rules, skipped = _rules(context)
    log = PredictionLog(project.state_dir / "logs", clock=context.clock)
    store = open_store(project)
    stored = _stored(store, context)
    files = _log_files(log, stored)
    states = {
        i: WindowState.of_record(i, context.kind, context.size, w.profile)
        for i, w in stored.windows.items()
    }
    offset = sum(s.rows for s in states.values())
    touched = _read(context, log, files.new_predictions, states, offset=offset, progress=progress)
    realised_now = _realised(context, log, states, touched, files)
    multivariate = domain(context, log, [states[i] for i in touched])
    results, changed = judge_windows(
        context,
        states,
        stored.windows,
        touched=touched,
        realised_now=realised_now,
        multivariate=multivariate,
    )
    at = iso(datetime.now(UTC)) or ""
    events, alerts = _save(
        store, context, states, results=results, changed=changed, files=files, rules=rules, at=at
    )
    processed = Processed(
        new_files=len(files.new_predictions) + len(files.new_feedback),
        new_rows=sum(states[i].rows for i in touched)
        - sum(stored.windows[i].rows for i in touched if i in stored.windows),
        seconds=round(time.perf_counter() - began, 3),
    )
    document = _document(context, results, alerts, processed, at, skipped=skipped)
    html = str(context.folder / "monitoring.html")  # the report the alerts name
    sent = incident_events(document.incidents, events, report=html)  # one per incident
    return MonitorRun(document, context.folder, bool(changed), events, _send(context, sent), sent)


def _chunk_observer(context: Context) -> Callable[[pd.DataFrame], list[Observation]]:
    """A reference chunk's observations, as if it were a complete row window of the stream
    served by the reference's model on one route (the realised performance from its labels)."""
    ref = context.ref
    chunked = replace(context, kind="rows")

    def observe(chunk: pd.DataFrame) -> list[Observation]:
        served = chunk.assign(
            timestamp=pd.Timestamp("2000-01-01", tz="UTC"),
            route="reference",
            model_version=ref.model_version,
            request_id=[f"chunk-{i:09d}" for i in range(len(chunk))],
            row=0,
        )
        outputs = [c for c in context.outputs if c in served]
        state = state_of(replace(chunked, size=len(chunk)), 0, served, outputs)
        realised_now = None
        if "label" in served and "prediction" in served:
            score = served["score"] if "score" in served else pd.Series(np.nan, served.index)
            estimates = realised(context.project.spec, served["label"], served["prediction"], score)
            outcome = RouteOutcome(
                rows=len(served),
                metrics={
                    name: MetricInterval(value=e.value, ci_low=e.ci_low, ci_high=e.ci_high)
                    for name, e in estimates.items()
                },
            )
            realised_now = {"reference": outcome}
        result = judge(replace(chunked, size=len(chunk)), state, None, realised_now, None)
        return observed(context, result, screened=False)

    return observe


def _unjudgeable(context: Context, rules: list[AlertRule]) -> list[SkippedRule]:
    """The rules on a regressor's realised loss against the reference's interval whose
    reference has no such interval (a data file, evaluation.resamples: 0, or written before
    references kept it): skipped, with the reason, never an error."""
    if context.project.spec.task.type != "regression":
        return []
    ref, skipped = context.ref, []
    for rule in rules:
        name = rule.metric.removeprefix("realised.").removesuffix("_increase")
        if not rule.metric.startswith("realised.") or not rule.metric.endswith("_increase"):
            continue
        interval = ref.intervals.get(name)
        if interval is not None and interval.ci_high:
            continue
        if ref.run_id.startswith("file-"):
            why = "a data file as the reference has no held-out errors"
        elif interval is not None:
            why = "its evaluation settings made none (evaluation.resamples: 0)"
        else:
            why = "it was written before references kept one; train the model again"
        reason = f"the reference {ref.run_id} has no 95% interval of the held-out {name}: {why}"
        skipped.append(SkippedRule(name=rule.name, metric=rule.metric, reason=reason))
    return skipped


def _rules(context: Context) -> tuple[list[AlertRule], list[SkippedRule]]:
    """The spec's alert rules (with the defaults), those with ``sigmas`` turned into thresholds
    learnt from the reference's chunks (computed once per reference and chunk size, then
    cached); and the rules skipped, as the reference cannot judge them."""
    everything = context.settings.alert_rules(loss=loss_metric(context.project.spec))
    skipped = _unjudgeable(context, everything)
    for rule in skipped:
        logger.warning("alert rule %s is not judged: %s", rule.name, rule.reason)
    names = {r.name for r in skipped}
    rules = [r for r in everything if r.name not in names]
    if all(rule.sigmas is None for rule in rules):
        return rules, skipped
    settings = context.settings
    rows = settings.chunk_rows or (context.size if context.kind == "rows" else None)
    if rows is None:
        raise SpecError(
            "alert rules with sigmas need the size of a reference chunk, and time windows do "
            "not say how many rows a window holds",
            hint="set monitoring.chunk_rows to the rows a window typically holds",
        )
    thresholds = chunk_thresholds(
        context.project,
        context.ref,
        chunk_rows=rows,
        chunk_count=settings.chunk_count,
        observe=_chunk_observer(context),
    )
    return expand_rules(rules, thresholds), skipped


def _timeline_windows(
    context: Context, results: dict[int, MonitoringWindow]
) -> list[tuple[int, str, list[Observation]]]:
    """The windows alert rules are judged over, with what each observes. With ``expected_rows``
    set, time windows without a single row (an outage) count too, as complete and empty."""
    indices = sorted(results)
    expected = context.settings.expected_rows is not None
    if context.kind == "time" and indices and expected:
        last_complete = int(window_keys(pd.Series([context.now]), "time", context.size)[0]) - 1
        indices = list(range(indices[0], max(indices[-1], last_complete) + 1))
    found = []
    for index in indices:
        result = results.get(index)
        if result is None:  # an outage: observed as a complete window without rows
            empty = WindowState(index, context.kind, context.size)
            found.append((index, empty.start, [("rows", "window", 0.0)]))
            continue
        seen = observed(context, result)
        if seen:
            found.append((index, result.start, seen))
    return found


def _reconcile(
    connection: Connection,
    context: Context,
    results: dict[int, MonitoringWindow],
    *,
    rules: list[AlertRule],
    report: str,
    at: str,
) -> list[AlertEvent]:
    """Bring the stream's alerts in the store in line with the alert timeline of its windows;
    the events to send (each change once: opened, escalated, resolved, reopened)."""
    project = context.project
    episodes = timeline(rules, _timeline_windows(context, results))
    stored = {
        (a.metric, a.subject, a.window_index): a
        for a in list_alerts(connection, project.name, stream=context.stream, limit=None)
    }
    events: list[AlertEvent] = []
    for episode in episodes:
        current = stored.pop((episode.metric, episode.subject, episode.opened), None)
        status: Literal["open", "resolved"] = "open" if episode.resolved is None else "resolved"
        last = episode.last if episode.resolved is None else episode.resolved
        if current is None:
            alert = insert_alert(
                connection,
                Alert(
                    id=0,
                    project=project.name,
                    stream=context.stream,
                    metric=episode.metric,
                    subject=episode.subject,
                    rule=episode.rule.name,
                    severity=episode.rule.severity,
                    status=status,
                    value=episode.value,
                    threshold=episode.threshold,
                    window_index=episode.opened,
                    window_start=episode.opened_start,
                    last_window_index=last,
                    message=episode.message,
                    report=report,
                    opened_at=at,
                    updated_at=at,
                    resolved_at=at if status == "resolved" else None,
                ),
            )
            events.append(AlertEvent.of("opened", alert))
            if status == "resolved":
                events.append(AlertEvent.of("resolved", alert))
            continue
        judged = current.model_copy(
            update={
                "rule": episode.rule.name,
                "severity": episode.rule.severity,
                "status": status,
                "value": episode.value,
                "threshold": episode.threshold,
                "last_window_index": last,
                "message": episode.message,
            }
        )
        if judged == current:  # the report it names is where it was raised
            continue
        resolved_at = current.resolved_at if status == "resolved" else None
        if status == "resolved" and current.status == "open":
            resolved_at = at
        updated = judged.model_copy(
            update={"report": report, "updated_at": at, "resolved_at": resolved_at}
        )
        update_alert(connection, updated)
        if SEVERITY_RANK[updated.severity] > SEVERITY_RANK[current.severity]:
            events.append(AlertEvent.of("escalated", updated))
        if status != current.status:
            kind: EventKind = "resolved" if status == "resolved" else "reopened"
            events.append(AlertEvent.of(kind, updated))
    for gone in stored.values():  # re-judged windows no longer raise it
        if gone.status == "open":
            resolved = gone.model_copy(
                update={"status": "resolved", "resolved_at": at, "updated_at": at}
            )
            update_alert(connection, resolved)
            events.append(AlertEvent.of("resolved", resolved))
    return events
