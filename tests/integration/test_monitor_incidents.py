"""A strong shift of two features, monitored end to end: the alerts it raises are grouped into
one incident per feature (and at most one for the model), each carrying all of its alerts, and
the sinks get one notification per incident."""

from __future__ import annotations

import json

import pandas as pd
from rich.console import Console
from test_monitor import DAY_ONE, DAY_THREE, DAY_TWO, _log, champion

import goldenpath
from conftest import small_frame
from goldenpath.cli.monitoring import _render_incidents
from goldenpath.monitoring import run_monitor
from goldenpath.monitoring.results import IncidentEvent
from goldenpath.reports.monitoring import write_monitoring_report

__all__ = ["champion"]  # the fixture, shared with test_monitor


def _two_features_shifted(seed: int) -> pd.DataFrame:
    frame: pd.DataFrame = small_frame(n=3000, seed=seed)
    frame["age"] = frame["age"] + 25
    frame["spend"] = frame["spend"] * 3
    return frame


def _sent(project: goldenpath.Project) -> list[IncidentEvent]:
    lines = (project.state_dir / "monitoring" / "alerts.jsonl").read_text().splitlines()
    return [IncidentEvent.model_validate_json(line) for line in lines]


def test_a_shift_of_two_features_is_two_feature_incidents(champion: goldenpath.Project) -> None:
    _log(champion, small_frame(n=3000, seed=11), DAY_ONE, prefix="a")
    _log(champion, _two_features_shifted(12), DAY_TWO, prefix="b")
    run = run_monitor(champion, window="1d")
    alerts, found = run.report.alerts, run.report.incidents
    assert len(alerts) > 2  # several statistics per feature, and the model's

    features = [i for i in found if i.kind == "feature"]
    models = [i for i in found if i.kind == "model"]
    assert sorted(i.subject for i in features) == ["age", "spend"]
    assert len(models) <= 1
    for incident in features:
        own = {a.id for a in alerts if a.metric.startswith("feature.")}
        own &= {a.id for a in alerts if a.subject == incident.subject}
        assert {a.id for a in incident.alerts} == own
        assert incident.severity == "critical"
        assert incident.status == "open"
        assert incident.first_window_start.startswith("2026-01-02")
        assert incident.headline == incident.alerts[0].message
    for model in models:
        assert set(model.causes) == {"age", "spend"}
        assert all(not a.metric.startswith("feature.") for a in model.alerts)
    # nothing is lost: every alert is in exactly one incident
    grouped = sorted(a.id for i in found for a in i.alerts)
    assert grouped == sorted(a.id for a in alerts)

    # one notification per incident, each with its alerts and the alert events behind it
    assert len(run.events) == len(alerts)
    sent = _sent(champion)
    assert len(sent) == len(found) == len(run.incident_events)
    assert {e.event for e in sent} == {"opened"}
    assert {e.id for e in sent} == {i.id for i in found}
    assert sorted(c.id for e in sent for c in e.changes) == grouped

    # the document keeps the incidents; the report and the CLI show them first
    json_path, html_path = write_monitoring_report(run.report, run.folder)
    document = json.loads(json_path.read_text())
    assert [i["id"] for i in document["incidents"]] == [i.id for i in found]
    html = html_path.read_text()
    assert html.index("<h2>Incidents") < html.index("<h2>Alerts")
    console = Console(record=True, width=200)
    _render_incidents(console, found)
    text = console.export_text()
    assert f"{len(found)} open incident(s), {len(alerts)} alert(s)" in text
    assert all(i.id in text for i in found)

    # nothing new: nothing sent again
    again = run_monitor(champion, window="1d")
    assert again.incident_events == []
    assert [i.id for i in again.report.incidents] == [i.id for i in found]
    assert len(_sent(champion)) == len(sent)

    # the shift clears: each incident resolves, once
    _log(champion, small_frame(n=3000, seed=13), DAY_THREE, prefix="c")
    third = run_monitor(champion, window="1d")
    assert all(i.status == "resolved" for i in third.report.incidents)
    assert {i.id for i in third.report.incidents} == {i.id for i in found}
    resolved = _sent(champion)[len(sent) :]
    assert sorted(e.id for e in resolved) == sorted(i.id for i in found)
    assert {e.event for e in resolved} == {"resolved"}
