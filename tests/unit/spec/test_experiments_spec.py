"""The spec's ``experiments`` section: defaults, and every rule with the key it names."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from goldenpath.errors import SpecInvalid
from goldenpath.spec import parse_spec
from goldenpath.spec.experiments import ExperimentSpec


def base() -> dict[str, Any]:
    return {
        "project": {"name": "demo", "owners": ["me@example.com"]},
        "task": {"type": "binary_classification", "target": "label", "positive_label": "yes"},
        "data": {
            "source": "data.csv",
            "id_column": "id",
            "contract": {
                "columns": {
                    "id": {"dtype": "int", "min": 0},
                    "user": {"dtype": "str", "pii": True},
                    "spend": {"dtype": "float"},
                    "plan": {"dtype": "str", "allowed": ["a", "b"]},
                    "label": {"dtype": "str", "allowed": ["no", "yes"]},
                }
            },
        },
        "training": {"entrypoint": "model:train"},
    }


def experiment(**changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": "new-model",
        "hypothesis": "the new model keeps more customers",
        "primary": {"name": "retained", "source": "label", "kind": "proportion"},
        "mde": 0.02,
    }
    found.update(changes)
    return found


def parsed(*experiments: dict[str, Any], **top: Any) -> Any:
    spec = copy.deepcopy(base())
    spec["experiments"] = list(experiments)
    spec.update(top)
    return parse_spec(yaml.safe_dump(spec, sort_keys=False))


def refused(*experiments: dict[str, Any], **top: Any) -> str:
    with pytest.raises(SpecInvalid) as caught:
        parsed(*experiments, **top)
    return caught.value.message


def test_defaults() -> None:
    spec = parsed(experiment())
    (found,) = spec.experiments
    assert isinstance(found, ExperimentSpec)
    assert (found.control, found.treatment, found.allocation) == ("champion", "challenger", 0.5)
    assert (found.alpha, found.power, found.method) == (0.05, 0.8, "sequential")
    assert (found.unit, found.salt, found.covariate) == (None, None, None)
    assert found.assignment_salt == "new-model"
    assert [m.name for m in found.metrics] == ["retained"]
    assert (found.primary.kind, found.primary.higher_is_better) == ("proportion", True)


def test_no_experiments_is_the_default() -> None:
    spec = copy.deepcopy(base())
    assert parse_spec(yaml.safe_dump(spec)).experiments == []


def test_a_full_experiment() -> None:
    spec = parsed(
        experiment(
            control=3,
            treatment=4,
            allocation=0.2,
            unit="user",
            salt="s-1",
            guardrails=[
                {
                    "name": "latency",
                    "source": "latency_ms",
                    "higher_is_better": False,
                    "max_relative_change": 0.1,
                },
                {
                    "name": "revenue-per-row",
                    "source": "value",
                    "kind": "ratio",
                    "denominator": "rows",
                },
            ],
            covariate="spend",
            method="fixed",
            expected_units_per_day=1000,
        )
    )
    (found,) = spec.experiments
    assert (found.control, found.treatment) == ("3", "4")  # YAML integers are version numbers
    assert found.assignment_salt == "s-1"
    assert found.guardrails[0].max_relative_change == 0.1
    assert found.guardrails[1].denominator == "rows"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"name": "New_Model"}, "lowercase letters, digits and hyphens"),
        ({"allocation": 1.0}, "allocation"),
        ({"allocation": 0}, "allocation"),
        ({"mde": 0}, "mde"),
        ({"alpha": 1.5}, "alpha"),
        ({"treatment": "champion"}, "control and treatment are both 'champion'"),
        ({"control": "challenger", "treatment": "3"}, "not the challenger"),
        ({"treatment": "latest"}, "name champion, challenger or a version number"),
        (
            {"primary": {"name": "x", "source": "value", "kind": "ratio"}},
            "a ratio needs a denominator",
        ),
        (
            {"primary": {"name": "x", "source": "value", "denominator": "rows"}},
            "denominator is for kind ratio only",
        ),
        (
            {"guardrails": [{"name": "retained", "source": "degraded"}]},
            "metric names must be unique",
        ),
        ({"unit": "nope"}, "experiments[0].unit: column 'nope' is not in data.contract.columns"),
        ({"unit": "label"}, "experiments[0].unit: 'label' is the target"),
        ({"covariate": "plan"}, "experiments[0].covariate: column 'plan' has dtype str"),
        ({"covariate": "nope"}, "experiments[0].covariate: column 'nope' is not in"),
        (
            {"primary": {"name": "x", "source": "latency_ms", "kind": "proportion"}},
            "experiments[0].primary.kind: a proportion needs a 0/1 source",
        ),
    ],
)
def test_rules(changes: dict[str, Any], expected: str) -> None:
    assert expected in refused(experiment(**changes))


def test_names_are_unique() -> None:
    assert "experiment names must be unique" in refused(experiment(), experiment())


def test_unit_defaults_to_the_id_column_and_needs_one() -> None:
    spec = copy.deepcopy(base())
    del spec["data"]["id_column"]
    spec["experiments"] = [experiment()]
    with pytest.raises(SpecInvalid) as caught:
        parse_spec(yaml.safe_dump(spec))
    assert "experiments[0].unit: name the unit column" in caught.value.message
    spec["experiments"] = [experiment(unit="user")]
    assert parse_spec(yaml.safe_dump(spec)).experiments[0].unit == "user"


def test_a_pii_unit_needs_hashed_logs() -> None:
    message = refused(experiment(unit="user"), serving={"log": {"pii": "drop"}})
    assert "column 'user' is PII and serving.log.pii is drop" in message
    assert parsed(experiment(unit="user"), serving={"log": {"pii": "hash"}}).experiments


def test_label_metrics_follow_the_task() -> None:
    spec = copy.deepcopy(base())
    spec["task"] = {"type": "multiclass_classification", "target": "plan"}
    spec["experiments"] = [experiment(primary={"name": "x", "source": "label"})]
    with pytest.raises(SpecInvalid) as caught:
        parse_spec(yaml.safe_dump(spec))
    assert "experiments[0].primary.source: label has no number for a multiclass task" in (
        caught.value.message
    )
    spec["experiments"] = [experiment(primary={"name": "x", "source": "correct"})]
    assert parse_spec(yaml.safe_dump(spec)).experiments[0].primary.source == "correct"


def test_errors_point_at_the_line() -> None:
    spec = copy.deepcopy(base())
    spec["experiments"] = [experiment(unit="nope")]
    text = yaml.safe_dump(spec, sort_keys=False)
    with pytest.raises(SpecInvalid) as caught:
        parse_spec(text, source="goldenpath.yaml")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.strip() == "unit: nope")
    assert f"goldenpath.yaml:{line}: experiments[0].unit" in caught.value.message
