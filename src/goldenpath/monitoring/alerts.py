"""Alerts: rules judged over the sequence of windows, deduplicated while open, resolved when
the condition clears, and sent to sinks.

Each judged window yields *observations* (metric, subject, value): a feature's PSI, a route's
realised accuracy drop, the domain classifier's AUC lower bound... A rule fires for a subject
when its condition held in the last ``windows`` judged windows. At most one alert is open per
(metric, subject): it opens when a rule first fires, escalates (warning -> critical) when a
stricter rule fires, and resolves in the first window where no rule on it fires. Opening,
escalating and resolving are each sent once to every sink, grouped by monitor into one
notification per incident (:mod:`goldenpath.monitoring.incidents`): the log, a JSON-lines file, a
webhook (POST, retried with exponential backoff, each attempt with a timeout). A sink that
fails is reported, never allowed to stop monitoring.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from goldenpath.monitoring._numbers import compared
from goldenpath.monitoring.performance import realised_loss_increases
from goldenpath.monitoring.results import (
    AlertEvent,
    IncidentEvent,
    MetricInterval,
    MonitoringWindow,
)
from goldenpath.spec.monitoring import AlertRule, SinkSpec

__all__ = [
    "SEVERITY_RANK",
    "Episode",
    "Firing",
    "Observation",
    "deliver",
    "firing",
    "observations",
    "timeline",
]

logger = logging.getLogger("goldenpath.alerts")

Observation = tuple[str, str, float]  # metric, subject, value
SEVERITY_RANK = {"ok": 0, "warning": 1, "critical": 2}


def observations(
    result: MonitoringWindow,
    reference_metrics: dict[str, float],
    *,
    screened: bool = True,
    reference_intervals: Mapping[str, MetricInterval] | None = None,
) -> list[Observation]:
    """What rules can watch in one window's result. ``screened``: a distribution shift that
    its test cannot tell from noise (and a domain classifier AUC whose lower bound is not above
    chance) is observed as no shift; unscreened, as measured (what reference chunks learn
    thresholds from). ``reference_intervals``: a regressor's held-out MAE and RMSE with their
    intervals, which a route's realised ones are compared with."""
    found: list[Observation] = []
    if result.complete:  # an open window's rows so far say nothing about its volume
        found.append(("rows", "window", float(result.rows)))
    if not result.judged:  # too few rows to judge anything else
        return found
    for f in result.features:
        found += [
            ("feature.missing_increase", f.feature, f.missing_share - f.reference_missing_share),
            ("feature.unseen_share", f.feature, f.unseen_share),
        ]
        real = f.significant or not screened
        found += [
            ("feature.psi", f.feature, f.psi if real else 0.0),
            ("feature.js_distance", f.feature, f.js_distance if real else 0.0),
        ]
        if f.wasserstein is not None:
            found.append(("feature.wasserstein", f.feature, f.wasserstein if real else 0.0))
        if f.ks is not None:
            found.append(("feature.ks", f.feature, f.ks if real else 0.0))
    for name, share in result.quality.out_of_range.items():
        found.append(("feature.out_of_range_share", name, share))
    for f in result.outputs:
        found.append(("output.psi", f.feature, f.psi if f.significant or not screened else 0.0))
    if result.multivariate is not None:
        domain = result.multivariate  # judged as its severity is: the AUC, once above chance
        auc = domain.auc if domain.auc_low > 0.5 or not screened else 0.5
        found.append(("domain.auc", "all features", auc))
    realised = result.realised or {}
    for route, outcome in realised.items():
        error = outcome.metrics.get("mean_absolute_error")
        if error is not None and error.ci_low is not None:  # the error the labels make sure of
            found.append(("realised.mean_absolute_error", route, error.ci_low))
        for name, rise in realised_loss_increases(
            outcome.metrics, reference_intervals or {}
        ).items():
            found.append((f"realised.{name}_increase", route, rise))
    estimated = result.estimated
    for metric in ("accuracy", "roc_auc"):
        base = reference_metrics.get(metric)
        if base is None:
            continue
        value = None if estimated is None else getattr(estimated, metric)
        if value is not None:
            found.append((f"estimated.{metric}_drop", "all routes", base - value))
        for route, outcome in realised.items():
            # the drop the labels make sure of: to the top of the 95% interval (few labels
            # give wide intervals, and no alert)
            interval = outcome.metrics.get(metric)
            if interval is not None and interval.ci_high is not None:
                found.append((f"realised.{metric}_drop", route, base - interval.ci_high))
    return found


def _holds(rule: AlertRule, value: float) -> bool:
    if rule.above is not None:
        return value > rule.above
    assert rule.below is not None
    return value < rule.below


@dataclass(frozen=True)
class Firing:
    metric: str
    subject: str
    rule: AlertRule
    value: float

    @property
    def threshold(self) -> float:
        bound = self.rule.above if self.rule.above is not None else self.rule.below
        assert bound is not None
        return bound

    @property
    def message(self) -> str:
        side = "above" if self.rule.above is not None else "below"
        runs = f" for {self.rule.windows} windows" if self.rule.windows > 1 else ""
        value, threshold = compared(self.value, self.threshold)
        return (
            f"{self.metric} of {self.subject} is {value}, {side} {threshold}"
            f"{runs} ({self.rule.name})"
        )


def firing(
    rules: Sequence[AlertRule], history: Sequence[list[Observation]]
) -> dict[tuple[str, str], Firing]:
    """The rules that fire at the last of ``history`` (judged windows, oldest first): per
    (metric, subject), the most severe one."""
    if not history:
        return {}
    found: dict[tuple[str, str], Firing] = {}
    for rule in rules:
        recent = history[-rule.windows :]
        if len(recent) < rule.windows:
            continue
        held: set[str] | None = None
        for window in recent:
            subjects = {
                s
                for m, s, v in window
                if m == rule.metric
                and (rule.subjects is None or s in rule.subjects)
                and _holds(rule, v)
            }
            held = subjects if held is None else held & subjects
        for metric, subject, value in history[-1]:
            if metric != rule.metric or subject not in (held or set()):
                continue
            current = found.get((metric, subject))
            if (
                current is None
                or SEVERITY_RANK[rule.severity] > SEVERITY_RANK[current.rule.severity]
            ):
                found[(metric, subject)] = Firing(metric, subject, rule, value)
    return found


@dataclass
class Episode:
    """One alert from the window it opened in to the window it resolved in (or still open)."""

    metric: str
    subject: str
    rule: AlertRule
    value: float
    threshold: float
    message: str
    opened: int  # window index
    opened_start: str
    last: int  # the last window it fired in
    resolved: int | None = None  # the window it resolved in


def timeline(
    rules: Sequence[AlertRule], windows: Sequence[tuple[int, str, list[Observation]]]
) -> list[Episode]:
    """Every alert episode over ``windows`` ((index, start, observations), oldest first).

    An episode opens when a rule first fires for a (metric, subject), takes the most severe
    rule that fired while it lasts, and resolves in the first window where that (metric,
    subject) was observed and no rule fired; a window that does not observe it (no labels, not
    the latest window for the domain classifier, still open for the volume) leaves it as it is.
    The timeline depends on the windows only, so it is the same however often it is rebuilt.
    """
    history: list[list[Observation]] = []
    current: dict[tuple[str, str], Episode] = {}
    episodes: list[Episode] = []
    for index, start, seen in windows:
        history.append(seen)
        fired = firing(rules, history)
        for key, fire in fired.items():
            episode = current.get(key)
            if episode is None:
                episode = Episode(
                    fire.metric,
                    fire.subject,
                    fire.rule,
                    fire.value,
                    fire.threshold,
                    fire.message,
                    index,
                    start,
                    index,
                )
                current[key] = episode
                episodes.append(episode)
                continue
            if SEVERITY_RANK[fire.rule.severity] > SEVERITY_RANK[episode.rule.severity]:
                episode.rule, episode.threshold = fire.rule, fire.threshold
                episode.message = fire.message
            episode.value, episode.last = fire.value, index
        observed = {(metric, subject) for metric, subject, _ in seen}
        for key in [k for k in current if k not in fired and k in observed]:
            current.pop(key).resolved = index
    return episodes


def _post(url: str, body: bytes, timeout: float) -> None:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        if answer.status >= 300:
            raise urllib.error.HTTPError(url, answer.status, "not accepted", answer.headers, None)


def deliver(
    sinks: Sequence[SinkSpec],
    event: AlertEvent | IncidentEvent,
    root: Path,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Send ``event`` (monitor sends one per incident) to every sink; the failures, as text
    (empty when all succeeded)."""
    failures: list[str] = []
    body = json.dumps(event.model_dump(mode="json"), sort_keys=True)
    what = "incident" if isinstance(event, IncidentEvent) else "alert"
    for sink in sinks:
        if sink.type == "log":
            # WARNING for every event: shown on stderr even where logging is not configured
            logger.warning("%s %s: %s", what, event.event, event.message)
        elif sink.type == "file":
            assert sink.path is not None
            path = Path(sink.path) if Path(sink.path).is_absolute() else root / sink.path
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a", encoding="utf-8") as handle:
                    handle.write(body + "\n")
            except OSError as error:
                failures.append(f"file {path}: {error}")
        else:
            assert sink.url is not None
            wait, error_text = sink.backoff_seconds, ""
            for attempt in range(sink.retries + 1):
                try:
                    _post(sink.url, body.encode(), sink.timeout_seconds)
                    error_text = ""
                    break
                except Exception as error:  # a sink never stops monitoring
                    error_text = f"{type(error).__name__}: {error}"
                    if attempt < sink.retries:
                        sleep(wait)
                        wait *= 2
            if error_text:
                failures.append(
                    f"webhook {sink.url}: {sink.retries + 1} attempts failed ({error_text})"
                )
    return failures
