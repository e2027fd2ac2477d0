"""The experiment readout: ``experiment.json`` and one self-contained ``experiment.html``.

Rendered from the typed analysis only (:class:`~goldenpath.experiments.analysis.
ExperimentAnalysis`, never from rows), so its size does not grow with traffic: plotly.js embedded
once (about 4.8 MB, so the page opens offline), a bar of units per day and arm, and one interval
per metric. It reads like a readout: the decision and its reason first, then the evidence
(exposures and the sample-ratio test, the primary metric with its interval, p-value, Bayesian
view and CUPED's variance reduction, the guardrails, progress against the plan).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from goldenpath._files import write_atomic
from goldenpath.experiments.analysis import ExperimentAnalysis, MetricResult

__all__ = [
    "experiment_folder",
    "experiment_json",
    "render_experiment_html",
    "write_experiment_report",
]

_COLOUR = {"control": "#5b6577", "treatment": "#2563eb"}
_VERDICT = {"better": "#067647", "worse": "#b42318", "inconclusive": "#5b6577"}


def experiment_folder(state_dir: Path, name: str) -> Path:
    """Where an experiment's documents go: ``.goldenpath/experiments/<name>/``."""
    return state_dir / "experiments" / name


def experiment_json(analysis: ExperimentAnalysis) -> str:
    """``experiment.json``'s text: the document in its fields' order (the decision first)."""
    return json.dumps(analysis.to_dict(), indent=2)


def _interval_figure(metrics: list[MetricResult]) -> dict[str, Any] | None:
    """One relative interval per metric (absolute where the control mean is 0)."""
    shown = [m for m in metrics if m.effect is not None]
    if not shown:
        return None
    names, centre, low, high, colours = [], [], [], [], []
    for m in shown:
        effect = m.effect
        assert effect is not None
        relative = effect.relative is not None and effect.relative_ci is not None
        value = effect.relative if relative else effect.absolute
        ci = effect.relative_ci if relative else effect.absolute_ci
        assert value is not None
        assert ci is not None
        scale = 100.0 if relative else 1.0
        names.append(f"{m.name} ({'%' if relative else 'absolute'})")
        centre.append(value * scale)
        low.append((value - ci[0]) * scale)
        high.append((ci[1] - value) * scale)
        colours.append(_VERDICT[m.direction])
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "x": centre,
                "y": names,
                "marker": {"color": colours, "size": 10},
                "error_x": {"type": "data", "symmetric": False, "array": high, "arrayminus": low},
                "hovertemplate": "%{y}: %{x:.3g}<extra></extra>",
            }
        ],
        "layout": {
            "title": "Treatment minus control (relative, %), with intervals",
            "height": 110 + 45 * len(shown),
            "margin": {"l": 220, "r": 20, "t": 40, "b": 40},
            "yaxis": {"autorange": "reversed"},
            "shapes": [
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "paper",
                    "x0": 0,
                    "x1": 0,
                    "y0": 0,
                    "y1": 1,
                    "line": {"dash": "dot", "color": "#8a93a3"},
                }
            ],
        },
    }


def _exposure_figure(analysis: ExperimentAnalysis) -> dict[str, Any] | None:
    days = analysis.exposure.by_day
    if not days:
        return None
    return {
        "data": [
            {
                "type": "bar",
                "name": arm,
                "x": [d.day for d in days],
                "y": [getattr(d, arm) for d in days],
                "marker": {"color": _COLOUR[arm]},
            }
            for arm in ("control", "treatment")
        ],
        "layout": {
            "title": "Units first exposed, by day",
            "barmode": "group",
            "height": 300,
            "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
        },
    }


def render_experiment_html(analysis: ExperimentAnalysis) -> str:
    """The readout page for an analysis."""
    import jinja2
    from markupsafe import Markup
    from plotly.offline import get_plotlyjs

    source = resources.files("goldenpath.reports").joinpath("templates/experiment.html.j2")
    template = jinja2.Environment(autoescape=True).from_string(source.read_text("utf-8"))
    figures = {
        key: figure
        for key, figure in (
            ("intervals", _interval_figure(analysis.metrics)),
            ("exposures", _exposure_figure(analysis)),
        )
        if figure is not None
    }
    return template.render(
        a=analysis,
        plotly_js=Markup(get_plotlyjs()),
        figures_json=Markup(json.dumps(figures).replace("</", "<\\/")),
        figures=figures,
    )


def write_experiment_report(analysis: ExperimentAnalysis, folder: Path) -> tuple[Path, Path]:
    """Write ``experiment.json`` and ``experiment.html`` into ``folder`` (created if needed),
    each atomically; both are rendered before either is written. Returns (json, html) paths."""
    json_text = experiment_json(analysis)
    html_text = render_experiment_html(analysis)
    return (
        write_atomic(folder / "experiment.json", json_text),
        write_atomic(folder / "experiment.html", html_text),
    )
