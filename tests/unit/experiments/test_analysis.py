"""The experiment analysis reads generated Parquet logs in the server's layout: DuckDB's per-arm
sums equal numpy's on the same per-unit truth exactly; the latest feedback wins; units seen in
both arms are left out and flagged; units without feedback count as 0; a skewed split is an SRM;
a known effect ships and a breached guardrail stops."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _experiment_logs import FEEDBACK, PREDICTIONS, START, Generated, generate

from goldenpath.errors import ExperimentError
from goldenpath.experiments import ArmStats, compare, plan
from goldenpath.experiments._planning import plan_experiment
from goldenpath.experiments.analysis import aggregate_experiment, analyze, experiment_spec
from goldenpath.project import Project, open_project
from goldenpath.store.experiments import Experiment

NAME = "price-test"


def experiment(**changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": NAME,
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
            },
            {"name": "revenue", "source": "value", "kind": "mean", "max_relative_change": 0.05},
            {
                "name": "accuracy",
                "source": "correct",
                "kind": "ratio",
                "denominator": "rows",
                "max_relative_change": 0.5,  # the generated predictions ignore the labels
            },
            {"name": "fallbacks", "source": "degraded", "kind": "proportion"},
        ],
        "mde": 0.05,
        "covariate": "spend",
        "method": "fixed",
    }
    found.update(changes)
    return found


@pytest.fixture
def project(make_project: Any) -> Project:
    root: Path = make_project(experiments=[experiment()])
    return open_project(root)


def logs(project: Project) -> Path:
    return project.state_dir / "logs"


def expected(truth: dict[str, np.ndarray], arm: str, metric: str) -> ArmStats:
    """ArmStats computed with numpy from the generated per-unit truth."""
    keep = truth["arm"] == arm
    x = truth["covariate"][keep]
    if metric == "conversion":
        v = (truth["label"][keep] > 0).astype(float)
    elif metric == "revenue":
        v = truth["value"][keep]
    elif metric == "fallbacks":
        v = (truth["degraded"][keep] > 0).astype(float)
    else:
        v = truth["latency_ms" if metric == "latency" else "correct"][keep]
        d = truth["rows"][keep]
        return ArmStats(
            n=int(keep.sum()),
            sum=v.sum(),
            sum_squares=(v * v).sum(),
            denominator_sum=d.sum(),
            denominator_sum_squares=(d * d).sum(),
            cross_sum=(v * d).sum(),
        )
    return ArmStats(
        n=int(keep.sum()),
        sum=v.sum(),
        sum_squares=(v * v).sum(),
        covariate_sum=x.sum(),
        covariate_sum_squares=(x * x).sum(),
        covariate_cross_sum=(v * x).sum(),
    )


def test_sums_from_duckdb_equal_numpy_on_the_same_units_exactly(project: Project) -> None:
    generated = generate(logs(project), units=800, both_arms=4, corrections=40)
    truth = generated.units()
    found = aggregate_experiment(project, experiment_spec(project, NAME))
    for metric in ("conversion", "latency", "revenue", "accuracy", "fallbacks"):
        for arm in ("control", "treatment"):
            assert found.sums[metric][arm] == expected(truth, arm, metric), (metric, arm)
    seen = found.exposures
    assert seen.units == {a: int((truth["arm"] == a).sum()) for a in ("control", "treatment")}
    assert seen.rows == {
        a: int(truth["rows"][truth["arm"] == a].sum()) for a in ("control", "treatment")
    }
    assert seen.units_in_both_arms == 4
    assert seen.rows_without_unit == seen.rows_of_unknown_arm == 0
    assert sum(sum(days.values()) for days in seen.units_by_day.values()) == len(truth["id"])


def test_continuous_values_agree_with_numpy_to_rounding(project: Project) -> None:
    folder = logs(project)
    generate(folder, units=300, seed=5)
    # replace the values with continuous ones (not multiples of 1/8): sums agree to 1e-12
    path = next((folder / "feedback").rglob("part-2.parquet"))
    table = pq.read_table(path)
    rng = np.random.default_rng(1)
    value = rng.lognormal(2.0, 1.0, table.num_rows)
    table = table.set_column(table.schema.get_field_index("value"), "value", pa.array(value))
    pq.write_table(table, path)
    found = aggregate_experiment(project, experiment_spec(project, NAME))
    predictions = pq.read_table(folder / "predictions").to_pandas()  # hive folders
    predictions = predictions[
        (predictions["experiment"] == NAME) & (predictions["kind"] == "served")
    ]
    joined = predictions.merge(table.to_pandas()[["request_id", "value"]], how="left")
    per_unit = joined.groupby("unit").agg(arm=("arm", "first"), value=("value", "sum"))
    for arm in ("control", "treatment"):
        v = per_unit.loc[per_unit["arm"] == arm, "value"].to_numpy()
        stats = found.sums["revenue"][arm]
        assert stats.n == len(v)
        assert stats.sum == pytest.approx(v.sum(), rel=1e-12)
        assert stats.sum_squares == pytest.approx((v * v).sum(), rel=1e-12)


def _write(folder: Path, rows: list[dict[str, Any]], feedback: list[dict[str, Any]]) -> None:
    """Hand-written rows (missing columns null) in the log's layout."""
    day = START.date().isoformat()
    predictions = folder / "predictions" / f"date={day}" / "version=1"
    predictions.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=PREDICTIONS), predictions / "part-1.parquet")
    if feedback:
        where = folder / "feedback" / f"date={day}"
        where.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(feedback, schema=FEEDBACK), where / "part-1.parquet")


def _row(i: int, unit: str | None, arm: str, **more: Any) -> dict[str, Any]:
    return {
        "request_id": f"r{i}",
        "row": 0,
        "timestamp": START + timedelta(minutes=i),
        "kind": "served",
        "experiment": NAME,
        "arm": arm,
        "unit": unit,
        "prediction": "yes",
        "latency_ms": 10.0,
        "spend": 1.0,
        **more,
    }


def _label(
    i: int, label: str | None, minutes: int, *, correction: bool = False, value: Any = None
) -> dict[str, Any]:
    return {
        "request_id": f"r{i}",
        "row": 0,
        "timestamp": START + timedelta(minutes=minutes),
        "label": label,
        "correction": correction,
        "value": value,
    }


def test_the_latest_label_wins_and_a_unit_without_feedback_counts_as_zero(
    project: Project,
) -> None:
    rows = [
        _row(0, "a", "control"),
        _row(1, "b", "control"),  # no feedback at all: a unit with 0
        _row(2, "c", "control"),
        _row(3, "d", "treatment"),
        _row(4, "e", "treatment"),
        _row(5, None, "treatment"),  # no unit: left out, counted
    ]
    feedback = [
        _label(0, "no", 10, value=1.0),
        _label(0, "yes", 20, correction=True, value=3.0),  # later: wins
        _label(2, "yes", 10, value=2.0),
        _label(2, "no", 10, correction=True),  # same time, marked a correction: wins; no value
        _label(3, "yes", 10, value=5.0),
        _label(4, None, 30, value=7.0),  # a value alone; the label stays unknown (0)
    ]
    _write(logs(project), rows, feedback)
    found = aggregate_experiment(project, experiment_spec(project, NAME))
    conversion = found.sums["conversion"]
    revenue = found.sums["revenue"]
    assert (conversion["control"].n, conversion["control"].sum) == (3, 1.0)  # a only
    assert (conversion["treatment"].n, conversion["treatment"].sum) == (2, 1.0)  # d only
    # c's value 2.0 stays: the correction at the same time sent no value
    assert (revenue["control"].sum, revenue["control"].sum_squares) == (5.0, 13.0)
    assert (revenue["treatment"].sum, revenue["treatment"].sum_squares) == (12.0, 74.0)
    assert found.exposures.rows_without_unit == 1
    assert found.exposures.feedback_rows == {"control": 2, "treatment": 2}


def test_the_first_exposure_decides_the_covariate_and_rows_after_now_are_not_read(
    project: Project,
) -> None:
    rows = [
        _row(0, "a", "control", spend=4.0),
        _row(1, "a", "control", spend=100.0),
        _row(2, "b", "treatment", spend=2.0),
        _row(3, "c", "treatment", spend=8.0),
    ]
    _write(logs(project), rows, [])
    found = aggregate_experiment(project, experiment_spec(project, NAME))
    assert found.sums["conversion"]["control"].covariate_sum == 4.0
    assert found.sums["conversion"]["treatment"].covariate_sum_squares == 68.0
    early = aggregate_experiment(
        project, experiment_spec(project, NAME), until=START + timedelta(minutes=2)
    )
    assert early.exposures.units == {"control": 1, "treatment": 1}
    assert early.exposures.rows == {"control": 2, "treatment": 1}


def test_units_in_both_arms_are_left_out_and_flagged(project: Project) -> None:
    generate(logs(project), units=400, both_arms=6)
    result = analyze(project, NAME)
    assert result.exposure.units_in_both_arms == 6
    assert result.exposure.rows_in_both_arms >= 12
    assert any("seen in both arms" in w for w in result.warnings)
    assert sum(a.units for a in result.exposure.arms) == 400 - 6


def test_a_skewed_split_is_a_sample_ratio_mismatch_that_invalidates_the_results(
    project: Project,
) -> None:
    generate(logs(project), units=3000, treatment_share=0.56, conversion_lift=0.2)
    result = analyze(project, NAME)
    assert result.exposure.srm.flagged
    assert result.exposure.srm.p_value < 0.001
    assert result.decision.recommendation == "stop"
    assert not result.decision.valid
    assert "sample ratio mismatch" in result.decision.reason


def test_a_balanced_split_is_not_flagged(project: Project) -> None:
    generate(logs(project), units=3000, treatment_share=0.5)
    result = analyze(project, NAME)
    assert not result.exposure.srm.flagged
    assert result.decision.valid


def test_a_known_effect_is_found_and_shipped(project: Project) -> None:
    generated = generate(logs(project), units=4000, conversion_lift=0.25, seed=3)
    result = analyze(project, NAME)
    primary = result.primary
    assert primary.effect is not None
    assert primary.direction == "better"
    assert result.decision.recommendation == "ship", result.decision.reason
    # the effect is the statistics engine's on numpy's sums, with CUPED on the covariate
    truth = generated.units()
    effect = compare(
        expected(truth, "control", "conversion"),
        expected(truth, "treatment", "conversion"),
        alpha=0.05,
        method="fixed",
        cuped=True,
    )
    assert primary.effect.absolute == effect.absolute
    assert primary.effect.relative_ci == effect.relative_ci
    assert primary.effect.p_value == effect.p_value
    assert primary.effect.cuped
    assert primary.effect.variance_reduction is not None
    assert primary.effect.variance_reduction > 0  # spend drives conversion
    assert primary.bayes is not None
    assert primary.bayes.chance_to_beat_control > 0.95
    assert all(g.guardrail is not None and g.guardrail.breached is False for g in result.guardrails)
    assert result.to_dict()["decision"]["recommendation"] == "ship"


def test_a_breached_guardrail_stops_even_when_the_primary_wins(project: Project) -> None:
    generate(logs(project), units=4000, conversion_lift=0.1, value_lift=-15.0, seed=3)
    result = analyze(project, NAME)
    assert result.primary.direction == "better"
    revenue = next(g for g in result.guardrails if g.name == "revenue")
    assert revenue.direction == "worse"
    assert revenue.guardrail is not None
    assert revenue.guardrail.breached
    assert result.decision.recommendation == "stop"
    assert result.decision.reason.startswith("guardrail breached: revenue")


def test_no_effect_keeps_running_until_the_planned_units(project: Project) -> None:
    generate(logs(project), units=300, seed=9)
    result = analyze(project, NAME)
    assert result.progress.planned_units is not None
    assert result.progress.units < result.progress.planned_units
    assert result.decision.recommendation == "keep running"


def test_an_experiment_without_exposures_keeps_running(project: Project) -> None:
    result = analyze(project, NAME)
    assert result.decision.recommendation == "keep running"
    assert result.primary.effect is None
    assert result.exposure.srm.p_value == 1.0


def test_an_unknown_experiment_is_refused_with_the_names(project: Project) -> None:
    with pytest.raises(ExperimentError, match="experiments: price-test"):
        analyze(project, "nope")


def test_generated_truth_is_consistent(tmp_path: Path) -> None:
    generated: Generated = generate(tmp_path, units=50, both_arms=2)
    truth = generated.units()
    assert len(truth["id"]) == 48
    assert truth["both"][0] == 2


def test_the_plan_takes_its_baseline_from_the_champions_log(project: Project) -> None:
    generated = generate(logs(project), units=2000, seed=11)
    planned = plan_experiment(project, NAME, now=START + timedelta(days=10))
    truth = generated.units()
    control = truth["arm"] == "control"  # the champion's rows are the control arm's
    converted = (truth["label"][control] > 0).astype(float)
    assert planned.baseline.source == "log"
    assert planned.baseline.units == int(control.sum())
    assert planned.baseline.mean == pytest.approx(converted.mean(), rel=1e-12)
    assert planned.baseline.sd == pytest.approx(converted.std(ddof=1), rel=1e-12)
    expected = plan(
        baseline_mean=converted.mean(),
        baseline_sd=converted.std(ddof=1),
        mde=0.05,
        alpha=0.05,
        power=0.8,
        allocation=0.5,
    )
    assert planned.total_units == expected.total_units
    assert planned.units_per_day_source == "log"
    assert planned.days is not None


def test_the_plan_takes_a_given_baseline_and_refuses_without_one(project: Project) -> None:
    planned = plan_experiment(project, NAME, baseline=0.2, units_per_day=1000)
    assert planned.baseline.sd == pytest.approx(0.4)  # sqrt(0.2 * 0.8), a proportion
    assert planned.days == pytest.approx(planned.total_units / 1000)
    with pytest.raises(ExperimentError, match="no baseline for conversion"):
        plan_experiment(project, NAME)  # no log at all


def test_a_started_experiment_reads_only_its_own_rows(project: Project) -> None:
    rows = [
        _row(0, "a", "control"),  # before the start: an earlier run of the same name
        _row(10, "b", "control"),
        _row(11, "c", "treatment"),
        _row(30, "d", "treatment"),  # after the stop
    ]
    _write(logs(project), rows, [])
    record = Experiment(
        experiment_id="e1",
        project=project.name,
        name=NAME,
        spec_sha256="-",
        spec="{}",
        control_version="3",
        treatment_version="4",
        unit="customer_id",
        allocation=0.3,
        salt=NAME,
        status="stopped",
        started_at=(START + timedelta(minutes=5)).isoformat(),
        started_by="alice",
        stopped_at=(START + timedelta(minutes=20)).isoformat(),
    )
    # a day partition long before the start is not even opened (this file is not Parquet)
    old = logs(project) / "predictions" / "date=2025-01-01" / "version=1"
    old.mkdir(parents=True)
    (old / "part-0.parquet").write_bytes(b"not parquet")
    result = analyze(project, NAME, record=record)
    assert [(a.arm, a.version, a.units) for a in result.exposure.arms] == [
        ("control", "3", 1),
        ("treatment", "4", 1),
    ]
    assert [a.expected_share for a in result.exposure.arms] == [0.7, 0.3]
    assert result.status == "stopped"
    assert result.until == (START + timedelta(minutes=20)).isoformat()
