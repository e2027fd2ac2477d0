"""The experiment readout: experiment.json validates against its JSON Schema and reads back equal;
experiment.html opens offline (nothing loaded from the network), puts the decision first, shows
every metric and guardrail, and escapes what the spec says."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest

from goldenpath.experiments.analysis import ExperimentAnalysis, analyze
from goldenpath.project import open_project
from goldenpath.reports.experiment import (
    experiment_folder,
    experiment_json,
    render_experiment_html,
    write_experiment_report,
)
from goldenpath.reports.schemas import document_schema


def _logs_module() -> ModuleType:
    path = Path(__file__).parents[1] / "experiments" / "_experiment_logs.py"
    spec = importlib.util.spec_from_file_location("_experiment_logs_for_reports", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXPERIMENT = {
    "name": "price-test",
    "hypothesis": "the new model converts more <script>alert(1)</script> customers",
    "primary": {"name": "conversion", "source": "label", "kind": "proportion"},
    "guardrails": [
        {
            "name": "latency",
            "source": "latency_ms",
            "kind": "ratio",
            "denominator": "rows",
            "higher_is_better": False,
            "max_relative_change": 0.1,
        },
        {"name": "revenue", "source": "value", "kind": "mean", "max_relative_change": 0.05},
    ],
    "mde": 0.05,
    "covariate": "spend",
    "method": "sequential",
}


@pytest.fixture
def analysis(make_project: Any) -> ExperimentAnalysis:
    project = open_project(make_project(experiments=[EXPERIMENT]))
    _logs_module().generate(
        project.state_dir / "logs", units=2000, both_arms=3, conversion_lift=0.1, seed=4
    )
    return analyze(project, "price-test")


def test_the_document_validates_against_its_schema_and_reads_back(
    analysis: ExperimentAnalysis,
) -> None:
    text = experiment_json(analysis)
    document = json.loads(text)
    jsonschema.validate(document, json.loads(document_schema("experiment")))
    assert list(document)[:5] == [
        "schema_version",
        "goldenpath_version",
        "project",
        "experiment",
        "decision",
    ]
    assert document["schema_version"] == 1
    assert ExperimentAnalysis.model_validate_json(text) == analysis
    broken = {**document, "decision": {**document["decision"], "recommendation": "maybe"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, json.loads(document_schema("experiment")))


def test_the_page_is_self_contained_and_puts_the_decision_first(
    analysis: ExperimentAnalysis,
) -> None:
    html = render_experiment_html(analysis)
    assert "<script src" not in html
    assert 'src="http' not in html
    assert "<link" not in html
    assert html.count("<script>") == 2  # plotly.js once, then the figures
    assert "Plotly.newPlot" in html
    decision = html.index('id="decision"')
    assert f"Recommendation: {analysis.decision.recommendation}" in html
    assert decision < html.index("<h2>Exposures and sample ratio</h2>")
    assert html.index("<h2>Exposures and sample ratio</h2>") < html.index("<h2>Guardrails</h2>")
    for name in ("conversion", "latency", "revenue"):
        assert f'id="metric-{name}"' in html
    for name in ("latency", "revenue"):
        assert f'id="guardrail-{name}"' in html
    assert "3 unit(s) seen in both arms" in html
    assert "CUPED variance reduction" in html


def test_what_the_spec_says_is_escaped(analysis: ExperimentAnalysis) -> None:
    html = render_experiment_html(analysis)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_an_invalid_result_says_so(analysis: ExperimentAnalysis) -> None:
    decision = analysis.decision.model_copy(
        update={"recommendation": "stop", "reason": "sample ratio mismatch", "valid": False}
    )
    html = render_experiment_html(analysis.model_copy(update={"decision": decision}))
    assert "<b>The results are invalid</b>" in html


def test_both_documents_are_written_under_the_experiment_folder(
    analysis: ExperimentAnalysis, tmp_path: Path
) -> None:
    folder = experiment_folder(tmp_path / ".goldenpath", "price-test")
    json_path, html_path = write_experiment_report(analysis, folder)
    assert json_path == tmp_path / ".goldenpath" / "experiments" / "price-test" / "experiment.json"
    assert html_path.name == "experiment.html"
    assert json.loads(json_path.read_text())["decision"] == analysis.decision.to_dict()
    assert html_path.read_text().startswith("<!doctype html>")
