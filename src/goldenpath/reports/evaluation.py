"""The evaluation report: one self-contained HTML file a risk reviewer can open offline.

It is rendered from the evaluation's JSON document only (never from rows), so its size is
bounded by what it shows: plotly.js embedded once (about 4.8 MB), plus tables and curves that
are already aggregated (slices, bins, at most a few hundred curve points).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from goldenpath.evaluation.document import Estimate, EvaluationDocument

__all__ = ["render_evaluation_html"]

_TOP_SLICES = 25


def _figures(e: EvaluationDocument) -> dict[str, Any]:
    """Plotly figures (JSON for plotly.js; plotly's own figure format is a dict)."""
    margin = {"l": 50, "r": 20, "t": 40, "b": 45}
    layout: dict[str, Any] = {"margin": margin, "height": 340}
    figures: dict[str, Any] = {}
    primary = e.primary_metric
    shown: list[tuple[str, Estimate, float]] = []
    for s in e.slices:
        estimate = e.primary(s)
        if estimate is not None and estimate.value is not None and len(shown) < _TOP_SLICES:
            shown.append((s.name, estimate, estimate.value))
    if shown:
        values = [v for _, _, v in shown]
        low = [v - (m.ci_low if m.ci_low is not None else v) for _, m, v in shown]
        high = [(m.ci_high if m.ci_high is not None else v) - v for _, m, v in shown]
        figures["slices"] = {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "y": [name for name, _, _ in shown],
                    "x": values,
                    "error_x": {
                        "type": "data",
                        "symmetric": False,
                        "array": high,
                        "arrayminus": low,
                    },
                }
            ],
            "layout": {
                **layout,
                "title": f"{primary} by slice (most harmful {len(shown)})",
                "height": 120 + 22 * len(shown),
                "yaxis": {"autorange": "reversed"},
                "margin": {**margin, "l": 320},
                "shapes": [
                    {
                        "type": "line",
                        "yref": "paper",
                        "y0": 0,
                        "y1": 1,
                        "x0": e.metrics[primary].value,
                        "x1": e.metrics[primary].value,
                        "line": {"dash": "dot"},
                    }
                ],
            },
        }
    cal = e.calibration
    if cal is not None:
        figures["reliability"] = {
            "data": [
                {
                    "type": "scatter",
                    "x": [0, 1],
                    "y": [0, 1],
                    "mode": "lines",
                    "name": "perfect",
                    "line": {"dash": "dot", "color": "#8a93a3"},
                },
                {
                    "type": "scatter",
                    "x": cal.mean_score,
                    "y": cal.positive_rate,
                    "mode": "lines+markers",
                    "name": "model",
                    "text": cal.count,
                },
            ],
            "layout": {
                **layout,
                "title": "Reliability",
                "xaxis": {"title": "mean score"},
                "yaxis": {"title": "observed positive rate"},
            },
        }
    th = e.thresholds
    if th is not None:
        figures["thresholds"] = {
            "data": [
                {"type": "scatter", "x": th.thresholds, "y": values, "name": name}
                for name, values in (
                    ("precision", th.precision),
                    ("recall", th.recall),
                    ("f1", th.f1),
                )
            ],
            "layout": {
                **layout,
                "title": "Precision, recall and F1 by threshold",
                "xaxis": {"title": "threshold"},
            },
        }
    cu = e.curves
    if cu is not None:
        figures["roc"] = {
            "data": [
                {
                    "type": "scatter",
                    "x": cu.false_positive_rate,
                    "y": cu.true_positive_rate,
                    "name": "ROC",
                }
            ],
            "layout": {
                **layout,
                "title": "ROC",
                "xaxis": {"title": "false positive rate"},
                "yaxis": {"title": "true positive rate"},
            },
        }
        figures["pr"] = {
            "data": [{"type": "scatter", "x": cu.recall, "y": cu.precision, "name": "PR"}],
            "layout": {
                **layout,
                "title": "Precision-recall",
                "xaxis": {"title": "recall"},
                "yaxis": {"title": "precision"},
            },
        }
    return figures


def render_evaluation_html(evaluation: EvaluationDocument, *, min_support: int) -> str:
    """The report for an evaluation document."""
    import jinja2
    from markupsafe import Markup
    from plotly.offline import get_plotlyjs

    source = resources.files("goldenpath.reports").joinpath("templates/evaluation.html.j2")
    template = jinja2.Environment(autoescape=True).from_string(source.read_text("utf-8"))
    figures = _figures(evaluation)
    figures_json = json.dumps(figures).replace("</", "<\\/")
    return template.render(
        e=evaluation,
        lineage=[  # the decision threshold is a binary classifier's only
            (key, value)
            for key, value in evaluation.lineage.model_dump(mode="json").items()
            if key != "threshold" or evaluation.task == "binary_classification"
        ],
        min_support=min_support,
        plotly_js=Markup(get_plotlyjs()),
        figures_json=Markup(figures_json),
        slice_plot="slices" in figures,
    )
