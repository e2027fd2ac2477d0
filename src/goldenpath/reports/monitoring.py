"""The monitoring report: one self-contained HTML file an ML engineer or a risk reviewer can open
offline, showing every feature and output over the kept windows and the latest window in detail.

It is rendered from the monitoring document only (``goldenpath.monitoring/1``, never from rows),
so its size is bounded: plotly.js embedded once (about 4.8 MB), time series of at most
``MAX_WINDOWS`` windows (the most recent; the page says when older ones were left out), and the
latest window's tables.
"""

from __future__ import annotations

import html
import json
import math
import os
import tempfile
from collections.abc import Iterable
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["MAX_WINDOWS", "render_monitoring_html", "write_monitoring_report"]

MAX_WINDOWS = 500
"""Time series show at most this many windows, the most recent."""

_TOP_FEATURES = 8
_PRACTICE_PSI = {"warning": 0.1, "critical": 0.25}
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


def _series(windows: list[dict[str, Any]], section: str) -> dict[str, list[dict[str, Any] | None]]:
    """Per name (feature or output), its entry in each window (None where it is absent)."""
    names: dict[str, None] = {}
    for w in windows:
        for entry in w.get(section) or []:
            names.setdefault(str(entry["feature"]), None)
    series: dict[str, list[dict[str, Any] | None]] = {n: [] for n in names}
    for w in windows:
        by_name = {str(e["feature"]): e for e in w.get(section) or []}
        for name in names:
            series[name].append(by_name.get(name))
    return series


def _values(entries: Iterable[dict[str, Any] | None], key: str) -> list[float | None]:
    return [None if e is None else _number(e.get(key)) for e in entries]


def _largest(values: list[float | None]) -> float:
    present = [v for v in values if v is not None]
    return max(present) if present else -math.inf


def psi_thresholds(document: dict[str, Any]) -> list[tuple[str, float, str]]:
    """(severity, PSI, where it comes from) for the warning and critical lines.

    Read from the document's ``thresholds`` (the spec's ``psi_warning`` and ``psi_critical``);
    a document without them gets the ones practice settled on (0.1 and 0.25).
    """
    found: dict[str, tuple[float, str]] = {}
    stated = document.get("thresholds")
    if isinstance(stated, dict):
        for severity in ("warning", "critical"):
            value = _number(stated.get(f"psi_{severity}"))
            if value is not None:
                found[severity] = (value, "spec")
    return [
        (severity, *found.get(severity, (default, "practice threshold")))
        for severity, default in _PRACTICE_PSI.items()
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
    series: dict[str, list[dict[str, Any] | None]],
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


def _figures(document: dict[str, Any], windows: list[dict[str, Any]]) -> dict[str, Any]:
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
    x = [str(w.get("start")) for w in windows]
    thresholds = psi_thresholds(document)
    figures: dict[str, Any] = {}

    features = _series(windows, "features")
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

    outputs = _series(windows, "outputs")
    if outputs:
        figures["outputs-psi"] = _psi_figure(
            "PSI of the model's outputs", x, outputs, thresholds, layout
        )

    routes = sorted({str(r) for w in windows for r in (w.get("routes") or {})}, key=_route_sort)
    bars: list[dict[str, Any]] = []
    opacity = [1.0 if w.get("complete", True) else 0.45 for w in windows]
    for route in routes:
        y = [int((w.get("routes") or {}).get(route) or 0) for w in windows]
        bars.append({"type": "bar", "name": _text(route), "x": x, "y": y})
    other = [
        max(0, int(w.get("rows") or 0) - sum(int(v or 0) for v in (w.get("routes") or {}).values()))
        for w in windows
    ]
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

    multivariate = [w.get("multivariate") for w in windows]
    if any(m for m in multivariate):
        auc = [_number(m.get("auc")) if m else None for m in multivariate]
        low = [_number(m.get("auc_low")) if m else None for m in multivariate]
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


_PERFORMANCE = ("accuracy", "roc_auc", "mean_absolute_error")


def _performance_metrics(window: dict[str, Any]) -> list[str]:
    """The performance metrics a window has, estimated or realised, in a fixed order."""
    present = set((window.get("estimated") or {}).keys())
    for route in (window.get("realised") or {}).values():
        present |= set((route or {}).get("metrics") or {})
    return [m for m in _PERFORMANCE if m in present]


def _performance_traces(windows: list[dict[str, Any]], x: list[str]) -> list[dict[str, Any]]:
    traces: list[dict[str, Any]] = []
    metrics = _PERFORMANCE
    colours = {"accuracy": "#1f77b4", "roc_auc": "#ff7f0e", "mean_absolute_error": "#2ca02c"}
    for metric in metrics:
        y = [_number((w.get("estimated") or {}).get(metric)) for w in windows]
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
    routes = sorted({str(r) for w in windows for r in (w.get("realised") or {})}, key=_route_sort)
    symbols = ["circle", "diamond", "square", "triangle-up", "x"]
    for i, route in enumerate(routes):
        for metric in metrics:
            points = [
                ((w.get("realised") or {}).get(route) or {}).get("metrics", {}).get(metric) or {}
                for w in windows
            ]
            y = [_number(p.get("value")) for p in points]
            if not any(v is not None for v in y):
                continue
            high = [_number(p.get("ci_high")) for p in points]
            low = [_number(p.get("ci_low")) for p in points]
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


def _by_severity(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most severe first, then largest PSI."""

    def key(e: dict[str, Any]) -> tuple[int, float, str]:
        psi = _number(e.get("psi"))
        return (
            _SEVERITY_RANK.get(str(e.get("severity")), len(_SEVERITY_RANK)),
            -(psi if psi is not None else -math.inf),
            str(e.get("feature")),
        )

    return sorted(entries, key=key)


def _alerts(alerts: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Open first, then critical first, then the most recently opened."""
    ordered = sorted(alerts, key=lambda a: str(a.get("opened_at") or ""), reverse=True)
    return sorted(
        ordered,
        key=lambda a: (
            a.get("status") != "open",
            _SEVERITY_RANK.get(str(a.get("severity")), len(_SEVERITY_RANK)),
        ),
    )


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


def render_monitoring_html(document: dict[str, Any]) -> str:
    """The report for a ``monitoring.json`` document (``goldenpath.monitoring/1``)."""
    import jinja2
    from markupsafe import Markup
    from plotly.offline import get_plotlyjs

    windows: list[dict[str, Any]] = list(document.get("windows") or [])
    shown = windows[-MAX_WINDOWS:]
    figures = _figures(document, shown)
    latest = windows[-1] if windows else None
    severities = {s: sum(1 for w in windows if w.get("severity") == s) for s in _SEVERITY_RANK}

    source = resources.files("goldenpath.reports").joinpath("templates/monitoring.html.j2")
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined)
    environment.filters["fmt"] = _fmt
    environment.globals["performance_metrics"] = _performance_metrics
    environment.filters["sev"] = _severity_class
    environment.filters["when"] = _when
    template = environment.from_string(source.read_text("utf-8"))
    return template.render(
        d=document,
        windows=windows,
        shown=len(shown),
        capped=len(windows) > len(shown),
        max_windows=MAX_WINDOWS,
        total_rows=sum(int(w.get("rows") or 0) for w in windows),
        severities=severities,
        alerts=_alerts(document.get("alerts") or []),
        open_alerts=sum(1 for a in document.get("alerts") or [] if a.get("status") == "open"),
        latest=latest,
        with_outcomes=next((w for w in reversed(windows) if w.get("realised")), None),
        latest_features=_by_severity(latest.get("features") or []) if latest else [],
        latest_outputs=_by_severity(latest.get("outputs") or []) if latest else [],
        thresholds=psi_thresholds(document),
        figure_ids=list(figures),
        plotly_js=Markup(get_plotlyjs()),
        figures_json=Markup(_dumps_script(figures)),
    )


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, so a reader sees
    the old file or the new one, never half of one."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_monitoring_report(document: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """Write ``monitoring.json`` and ``monitoring.html`` into ``folder`` (created if needed),
    each atomically; both are rendered before either is written. Returns (json, html) paths."""
    folder = Path(folder)
    json_text = json.dumps(document, indent=2, sort_keys=True, default=str)
    html_text = render_monitoring_html(document)
    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / "monitoring.json", folder / "monitoring.html"
    _replace(json_path, json_text)
    _replace(html_path, html_text)
    return json_path, html_path
