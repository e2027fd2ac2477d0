"""A regressor's default realised-loss rule over a real prediction log: the reference keeps the
held-out MAE's interval as ``goldenpath evaluate`` makes it; a window whose labels make sure the
error is above that interval opens the ``realised-mae`` alert, a calm window does not; a
reference without the interval (written before it was kept) skips the rule and says why."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from test_monitor_loss import MODEL, _frame, log_served

import goldenpath
from conftest import MakeProject, small_spec
from goldenpath.evaluation import evaluate
from goldenpath.monitoring import reference, run_monitor
from goldenpath.reports.monitoring import render_monitoring_html

DAY_ONE = datetime(2026, 1, 1, tzinfo=UTC)
NOW = DAY_ONE + timedelta(days=3)
REALISED = "realised.mean_absolute_error_increase"


@pytest.fixture
def regressor(make_project: MakeProject) -> goldenpath.Project:
    """A trained regressor (a line in age) whose log holds a calm day, then a day whose labels
    are 40 above the truth (errors about four times the held-out ones), each 30% labelled."""
    spec = small_spec(**{"training.entrypoint": "loss_model:regress"})
    spec["task"] = {"type": "regression", "target": "spend"}
    root = make_project(frame=_frame(4000, seed=0), spec=spec)
    (root / "loss_model.py").write_text(MODEL)
    project = goldenpath.open_project(root)
    goldenpath.train(project)
    log_served(project, _frame(3000, seed=1), DAY_ONE, "a")
    shifted = _frame(3000, seed=2)
    shifted["spend"] += 40.0
    log_served(project, shifted, DAY_ONE + timedelta(days=1), "b")
    return project


def test_labels_far_from_the_predictions_open_the_realised_mae_alert(
    regressor: goldenpath.Project,
) -> None:
    ref = reference(regressor, "latest")
    held_out = ref.intervals["mean_absolute_error"]
    assert held_out.ci_low is not None
    assert held_out.ci_high is not None
    assert held_out.ci_low < ref.metrics["mean_absolute_error"] < held_out.ci_high
    # the interval evaluate records for the run's held-out rows (the same resamples; evaluate
    # sums them with its slices', in float32, hence not to the last bit), not another one
    evaluated = evaluate(regressor, "latest").metrics["mean_absolute_error"]
    assert (held_out.value, held_out.ci_low, held_out.ci_high) == pytest.approx(
        (evaluated.value, evaluated.ci_low, evaluated.ci_high), rel=1e-6
    )

    run = run_monitor(regressor, ref, window="1d", now=NOW)
    assert run.report.skipped_rules == []
    assert run.report.reference.intervals["mean_absolute_error"] == held_out
    calm, shifted = run.report.windows
    for window in (calm, shifted):
        assert window.realised is not None
        assert window.realised["champion v1"].rows == 900
    realised = {(a.subject, a.window_index): a for a in run.report.alerts if a.metric == REALISED}
    assert set(realised) == {("champion v1", shifted.index)}  # not the calm window
    alert = realised["champion v1", shifted.index]
    assert (alert.rule, alert.severity, alert.threshold, alert.status) == (
        "realised-mae",
        "critical",
        0.0,
        "open",
    )
    window_mae = shifted.realised["champion v1"].metrics["mean_absolute_error"]  # type: ignore[index]
    assert window_mae.ci_low is not None
    assert alert.value == pytest.approx(window_mae.ci_low / held_out.ci_high - 1)
    assert alert.value > 1  # the labels make sure of more than twice the reference's error
    assert shifted.severity == "critical"
    # the same features as the calm day: only the labels tell, not DLE's estimate
    assert not any(a.metric.startswith("estimated.") for a in run.report.alerts)

    # a reference written before it kept the interval: the rule is skipped, with the reason
    old = replace(ref, intervals={})
    again = run_monitor(regressor, old, window="24h", now=NOW)  # another stream
    (skipped,) = again.report.skipped_rules
    assert (skipped.name, skipped.metric) == ("realised-mae", REALISED)
    assert "no 95% interval of the held-out mean_absolute_error" in skipped.reason
    assert "train the model again" in skipped.reason
    assert [w.realised is not None for w in again.report.windows] == [True, True]
    assert not any(a.metric == REALISED for a in again.report.alerts)
    page = render_monitoring_html(again.report)
    assert "Rule <code>realised-mae</code>" in page
    assert "not judged: the reference" in page
