"""Incidents: a stream's related alerts grouped, so that one shift reads as one problem per
feature, not as one alert per statistic.

**The grouping rule.** An alert's *subject group* is its feature for every ``feature.*`` metric
(PSI, JS distance, Wasserstein, KS, missing values, unseen categories, out of range), and
``model`` for every other metric (the outputs' PSI, the domain classifier, estimated and
realised performance or loss, the volume). Within a group, alerts are taken in the order they
opened; an alert joins the group's latest incident while that incident is open (one of its
alerts is) or when it opened at or before the incident's last window (for a resolved alert,
the window it resolved in); otherwise it starts a new incident. So one shift that lasts makes
one incident per feature, a feature that drifts again after a clean window makes a second one,
and the alerts of the windows in between are never split.

An incident's severity is the most severe of its alerts, its status ``open`` while any of them
is, its windows the first one opened in and the last one any reached. Its alerts are ordered
strongest first: critical before warning, then by how far each value is past its threshold,
relative to the threshold (:func:`strength`); the first one's message is the incident's
headline. The model incident names as *likely causes* the features whose incidents overlap it
in windows (an open incident lasts until now), strongest first. An incident's id hashes the
stream, the group and the first window, so it is the same however often it is rebuilt.

**Notifications.** :func:`incident_events` turns the alert events of one run into one event per
incident they touch: ``opened`` (all its alerts are new), ``resolved`` (it was open and no
longer is), ``reopened`` (it was resolved and is open again), ``escalated`` (its severity
rose), else ``updated`` (an alert joined or resolved while it stays open at the same severity).
Each carries the incident (all of its alerts, as they stand) and the alert events behind it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from goldenpath.monitoring.alerts import SEVERITY_RANK
from goldenpath.monitoring.results import Alert, AlertEvent, Incident, IncidentEvent

__all__ = ["MODEL", "group_of", "incident_events", "incidents", "strength"]

MODEL = "model"  # the subject of the model-level incident
Kind = Literal["feature", "model"]
IncidentEventKind = Literal["opened", "escalated", "updated", "resolved", "reopened"]


def group_of(alert: Alert) -> tuple[Kind, str]:
    """The (kind, subject) an alert is grouped under: its feature, or the model."""
    if alert.metric.startswith("feature."):
        return "feature", alert.subject
    return "model", MODEL


def strength(alert: Alert) -> float:
    """How far an alert's value is past its threshold, relative to the threshold (infinite
    past a threshold of 0; 0 without a value)."""
    if alert.value is None or alert.threshold is None or not math.isfinite(alert.value):
        return 0.0
    distance = abs(alert.value - alert.threshold)
    if alert.threshold == 0:
        return math.inf if distance else 0.0
    return distance / abs(alert.threshold)


def _strongest_first(alerts: Iterable[Alert]) -> list[Alert]:
    return sorted(alerts, key=lambda a: (-SEVERITY_RANK[a.severity], -strength(a), a.id))


@dataclass
class _Open:
    """An incident being built: its alerts and its last window so far."""

    alerts: list[Alert] = field(default_factory=list)
    last: int = 0

    @property
    def open(self) -> bool:
        return any(a.status == "open" for a in self.alerts)


def _identity(stream: str, kind: Kind, subject: str, first: int) -> str:
    return hashlib.sha256(f"{stream}|{kind}|{subject}|{first}".encode()).hexdigest()[:12]


def _incident(kind: Kind, subject: str, alerts: list[Alert], causes: list[str]) -> Incident:
    ordered = _strongest_first(alerts)
    first = min(alerts, key=lambda a: (a.window_index, a.id))
    severity = max((a.severity for a in alerts), key=SEVERITY_RANK.__getitem__)
    return Incident(
        id=_identity(first.stream, kind, subject, first.window_index),
        kind=kind,
        subject=subject,
        severity=severity,
        status="open" if any(a.status == "open" for a in alerts) else "resolved",
        first_window_index=first.window_index,
        first_window_start=first.window_start,
        last_window_index=max(a.last_window_index for a in alerts),
        headline=ordered[0].message,
        causes=causes,
        alerts=ordered,
    )


def _overlap(a: Incident, b: Incident) -> bool:
    """Whether two incidents share a window (an open one lasts until now)."""

    def end(i: Incident) -> float:
        return math.inf if i.status == "open" else i.last_window_index

    return a.first_window_index <= end(b) and b.first_window_index <= end(a)


def incidents(alerts: Sequence[Alert]) -> list[Incident]:
    """The incidents of a stream's alerts (see the module docstring): open first, critical
    first, then the latest first, then the model's (which names the causes) before the
    features' in their names' order."""
    groups: dict[tuple[Kind, str], list[_Open]] = {}
    for alert in sorted(alerts, key=lambda a: (a.window_index, a.id)):
        built = groups.setdefault(group_of(alert), [])
        if not built or not (built[-1].open or alert.window_index <= built[-1].last):
            built.append(_Open())
        current = built[-1]
        current.alerts.append(alert)
        current.last = max(current.last, alert.last_window_index)
    features = [
        _incident(kind, subject, part.alerts, [])
        for (kind, subject), parts in groups.items()
        if kind == "feature"
        for part in parts
    ]
    found = list(features)
    for part in groups.get(("model", MODEL), []):
        model = _incident("model", MODEL, part.alerts, [])
        meanwhile = [f for f in features if _overlap(f, model)]
        meanwhile.sort(key=lambda f: (-SEVERITY_RANK[f.severity], -strength(f.alerts[0])))
        causes = list(dict.fromkeys(f.subject for f in meanwhile))
        found.append(model.model_copy(update={"causes": causes}))
    found.sort(key=lambda i: (i.kind != "model", i.subject))
    found.sort(key=lambda i: i.first_window_index, reverse=True)
    found.sort(key=lambda i: (i.status != "open", -SEVERITY_RANK[i.severity]))
    return found


def _before(alert: Alert, changes: list[AlertEvent]) -> tuple[str, str]:
    """An alert's (status, severity) before the run that made ``changes``."""
    kinds = {e.event for e in changes}
    status = alert.status
    if "resolved" in kinds and "reopened" not in kinds:
        status = "open"
    elif "reopened" in kinds and "resolved" not in kinds:
        status = "resolved"
    severity = "warning" if "escalated" in kinds else alert.severity
    return status, severity


def _kind(incident: Incident, changes: list[AlertEvent]) -> IncidentEventKind:
    new = {e.id for e in changes if e.event == "opened"}
    existed = [a for a in incident.alerts if a.id not in new]
    if not existed:
        return "opened"
    before = [_before(a, [e for e in changes if e.id == a.id]) for a in existed]
    was_open = any(status == "open" for status, _ in before)
    if incident.status == "resolved":
        return "resolved" if was_open else "updated"
    if not was_open:
        return "reopened"
    severity = max(SEVERITY_RANK[s] for _, s in before)
    return "escalated" if SEVERITY_RANK[incident.severity] > severity else "updated"


def incident_events(
    found: Sequence[Incident], events: Sequence[AlertEvent], *, report: str
) -> list[IncidentEvent]:
    """One event per incident that ``events`` (one run's alert events) touch, in the order of
    ``found``; ``report``: the monitoring report the run writes."""
    sent: list[IncidentEvent] = []
    for incident in found:
        members = {a.id for a in incident.alerts}
        changes = [e for e in events if e.id in members]
        if not changes:
            continue
        first = incident.alerts[0]
        sent.append(
            IncidentEvent(
                **dict(incident),
                event=_kind(incident, changes),
                project=first.project,
                stream=first.stream,
                report=report,
                changes=changes,
            )
        )
    return sent
