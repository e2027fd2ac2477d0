"""Incidents: alerts grouped per feature and for the model, their severity, order, stable ids
and the one notification per incident that a run's alert events make."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

from goldenpath.monitoring.alerts import deliver
from goldenpath.monitoring.incidents import incident_events, incidents, strength
from goldenpath.monitoring.results import Alert, AlertEvent, IncidentEvent, MonitoringReport
from goldenpath.reports.monitoring import render_monitoring_html
from goldenpath.spec.monitoring import SinkSpec

STREAM = "small|run-1|1d||"


def _alert(
    id: int,
    metric: str,
    subject: str,
    *,
    value: float = 0.3,
    threshold: float = 0.25,
    severity: Literal["warning", "critical"] = "critical",
    status: Literal["open", "resolved"] = "open",
    opened: int = 10,
    last: int | None = None,
    rule: str = "r",
) -> Alert:
    return Alert(
        id=id,
        project="small",
        stream=STREAM,
        metric=metric,
        subject=subject,
        rule=rule,
        severity=severity,
        status=status,
        value=value,
        threshold=threshold,
        window_index=opened,
        window_start=f"2026-01-{opened:02d}T00:00:00+00:00",
        last_window_index=opened if last is None else last,
        message=f"{metric} of {subject} is {value}, above {threshold} ({rule})",
        report="monitoring.html",
        opened_at="2026-02-01T00:00:00+00:00",
        updated_at="2026-02-01T00:00:00+00:00",
        resolved_at=None if status == "open" else "2026-02-02T00:00:00+00:00",
    )


def _shift() -> list[Alert]:
    """What a strong shift of age and spend raises in one window (as monitor does)."""
    return [
        _alert(1, "feature.psi", "age", value=3.1, rule="feature-drift"),
        _alert(2, "feature.js_distance", "age", value=0.54, threshold=0.1, rule="feature-js"),
        _alert(3, "feature.psi", "spend", value=1.6, rule="feature-drift"),
        _alert(4, "feature.js_distance", "spend", value=0.51, threshold=0.1, rule="feature-js"),
        _alert(5, "output.psi", "score", value=2.9, rule="score-drift"),
        _alert(6, "output.psi", "prediction", value=1.6, rule="score-drift"),
        _alert(7, "domain.auc", "all features", value=0.94, threshold=0.7),
    ]


def test_no_alert_is_no_incident() -> None:
    assert incidents([]) == []
    assert incident_events([], [], report="r.html") == []


def test_a_shift_of_two_features_is_two_feature_incidents_and_one_model_incident() -> None:
    found = incidents(_shift())
    # all open, critical and from the same window: the model's, then the features by name
    assert [(i.kind, i.subject) for i in found] == [
        ("model", "model"),
        ("feature", "age"),
        ("feature", "spend"),
    ]
    by = {i.subject: i for i in found}
    assert [a.id for a in by["age"].alerts] == [1, 2]  # 3.1/0.25 is further past than 0.54/0.1
    assert [a.id for a in by["spend"].alerts] == [3, 4]
    assert {a.id for a in by["model"].alerts} == {5, 6, 7}
    assert sum(len(i.alerts) for i in found) == 7  # nothing lost
    assert by["age"].headline == by["age"].alerts[0].message
    # the model incident names the features drifting meanwhile, strongest first
    assert by["model"].causes == ["age", "spend"]
    assert by["age"].causes == []
    assert all(i.status == "open" and i.severity == "critical" for i in found)
    assert "likely causes: age, spend" in by["model"].message


def test_severity_is_the_most_severe_alert_and_status_open_while_any_alert_is() -> None:
    (one,) = incidents(
        [
            _alert(1, "feature.psi", "age", value=0.15, threshold=0.1, severity="warning"),
            _alert(2, "feature.missing_increase", "age", status="resolved", last=11),
        ]
    )
    assert one.severity == "critical"
    assert one.status == "open"
    assert [a.id for a in one.alerts] == [2, 1]  # critical before warning
    (resolved,) = incidents([_alert(1, "feature.psi", "age", status="resolved", last=12)])
    assert resolved.status == "resolved"
    assert (resolved.first_window_index, resolved.last_window_index) == (10, 12)


def test_an_alert_joins_an_incident_while_it_is_open_or_overlaps_its_windows() -> None:
    alerts = [
        # age drifts from window 10, resolved in 12; out of range opens in 12: the same one
        _alert(1, "feature.psi", "age", opened=10, last=12, status="resolved"),
        _alert(2, "feature.out_of_range_share", "age", opened=12, last=13, status="resolved"),
        # a clean window 13... then age drifts again in 15: a second incident
        _alert(3, "feature.psi", "age", opened=15),
        # an open alert keeps the incident open for one that opens later
        _alert(4, "feature.unseen_share", "age", opened=17),
    ]
    found = incidents(alerts)
    assert sorted([a.id for a in i.alerts] for i in found) == [[1, 2], [3, 4]]
    latest, earlier = found
    assert latest.status == "open"
    assert earlier.status == "resolved"
    assert (earlier.first_window_index, earlier.last_window_index) == (10, 13)


def test_the_model_incident_names_only_features_that_overlap_it() -> None:
    alerts = [
        _alert(1, "feature.psi", "age", opened=3, last=4, status="resolved"),
        _alert(2, "feature.psi", "plan", opened=9),
        _alert(3, "estimated.accuracy_drop", "all routes", value=0.08, threshold=0.05, opened=10),
        _alert(4, "rows", "window", value=10, threshold=100, severity="warning", opened=11),
    ]
    (model,) = [i for i in incidents(alerts) if i.kind == "model"]
    assert model.causes == ["plan"]
    assert model.severity == "critical"
    assert {a.subject for a in model.alerts} == {"all routes", "window"}


def test_ids_are_stable_and_differ_by_subject_window_and_stream() -> None:
    first = {i.subject: i.id for i in incidents(_shift())}
    again = {i.subject: i.id for i in incidents(list(reversed(_shift())))}
    assert first == again
    assert len(set(first.values())) == 3
    later = incidents([_alert(1, "feature.psi", "age", opened=11)])[0].id
    assert later != first["age"]
    other = _alert(1, "feature.psi", "age").model_copy(update={"stream": "small|run-2|1d||"})
    assert incidents([other])[0].id != first["age"]
    # a feature named "model" is not the model incident
    named = incidents([_alert(1, "feature.psi", "model"), _alert(2, "domain.auc", "all features")])
    assert len({i.id for i in named}) == 2


def test_open_incidents_come_first_then_critical_then_latest() -> None:
    found = incidents(
        [
            _alert(1, "feature.psi", "a", status="resolved", opened=20, last=21),
            _alert(2, "feature.psi", "b", severity="warning", opened=15),
            _alert(3, "feature.psi", "c", opened=5),
            _alert(4, "feature.psi", "d", opened=8),
        ]
    )
    assert [i.subject for i in found] == ["d", "c", "b", "a"]


def test_strength_is_the_relative_distance_past_the_threshold() -> None:
    assert strength(_alert(1, "feature.psi", "a", value=0.5, threshold=0.25)) == 1.0
    assert strength(_alert(1, "rows", "window", value=25, threshold=100)) == 0.75
    assert strength(_alert(1, "realised.mae_increase", "r", value=0.2, threshold=0)) == math.inf
    assert strength(_alert(1, "x", "a").model_copy(update={"value": None})) == 0.0


def _events(kind: str, *alerts: Alert) -> list[AlertEvent]:
    return [AlertEvent.of(kind, a) for a in alerts]  # type: ignore[arg-type]


def test_one_event_per_incident_with_its_alert_events() -> None:
    shift = _shift()
    found = incidents(shift)
    sent = incident_events(found, _events("opened", *shift), report="r.html")
    assert len(sent) == 3
    assert {e.event for e in sent} == {"opened"}
    age = next(e for e in sent if e.subject == "age")
    assert [c.id for c in age.changes] == [1, 2]
    assert (age.project, age.stream, age.report) == ("small", STREAM, "r.html")
    # only the incidents a run's events touch are sent
    assert incident_events(found, _events("opened", shift[0]), report="r.html")[0].subject == "age"


def test_event_kinds_follow_the_incident_not_the_alert() -> None:
    warning = _alert(1, "feature.psi", "age", severity="warning", value=0.15, threshold=0.1)
    critical = _alert(2, "feature.js_distance", "age", value=0.2, threshold=0.1)

    def kind(alerts: list[Alert], events: list[AlertEvent]) -> str:
        (event,) = incident_events(incidents(alerts), events, report="r")
        return event.event

    # a critical alert joins an open warning incident: escalated
    assert kind([warning, critical], _events("opened", critical)) == "escalated"
    # an alert joins at the same severity: updated
    other = _alert(3, "feature.missing_increase", "age", severity="warning")
    assert kind([warning, other], _events("opened", other)) == "updated"
    # one of two alerts resolves, the other stays open: updated, not resolved
    done = critical.model_copy(update={"status": "resolved"})
    assert kind([warning, done], _events("resolved", done)) == "updated"
    # the last open alert resolves: resolved
    gone = warning.model_copy(update={"status": "resolved"})
    assert kind([gone, done], _events("resolved", gone)) == "resolved"
    # a resolved alert reopens: reopened
    assert kind([warning, done], _events("reopened", warning)) == "reopened"
    # the alert escalates itself
    raised = warning.model_copy(update={"severity": "critical"})
    assert kind([raised], _events("escalated", raised)) == "escalated"


def test_the_file_sink_gets_one_line_per_incident_with_every_alert(tmp_path: Path) -> None:
    shift = _shift()
    sinks = [SinkSpec(type="log"), SinkSpec(type="file", path="out/alerts.jsonl")]
    for event in incident_events(incidents(shift), _events("opened", *shift), report="r"):
        assert deliver(sinks, event, tmp_path) == []
    lines = (tmp_path / "out" / "alerts.jsonl").read_text().splitlines()
    assert len(lines) == 3
    read = [IncidentEvent.model_validate_json(line) for line in lines]
    assert sorted(a.id for e in read for a in e.alerts) == list(range(1, 8))
    payload: dict[str, Any] = json.loads(lines[0])
    assert payload["event"] == "opened"
    assert {"id", "subject", "severity", "alerts", "changes", "headline"} <= payload.keys()


def test_documents_written_before_incidents_still_read() -> None:
    schema = MonitoringReport.model_json_schema()
    assert "incidents" in schema["properties"]
    assert "incidents" not in schema.get("required", [])


def test_the_report_lists_incidents_before_alerts_and_escapes_them() -> None:
    alerts = [
        _alert(1, "feature.psi", "<b>age</b>", value=3.1),
        _alert(2, "domain.auc", "all features", value=0.94, threshold=0.7),
    ]
    document = MonitoringReport.model_validate(
        {
            "goldenpath_version": "0.1.0",
            "project": "small",
            "model": "small",
            "generated_at": "2026-02-01T00:00:00+00:00",
            "reference": {
                "run_id": "run-1",
                "model_version": "1",
                "rows": 100,
                "evaluation_rows": 50,
                "metrics": {},
            },
            "window": {"kind": "time", "size": "1d"},
            "thresholds": {
                "psi_warning": 0.1,
                "psi_critical": 0.25,
                "js_critical": 0.1,
                "domain_warning_auc": 0.6,
                "domain_critical_auc": 0.7,
            },
            "range": {"since": None, "until": None},
            "processed": {"new_files": 0, "new_rows": 0, "seconds": 0.0},
            "windows": [],
            "alerts": [a.model_dump(mode="json") for a in alerts],
            "incidents": [i.model_dump(mode="json") for i in incidents(alerts)],
        }
    )
    html = render_monitoring_html(document)
    assert html.index("<h2>Incidents") < html.index("<h2>Alerts")
    assert "(2 open of 2;" in html
    assert "likely causes: &lt;b&gt;age&lt;/b&gt;" in html
    assert "<b>age</b>" not in html
