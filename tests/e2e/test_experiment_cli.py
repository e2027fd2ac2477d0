"""goldenpath experiment plan, status and analyze from the command line, on generated logs in
the server's layout: plan sizes from a given baseline, status and analyze print the decision
first, analyze writes both documents, and an unknown experiment exits with its code."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from test_cli import run, run_json

from conftest import MakeProject

EXPERIMENT = {
    "name": "price-test",
    "hypothesis": "the new model converts more customers",
    "primary": {"name": "conversion", "source": "label", "kind": "proportion"},
    "guardrails": [
        {
            "name": "latency",
            "source": "latency_ms",
            "kind": "ratio",
            "denominator": "rows",
            "higher_is_better": False,
            "max_relative_change": 0.1,
        }
    ],
    "mde": 0.05,
    "covariate": "spend",
    "method": "sequential",
}


def _generate(folder: Path) -> None:
    path = Path(__file__).parents[1] / "unit" / "experiments" / "_experiment_logs.py"
    spec = importlib.util.spec_from_file_location("_experiment_logs_e2e", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.generate(folder, units=3000, conversion_lift=0.12, seed=2)


@pytest.mark.e2e
def test_plan_status_and_analyze(make_project: MakeProject) -> None:
    root = make_project(experiments=[EXPERIMENT])
    _generate(root / ".goldenpath" / "logs")

    code, planned = run_json(
        "experiment", "plan", "price-test", "--baseline", "0.3", "--units-per-day", "2000", cwd=root
    )
    assert code == 0
    assert planned["baseline"] == {
        "mean": 0.3,
        "sd": pytest.approx(0.458257569),
        "source": "option",
        "units": None,
        "days": None,
    }
    assert planned["days"] == pytest.approx(planned["total_units"] / 2000)
    refused = run("experiment", "plan", "price-test", cwd=root)  # no champion rows lately
    assert refused.returncode == 90
    assert "--baseline" in refused.stderr

    code, status = run_json("experiment", "status", "price-test", cwd=root)
    assert code == 0
    assert status["status"] is None  # never started: the spec's arms
    assert status["decision"]["recommendation"] == "ship"
    assert not (root / ".goldenpath" / "experiments").exists()  # status writes nothing

    done = run("experiment", "analyze", "price-test", cwd=root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("SHIP: conversion is significantly better")
    folder = root / ".goldenpath" / "experiments" / "price-test"
    document = json.loads((folder / "experiment.json").read_text())
    assert document["decision"] == status["decision"]
    assert "Recommendation: ship" in (folder / "experiment.html").read_text()
    assert f"readout: {folder / 'experiment.html'}" in done.stdout

    code, error = run_json("experiment", "analyze", "nope", cwd=root)
    assert code == 90
    assert "price-test" in error["error"]["message"]
