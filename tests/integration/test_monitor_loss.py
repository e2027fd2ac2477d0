"""``goldenpath monitor`` on a regressor: the reference trained with the model keeps the loss
estimator, windows of a real prediction log get the estimated MAE and RMSE (DLE), and a shift of
the inputs towards rows the model gets wrong raises the default alert, without a label."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

import goldenpath
from conftest import MakeProject, small_spec
from goldenpath.evaluation.evaluate import load_model, resolve_model
from goldenpath.monitoring import reference, run_monitor
from goldenpath.reports.monitoring import render_monitoring_html
from goldenpath.serving.logs import FEEDBACK_SCHEMA, LogWriter, partition_for, prediction_schema
from goldenpath.serving.models import predictor
from goldenpath.spec.serving import LogSpec

MODEL = """
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline


def regress(frame, params):
    numbers = ColumnTransformer([("n", "passthrough", ["age"])])
    return Pipeline([("n", numbers), ("m", Ridge())]).fit(frame, frame["spend"])
"""


def _frame(n: int, seed: int, pro_share: float = 1 / 3) -> pd.DataFrame:
    """Spend grows with age; its noise is five times larger on the pro plan, which the model
    (a line in age) does not know about."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    others = (1 - pro_share) / 2
    plan = rng.choice(["basic", "plus", "pro"], n, p=[others, others, pro_share])
    spend = 40 + 0.5 * age + rng.normal(0, 1, n) * np.where(plan == "pro", 25.0, 5.0)
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),
            "age": age,
            "spend": np.clip(spend, 0, None).round(2),
            "plan": plan,
            "balance": rng.normal(100, 20, n).round(2),
            "label": rng.choice(["no", "yes"], n),
        }
    )


def log_served(
    project: goldenpath.Project, frame: pd.DataFrame, when: datetime, prefix: str
) -> None:
    """Log ``frame`` as served by version 1 (one request per second from ``when``), with
    feedback labels (the target, as text) for the first 30% of the rows."""
    spec = project.spec
    model, _ = load_model(project, resolve_model(project, "latest"))
    outputs = predictor(model, spec)(frame[spec.feature_columns])
    n = len(frame)
    features = frame[spec.feature_columns]
    values = {c: features[c].astype(object).tolist() for c in features}
    values |= {
        "request_id": [f"{prefix}{i}" for i in range(n)],
        "row": [0] * n,
        "timestamp": [when + timedelta(seconds=i) for i in range(n)],
        "model_name": [project.name] * n,
        "model_version": ["1"] * n,
        "route": ["champion"] * n,
        "kind": ["served"] * n,
        "prediction": [str(p) for p in outputs.predictions],
        "score": outputs.scores,
    }
    logs = project.state_dir / "logs"
    writer = LogWriter(logs, prediction_schema(spec.data.contract.columns, "hash"), LogSpec())
    writer.append(partition_for("predictions", when, "1"), values, n)
    writer.close()
    labelled = int(n * 0.3)
    feedback = LogWriter(logs, FEEDBACK_SCHEMA, LogSpec())
    rows = {
        "request_id": values["request_id"][:labelled],
        "row": [0] * labelled,
        "timestamp": [when + timedelta(hours=1)] * labelled,
        "label": frame[spec.task.target].astype(str).tolist()[:labelled],
        "label_value": [None] * labelled,
    }
    feedback.append(partition_for("feedback", when + timedelta(hours=1)), rows, labelled)
    feedback.close()


def test_a_regressor_gets_estimated_loss_and_its_alert(make_project: MakeProject) -> None:
    spec = small_spec(**{"training.entrypoint": "loss_model:regress"})
    spec["task"] = {"type": "regression", "target": "spend"}
    root = make_project(frame=_frame(4000, seed=0), spec=spec)
    (root / "loss_model.py").write_text(MODEL)
    project = goldenpath.open_project(root)
    goldenpath.train(project)
    ref = reference(project, "latest")
    assert ref.loss is not None
    assert ref.loss.rows == ref.evaluation_rows
    assert ref.metrics["root_mean_squared_error"] == ref.loss.root_mean_squared_error

    day_one = datetime(2026, 1, 1, tzinfo=UTC)
    log_served(project, _frame(3000, seed=1), day_one, "a")
    log_served(project, _frame(3000, seed=2, pro_share=0.8), day_one + timedelta(days=1), "b")
    run = run_monitor(project, ref, window="1d", now=day_one + timedelta(days=3))
    calm, shifted = run.report.windows
    for window in (calm, shifted):
        loss = window.estimated_loss
        assert loss is not None
        assert loss.rows == 3000
        outcome = window.realised["champion v1"]  # type: ignore[index]
        realised = outcome.metrics["mean_absolute_error"]
        assert realised.value is not None
        rmse = outcome.metrics["root_mean_squared_error"]  # with its interval, next to MAE
        assert rmse.value is not None
        assert rmse.ci_low is not None
        assert rmse.ci_high is not None
        assert rmse.ci_low < rmse.value < rmse.ci_high
        assert rmse.value > realised.value
        assert loss.mean_absolute_error is not None
        # the estimate (no labels) and the labels of 900 rows tell the same story
        assert abs(loss.mean_absolute_error / realised.value - 1) < 0.15
    assert calm.estimated_loss is not None
    assert shifted.estimated_loss is not None
    base = ref.loss.mean_absolute_error
    assert abs(calm.estimated_loss.mean_absolute_error / base - 1) < 0.1  # type: ignore[operator]
    assert shifted.estimated_loss.mean_absolute_error > 1.3 * base  # type: ignore[operator]
    opened = {(a.metric, a.subject, a.window_index) for a in run.report.alerts}
    assert ("estimated.mean_absolute_error_increase", "all routes", shifted.index) in opened
    assert not any(
        a.window_index == calm.index and "estimated" in a.metric for a in run.report.alerts
    )
    assert shifted.severity == "critical"

    # the report plots the estimate over the windows, beside the realised values
    html = render_monitoring_html(run.report)
    found = re.search(r"const figures = (\{.*?\});\n", html)
    assert found
    traces = {t["name"]: t["y"] for t in json.loads(found.group(1))["performance"]["data"]}
    for metric in ("mean_absolute_error", "root_mean_squared_error"):
        estimated = [getattr(w.estimated_loss, metric) for w in (calm, shifted)]
        assert traces[f"estimated {metric}"] == pytest.approx(estimated, rel=1e-5)
        assert f"realised {metric} (champion v1)" in traces
