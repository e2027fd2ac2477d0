"""``goldenpath monitor`` on a multiclass classifier: the reference trained with the model keeps
the calibration of its top class probability to P(correct), windows of a real prediction log get
an estimated accuracy with its band (and nothing else), close to the realised accuracy of their
feedback, and a shift of the inputs towards the rows the model gets wrong raises the default
estimated-accuracy alert, without a label."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from test_monitor_loss import log_served

import goldenpath
from conftest import MakeProject, small_spec
from goldenpath.monitoring import reference, run_monitor

CLASSES = ["low", "mid", "high"]


def _frame(n: int, seed: int, ages: tuple[int, int] = (18, 80)) -> pd.DataFrame:
    """Three classes by age: "low" below 40, "mid" from 40 to 60, "high" above, blurred near
    the boundaries (log-odds linear in age, so the model's logistic regression is right)."""
    rng = np.random.default_rng(seed)
    age = rng.integers(ages[0], ages[1] + 1, n)
    logits = np.stack([-0.15 * (age - 40), np.zeros(n), 0.15 * (age - 60)], axis=1)
    q = np.exp(logits - logits.max(axis=1, keepdims=True))
    q /= q.sum(axis=1, keepdims=True)
    label = (rng.random(n)[:, None] < q.cumsum(axis=1)).argmax(axis=1)
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),
            "age": age,
            "spend": rng.gamma(2.0, 30.0, n).round(2),
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "balance": rng.normal(100, 20, n).round(2),
            "label": np.asarray(CLASSES)[label],
        }
    )


def test_a_multiclass_classifier_gets_estimated_accuracy_and_its_alert(
    make_project: MakeProject,
) -> None:
    spec = small_spec(**{"data.contract.columns.label.allowed": CLASSES})
    spec["task"] = {"type": "multiclass_classification", "target": "label"}
    project = goldenpath.open_project(make_project(frame=_frame(10_000, seed=0), spec=spec))
    goldenpath.train(project)
    ref = reference(project, "latest")
    assert ref.calibration is not None
    assert ref.calibration.outcome == "correct"
    assert "accuracy" in ref.metrics
    assert "roc_auc" not in ref.metrics

    day_one = datetime(2026, 1, 1, tzinfo=UTC)
    log_served(project, _frame(3000, seed=1), day_one, "a")
    log_served(project, _frame(3000, seed=2, ages=(33, 67)), day_one + timedelta(days=1), "b")
    run = run_monitor(project, ref, window="1d", now=day_one + timedelta(days=3))
    calm, shifted = run.report.windows
    for window in (calm, shifted):
        estimated = window.estimated
        assert estimated is not None
        assert estimated.rows == 3000
        assert estimated.accuracy is not None
        assert estimated.accuracy_low is not None
        assert estimated.accuracy_high is not None
        assert estimated.accuracy_low < estimated.accuracy < estimated.accuracy_high
        assert estimated.roc_auc is None
        assert estimated.confusion is None
        realised = window.realised["champion v1"].metrics["accuracy"]  # type: ignore[index]
        assert realised.value is not None
        # the estimate (no labels) and the labels of 900 rows tell the same story
        assert abs(estimated.accuracy - realised.value) < 0.05
        print(
            f"window {window.index}: estimated accuracy {estimated.accuracy:.3f} "
            f"[{estimated.accuracy_low:.3f}, {estimated.accuracy_high:.3f}], realised "
            f"{realised.value:.3f} on 900 labelled rows; reference {ref.metrics['accuracy']:.3f}"
        )
    assert calm.estimated is not None
    assert shifted.estimated is not None
    base = ref.metrics["accuracy"]
    assert abs(calm.estimated.accuracy - base) < 0.05  # type: ignore[operator]
    assert base - shifted.estimated.accuracy > 0.08  # type: ignore[operator]
    opened = {(a.metric, a.subject, a.window_index) for a in run.report.alerts}
    assert ("estimated.accuracy_drop", "all routes", shifted.index) in opened
    assert not any(
        a.window_index == calm.index and a.metric.startswith("estimated") for a in run.report.alerts
    )
    assert shifted.severity == "critical"
