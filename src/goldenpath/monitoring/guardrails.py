"""Guardrails: the challenger's route against the champion's over the latest window of the
prediction log, and the automatic rollback when one is breached.

Each rule of ``serving.guardrails`` names a metric, read with DuckDB from the Parquet log over
``[now - window, now]`` (from the moment a halted challenger was readmitted, when later), for
the rows the challenger version answered on the ``challenger`` route and the rows answered on the
``champion`` route:

* ``degraded_rate``: share of rows answered degraded (by a fallback);
* ``p95_latency_ms``: the 95th percentile of the requests' latency (one value per request);
* ``score_psi``: population stability index of the challenger's scores (a regressor's
  predictions) in ten bins cut at the champion's deciles;
* ``realised_accuracy`` / ``realised_mean_absolute_error``: from the feedback labels joined to
  the rows (accuracy is higher-is-better: the rule bounds its drop).

A rule judges only with the evidence it asks for: ``min_rows`` rows (requests, for latency;
labelled rows, for realised metrics) on *each* route; with less it is ``insufficient``, never
breached. ``max`` bounds the challenger's value (accuracy: its drop), ``max_relative_increase``
its increase over the champion's relative to the champion's (accuracy: the relative drop).

:func:`enforce` acts on a breach: one transaction stores an alert, the halt (the challenger's
share is 0 on every server at its next poll) and the audit event with the evidence
(:func:`goldenpath.registry.controls.halt_challenger`); then the alert goes to the monitoring
sinks, and a running experiment whose treatment is the challenger is stopped, undecided
(:func:`stop_experiments_of`). Experiments are judged as canaries are: the treatment arm answers
on route ``challenger``, the control arm on route ``champion``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from goldenpath.monitoring.alerts import deliver
from goldenpath.monitoring.logs import PredictionLog
from goldenpath.monitoring.results import AlertEvent
from goldenpath.project import Project
from goldenpath.registry.controls import GUARDRAILS_ACTOR, halt_challenger, serving_controls
from goldenpath.spec.serving import GuardrailRule
from goldenpath.store import Store, open_store
from goldenpath.store.monitoring import Alert

__all__ = [
    "Enforced",
    "GuardrailVerdict",
    "enforce",
    "evaluate_guardrails",
    "psi",
    "stop_experiments_of",
]

logger = logging.getLogger("goldenpath.guardrails")

Status = Literal["ok", "breached", "insufficient"]
_HIGHER_IS_BETTER = frozenset({"realised_accuracy"})
_PSI_BINS = 10
_SAMPLE_ROWS = 100_000


class GuardrailVerdict(BaseModel):
    """One rule judged over one window, with its evidence."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")

    rule: str
    metric: str
    status: Status
    challenger_version: str
    window_start: str
    window_end: str
    min_rows: int
    challenger_rows: int
    champion_rows: int
    challenger_value: float | None
    champion_value: float | None
    observed: float | None  # what the threshold bounds: a value, a drop or a relative change
    threshold: float
    bound: Literal["max", "max_relative_increase"]
    message: str

    @property
    def breached(self) -> bool:
        return self.status == "breached"


@dataclass(frozen=True)
class Enforced:
    """What one :func:`enforce` did: the verdicts, the alert it raised (None: no breach, or
    the version was halted already), the sinks that could not be sent it (and a running
    experiment on the version that could not be stopped, as ``experiment …``), and the
    experiments it stopped."""

    verdicts: list[GuardrailVerdict]
    alert: Alert | None = None
    undelivered: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)  # experiments stopped


def psi(reference: np.ndarray, current: np.ndarray, bins: int = _PSI_BINS) -> float:
    """Population stability index of ``current`` against ``reference``, in ``bins`` cut at the
    reference's quantiles (shares floored at 1e-4 so an empty bin stays finite)."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    ref = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1)
    cur = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1)
    p = np.maximum(ref / max(len(reference), 1), 1e-4)
    q = np.maximum(cur / max(len(current), 1), 1e-4)
    return float(np.sum((q - p) * np.log(q / p)))


def _recent(log: PredictionLog, start: datetime, end: datetime) -> list[str]:
    """The prediction files that can hold rows answered in [start, end]: those of the day
    partitions the window touches (and the next day's), written at or after ``start`` (a file
    is renamed into place after its rows were answered, so an older one holds none). Checked at
    every poll, so it lists a few folders, not the whole log."""
    root = log.folder / "predictions"
    day, found = start.astimezone(UTC).date(), []
    while day <= end.astimezone(UTC).date() + timedelta(days=1):
        folder = root / f"date={day.isoformat()}"
        if folder.is_dir():
            for path in folder.rglob("*.parquet"):
                try:
                    if path.stat().st_mtime >= start.timestamp():
                        found.append(str(path.relative_to(log.folder)))
                except FileNotFoundError:  # removed meanwhile (retention)
                    continue
        day += timedelta(days=1)
    return sorted(found)


def _quoted(paths: Sequence[str], log: PredictionLog) -> str:
    listed = ", ".join("'" + str(log.folder / p).replace("'", "''") + "'" for p in paths)
    return f"read_parquet([{listed}], union_by_name = true, hive_partitioning = false)"


_ARMS = "((route = 'challenger' AND model_version = ?) OR route = 'champion')"


def _route_stats(
    log: PredictionLog, paths: list[str], version: str, start: datetime, end: datetime
) -> dict[str, tuple[int, int, float | None, float | None]]:
    """route -> (rows, requests, degraded rate, p95 latency of requests)."""
    query = f"""
        SELECT route, count(*), count(*) FILTER (WHERE "row" = 0),
               avg(CASE WHEN degraded THEN 1.0 ELSE 0.0 END),
               quantile_cont(latency_ms, 0.95) FILTER (WHERE "row" = 0)
        FROM {_quoted(paths, log)}
        WHERE kind = 'served' AND timestamp >= ? AND timestamp <= ? AND {_ARMS}
        GROUP BY route
    """
    with log._connect() as connection:
        rows = connection.execute(query, [start, end, version]).fetchall()
    return {
        str(r[0]): (
            int(r[1]),
            int(r[2]),
            None if r[3] is None else float(r[3]),
            None if r[4] is None else float(r[4]),
        )
        for r in rows
    }


def _scores(
    log: PredictionLog, paths: list[str], version: str, start: datetime, end: datetime
) -> dict[str, np.ndarray]:
    """route -> scores (a regressor's predicted values), a uniform sample of each."""
    columns = set(log.columns(paths))
    value = "coalesce(score, prediction_value)" if "prediction_value" in columns else "score"
    found: dict[str, np.ndarray] = {}
    with log._connect() as connection:
        for route in ("challenger", "champion"):
            query = f"""
                SELECT {value} FROM {_quoted(paths, log)}
                WHERE kind = 'served' AND timestamp >= ? AND timestamp <= ? AND {_ARMS}
                  AND route = ? AND {value} IS NOT NULL
                USING SAMPLE reservoir({_SAMPLE_ROWS} ROWS) REPEATABLE (0)
            """
            got = connection.execute(query, [start, end, version, route]).fetchall()
            found[route] = np.array([float(r[0]) for r in got], dtype=float)
    return found


def _realised(
    log: PredictionLog, version: str, metric: str, start: datetime, end: datetime
) -> dict[str, tuple[int, float | None]]:
    """route -> (labelled rows, realised accuracy or mean absolute error)."""
    frame = log.labelled([f.path for f in log.files("feedback")], start, end)
    found: dict[str, tuple[int, float | None]] = {}
    for route in ("challenger", "champion"):
        part = frame[frame["route"] == route]
        if route == "challenger":
            part = part[part["model_version"].astype(str) == version]
        if part.empty:
            found[route] = (0, None)
            continue
        if metric == "realised_accuracy":
            right = part["prediction"].astype(str).to_numpy() == part["label"].astype(str)
            found[route] = (len(part), float(np.mean(right)))
        else:
            predicted = part["prediction"].astype(float).to_numpy()
            truth = part["label"].astype(float).to_numpy()
            found[route] = (len(part), float(np.mean(np.abs(predicted - truth))))
    return found


def _judge(
    rule: GuardrailRule,
    version: str,
    window: tuple[datetime, datetime],
    rows: tuple[int, int],
    values: tuple[float | None, float | None],
) -> GuardrailVerdict:
    """The verdict of ``rule`` on (challenger, champion) rows and values."""
    challenger_rows, champion_rows = rows
    challenger, champion = values
    higher_better = rule.metric in _HIGHER_IS_BETTER
    bound: Literal["max", "max_relative_increase"] = (
        "max" if rule.max is not None else "max_relative_increase"
    )
    threshold = float(rule.max if rule.max is not None else rule.max_relative_increase or 0.0)
    observed: float | None = None
    # the champion's rows are evidence too wherever its value is compared with
    compared = bound == "max_relative_increase" or higher_better or rule.metric == "score_psi"
    enough = challenger_rows >= rule.min_rows and (champion_rows >= rule.min_rows or not compared)
    if enough and challenger is not None:
        if bound == "max" and not higher_better:
            observed = challenger
        elif champion is not None:
            change = champion - challenger if higher_better else challenger - champion
            if bound == "max":
                observed = change
            elif champion == 0:
                observed = 0.0 if change <= 0 else math.inf
            else:
                observed = change / abs(champion)
    status: Status = (
        "insufficient" if observed is None else "breached" if observed > threshold else "ok"
    )
    what = {
        ("max", False): "value",
        ("max", True): "drop below the champion",
        ("max_relative_increase", False): "relative increase over the champion",
        ("max_relative_increase", True): "relative drop below the champion",
    }[(bound, higher_better)]
    if status == "insufficient":
        message = (
            f"{rule.label}: not judged, {challenger_rows} challenger and {champion_rows} "
            f"champion rows in the window; it needs {rule.min_rows} on each"
        )
    else:
        message = (
            f"{rule.label} of challenger v{version}: {what} {observed:.4g} "
            f"{'above' if status == 'breached' else 'within'} {threshold:g} "
            f"(challenger {challenger:.4g} over {challenger_rows} rows, champion "
            + ("-" if champion is None else f"{champion:.4g}")
            + f" over {champion_rows} rows)"
        )
    return GuardrailVerdict(
        rule=rule.label,
        metric=rule.metric,
        status=status,
        challenger_version=version,
        window_start=window[0].isoformat(),
        window_end=window[1].isoformat(),
        min_rows=rule.min_rows,
        challenger_rows=challenger_rows,
        champion_rows=champion_rows,
        challenger_value=challenger,
        champion_value=champion,
        observed=observed,
        threshold=threshold,
        bound=bound,
        message=message,
    )


def evaluate_guardrails(
    project: Project,
    challenger_version: str,
    *,
    rules: Sequence[GuardrailRule] | None = None,
    now: datetime | None = None,
    since: datetime | None = None,
) -> list[GuardrailVerdict]:
    """Judge ``rules`` (default: ``serving.guardrails``) for the challenger version over each
    rule's window ending ``now`` (starting no earlier than ``since``)."""
    rules = project.spec.serving.guardrails if rules is None else rules
    end = now or datetime.now(UTC)
    log = PredictionLog(project.state_dir / "logs", threads=1, memory_limit="256MB")
    verdicts = []
    for rule in rules:
        start = end - timedelta(seconds=rule.window_seconds)
        if since is not None and since > start:
            start = since
        window = (start, end)
        paths = _recent(log, start, end)
        if rule.metric.startswith("realised_"):
            realised = _realised(log, challenger_version, rule.metric, start, end)
            (c_rows, c_value), (m_rows, m_value) = realised["challenger"], realised["champion"]
        elif rule.metric == "score_psi":
            scores = _scores(log, paths, challenger_version, start, end) if paths else {}
            challenger, champion = scores.get("challenger"), scores.get("champion")
            c_rows = 0 if challenger is None else len(challenger)
            m_rows = 0 if champion is None else len(champion)
            c_value = (
                psi(champion, challenger)
                if challenger is not None and champion is not None and c_rows and m_rows
                else None
            )
            m_value = 0.0
        else:
            stats = _route_stats(log, paths, challenger_version, start, end) if paths else {}
            none: tuple[int, int, float | None, float | None] = (0, 0, None, None)
            c, m = stats.get("challenger", none), stats.get("champion", none)
            if rule.metric == "p95_latency_ms":
                c_rows, c_value, m_rows, m_value = c[1], c[3], m[1], m[3]
            else:
                c_rows, c_value, m_rows, m_value = c[0], c[2], m[0], m[2]
        verdicts.append(
            _judge(rule, challenger_version, window, (c_rows, m_rows), (c_value, m_value))
        )
    return verdicts


def stop_experiments_of(
    project: Project,
    version: str,
    reason: str,
    *,
    details: dict[str, object] | None = None,
    store: Store | None = None,
) -> list[str]:
    """Stop the running experiment whose treatment is ``version`` (undecided: its readout and
    decision stay to be done), as the guardrails' service principal (as their halt: no role is
    asked, :func:`goldenpath.experiments.lifecycle.stop_experiment`); the names stopped."""
    from goldenpath.experiments.lifecycle import active_experiment, stop_experiment

    running = active_experiment(project, store=store)
    if running is None or running.treatment_version != version:
        return []
    stop_experiment(
        project,
        running.name,
        reason=f"guardrail: {reason}",
        actor=GUARDRAILS_ACTOR,
        details=details,
        store=store,
    )
    return [running.name]


def _alert(project: Project, verdict: GuardrailVerdict, at: str) -> Alert:
    return Alert(
        id=0,
        project=project.name,
        stream=f"guardrails|{verdict.challenger_version}",
        metric=f"guardrail.{verdict.metric}",
        subject=f"challenger v{verdict.challenger_version}",
        rule=verdict.rule,
        severity="critical",
        status="open",
        value=verdict.observed,
        threshold=verdict.threshold,
        window_index=0,
        window_start=verdict.window_start,
        last_window_index=0,
        message=f"guardrail breached, challenger rolled back: {verdict.message}",
        report="",
        opened_at=at,
        updated_at=at,
        resolved_at=None,
    )


def enforce(
    project: Project,
    challenger_version: str,
    *,
    now: datetime | None = None,
    store: Store | None = None,
) -> Enforced:
    """Judge the guardrails of the challenger version; on a breach halt it (alert, halt and
    audit event in one transaction), send the alert to the sinks and stop its experiment.
    Raises what the log or the store raise (the caller counts it); a sink that fails is
    reported in :attr:`Enforced.undelivered`."""
    store = store or open_store(project)
    controls = serving_controls(project, store=store)
    if challenger_version in controls.halted or not project.spec.serving.guardrails:
        return Enforced([])
    readmitted = controls.readmitted.get(challenger_version)
    since = None if readmitted is None else datetime.fromisoformat(readmitted)
    verdicts = evaluate_guardrails(project, challenger_version, now=now, since=since)
    breached = [v for v in verdicts if v.breached]
    if not breached:
        return Enforced(verdicts)
    at = (now or datetime.now(UTC)).isoformat()
    first = breached[0]
    reason = "; ".join(v.message for v in breached)
    evidence: dict[str, object] = {"verdicts": [v.model_dump(mode="json") for v in breached]}
    done = halt_challenger(
        project,
        challenger_version,
        reason=reason,
        evidence=evidence,
        alert=_alert(project, first, at),
        store=store,
    )
    if done is None:
        return Enforced(verdicts)
    _, alert = done
    failures = deliver(
        project.spec.monitoring.alerts.sinks, AlertEvent.of("opened", alert), project.root
    )
    for failure in failures:
        logger.warning("guardrail alert not delivered: %s", failure)
    try:
        stopped = stop_experiments_of(
            project, challenger_version, reason, details=evidence, store=store
        )
    except Exception as exc:  # the halt is written: the experiment's routing ends anyway
        logger.warning("the experiment on v%s was not stopped: %s", challenger_version, exc)
        failures.append(f"experiment on v{challenger_version} not stopped: {exc}")
        stopped = []
    return Enforced(verdicts, alert, failures, stopped)
