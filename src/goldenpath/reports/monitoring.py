"""The monitoring report: one self-contained HTML file an ML engineer or a risk reviewer can open
offline, showing every feature and output over the kept windows and the latest window in detail.

It is rendered from the typed monitoring document only
(:class:`~goldenpath.monitoring.results.MonitoringReport`, never from rows), so its size is
bounded: plotly.js embedded once (about 4.8 MB), time series of at most
``MAX_WINDOWS`` windows (the most recent; the page says when older ones were left out), and the
latest window's tables.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from goldenpath._files import write_atomic
from goldenpath.monitoring.drift import FeatureDrift
from goldenpath.monitoring.estimation import EstimatedPerformance
from goldenpath.monitoring.loss_estimation import EstimatedLoss
from goldenpath.monitoring.results import (
    Alert,
    MetricInterval,
    MonitoringReport,
    MonitoringWindow,
    RouteOutcome,
)

__all__ = [
    "MAX_WINDOWS",
    "monitoring_json",
    "psi_thresholds",
    "render_monitoring_html",
    "write_monitoring_report",
]

MAX_WINDOWS = 500
"""Time series show at most this many windows, the most recent."""

_TOP_FEATURES = 8
_SEVERITY_RANK = {"critical": 0, "warning": 1, "ok": 2}
_SEVERITY_COLOUR = {"warning": "#b54708", "critical": "#b42318"}
_ROUTE_ORDER = {"champion": 0, "challenger": 1}


def _text(value: Any) -> str:
    """A document string as plotly text: plotly reads a subset of HTML in names and titles, so
    tags are escaped (plotly turns the entities back into the characters)."""
    return html.escape(str(value), quote=False)


def _finite(value: Any) -> float | None:
    """A finite float, or None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _number(value: Any) -> float | None:
    """A finite float to 6 significant digits (the figures' JSON stays small), or None (a gap)."""
    number = _finite(value)
    return None if number is None else float(f"{number:.6g}")


Series = dict[str, list[FeatureDrift | None]]


def _series(windows: Sequence[MonitoringWindow], outputs: bool) -> Series:
    """Per feature (or output), its drift in each window (None where it is absent)."""

    def section(w: MonitoringWindow) -> list[FeatureDrift]:
        return w.outputs if outputs else w.features

    names: dict[str, None] = {}
    for w in windows:
        for entry in section(w):
            names.setdefault(entry.feature, None)
    series: Series = {n: [] for n in names}
    for w in windows:
        by_name = {e.feature: e for e in section(w)}
        for name in names:
            series[name].append(by_name.get(name))
    return series


def _values(entries: Iterable[FeatureDrift | None], key: str) -> list[float | None]:
    return [None if e is None else _number(getattr(e, key)) for e in entries]


def _largest(values: list[float | None]) -> float:
    present = [v for v in values if v is not None]
    return max(present) if present else -math.inf


def psi_thresholds(document: MonitoringReport) -> list[tuple[str, float, str]]:
    """(severity, PSI, where it comes from) for the warning and critical lines: the spec's
    ``psi_warning`` and ``psi_critical``, as the document states them."""
    stated = document.thresholds
    return [
        ("warning", stated.psi_warning, "spec"),
        ("critical", stated.psi_critical, "spec"),
    ]


def _threshold_shapes(
    thresholds: list[tuple[str, float, str]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for severity, value, source in thresholds:
        colour = _SEVERITY_COLOUR[severity]
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": value,
                "y1": value,
                "line": {"dash": "dash", "width": 1, "color": colour},
            }
        )
        notes.append(
            {
                "xref": "paper",
                "x": 1,
                "xanchor": "right",
                "y": value,
                "yanchor": "bottom",
                "showarrow": False,
                "text": f"{severity} {value:g} ({source})",
                "font": {"size": 10, "color": colour},
            }
        )
    return shapes, notes


def _psi_figure(
    title: str,
    x: list[str],
    series: Series,
    thresholds: list[tuple[str, float, str]],
    layout: dict[str, Any],
) -> dict[str, Any]:
    shapes, notes = _threshold_shapes(thresholds)
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers" if len(x) <= 60 else "lines",
                "name": _text(name),
                "x": x,
                "y": _values(entries, "psi"),
            }
            for name, entries in series.items()
        ],
        "layout": {
            **layout,
            "title": {"text": title},
            "yaxis": {"title": {"text": "PSI"}, "rangemode": "tozero"},
            "shapes": shapes,
            "annotations": notes,
        },
    }


def _route_sort(route: str) -> tuple[int, str]:
    return _ROUTE_ORDER.get(route, len(_ROUTE_ORDER)), route


def _figures(document: MonitoringReport, windows: Sequence[MonitoringWindow]) -> dict[str, Any]:
    """Plotly figures (plain dicts) over ``windows``, by the id of the element they fill."""
    if not windows:
        return {}
    margin = {"l": 55, "r": 20, "t": 45, "b": 40}
    layout: dict[str, Any] = {
        "margin": margin,
        "height": 360,
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.12, "traceorder": "normal"},
    }
    x = [w.start for w in windows]
    thresholds = psi_thresholds(document)
    figures: dict[str, Any] = {}

    features = _series(windows, outputs=False)
    if features:
        top = sorted(features, key=lambda n: -_largest(_values(features[n], "psi")))
        top = top[:_TOP_FEATURES]
        of = f"top {len(top)} of {len(features)} by largest PSI" if len(features) > len(top) else ""
        title = f"PSI per feature{f' ({of})' if of else ''}"
        figures["psi"] = _psi_figure(title, x, {n: features[n] for n in top}, thresholds, layout)

        ever_missing = {
            n: _values(e, "missing_share")
            for n, e in features.items()
            if _largest(_values(e, "missing_share")) > 0
        }
        missing = sorted(ever_missing, key=lambda n: -_largest(ever_missing[n]))[:_TOP_FEATURES]
        if missing:
            of = (
                f"top {len(missing)} of {len(ever_missing)} features ever missing a value"
                if len(ever_missing) > len(missing)
                else "features ever missing a value"
            )
            figures["missing"] = {
                "data": [
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "name": _text(n),
                        "x": x,
                        "y": ever_missing[n],
                    }
                    for n in missing
                ],
                "layout": {
                    **layout,
                    "title": {"text": f"Missing share ({of})"},
                    "yaxis": {"title": {"text": "share of rows"}, "tickformat": ".1%"},
                },
            }

    outputs = _series(windows, outputs=True)
    if outputs:
        figures["outputs-psi"] = _psi_figure(
            "PSI of the model's outputs", x, outputs, thresholds, layout
        )

    routes = sorted({r for w in windows for r in w.routes}, key=_route_sort)
    bars: list[dict[str, Any]] = []
    opacity = [1.0 if w.complete else 0.45 for w in windows]
    for route in routes:
        y = [w.routes.get(route, 0) for w in windows]
        bars.append({"type": "bar", "name": _text(route), "x": x, "y": y})
    other = [max(0, w.rows - sum(w.routes.values())) for w in windows]
    if any(other) or not bars:
        bars.append({"type": "bar", "name": "no route" if bars else "rows", "x": x, "y": other})
    for bar in bars:
        bar["marker"] = {"opacity": opacity}
    incomplete = " (incomplete windows faded)" if min(opacity) < 1 else ""
    figures["rows"] = {
        "data": bars,
        "layout": {
            **layout,
            "barmode": "stack",
            "title": {"text": f"Rows per window, by route{incomplete}"},
            "yaxis": {"title": {"text": "rows"}},
        },
    }

    performance = _performance_traces(windows, x)
    if performance:
        figures["performance"] = {
            "data": performance,
            "layout": {
                **layout,
                "title": {
                    "text": "Performance: estimated (lines), "
                    "realised per route (markers with intervals)"
                },
                "yaxis": {"title": {"text": "metric"}},
            },
        }

    multivariate = [w.multivariate for w in windows]
    if any(m is not None for m in multivariate):
        auc = [None if m is None else _number(m.auc) for m in multivariate]
        low = [None if m is None else _number(m.auc_low) for m in multivariate]
        figures["multivariate"] = {
            "data": [
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": "domain AUC",
                    "x": x,
                    "y": auc,
                },
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": "lower bound",
                    "x": x,
                    "y": low,
                    "line": {"dash": "dot"},
                },
            ],
            "layout": {
                **layout,
                "title": {
                    "text": "Multivariate drift: AUC of a classifier telling window from reference"
                },
                "yaxis": {"title": {"text": "AUC"}},
                "shapes": [
                    {
                        "type": "line",
                        "xref": "paper",
                        "x0": 0,
                        "x1": 1,
                        "y0": 0.5,
                        "y1": 0.5,
                        "line": {"dash": "dash", "width": 1, "color": "#8a93a3"},
                    }
                ],
                "annotations": [
                    {
                        "xref": "paper",
                        "x": 1,
                        "xanchor": "right",
                        "y": 0.5,
                        "yanchor": "bottom",
                        "showarrow": False,
                        "text": "0.5: indistinguishable",
                        "font": {"size": 10, "color": "#5b6577"},
                    }
                ],
            },
        }
    # every trace shares the windows' starts: kept once per figure (the page puts them back)
    for figure in figures.values():
        figure["x"] = x
        for trace in figure["data"]:
            if trace.get("x") is x:
                del trace["x"]
    return figures


_PERFORMANCE = ("accuracy", "roc_auc", "mean_absolute_error", "root_mean_squared_error")
_COLOURS = {
    "accuracy": "#1f77b4",
    "roc_auc": "#ff7f0e",
    "mean_absolute_error": "#2ca02c",
    "root_mean_squared_error": "#9467bd",
}


_CBPE = ("accuracy", "roc_auc")  # estimated from scores (MonitoringWindow.estimated)
_DLE = ("mean_absolute_error", "root_mean_squared_error")  # estimated loss (estimated_loss)


def _performance_metrics(window: MonitoringWindow) -> list[str]:
    """The performance metrics a window has, estimated or realised, in a fixed order."""
    estimated = window.estimated
    # a multiclass estimate has an accuracy and no ROC AUC: list only what it has
    present = {m for m in _CBPE if estimated is not None and getattr(estimated, m) is not None}
    if window.estimated_loss is not None:
        present |= set(_DLE)
    for route in (window.realised or {}).values():
        present |= set(route.metrics)
    return [m for m in _PERFORMANCE if m in present]


def _estimated(window: MonitoringWindow, metric: str) -> float | None:
    """A window's estimated ``metric``: CBPE's accuracy and ROC AUC, DLE's MAE and RMSE (None
    where it has none; the template's ``estimated``)."""
    source: EstimatedPerformance | EstimatedLoss | None = None
    if metric in _CBPE:
        source = window.estimated
    elif metric in _DLE:
        source = window.estimated_loss
    if source is None:
        return None
    value: float | None = getattr(source, metric)
    return value


def _estimated_rows(window: MonitoringWindow) -> int | None:
    """The rows a window's estimates are of (the template's ``estimated_rows``)."""
    source = window.estimated or window.estimated_loss
    return None if source is None else source.rows


_NO_INTERVAL = MetricInterval(value=None, ci_low=None, ci_high=None)


def _realised(route: RouteOutcome | None, metric: str) -> MetricInterval:
    """A route's realised ``metric``, all None where it has none (the template's ``realised``)."""
    if route is None:
        return _NO_INTERVAL
    return route.metrics.get(metric, _NO_INTERVAL)


def _performance_traces(windows: Sequence[MonitoringWindow], x: list[str]) -> list[dict[str, Any]]:
    traces: list[dict[str, Any]] = []
    metrics, colours = _PERFORMANCE, _COLOURS
    for metric in metrics:
        y = [_number(_estimated(w, metric)) for w in windows]
        if any(v is not None for v in y):
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": f"estimated {metric}",
                    "legendgroup": metric,
                    "line": {"color": colours[metric]},
                    "x": x,
                    "y": y,
                }
            )
    routes = sorted({r for w in windows for r in (w.realised or {})}, key=_route_sort)
    symbols = ["circle", "diamond", "square", "triangle-up", "x"]
    for i, route in enumerate(routes):
        for metric in metrics:
            points = [_realised((w.realised or {}).get(route), metric) for w in windows]
            y = [_number(p.value) for p in points]
            if not any(v is not None for v in y):
                continue
            high = [_number(p.ci_high) for p in points]
            low = [_number(p.ci_low) for p in points]
            traces.append(
                {
                    "type": "scatter",
                    "mode": "markers",
                    "name": f"realised {metric} ({_text(route)})",
                    "legendgroup": metric,
                    "x": x,
                    "y": y,
                    "marker": {
                        "symbol": symbols[i % len(symbols)],
                        "size": 8,
                        "color": colours[metric],
                    },
                    "error_y": {
                        "type": "data",
                        "color": colours[metric],
                        "thickness": 1,
                        "symmetric": False,
                        "array": [
                            None if v is None or h is None else round(h - v, 6)
                            for v, h in zip(y, high, strict=True)
                        ],
                        "arrayminus": [
                            None if v is None or lo is None else round(v - lo, 6)
                            for v, lo in zip(y, low, strict=True)
                        ],
                    },
                }
            )
    return traces


def _by_severity(entries: Iterable[FeatureDrift]) -> list[FeatureDrift]:
    """Most severe first, then largest PSI."""

    def key(e: FeatureDrift) -> tuple[int, float, str]:
        psi = _number(e.psi)
        return (
            _SEVERITY_RANK[e.severity],
            -(psi if psi is not None else -math.inf),
            e.feature,
        )

    return sorted(entries, key=key)


def _alerts(alerts: Iterable[Alert]) -> list[Alert]:
    """Open first, then critical first, then the most recently opened."""
    ordered = sorted(alerts, key=lambda a: a.opened_at, reverse=True)
    return sorted(ordered, key=lambda a: (a.status != "open", _SEVERITY_RANK[a.severity]))


def _fmt(value: Any, spec: str = ".4f") -> str:
    """``value`` formatted, or an em dash for a null (the template's ``fmt`` filter)."""
    number = _finite(value)
    return "—" if number is None else format(number, spec)


def _when(value: Any) -> str:
    """An ISO-8601 moment, shorter: ``2026-01-02 03:04 UTC`` (seconds only where not zero);
    anything that is not one is shown as it is (the template's ``when`` filter)."""
    if value is None:
        return "—"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    zone = ""
    if moment.tzinfo is not None:
        offset = moment.utcoffset()
        zone = " UTC" if not offset else f" {moment.strftime('%z')}"
    clock = "%H:%M:%S" if moment.second or moment.microsecond else "%H:%M"
    return moment.strftime(f"%Y-%m-%d {clock}") + zone


def _severity_class(value: Any) -> str:
    """A CSS class for a severity (only the known ones; anything else is unstyled)."""
    return f"sev-{value}" if value in _SEVERITY_RANK else "sev-unknown"


def _dumps_script(value: Any) -> str:
    """JSON safe inside a ``<script>`` element: ``<``, ``>`` and ``&`` occur only in strings,
    where their ``\\u`` escapes mean the same."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_monitoring_html(document: MonitoringReport) -> str:
    """The report of a monitoring document."""
    import jinja2
    from markupsafe import Markup
    from plotly.offline import get_plotlyjs

    windows = document.windows
    shown = windows[-MAX_WINDOWS:]
    figures = _figures(document, shown)
    latest = windows[-1] if windows else None
    severities = {s: sum(1 for w in windows if w.severity == s) for s in _SEVERITY_RANK}

    source = resources.files("goldenpath.reports").joinpath("templates/monitoring.html.j2")
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    environment.filters["fmt"] = _fmt
    environment.globals["performance_metrics"] = _performance_metrics
    environment.globals["estimated"] = _estimated
    environment.globals["estimated_rows"] = _estimated_rows
    environment.globals["realised"] = _realised
    environment.filters["sev"] = _severity_class
    environment.filters["when"] = _when
    template = environment.from_string(source.read_text("utf-8"))
    return template.render(
        d=document,
        windows=windows,
        shown=len(shown),
        capped=len(windows) > len(shown),
        max_windows=MAX_WINDOWS,
        total_rows=sum(w.rows for w in windows),
        severities=severities,
        alerts=_alerts(document.alerts),
        open_alerts=len(document.open_alerts),
        open_incidents=sum(1 for i in document.incidents if i.status == "open"),
        latest=latest,
        with_outcomes=next((w for w in reversed(windows) if w.realised), None),
        latest_features=_by_severity(latest.features) if latest else [],
        latest_outputs=_by_severity(latest.outputs) if latest else [],
        thresholds=psi_thresholds(document),
        figure_ids=list(figures),
        plotly_js=Markup(get_plotlyjs()),
        figures_json=Markup(_dumps_script(figures)),
    )


def monitoring_json(document: MonitoringReport) -> str:
    """``monitoring.json``'s text: the document, keys sorted, indented."""
    return json.dumps(document.model_dump(mode="json"), indent=2, sort_keys=True)


def write_monitoring_report(document: MonitoringReport, folder: Path) -> tuple[Path, Path]:
    """Write ``monitoring.json`` and ``monitoring.html`` into ``folder`` (created if needed),
    each atomically; both are rendered before either is written. Returns (json, html) paths."""
    folder = Path(folder)
    json_text = monitoring_json(document)
    html_text = render_monitoring_html(document)
    json_path = write_atomic(folder / "monitoring.json", json_text)
    html_path = write_atomic(folder / "monitoring.html", html_text)
    return json_path, html_path
