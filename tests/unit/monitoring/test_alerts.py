"""Alert rules over sequences of windows: thresholds, consecutive windows, subjects,
escalation to the most severe rule; the default rules; the spec's validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import ValidationError

from goldenpath.monitoring.alerts import deliver, firing, observations, timeline
from goldenpath.monitoring.results import Alert, AlertEvent, MonitoringWindow
from goldenpath.spec.monitoring import AlertRule, MonitoringSpec, SinkSpec, parse_window


def rule(**values: object) -> AlertRule:
    return AlertRule.model_validate({"name": "r", "metric": "feature.psi", **values})


def test_a_rule_fires_above_its_threshold_only() -> None:
    fired = firing([rule(above=0.25)], [[("feature.psi", "age", 0.3), ("feature.psi", "x", 0.2)]])
    assert set(fired) == {("feature.psi", "age")}
    assert fired["feature.psi", "age"].value == 0.3
    assert "0.3, above 0.25" in fired["feature.psi", "age"].message
    assert firing([rule(above=0.25)], [[("feature.psi", "age", 0.25)]]) == {}  # strictly above


def test_below_rules() -> None:
    low = AlertRule.model_validate({"name": "low", "metric": "rows", "below": 100})
    assert set(firing([low], [[("rows", "window", 50.0)]])) == {("rows", "window")}
    assert firing([low], [[("rows", "window", 150.0)]]) == {}


def test_consecutive_windows_must_all_hold() -> None:
    twice = rule(above=0.25, windows=2)
    high, calm = [("feature.psi", "age", 0.4)], [("feature.psi", "age", 0.1)]
    assert firing([twice], [high]) == {}  # too few windows
    assert firing([twice], [calm, high]) == {}
    assert set(firing([twice], [high, high])) == {("feature.psi", "age")}
    assert firing([twice], [high, calm]) == {}


def test_subjects_restrict_a_rule() -> None:
    only_age = rule(above=0.1, subjects=["age"])
    window = [("feature.psi", "age", 0.5), ("feature.psi", "plan", 0.5)]
    assert set(firing([only_age], [window])) == {("feature.psi", "age")}


def test_the_most_severe_rule_wins_per_subject() -> None:
    warn = AlertRule.model_validate(
        {"name": "w", "metric": "feature.psi", "above": 0.1, "severity": "warning"}
    )
    crit = rule(above=0.25)
    mild = firing([warn, crit], [[("feature.psi", "age", 0.2)]])
    assert mild["feature.psi", "age"].rule.name == "w"
    strong = firing([warn, crit], [[("feature.psi", "age", 0.3)]])
    assert strong["feature.psi", "age"].rule.name == "r"


def test_default_rules_follow_the_thresholds() -> None:
    rules = MonitoringSpec(psi_warning=0.2, psi_critical=0.4).alert_rules()
    psi = {r.severity: r.above for r in rules if r.metric == "feature.psi"}
    assert psi == {"warning": 0.2, "critical": 0.4}
    custom = MonitoringSpec.model_validate(
        {
            "default_rules": False,
            "alerts": {"rules": [{"name": "a", "metric": "rows", "below": 10}]},
        }
    )
    assert [r.name for r in custom.alert_rules()] == ["a"]
    volume = MonitoringSpec(expected_rows=(100, 900)).alert_rules()
    bounds = {r.name: (r.below, r.above) for r in volume if r.metric == "rows"}
    assert bounds == {"volume-low": (100, None), "volume-high": (None, 900)}


def _window(**overrides: Any) -> MonitoringWindow:
    """A judged, complete window of 1,000 rows: ``age`` drifted and more often missing."""
    drift = {
        "feature": "age",
        "kind": "numeric",
        "rows": 1000,
        "psi": 0.3,
        "js_distance": 0.2,
        "wasserstein": 0.5,
        "ks": 0.2,
        "p_value": 0.001,
        "q_value": 0.001,
        "missing_share": 0.15,
        "reference_missing_share": 0.05,
        "unseen_share": 0.0,
        "severity": "critical",
        "reasons": [],
    }
    data: dict[str, Any] = {
        "index": 0,
        "start": "2026-01-01T00:00:00+00:00",
        "end": "2026-01-02T00:00:00+00:00",
        "rows": 1000,
        "complete": True,
        "routes": {"champion": 1000},
        "features": [drift],
        "outputs": [{**drift, "feature": "score", "psi": 0.05, "wasserstein": None, "ks": None}],
        "quality": {
            "rows": 1000,
            "volume": "ok",
            "expected_rows": None,
            "out_of_range": {"age": 0.02},
        },
        "multivariate": {
            "auc": 0.83,
            "auc_low": 0.8,
            "rows_reference": 1000,
            "rows_window": 1000,
            "top_features": [["age", 0.2]],
            "severity": "critical",
        },
        "estimated": {"rows": 1000, "accuracy": 0.7, "roc_auc": 0.8},
        "realised": {
            "champion v1": {
                "rows": 500,
                "metrics": {"accuracy": {"value": 0.72, "ci_low": 0.66, "ci_high": 0.78}},
            }
        },
        "severity": "critical",
    }
    return MonitoringWindow.model_validate({**data, **overrides})


def test_observations_of_a_window() -> None:
    result = _window()
    seen = {(m, s): v for m, s, v in observations(result, {"accuracy": 0.85, "roc_auc": 0.9})}
    assert seen["feature.missing_increase", "age"] == pytest.approx(0.10)
    assert seen["feature.psi", "age"] == 0.3
    assert seen["feature.wasserstein", "age"] == 0.5
    assert seen["feature.ks", "age"] == 0.2
    assert seen["feature.out_of_range_share", "age"] == 0.02
    assert seen["output.psi", "score"] == 0.05
    assert seen["domain.auc", "all features"] == 0.83
    multivariate = result.multivariate
    assert multivariate is not None
    chance = multivariate.model_copy(update={"auc": 0.56, "auc_low": 0.49})
    at_chance = result.model_copy(update={"multivariate": chance})
    assert ("domain.auc", "all features", 0.5) in observations(at_chance, {})
    assert seen["estimated.accuracy_drop", "all routes"] == pytest.approx(0.15)
    assert seen["estimated.roc_auc_drop", "all routes"] == pytest.approx(0.10)
    # realised: the drop the interval makes sure of (to its top)
    assert seen["realised.accuracy_drop", "champion v1"] == pytest.approx(0.07)
    assert seen["rows", "window"] == 1000


def test_a_shift_that_is_not_significant_is_observed_as_none() -> None:
    result = _window()
    noisy = [f.model_copy(update={"significant": False}) for f in result.features]
    quiet = result.model_copy(update={"features": noisy})
    seen = {(m, s): v for m, s, v in observations(quiet, {})}
    assert seen["feature.psi", "age"] == 0.0
    assert seen["feature.ks", "age"] == 0.0
    assert seen["feature.missing_increase", "age"] == pytest.approx(0.10)  # still observed


def test_a_window_too_small_to_judge_observes_its_rows_only() -> None:
    assert observations(_window(judged=False), {"accuracy": 0.85}) == [("rows", "window", 1000.0)]
    assert observations(_window(judged=False, complete=False), {}) == []


def test_messages_never_show_a_value_equal_to_its_threshold() -> None:
    fired = firing([rule(above=0.1)], [[("feature.psi", "age", 0.10001)]])
    message = fired["feature.psi", "age"].message
    assert "is 0.10001, above 0.1" in message
    assert "is 0.1, above 0.1" not in message
    low = AlertRule.model_validate({"name": "low", "metric": "rows", "below": 100})
    below = firing([low], [[("rows", "window", 99.99)]])["rows", "window"]
    assert "is 99.99, below 100" in below.message


def test_spec_validation() -> None:
    with pytest.raises(ValidationError, match="unknown metric"):
        rule(metric="feature.nope", above=1)
    with pytest.raises(ValidationError, match="exactly one of above / below"):
        rule(above=1, below=0)
    with pytest.raises(ValidationError, match="needs an http"):
        SinkSpec(type="webhook", url="ftp://x")
    with pytest.raises(ValidationError, match="not a duration"):
        MonitoringSpec(window="1week")
    with pytest.raises(ValidationError, match="unique"):
        MonitoringSpec.model_validate(
            {"alerts": {"rules": [{"name": "a", "metric": "rows", "below": 1}] * 2}}
        )
    assert parse_window("30m") == ("time", 1800)
    assert parse_window("2d") == ("time", 172800)
    assert parse_window("500-rows") == ("rows", 500)
    with pytest.raises(ValueError, match="not a duration"):
        parse_window("0h")


def _event(kind: Literal["opened", "resolved"] = "opened") -> AlertEvent:
    alert = Alert(
        id=1,
        project="small",
        stream="small|run|1d||",
        metric="feature.psi",
        subject="age",
        rule="feature-psi-critical",
        severity="critical",
        status="open",
        value=0.3,
        threshold=0.25,
        window_index=0,
        window_start="2026-01-01T00:00:00+00:00",
        last_window_index=0,
        message="m",
        report="monitoring.html",
        opened_at="2026-01-01T01:00:00+00:00",
        updated_at="2026-01-01T01:00:00+00:00",
        resolved_at=None,
    )
    return AlertEvent.of(kind, alert)


def test_file_sink_appends_one_line_per_event(tmp_path: Path) -> None:
    sinks = [SinkSpec(type="log"), SinkSpec(type="file", path="out/alerts.jsonl")]
    assert deliver(sinks, _event(), tmp_path) == []
    assert deliver(sinks, _event("resolved"), tmp_path) == []
    lines = (tmp_path / "out" / "alerts.jsonl").read_text().splitlines()
    assert [line.count('"event"') for line in lines] == [1, 1]
    assert '"resolved"' in lines[1]
    # each line is the event as its typed document: the alert's fields and the event
    assert AlertEvent.model_validate_json(lines[0]) == _event()


def test_a_failing_webhook_is_retried_with_backoff_and_reported(tmp_path: Path) -> None:
    waits: list[float] = []
    sink = SinkSpec(
        type="webhook",
        url="http://127.0.0.1:9/x",
        retries=3,
        backoff_seconds=0.5,
        timeout_seconds=0.5,
    )
    failures = deliver([sink], _event(), tmp_path, sleep=waits.append)
    assert waits == [0.5, 1.0, 2.0]
    assert len(failures) == 1
    assert "4 attempts failed" in failures[0]


def test_the_timeline_opens_escalates_and_resolves_once_per_episode() -> None:
    warn = AlertRule.model_validate(
        {"name": "w", "metric": "feature.psi", "above": 0.1, "severity": "warning"}
    )
    crit = rule(above=0.25)

    def window(value: float | None) -> list[tuple[str, str, float]]:
        return [] if value is None else [("feature.psi", "age", value)]

    values = [0.05, 0.15, 0.3, None, 0.2, 0.05, 0.4, 0.05]
    episodes = timeline([warn, crit], [(i, f"w{i}", window(v)) for i, v in enumerate(values)])
    assert [(e.opened, e.resolved, e.rule.name) for e in episodes] == [
        (1, 5, "r"),  # opened as a warning, escalated at 2, kept through the unobserved 3
        (6, 7, "r"),
    ]
    assert episodes[0].last == 4
    # rebuilt from the same windows, the same episodes: nothing replays twice
    again = timeline([warn, crit], [(i, f"w{i}", window(v)) for i, v in enumerate(values)])
    assert [(e.opened, e.resolved) for e in again] == [(1, 5), (6, 7)]


def test_a_webhook_answering_garbage_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    sink = SinkSpec(type="webhook", url="http://127.0.0.1:9/a path", retries=0)
    failures = deliver([sink], _event(), tmp_path)
    assert len(failures) == 1
    assert "1 attempts failed" in failures[0]
