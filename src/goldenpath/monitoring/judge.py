"""The verdict on one window: drift of features and outputs, data quality, estimated
performance (CBPE) and loss (DLE), realised performance, the domain classifier, and the
severity they add up to; and what alert rules can observe in a window's result."""

from __future__ import annotations

from typing import Literal

from goldenpath.monitoring._context import Context, Realised, drift_thresholds, parse_time
from goldenpath.monitoring._document import Severity
from goldenpath.monitoring.alerts import SEVERITY_RANK, Observation, observations
from goldenpath.monitoring.drift import FeatureDrift, window_drift
from goldenpath.monitoring.estimation import EstimatedPerformance, estimate
from goldenpath.monitoring.logs import PredictionLog
from goldenpath.monitoring.loss_estimation import EstimatedLoss, estimate_loss, loss_increases
from goldenpath.monitoring.multivariate import MIN_ROWS, DomainDrift, domain_classifier
from goldenpath.monitoring.performance import loss_metric, realised_loss_increases
from goldenpath.monitoring.results import DataQuality, EarlierVerdict, MonitoringWindow
from goldenpath.monitoring.windows import WindowRecord, WindowState
from goldenpath.store.monitoring import StoredWindow

__all__ = ["domain", "is_judged", "judge", "judge_windows", "observed", "revised"]


def is_judged(context: Context, state: WindowState) -> bool:
    """Whether a window has enough rows to be judged: a complete row window, or a time window
    with ``min_window_rows`` rows."""
    if context.kind == "rows":
        return state.complete(context.now)
    return state.rows >= context.settings.min_window_rows


def _drift(context: Context, state: WindowState) -> tuple[list[FeatureDrift], list[FeatureDrift]]:
    """The drift of the window's features, and of its outputs: those of the reference's model
    version, when it answered enough of the rows."""
    settings, thresholds = context.settings, drift_thresholds(context.settings)
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


def _quality(context: Context, state: WindowState) -> DataQuality:
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
    context: Context,
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


def _estimated_loss(context: Context, state: WindowState) -> EstimatedLoss | None:
    """DLE's estimate for the window (regressors whose reference has a loss estimator)."""
    estimator = context.ref.loss
    if estimator is None or state.loss is None or not state.loss.rows:
        return None
    return estimate_loss(state.loss, estimator.rows)


def _loss_increases(context: Context, estimated: EstimatedLoss | None) -> dict[str, float]:
    """The estimated MAE's and RMSE's relative rise above the reference's held-out values."""
    estimator = context.ref.loss
    if estimated is None or estimator is None:
        return {}
    return loss_increases(estimated, estimator)


def judge(
    context: Context,
    state: WindowState,
    previous: MonitoringWindow | None,
    realised_now: Realised | None,
    multivariate: DomainDrift | None,
) -> MonitoringWindow:
    """One window's verdict from its state (and what an earlier run found of its outcomes)."""
    judged = is_judged(context, state)
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
        event_time_missing=state.event_time_missing,
    )


def domain(
    context: Context, log: PredictionLog, touched: list[WindowState]
) -> dict[int, DomainDrift]:
    """The domain classifier on the latest judged window among ``touched`` (it costs a second
    or more: one window per run), on a sample of all of that window's rows."""
    judged = [s for s in touched if is_judged(context, s)]
    if not judged:
        return {}
    latest = max(judged, key=lambda s: s.index)
    reference_sample = context.ref.sample
    if not (latest.first and latest.last) or min(latest.rows, len(reference_sample)) < MIN_ROWS:
        return {}
    settings = context.settings
    sample = log.sample(
        [c for c in context.features if c in reference_sample.columns],
        parse_time(latest.first),
        parse_time(latest.last),
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


def revised(result: MonitoringWindow, previous: MonitoringWindow | None) -> MonitoringWindow:
    """``result`` with the window's history: a re-judgement (the next revision, keeping the
    earlier verdict) when rows arrived after ``previous`` judged the window complete; otherwise
    the revision, late rows and earlier verdicts ``previous`` had."""
    if previous is None:
        return result
    late = result.rows - previous.rows
    if previous.complete and late > 0:
        earlier = EarlierVerdict(
            revision=previous.revision,
            rows=previous.rows,
            judged=previous.judged,
            severity=previous.severity,
        )
        update = {
            "revision": previous.revision + 1,
            "rejudged": True,
            "late_rows": previous.late_rows + late,
            "earlier": [*previous.earlier, earlier],
        }
    else:
        update = {
            "revision": previous.revision,
            "rejudged": previous.rejudged,
            "late_rows": previous.late_rows,
            "earlier": previous.earlier,
        }
    return result.model_copy(update=update)


def judge_windows(
    context: Context,
    states: dict[int, WindowState],
    stored: dict[int, StoredWindow[WindowRecord, MonitoringWindow]],
    *,
    touched: set[int],
    realised_now: dict[int, Realised],
    multivariate: dict[int, DomainDrift],
) -> tuple[dict[int, MonitoringWindow], list[int]]:
    """Every window's result, and the indices of those judged (again) in this run: touched by
    new rows or labels, or time windows judged while open that are over now. A complete window
    that new rows reached is re-judged (:func:`revised`)."""
    results = {i: w.result for i, w in stored.items()}
    ripe = {i for i, r in results.items() if not r.complete and states[i].complete(context.now)}
    changed = sorted(touched | set(realised_now) | ripe)
    for index in changed:
        previous = results.get(index)
        result = judge(
            context,
            states[index],
            previous,
            realised_now.get(index),
            multivariate.get(index, _kept(previous, index in touched)),
        )
        results[index] = revised(result, previous)
    return results, changed


def observed(
    context: Context, result: MonitoringWindow, *, screened: bool = True
) -> list[Observation]:
    """What alert rules can watch in a window's result (``screened``: see ``observations``)."""
    seen = observations(
        result, context.ref.metrics, screened=screened, reference_intervals=context.ref.intervals
    )
    if result.judged:  # DLE: regressors' estimated rise of MAE and RMSE
        increases = _loss_increases(context, result.estimated_loss)
        seen += [(f"estimated.{m}_increase", "all routes", v) for m, v in increases.items()]
    return seen
