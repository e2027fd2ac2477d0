"""``goldenpath monitor``: the prediction log, window by window, against the model's reference.

One run reads only the log files its *stream* (model, reference run, window, since/until) has
not read before, adds their rows to the windows they fall in (window states are mergeable, see
``windows.py``), judges every window it touched, computes realised performance where feedback
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

import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from goldenpath import __version__
from goldenpath.errors import DuplicateRecord, RunNotFound, SpecError, StoreError
from goldenpath.monitoring._document import Severity
from goldenpath.monitoring.alerts import (
    SEVERITY_RANK,
    Observation,
    deliver,
    observations,
    timeline,
)
from goldenpath.monitoring.chunks import chunk_thresholds, expand_rules
from goldenpath.monitoring.drift import DriftThresholds, FeatureDrift, window_drift
from goldenpath.monitoring.estimation import EstimatedPerformance, estimate
from goldenpath.monitoring.logs import LogFile, PredictionLog
from goldenpath.monitoring.loss_estimation import EstimatedLoss, estimate_loss, loss_increases
from goldenpath.monitoring.multivariate import MIN_ROWS, DomainDrift, domain_classifier
from goldenpath.monitoring.performance import loss_metric, realised, realised_loss_increases
from goldenpath.monitoring.reference import Reference, monitored_features, reference
from goldenpath.monitoring.results import (
    Alert,
    AlertEvent,
    DataQuality,
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
from goldenpath.spec.monitoring import AlertRule, MonitoringSpec, parse_window
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
Realised = dict[str, RouteOutcome]  # per "route vVERSION"
EventKind = Literal["opened", "escalated", "resolved", "reopened"]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _utc(moment: datetime | None) -> datetime | None:
    """Times without a zone are UTC (as on the command line)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass(frozen=True)
class MonitorRun:
    """One monitor run: its document, where its report goes, and the alert events it sent."""

    report: MonitoringReport
    folder: Path  # the stream's report folder (the alerts name its monitoring.html)
    changed: bool  # whether any window changed: the report must be written again
    events: list[AlertEvent]
    sink_failures: list[str]

    @property
    def json_path(self) -> Path:
        return self.folder / "monitoring.json"

    @property
    def html_path(self) -> Path:
        return self.folder / "monitoring.html"

    @property
    def open_alerts(self) -> list[Alert]:
        return self.report.open_alerts


def _thresholds(settings: MonitoringSpec) -> DriftThresholds:
    return DriftThresholds(
        psi_warn=settings.psi_warning,
        psi_alert=settings.psi_critical,
        js_alert=settings.js_critical,
        max_missing_increase=settings.max_missing_increase,
        max_unseen_share=settings.max_unseen_share,
        significance=settings.significance,
    )


@dataclass(frozen=True)
class _Context:
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

    @property
    def settings(self) -> MonitoringSpec:
        return self.project.spec.monitoring


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def _context(
    project: Project,
    ref: Reference,
    *,
    window: str | None,
    since: datetime | None,
    until: datetime | None,
    now: datetime | None,
) -> _Context:
    """The stream this run extends: the model, its reference run, the window and the range."""
    window_text = window or project.spec.monitoring.window
    kind, size = parse_window(window_text)
    stream = "|".join([project.name, ref.run_id, window_text, _iso(since) or "", _iso(until) or ""])
    digest = hashlib.sha256(stream.encode()).hexdigest()[:8]
    return _Context(
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
    )


@dataclass(frozen=True)
class _Stored:
    """What the store holds of a stream: the files read and the windows judged."""

    done: dict[str, int]  # path -> size
    windows: dict[int, StoredWindow[WindowRecord, MonitoringWindow]]


def _stored(store: Store, context: _Context) -> _Stored:
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
    context: _Context,
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
            state = _state_of(context, int(key), frame.iloc[begin:end], outputs)
            known = states.get(int(key))
            states[int(key)] = state if known is None else known.merged(state)
            touched.add(int(key))
        if progress is not None:
            progress(read)
    return touched


def _state_of(context: _Context, index: int, part: pd.DataFrame, outputs: list[str]) -> WindowState:
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


def _window_of(rows: pd.DataFrame, context: _Context, states: dict[int, WindowState]) -> np.ndarray:
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
    context: _Context,
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
    start = min(_parse(states[i].first or states[i].start) for i in affected)
    end = max(_parse(states[i].last or states[i].start) for i in affected)
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


def _judged(context: _Context, state: WindowState) -> bool:
    """Whether a window has enough rows to be judged: a complete row window, or a time window
    with ``min_window_rows`` rows."""
    if context.kind == "rows":
        return state.complete(context.now)
    return state.rows >= context.settings.min_window_rows


def _drift(context: _Context, state: WindowState) -> tuple[list[FeatureDrift], list[FeatureDrift]]:
    """The drift of the window's features, and of its outputs: those of the reference's model
    version, when it answered enough of the rows."""
    settings, thresholds = context.settings, _thresholds(context.settings)
    ref = context.ref
    features = (
        [] if state.features is None else window_drift(ref.features, state.features, thresholds)
    )
    own = state.outputs
    outputs = (
        []
        if own is None or own.rows < min(settings.min_window_rows, state.rows)
        else window_drift(ref.outputs, own, thresholds)
    )
    return features, outputs


def _quality(context: _Context, state: WindowState) -> DataQuality:
    """The window's volume (complete windows against ``expected_rows``) and the share of its
    rows outside the contract, per feature."""
    settings = context.settings
    volume: Literal["ok", "low", "high"] = "ok"
    if state.complete(context.now) and settings.expected_rows is not None:
        low, high = settings.expected_rows
        if low is not None and state.rows < low:
            volume = "low"
        elif high is not None and state.rows > high:
            volume = "high"
    shares = {k: v / state.rows for k, v in state.out_of_range.items()} if state.rows else {}
    return DataQuality(
        rows=state.rows,
        volume=volume,
        expected_rows=settings.expected_rows,
        out_of_range=shares,
    )


def _performance(estimated: EstimatedPerformance | None) -> dict[str, float | None]:
    if estimated is None:
        return {}
    return {"accuracy": estimated.accuracy, "roc_auc": estimated.roc_auc}


def _severity(
    context: _Context,
    features: list[FeatureDrift],
    quality: DataQuality,
    *,
    multivariate: DomainDrift | None,
    estimated: EstimatedPerformance | None,
    realised_result: Realised | None,
    estimated_loss: EstimatedLoss | None = None,
) -> Severity:
    """The most severe verdict: drift, values out of range, volume, the domain classifier, an
    estimated or realised (to the top of its interval) drop of accuracy or ROC AUC, an
    estimated rise of a regressor's MAE or RMSE, and its realised MAE (or RMSE, the primary
    metric) whose interval lies above the reference's."""
    settings, baseline = context.settings, context.ref.metrics
    severities: list[Severity] = [f.severity for f in features]
    if any(v > settings.max_out_of_range_share for v in quality.out_of_range.values()):
        severities.append("critical")
    if quality.volume != "ok":
        severities.append("warning")
    if multivariate is not None:
        severities.append(multivariate.severity)
    estimates = _performance(estimated)
    for metric in ("accuracy", "roc_auc"):
        base, value = baseline.get(metric), estimates.get(metric)
        if base is not None and value is not None and base - value > settings.max_performance_drop:
            severities.append("critical")
    for route in (realised_result or {}).values():
        for metric in ("accuracy", "roc_auc"):
            base = baseline.get(metric)
            interval = route.metrics.get(metric)
            high = None if interval is None else interval.ci_high
            if (
                base is not None
                and high is not None
                and base - high > settings.max_performance_drop
            ):
                severities.append("critical")
        # regressors: the labels make sure the loss is above the reference's interval
        primary = loss_metric(context.project.spec)
        if realised_loss_increases(route.metrics, context.ref.intervals).get(primary, 0.0) > 0:
            severities.append("critical")
    if any(
        v > settings.max_loss_increase for v in _loss_increases(context, estimated_loss).values()
    ):
        severities.append("critical")
    return max(severities, key=SEVERITY_RANK.__getitem__, default="ok")


def _estimated_loss(context: _Context, state: WindowState) -> EstimatedLoss | None:
    """DLE's estimate for the window (regressors whose reference has a loss estimator)."""
    estimator = context.ref.loss
    if estimator is None or state.loss is None or not state.loss.rows:
        return None
    return estimate_loss(state.loss, estimator.rows)


def _loss_increases(context: _Context, estimated: EstimatedLoss | None) -> dict[str, float]:
    """The estimated MAE's and RMSE's relative rise above the reference's held-out values."""
    estimator = context.ref.loss
    if estimated is None or estimator is None:
        return {}
    return loss_increases(estimated, estimator)


def _judge(
    context: _Context,
    state: WindowState,
    previous: MonitoringWindow | None,
    realised_now: Realised | None,
    multivariate: DomainDrift | None,
) -> MonitoringWindow:
    """One window's verdict from its state (and what an earlier run found of its outcomes)."""
    judged = _judged(context, state)
    features, outputs = _drift(context, state)
    quality = _quality(context, state)
    estimated = None
    if state.scores is not None and state.scores.rows:
        estimated = estimate(state.scores)
    estimated_loss = _estimated_loss(context, state)
    found = realised_now
    if found is None and previous is not None:
        found = previous.realised
    realised_result = found or None
    severity = _severity(
        context,
        [*features, *outputs],
        quality,
        multivariate=multivariate,
        estimated=estimated,
        realised_result=realised_result,
        estimated_loss=estimated_loss,
    )
    return MonitoringWindow(
        index=state.index,
        start=state.start,
        end=state.end,
        first=state.first,
        last=state.last,
        rows=state.rows,
        complete=state.complete(context.now),
        judged=judged,
        routes=state.routes,
        features=features,
        outputs=outputs,
        quality=quality,
        multivariate=multivariate,
        estimated=estimated,
        realised=realised_result,
        severity=severity if judged else "ok",
        estimated_loss=estimated_loss,
    )


def _domain(
    context: _Context, log: PredictionLog, touched: list[WindowState]
) -> dict[int, DomainDrift]:
    """The domain classifier on the latest judged window among ``touched`` (it costs a second
    or more: one window per run), on a sample of all of that window's rows."""
    judged = [s for s in touched if _judged(context, s)]
    if not judged:
        return {}
    latest = max(judged, key=lambda s: s.index)
    reference_sample = context.ref.sample
    if not (latest.first and latest.last) or min(latest.rows, len(reference_sample)) < MIN_ROWS:
        return {}
    settings = context.settings
    sample = log.sample(
        [c for c in context.features if c in reference_sample.columns],
        _parse(latest.first),
        _parse(latest.last),
        settings.domain_max_rows,
        since=context.since,
        until=context.until,
    )
    if len(sample) < MIN_ROWS or sample.columns.empty:
        return {}
    found = domain_classifier(
        reference_sample,
        sample,
        max_rows=settings.domain_max_rows,
        warning_auc=settings.domain_warning_auc,
        critical_auc=settings.domain_critical_auc,
    )
    return {latest.index: found}


def _kept(previous: MonitoringWindow | None, touched: bool) -> DomainDrift | None:
    """A window's earlier domain classifier result, unless new rows made it stale."""
    return None if touched or previous is None else previous.multivariate


def _judge_windows(
    context: _Context,
    states: dict[int, WindowState],
    stored: _Stored,
    *,
    touched: set[int],
    realised_now: dict[int, Realised],
    multivariate: dict[int, DomainDrift],
) -> tuple[dict[int, MonitoringWindow], list[int]]:
    """Every window's result, and the indices of those judged (again) in this run: touched by
    new rows or labels, or time windows judged while open that are over now."""
    results = {i: w.result for i, w in stored.windows.items()}
    ripe = {i for i, r in results.items() if not r.complete and states[i].complete(context.now)}
    changed = sorted(touched | set(realised_now) | ripe)
    for index in changed:
        previous = results.get(index)
        results[index] = _judge(
            context,
            states[index],
            previous,
            realised_now.get(index),
            multivariate.get(index, _kept(previous, index in touched)),
        )
    return results, changed


def _save(
    store: Store,
    context: _Context,
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
    context: _Context,
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
        window=WindowSize.model_validate({"kind": context.kind, "size": context.window}),
        thresholds=Thresholds(
            psi_warning=settings.psi_warning,
            psi_critical=settings.psi_critical,
            js_critical=settings.js_critical,
            domain_warning_auc=settings.domain_warning_auc,
            domain_critical_auc=settings.domain_critical_auc,
        ),
        range=TimeRange(since=_iso(context.since), until=_iso(context.until)),
        processed=processed,
        windows=[results[i] for i in sorted(results)],
        alerts=alerts,
        skipped_rules=skipped,
    )


def _send(context: _Context, events: list[AlertEvent]) -> list[str]:
    """Send every event to every sink; the failures, as text."""
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
    since, until, now = (_utc(t) for t in (since, until, now))
    if isinstance(reference_of, str):
        reference_of = reference(project, reference_of)
    context = _context(project, reference_of, window=window, since=since, until=until, now=now)
    # before reading: a rule that cannot be judged stops the run (or, without the reference
    # figures it compares with, is skipped)
    rules, skipped = _rules(context)
    log = PredictionLog(project.state_dir / "logs")
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
    multivariate = _domain(context, log, [states[i] for i in touched])
    results, changed = _judge_windows(
        context,
        states,
        stored,
        touched=touched,
        realised_now=realised_now,
        multivariate=multivariate,
    )
    at = _iso(datetime.now(UTC)) or ""
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
    return MonitorRun(document, context.folder, bool(changed), events, _send(context, events))


def _observed(
    context: _Context, result: MonitoringWindow, *, screened: bool = True
) -> list[Observation]:
    """What alert rules can watch in a window's result (``screened``: see ``observations``)."""
    seen = observations(
        result, context.ref.metrics, screened=screened, reference_intervals=context.ref.intervals
    )
    if result.judged:  # DLE: regressors' estimated rise of MAE and RMSE
        increases = _loss_increases(context, result.estimated_loss)
        seen += [(f"estimated.{m}_increase", "all routes", v) for m, v in increases.items()]
    return seen


def _chunk_observer(context: _Context) -> Callable[[pd.DataFrame], list[Observation]]:
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
        state = _state_of(replace(chunked, size=len(chunk)), 0, served, outputs)
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
        result = _judge(replace(chunked, size=len(chunk)), state, None, realised_now, None)
        return _observed(context, result, screened=False)

    return observe


def _unjudgeable(context: _Context, rules: list[AlertRule]) -> list[SkippedRule]:
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


def _rules(context: _Context) -> tuple[list[AlertRule], list[SkippedRule]]:
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
    context: _Context, results: dict[int, MonitoringWindow]
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
        seen = _observed(context, result)
        if seen:
            found.append((index, result.start, seen))
    return found


def _reconcile(
    connection: Connection,
    context: _Context,
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
