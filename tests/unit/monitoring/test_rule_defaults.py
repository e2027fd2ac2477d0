"""The spec's alert rules add to the defaults: a rule named as a default replaces it, the others
are added after the defaults, ``default_rules: false`` leaves only the spec's; and the
regressors' default rule on the realised loss against the reference's interval."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from conftest import small_spec
from goldenpath.monitoring.alerts import firing, observations
from goldenpath.monitoring.performance import loss_metric, realised_loss_increases
from goldenpath.monitoring.results import (
    DataQuality,
    MetricInterval,
    MonitoringWindow,
    RouteOutcome,
)
from goldenpath.spec.models import Spec
from goldenpath.spec.monitoring import METRICS, MonitoringSpec

DEFAULT_NAMES = [r.name for r in MonitoringSpec(expected_rows=(1, 10)).alert_rules()]


def _spec(rules: list[dict[str, Any]] | None, **keys: Any) -> MonitoringSpec:
    return MonitoringSpec.model_validate({**keys, "alerts": {"rules": rules}})


def test_the_defaults_include_the_regressors_realised_loss() -> None:
    rules = MonitoringSpec().alert_rules()
    assert len(rules) == 16  # the volume rules come only with expected_rows
    assert len({r.name for r in rules}) == len(rules)
    assert {r.metric for r in rules} <= set(METRICS)
    (loss,) = [r for r in rules if r.metric.startswith("realised.mean_absolute_error")]
    assert (loss.name, loss.metric, loss.above, loss.severity) == (
        "realised-mae",
        "realised.mean_absolute_error_increase",
        0.0,
        "critical",
    )
    rmse = MonitoringSpec().alert_rules(loss="root_mean_squared_error")
    assert [r.name for r in rmse][-1] == "realised-rmse"
    assert rmse[-1].metric == "realised.root_mean_squared_error_increase"


def test_a_spec_rule_adds_to_the_defaults_or_replaces_its_namesake() -> None:
    defaults = MonitoringSpec().alert_rules()
    added = {"name": "age-drift", "metric": "feature.psi", "above": 0.3, "subjects": ["age"]}
    stricter = {"name": "feature-drift", "metric": "feature.psi", "above": 0.5}
    rules = _spec([added, stricter]).alert_rules()
    assert [r.name for r in rules] == [r.name for r in defaults] + ["age-drift"]
    by_name = {r.name: r for r in rules}
    assert by_name["feature-drift"].above == 0.5  # replaced, in the default's place
    assert (
        by_name["feature-drift-warning"] == {r.name: r for r in defaults}["feature-drift-warning"]
    )
    assert by_name["age-drift"].subjects == ["age"]


def test_default_rules_false_leaves_only_the_spec_rules() -> None:
    own = [
        {"name": "a", "metric": "rows", "below": 10},
        {"name": "feature-js", "metric": "feature.js_distance", "above": 0.2},
    ]
    rules = _spec(own, default_rules=False).alert_rules()
    assert [(r.name, r.metric) for r in rules] == [
        ("a", "rows"),
        ("feature-js", "feature.js_distance"),
    ]
    assert _spec(None, default_rules=False).alert_rules() == []
    assert _spec([]).alert_rules() == MonitoringSpec().alert_rules()


def test_duplicate_names_are_still_refused() -> None:
    twice = [{"name": "feature-drift", "metric": "feature.psi", "above": 0.3}] * 2
    with pytest.raises(ValidationError, match="alert rule names must be unique"):
        _spec(twice)
    with pytest.raises(ValidationError, match="default_rules"):
        MonitoringSpec.model_validate({"default_rules": "sometimes"})


_SEVERITIES = st.sampled_from(["warning", "critical"])
_METRICS = st.sampled_from(sorted(m for m in METRICS if m != "rows"))
_NAMES = st.one_of(st.sampled_from(DEFAULT_NAMES), st.text("abcxyz-", min_size=1, max_size=6))


@st.composite
def _rule_lists(draw: st.DrawFn) -> list[dict[str, Any]]:
    names = draw(st.lists(_NAMES, unique=True, max_size=12))
    return [
        {
            "name": name,
            "metric": draw(_METRICS),
            "above": draw(st.floats(0, 1)),
            "severity": draw(_SEVERITIES),
        }
        for name in names
    ]


@settings(max_examples=200, deadline=None)
@given(own=_rule_lists(), volume=st.booleans(), defaults=st.booleans())
def test_every_rule_is_there_exactly_once(
    own: list[dict[str, Any]], volume: bool, defaults: bool
) -> None:
    keys: dict[str, Any] = {"default_rules": defaults}
    if volume:
        keys["expected_rows"] = (5, 50)
    spec = _spec(own, **keys)
    rules = spec.alert_rules()
    counts = Counter(r.name for r in rules)
    assert set(counts.values()) <= {1}
    spec_rules = spec.alerts.rules or []
    for rule in spec_rules:  # every spec rule, exactly as written
        assert [r for r in rules if r.name == rule.name] == [rule]
    own_names = {r.name for r in spec_rules}
    default_rules = spec.default_alert_rules()
    for rule in default_rules:
        if rule.name not in own_names:  # every default not overridden, as it is
            assert (rule in rules) == defaults
    expected = len(spec_rules) + (
        sum(r.name not in own_names for r in default_rules) if defaults else 0
    )
    assert len(rules) == expected
    # a stable order: the defaults' order, then the spec's
    positions = [r.name for r in rules]
    if defaults:
        kept = [r.name for r in default_rules]
        assert positions[: len(kept)] == kept
    default_names = {r.name for r in default_rules}
    added = [r.name for r in spec_rules if not defaults or r.name not in default_names]
    assert positions[len(positions) - len(added) :] == added


def _interval(low: float, high: float) -> MetricInterval:
    return MetricInterval(value=(low + high) / 2, ci_low=low, ci_high=high)


REFERENCE = {
    "mean_absolute_error": _interval(9.0, 10.0),
    "root_mean_squared_error": _interval(12.0, 14.0),
}


def test_the_realised_loss_is_compared_with_the_top_of_the_reference_interval() -> None:
    calm = {"mean_absolute_error": _interval(8.0, 11.5)}
    assert realised_loss_increases(calm, REFERENCE) == pytest.approx({"mean_absolute_error": -0.2})
    worse = {
        "mean_absolute_error": _interval(12.5, 16.0),
        "root_mean_squared_error": _interval(21.0, 30.0),
    }
    rises = realised_loss_increases(worse, REFERENCE)
    assert rises == pytest.approx({"mean_absolute_error": 0.25, "root_mean_squared_error": 0.5})
    # nothing to compare: no interval in the window or in the reference (an old reference)
    assert realised_loss_increases({"mean_absolute_error": _interval(1, 2)}, {}) == {}
    none = MetricInterval(value=3.0, ci_low=None, ci_high=None)
    assert realised_loss_increases({"mean_absolute_error": none}, REFERENCE) == {}
    assert realised_loss_increases(worse, {"mean_absolute_error": none}) == {}


def _window(labelled: dict[str, MetricInterval] | None) -> MonitoringWindow:
    realised = (
        None if labelled is None else {"champion v1": RouteOutcome(rows=500, metrics=labelled)}
    )
    return MonitoringWindow(
        index=0,
        start="2026-01-01T00:00:00+00:00",
        end="2026-01-02T00:00:00+00:00",
        rows=1000,
        complete=True,
        routes={"champion": 1000},
        features=[],
        outputs=[],
        quality=DataQuality(rows=1000, volume="ok", expected_rows=None, out_of_range={}),
        multivariate=None,
        estimated=None,
        realised=realised,
        severity="ok",
    )


def test_the_default_rule_fires_on_a_window_whose_labels_make_sure_of_a_higher_loss() -> None:
    rules = MonitoringSpec().alert_rules()

    def fired(labelled: dict[str, MetricInterval] | None) -> set[tuple[str, str]]:
        seen = observations(_window(labelled), {}, reference_intervals=REFERENCE)
        return {(f.rule.name, s) for (_, s), f in firing(rules, [seen]).items()}

    assert fired({"mean_absolute_error": _interval(12.5, 16.0)}) == {
        ("realised-mae", "champion v1")
    }
    assert fired({"mean_absolute_error": _interval(8.0, 11.5)}) == set()
    assert fired({"mean_absolute_error": _interval(9.99, 30.0)}) == set()  # wide: not sure
    assert fired(None) == set()  # no labels: not judged
    # the window observes both losses; only the primary one has a default rule
    seen = observations(
        _window({"root_mean_squared_error": _interval(21.0, 30.0)}),
        {},
        reference_intervals=REFERENCE,
    )
    assert ("realised.root_mean_squared_error_increase", "champion v1", 0.5) in seen
    assert fired({"root_mean_squared_error": _interval(21.0, 30.0)}) == set()


def test_the_primary_metric_chooses_the_loss() -> None:
    spec = small_spec()
    spec["task"] = {"type": "regression", "target": "spend"}
    assert loss_metric(Spec.model_validate(spec)) == "mean_absolute_error"
    spec["evaluation"] = {"primary_metric": "root_mean_squared_error"}
    assert loss_metric(Spec.model_validate(spec)) == "root_mean_squared_error"
