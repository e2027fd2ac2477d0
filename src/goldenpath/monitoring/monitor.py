"""``goldenpath monitor``: the prediction log, window by window, against the model's reference.

One run reads only the log files its *stream* (model, reference run, window, since/until) has
not read before, adds their rows to the windows they fall in (window states are mergeable, see
``windows.py``), judges every window it touched, computes realised performance where feedback
labels arrived, the domain classifier on the latest judged window, and then rebuilds the alert
timeline over the stream's windows. Windows, read files and alerts are written to the store in one
transaction, so a run that dies changes nothing and the next one starts from the same place.
Finally ``monitoring.json`` and ``monitoring.html`` are written and alert events sent.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.exc import IntegrityError

from goldenpath import __version__
from goldenpath.errors import RunNotFound, StoreError
from goldenpath.monitoring.alerts import (
    SEVERITY_RANK,
    Observation,
    deliver,
    observations,
    timeline,
)
from goldenpath.monitoring.drift import DriftThresholds, window_drift
from goldenpath.monitoring.estimation import estimate
from goldenpath.monitoring.logs import PredictionLog
from goldenpath.monitoring.multivariate import MIN_ROWS, domain_classifier
from goldenpath.monitoring.performance import realised
from goldenpath.monitoring.reference import Reference, monitored_features, reference
from goldenpath.monitoring.windows import WindowState, row_keys, window_keys
from goldenpath.project import Project
from goldenpath.reports.monitoring import write_monitoring_report
from goldenpath.spec.monitoring import MonitoringSpec, parse_window
from goldenpath.store.engine import open_store
from goldenpath.store.monitoring import (
    Alert,
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

Progress = Callable[[int], None]  # rows read so far


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _utc(moment: datetime | None) -> datetime | None:
    """Times without a zone are UTC (as on the command line)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass
class MonitorRun:
    document: dict[str, Any]
    json_path: Path
    html_path: Path
    events: list[dict[str, Any]] = field(default_factory=list)
    sink_failures: list[str] = field(default_factory=list)

    @property
    def open_alerts(self) -> list[dict[str, Any]]:
        return [a for a in self.document["alerts"] if a["status"] == "open"]


def _thresholds(settings: MonitoringSpec) -> DriftThresholds:
    return DriftThresholds(
        psi_warn=settings.psi_warning,
        psi_alert=settings.psi_critical,
        js_alert=settings.js_critical,
        max_missing_increase=settings.max_missing_increase,
        max_unseen_share=settings.max_unseen_share,
        significance=settings.significance,
    )


@dataclass
class _Context:
    project: Project
    ref: Reference
    kind: str
    size: int
    since: datetime | None
    until: datetime | None
    now: datetime
    features: list[str]
    outputs: list[str]


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
    project, ref = context.project, context.ref
    available = set(log.columns(paths))
    outputs = [c for c in context.outputs if c in available]
    sort_key = ["request_id", "row"] if context.kind == "rows" else []  # row windows' order
    wanted = ["timestamp", "route", *sort_key, "model_version", *context.features]
    wanted += [c for c in outputs if c not in wanted]
    columns = [c for c in wanted if c in available]  # absent features count as missing
    touched: set[int] = set()
    read = 0
    contract = project.spec.data.contract.columns
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
            part = frame.iloc[begin:end]
            state = WindowState.of(
                int(key),
                context.kind,
                context.size,
                part,
                features=context.features,
                outputs=outputs,
                reference_features=ref.features,
                reference_outputs=ref.outputs,
                calibration=ref.calibration,
                contract=contract,
                version=ref.model_version,
            )
            known = states.get(int(key))
            states[int(key)] = state if known is None else known.merged(state)
            touched.add(int(key))
        if progress is not None:
            progress(read)
    return touched


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
    *,
    new_feedback: list[str],
    all_feedback: list[str],
) -> dict[int, dict[str, Any]]:
    """Realised performance per route of the windows touched or reached by new feedback."""
    if not all_feedback or not states:
        return {}
    affected = set(touched)
    if new_feedback:
        fresh = log.labelled(new_feedback, since=context.since, until=context.until)
        affected |= {int(k) for k in _window_of(fresh, context, states) if k >= 0}
    affected &= set(states)
    if not affected:
        return {}
    start = min(_parse(states[i].first or states[i].start) for i in affected)
    end = max(_parse(states[i].last or states[i].start) for i in affected)
    rows = log.labelled(all_feedback, start, end, since=context.since, until=context.until)
    keys = _window_of(rows, context, states)
    spec = context.project.spec
    found: dict[int, dict[str, Any]] = {}
    for index in sorted(affected):
        chosen = rows[keys == index]
        per_route: dict[str, Any] = {}
        for (route, version), group in chosen.groupby(["route", "model_version"]):
            estimates = realised(spec, group["label"], group["prediction"], group["score"])
            per_route[f"{route} v{version}"] = {
                "rows": len(group),
                "metrics": {
                    name: {"value": e.value, "ci_low": e.ci_low, "ci_high": e.ci_high}
                    for name, e in estimates.items()
                },
            }
        found[index] = per_route
    return found


def _judged(context: _Context, state: WindowState) -> bool:
    """Whether a window has enough rows to be judged: a complete row window, or a time window
    with ``min_window_rows`` rows."""
    if context.kind == "rows":
        return state.complete(context.now)
    return state.rows >= context.project.spec.monitoring.min_window_rows


def _judge(
    context: _Context,
    state: WindowState,
    previous: dict[str, Any] | None,
    realised_now: dict[str, Any] | None,
    multivariate: dict[str, Any] | None,
) -> dict[str, Any]:
    settings = context.project.spec.monitoring
    thresholds = _thresholds(settings)
    complete = state.complete(context.now)
    judged = _judged(context, state)
    features = (
        []
        if state.features is None
        else window_drift(context.ref.features, state.features, thresholds)
    )
    # outputs: those of the reference's model version, when it answered enough of the rows
    own = state.outputs
    outputs = (
        []
        if own is None or own.rows < min(settings.min_window_rows, state.rows)
        else window_drift(context.ref.outputs, own, thresholds)
    )
    shares = {k: v / state.rows for k, v in state.out_of_range.items()} if state.rows else {}
    volume = "ok"
    if complete and settings.expected_rows is not None:
        low, high = settings.expected_rows
        if low is not None and state.rows < low:
            volume = "low"
        elif high is not None and state.rows > high:
            volume = "high"
    estimated = None
    if state.scores is not None and state.scores.rows:
        estimated = estimate(state.scores).to_dict()
    severities = [f.severity for f in [*features, *outputs]]
    if any(v > settings.max_out_of_range_share for v in shares.values()):
        severities.append("critical")
    if volume != "ok":
        severities.append("warning")
    if multivariate is not None:
        severities.append(multivariate["severity"])
    for metric in ("accuracy", "roc_auc"):
        base, value = context.ref.metrics.get(metric), (estimated or {}).get(metric)
        if base is not None and value is not None and base - value > settings.max_performance_drop:
            severities.append("critical")
    realised_result = realised_now if realised_now is not None else (previous or {}).get("realised")
    for route in (realised_result or {}).values():
        for metric in ("accuracy", "roc_auc"):
            base = context.ref.metrics.get(metric)
            high = route["metrics"].get(metric, {}).get("ci_high")
            if (
                base is not None
                and high is not None
                and base - high > settings.max_performance_drop
            ):
                severities.append("critical")
    return {
        "index": state.index,
        "start": state.start,
        "end": state.end,
        "first": state.first,
        "last": state.last,
        "rows": state.rows,
        "complete": complete,
        "judged": judged,
        "routes": state.routes,
        "features": [f.to_dict() for f in features],
        "outputs": [f.to_dict() for f in outputs],
        "quality": {
            "rows": state.rows,
            "volume": volume,
            "expected_rows": None
            if settings.expected_rows is None
            else list(settings.expected_rows),
            "out_of_range": shares,
        },
        "multivariate": multivariate,
        "estimated": estimated,
        "realised": realised_result or None,
        "severity": max(severities, key=SEVERITY_RANK.__getitem__, default="ok")
        if judged
        else "ok",
    }


def _domain(
    context: _Context, log: PredictionLog, touched: list[WindowState]
) -> dict[int, dict[str, Any]]:
    """The domain classifier on the latest judged window among ``touched`` (it costs a second
    or more: one window per run), on a sample of all of that window's rows."""
    judged = [s for s in touched if _judged(context, s)]
    if not judged:
        return {}
    latest = max(judged, key=lambda s: s.index)
    reference_sample = context.ref.sample
    if not (latest.first and latest.last) or min(latest.rows, len(reference_sample)) < MIN_ROWS:
        return {}
    settings = context.project.spec.monitoring
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
    return {latest.index: found.to_dict()}


def _kept(previous: dict[str, Any] | None, touched: bool) -> dict[str, Any] | None:
    """A window's earlier domain classifier result, unless new rows made it stale."""
    return None if touched or previous is None else previous.get("multivariate")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def run_monitor(
    project: Project,
    *,
    window: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    reference_ref: str = "champion",
    progress: Progress | None = None,
    now: datetime | None = None,
) -> MonitorRun:
    """Process what is new in the prediction log; see the module docstring."""
    began = time.perf_counter()
    since, until, now = (_utc(t) for t in (since, until, now))
    settings = project.spec.monitoring
    window_text = window or settings.window
    kind, size = parse_window(window_text)
    ref = reference(project, reference_ref)
    context = _Context(
        project,
        ref,
        kind,
        size,
        since,
        until,
        now or datetime.now(UTC),
        monitored_features(project),
        list(ref.outputs.features),
    )
    stream = "|".join([project.name, ref.run_id, window_text, _iso(since) or "", _iso(until) or ""])
    digest = hashlib.sha256(stream.encode()).hexdigest()[:8]
    folder = project.state_dir / "monitoring" / "reports" / _slug(f"{window_text}-{digest}")
    log = PredictionLog(project.state_dir / "logs")
    predictions, feedback = log.files("predictions"), log.files("feedback")
    store = open_store(project)
    with store.transaction() as connection:
        done = processed_files(connection, project.name, stream)
        stored = {w.index: w for w in load_windows(connection, project.name, stream)}
    new_predictions = [f.path for f in predictions if f.path not in done]
    new_feedback = [f.path for f in feedback if f.path not in done]
    if not stored and not new_predictions and not done:
        raise RunNotFound(
            "no served predictions in the prediction log",
            hint="serve traffic first (goldenpath serve, goldenpath replay)",
        )
    states = {i: WindowState.from_dict(i, kind, size, w.profile) for i, w in stored.items()}
    offset = sum(s.rows for s in states.values())
    touched = _read(context, log, new_predictions, states, offset=offset, progress=progress)
    realised_now = _realised(
        context,
        log,
        states,
        touched,
        new_feedback=new_feedback,
        all_feedback=[f.path for f in feedback],
    )
    multivariate = _domain(context, log, [states[i] for i in touched])
    results = {i: w.result for i, w in stored.items()}
    # time windows judged while open and over now: judged again (their volume, complete)
    ripe = {i for i, r in results.items() if not r["complete"] and states[i].complete(context.now)}
    for index in sorted(touched | set(realised_now) | ripe):
        results[index] = _judge(
            context,
            states[index],
            results.get(index),
            realised_now.get(index),
            multivariate.get(index, _kept(results.get(index), index in touched)),
        )
    changed = sorted(touched | set(realised_now) | ripe)
    at = _iso(datetime.now(UTC)) or ""
    html_path = folder / "monitoring.html"
    sizes = {f.path: f.size for f in [*predictions, *feedback]}
    try:
        with store.transaction() as connection:
            for index in changed:
                state = states[index]
                stored_window = StoredWindow(
                    index, state.start, state.end, state.rows, state.to_dict(), results[index]
                )
                save_window(connection, project.name, stream, stored_window, at)
            read = [(p, sizes[p]) for p in [*new_predictions, *new_feedback]]
            add_files(connection, project.name, stream, read, at)
            events = (
                _reconcile(connection, context, stream, results, report=str(html_path), at=at)
                if changed
                else []
            )
            found = list_alerts(connection, project.name, stream=stream, limit=None)
            alerts = [a.to_dict() for a in found]
    except IntegrityError as error:
        text = str(error.orig)
        if "gp_monitor_files" in text and ("UNIQUE" in text or "duplicate key" in text):
            raise StoreError(
                "another monitor run read the same log files at the same time; this run wrote "
                "nothing",
                hint="run one monitor per stream at a time (the other run's results are stored)",
            ) from None
        raise StoreError(
            f"the store refused the monitoring results: {text.splitlines()[0]}",
            hint="check that the store is at goldenpath's schema (goldenpath opens it migrated)",
        ) from None
    document = {
        "schema": "goldenpath.monitoring/1",
        "goldenpath_version": __version__,
        "project": project.name,
        "model": project.name,
        "generated_at": at,
        "reference": {
            "run_id": ref.run_id,
            "model_version": ref.model_version,
            "rows": ref.features.rows,
            "evaluation_rows": ref.evaluation_rows,
            "metrics": ref.metrics,
        },
        "window": {"kind": kind, "size": window_text},
        "thresholds": {
            "psi_warning": settings.psi_warning,
            "psi_critical": settings.psi_critical,
            "js_critical": settings.js_critical,
            "domain_warning_auc": settings.domain_warning_auc,
            "domain_critical_auc": settings.domain_critical_auc,
        },
        "range": {"since": _iso(since), "until": _iso(until)},
        "processed": {
            "new_files": len(new_predictions) + len(new_feedback),
            "new_rows": sum(states[i].rows for i in touched)
            - sum(stored[i].rows for i in touched if i in stored),
            "seconds": round(time.perf_counter() - began, 3),
        },
        "windows": [results[i] for i in sorted(results)],
        "alerts": alerts,
    }
    json_path = folder / "monitoring.json"
    if changed or not html_path.exists():
        json_path, html_path = write_monitoring_report(document, folder)
    failures: list[str] = []
    for event in events:
        failures += deliver(settings.alerts.sinks, event, project.root)
    return MonitorRun(document, json_path, html_path, events, failures)


def _timeline_windows(
    context: _Context, results: dict[int, dict[str, Any]], reference_metrics: dict[str, float]
) -> list[tuple[int, str, list[Observation]]]:
    """The windows alert rules are judged over, with what each observes. With ``expected_rows``
    set, time windows without a single row (an outage) count too, as complete and empty."""
    indices = sorted(results)
    expected = context.project.spec.monitoring.expected_rows is not None
    if context.kind == "time" and indices and expected:
        last_complete = int(window_keys(pd.Series([context.now]), "time", context.size)[0]) - 1
        indices = list(range(indices[0], max(indices[-1], last_complete) + 1))
    found = []
    for index in indices:
        result = results.get(index) or {
            "rows": 0,
            "complete": True,
            "judged": False,
            "start": WindowState(index, context.kind, context.size).start,
        }
        seen = observations(result, reference_metrics)
        if seen:
            found.append((index, result["start"], seen))
    return found


def _reconcile(
    connection: Any,
    context: _Context,
    stream: str,
    results: dict[int, dict[str, Any]],
    *,
    report: str,
    at: str,
) -> list[dict[str, Any]]:
    """Bring the stream's alerts in the store in line with the alert timeline of its windows;
    the events to send (each change once: opened, escalated, resolved, reopened)."""
    project = context.project
    episodes = timeline(
        project.spec.monitoring.alert_rules(),
        _timeline_windows(context, results, context.ref.metrics),
    )
    stored = {
        (a.metric, a.subject, a.window_index): a
        for a in list_alerts(connection, project.name, stream=stream, limit=None)
    }
    events: list[dict[str, Any]] = []
    for episode in episodes:
        current = stored.pop((episode.metric, episode.subject, episode.opened), None)
        status = "open" if episode.resolved is None else "resolved"
        fields: dict[str, Any] = {
            "rule": episode.rule.name,
            "severity": episode.rule.severity,
            "status": status,
            "value": episode.value,
            "threshold": episode.threshold,
            "last_window_index": episode.last if episode.resolved is None else episode.resolved,
            "message": episode.message,
            "report": report,
        }
        if current is None:
            alert = insert_alert(
                connection,
                Alert(
                    **{
                        "id": 0,
                        "project": project.name,
                        "stream": stream,
                        "metric": episode.metric,
                        "subject": episode.subject,
                        "window_index": episode.opened,
                        "window_start": episode.opened_start,
                        "opened_at": at,
                        "updated_at": at,
                        "resolved_at": at if status == "resolved" else None,
                        **fields,
                    }
                ),
            )
            events.append(_event("opened", alert))
            if status == "resolved":
                events.append(_event("resolved", alert))
            continue
        unchanged = all(getattr(current, k) == v for k, v in fields.items() if k != "report")
        if unchanged:
            continue
        resolved_at = current.resolved_at if status == "resolved" else None
        if status == "resolved" and current.status == "open":
            resolved_at = at
        updated = Alert(
            **{**current.to_dict(), **fields, "updated_at": at, "resolved_at": resolved_at}
        )
        update_alert(connection, updated)
        if SEVERITY_RANK[updated.severity] > SEVERITY_RANK[current.severity]:
            events.append(_event("escalated", updated))
        if status != current.status:
            events.append(_event("resolved" if status == "resolved" else "reopened", updated))
    for gone in stored.values():  # re-judged windows no longer raise it
        if gone.status == "open":
            resolved = Alert(
                **{**gone.to_dict(), "status": "resolved", "resolved_at": at, "updated_at": at}
            )
            update_alert(connection, resolved)
            events.append(_event("resolved", resolved))
    return events


def _event(kind: str, alert: Alert) -> dict[str, Any]:
    return {"event": kind, **alert.to_dict()}
