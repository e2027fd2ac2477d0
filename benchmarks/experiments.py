"""Experiment analysis at scale: goldenpath's ``analyze`` over 10,000,000 exposures with feedback,
and GrowthBook's stats engine (gbstats 0.8) on the same aggregated inputs, in one run.

The data (generated once, seeded, kept under build/bench-experiments/): a project whose
``.goldenpath/logs`` holds 10,000,000 served rows of one experiment in the prediction log's
layout (``predictions/date=D/version=V/part-*.parquet``, 40 files over 10 days, the columns the
server logs plus the experiment's ``experiment``, ``arm``, ``unit``, and three contract inputs),
2,000,000 units (about 5 exposures each; the arm a hash of the unit, 50/50), and feedback for 30%
of the rows (``feedback/date=D/``) with a label and a value, 5% of them sent twice (a
correction). The treatment converts 3% more (relative) and is 1 ms slower. The spec's experiment
has a proportion primary (the label), four guardrails (latency per row, a ratio; revenue, a
mean; accuracy per row, a ratio; fallbacks, a proportion) and a covariate (CUPED).

Each measurement runs in a fresh interpreter (imports excluded from the time):

- ``analyze``: the whole of ``goldenpath.experiments.analysis.analyze`` (the DuckDB query over
  every file, per unit and per arm, then SRM, effects, Bayesian views and guardrails);
- ``aggregation``: the DuckDB query alone (``aggregate_experiment``);
- ``statistics``: goldenpath's statistics on the aggregated sums alone (``compare``,
  ``bayesian`` per metric and ``sample_ratio_mismatch``), and gbstats on the same sums in its
  venv (build/bench-venvs/gbstats, made by scripts/gbstats_reference.py): the two-sided t test
  (fixed, relative), the sequential one, the effect Bayesian test per metric and ``check_srm``.
  Both are repeated ``--repeats`` times and the time of one pass is printed.

Memory is the child's peak resident set (``getrusage(RUSAGE_SELF).ru_maxrss``), imports and all;
the parent generates nothing itself (the data is made in a child), since a child's ru_maxrss
starts at its parent's.

Target (issue 17): the analysis of 10M exposures with feedback under 10 s and 1 GB on this
machine. Printed, not asserted.

    python benchmarks/experiments.py [--rows 10000000] [--units 2000000] [--repeats 200]
                                     [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
GBSTATS_VENV = BUILD / "bench-venvs" / "gbstats"
SEED = 20261203
DATA_VERSION = 1  # bump when _generate changes, so stale files are not reused
NAME = "bench"
FILES = 40
DAYS = 10
FEEDBACK_SHARE = 0.3
CORRECTED_SHARE = 0.05

SPEC = {
    "project": {"name": "bench-experiments", "owners": ["bench@example.com"]},
    "task": {"type": "binary_classification", "target": "label", "positive_label": "yes"},
    "data": {
        "source": "data.csv",
        "id_column": "customer_id",
        "contract": {
            "columns": {
                "customer_id": {"dtype": "str"},
                "age": {"dtype": "int"},
                "spend": {"dtype": "float"},
                "plan": {"dtype": "str"},
                "label": {"dtype": "str", "allowed": ["no", "yes"]},
            }
        },
    },
    "training": {"entrypoint": "model:train"},
    "experiments": [
        {
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
                    "max_relative_change": 0.2,
                },
                {"name": "revenue", "source": "value", "kind": "mean", "max_relative_change": 0.05},
                {"name": "accuracy", "source": "correct", "kind": "ratio", "denominator": "rows"},
                {"name": "fallbacks", "source": "degraded", "kind": "proportion"},
            ],
            "mde": 0.02,
            "covariate": "spend",
            "method": "sequential",
        }
    ],
}


# ------------------------------------------------------------------ the data (in a child)


def _generate(rows: int, units: int, project: Path) -> None:
    """Write the project and its logs (see the module), file by file."""
    from datetime import UTC, datetime, timedelta

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    import yaml

    project.mkdir(parents=True, exist_ok=True)
    (project / "goldenpath.yaml").write_text(yaml.safe_dump(SPEC, sort_keys=False))
    logs = project / ".goldenpath" / "logs"
    rng = np.random.default_rng(SEED)
    # per unit: the arm (a hash of the unit) and what drives its behaviour
    unit_ids = np.arange(units, dtype=np.int64)
    treated_unit = ((unit_ids * 2654435761) % 2**32) < 2**31
    spend_unit = rng.gamma(2.0, 20.0, units)
    age_unit = rng.integers(18, 80, units)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    per_file = rows // FILES
    request = 0
    for f in range(FILES):
        n = per_file if f < FILES - 1 else rows - per_file * (FILES - 1)
        day = f * DAYS // FILES
        unit = rng.integers(0, units, n)
        treated = treated_unit[unit]
        seconds = np.sort(rng.uniform(0, 86_400 * DAYS / FILES, n)) + 86_400 * DAYS / FILES * f
        stamp = pa.array(
            (np.datetime64(start.replace(tzinfo=None), "us") + (seconds * 1e6).astype("m8[us]")),
            pa.timestamp("us"),
        ).cast(pa.timestamp("us", tz="UTC"))
        ids = pc.binary_join_element_wise(
            "req-", pc.cast(pa.array(np.arange(request, request + n)), pa.string()), ""
        )
        request += n
        spend = spend_unit[unit] + rng.normal(0, 2, n)
        p = np.clip(0.1 + 0.002 * spend_unit[unit], 0, 0.9) * np.where(treated, 1.03, 1.0)
        converted = rng.random(n) < p
        prediction = np.where(rng.random(n) < np.clip(p + 0.2, 0, 1), "yes", "no")
        arm = np.where(treated, "treatment", "control")
        table = pa.table(
            {
                "request_id": ids,
                "row": pa.array(np.zeros(n, dtype=np.int32)),
                "timestamp": stamp,
                "model_name": pa.array(["churn"] * 1, pa.string()).take(np.zeros(n, dtype=int)),
                "model_version": pa.array(np.where(treated, "2", "1")),
                "route": pa.array(np.where(treated, "challenger", "champion")),
                "kind": pa.array(["served"]).take(np.zeros(n, dtype=int)),
                "latency_ms": rng.gamma(3.0, 2.0, n) + np.where(treated, 1.0, 0.0),
                "degraded": rng.random(n) < 0.001,
                "prediction": pa.array(prediction),
                "prediction_value": pa.nulls(n, pa.float64()),
                "score": rng.random(n),
                "event_time": pa.nulls(n, pa.timestamp("us", tz="UTC")),
                "customer_id": pc.binary_join_element_wise(
                    "user-", pc.cast(pa.array(unit), pa.string()), ""
                ),
                "age": age_unit[unit],
                "spend": spend,
                "plan": pa.array(np.array(["basic", "plus", "pro"])[rng.integers(0, 3, n)]),
                "experiment": pa.array([NAME]).take(np.zeros(n, dtype=int)),
                "arm": pa.array(arm),
                "unit": pc.binary_join_element_wise(
                    "user-", pc.cast(pa.array(unit), pa.string()), ""
                ),
            }
        )
        date = (start + timedelta(days=day)).date().isoformat()
        for version in ("1", "2"):
            mask = pa.array(treated == (version == "2"))
            folder = logs / "predictions" / f"date={date}" / f"version={version}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(table.filter(mask), folder / f"part-{f:03d}.parquet")
        # feedback: a share of the rows, a few of them twice (the first label wrong)
        sent = np.flatnonzero(rng.random(n) < FEEDBACK_SHARE)
        twice = sent[rng.random(len(sent)) < CORRECTED_SHARE]
        label = np.where(converted, "yes", "no")
        value = np.where(converted, rng.gamma(2.0, 15.0, n), 0.0)
        sent_stamp = pc.add(stamp.take(sent), pa.scalar(timedelta(hours=2)))
        twice_stamp = pc.add(stamp.take(twice), pa.scalar(timedelta(hours=1)))
        feedback = pa.concat_tables(
            [
                pa.table(
                    {
                        "request_id": ids.take(twice),
                        "row": pa.array(np.zeros(len(twice), dtype=np.int32)),
                        "timestamp": twice_stamp,
                        "label": pa.array(np.where(label[twice] == "yes", "no", "yes")),
                        "label_value": pa.nulls(len(twice), pa.float64()),
                        "correction": pa.array(np.zeros(len(twice), dtype=bool)),
                        "credential": pa.nulls(len(twice), pa.string()),
                        "value": value[twice] + 10.0,
                    }
                ),
                pa.table(
                    {
                        "request_id": ids.take(sent),
                        "row": pa.array(np.zeros(len(sent), dtype=np.int32)),
                        "timestamp": sent_stamp,
                        "label": pa.array(label[sent]),
                        "label_value": pa.nulls(len(sent), pa.float64()),
                        "correction": pa.array(np.isin(sent, twice)),
                        "credential": pa.nulls(len(sent), pa.string()),
                        "value": value[sent],
                    }
                ),
            ]
        )
        folder = logs / "feedback" / f"date={date}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(feedback, folder / f"part-{f:03d}.parquet")


def _data(rows: int, units: int) -> Path:
    project = BUILD / "bench-experiments" / f"v{DATA_VERSION}-{rows}-{units}"
    done = project / "done"
    if not done.exists():
        print(f"generating {rows:,} exposures of {units:,} units in {project} ...", flush=True)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, __file__, "--child", "generate", str(project), str(rows), str(units)],
            check=True,
        )
        done.write_text("ok\n")
        print(f"  generated in {time.perf_counter() - started:.1f} s", flush=True)
    return project


# ------------------------------------------------------------------ the measurements (children)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child_analyze(project: Path, what: str, repeats: int) -> dict[str, Any]:
    from goldenpath.experiments import bayesian, compare, sample_ratio_mismatch
    from goldenpath.experiments.analysis import aggregate_experiment, analyze, experiment_spec
    from goldenpath.project import open_project

    opened = open_project(project)
    experiment = experiment_spec(opened, NAME)
    imported_mb = _peak_mb()
    started = time.perf_counter()
    cpu = time.process_time()
    out: dict[str, Any] = {}
    if what == "analyze":
        result = analyze(opened, NAME)
        out["decision"] = f"{result.decision.recommendation}: {result.decision.reason}"
        out["units"] = sum(a.units for a in result.exposure.arms)
        out["rows"] = sum(a.rows for a in result.exposure.arms)
        out["feedback_rows"] = sum(a.feedback_rows for a in result.exposure.arms)
        out["primary"] = result.primary.effect.model_dump() if result.primary.effect else None
    else:
        found = aggregate_experiment(opened, experiment)
        out["sums"] = {
            metric: {arm: vars(stats) for arm, stats in arms.items()}
            for metric, arms in found.sums.items()
        }
        out["units"] = found.exposures.units
    out["seconds"] = time.perf_counter() - started
    out["cpu_seconds"] = time.process_time() - cpu
    out["peak_mb"] = _peak_mb()
    out["imported_mb"] = imported_mb
    if what == "aggregation":
        metrics = {m.name: m for m in experiment.metrics}
        units = [found.exposures.units["control"], found.exposures.units["treatment"]]
        started = time.perf_counter()
        for _ in range(repeats):
            for name, arms in found.sums.items():
                control, treatment = arms["control"], arms["treatment"]
                cuped = control.covariate_sum is not None
                for method in ("fixed", "sequential"):
                    compare(control, treatment, alpha=0.05, method=method, cuped=cuped)
                bayesian(
                    control,
                    treatment,
                    alpha=0.05,
                    higher_is_better=metrics[name].higher_is_better,
                    cuped=cuped,
                )
            sample_ratio_mismatch(units, [0.5, 0.5])
        out["statistics_seconds"] = (time.perf_counter() - started) / repeats
    return out


GBSTATS_CHILD = r"""
import json, sys, time
from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig
from gbstats.frequentist.tests import (
    FrequentistConfig, SequentialConfig, SequentialTwoSidedTTest, TwoSidedTTest)
from gbstats.models.statistics import (
    RatioStatistic, RegressionAdjustedStatistic, SampleMeanStatistic)
from gbstats.utils import check_srm

data = json.load(sys.stdin)
repeats = data["repeats"]


def statistic(arm):
    n = arm["n"]
    main = SampleMeanStatistic(n=n, sum=arm["sum"], sum_squares=arm["sum_squares"])
    if arm["denominator_sum"] is not None:
        d = SampleMeanStatistic(
            n=n, sum=arm["denominator_sum"], sum_squares=arm["denominator_sum_squares"])
        return RatioStatistic(n=n, m_statistic=main, d_statistic=d,
                              m_d_sum_of_products=arm["cross_sum"])
    if arm["covariate_sum"] is not None:
        pre = SampleMeanStatistic(
            n=n, sum=arm["covariate_sum"], sum_squares=arm["covariate_sum_squares"])
        return RegressionAdjustedStatistic(
            n=n, post_statistic=main, pre_statistic=pre,
            post_pre_sum_of_products=arm["covariate_cross_sum"], theta=0)
    return main


started = time.perf_counter()
answers = {}
for _ in range(repeats):
    for name, metric in data["sums"].items():
        c, t = metric["control"], metric["treatment"]
        fixed = TwoSidedTTest(statistic(c), statistic(t), FrequentistConfig(alpha=0.05))
        fixed = fixed.compute_result()
        sequential = SequentialTwoSidedTTest(
            statistic(c), statistic(t), SequentialConfig(alpha=0.05)).compute_result()
        bayes = EffectBayesianABTest(
            statistic(c), statistic(t),
            EffectBayesianConfig(alpha=0.05, inverse=not data["higher"][name])).compute_result()
        answers[name] = {"relative": float(fixed.expected), "ci": [float(v) for v in fixed.ci],
                         "p_value": float(fixed.p_value),
                         "chance_to_win": float(bayes.chance_to_win)}
    check_srm(data["units"], [0.5, 0.5])
seconds = (time.perf_counter() - started) / repeats
json.dump({"seconds": seconds, "answers": answers}, sys.stdout)
"""


def _run_child(project: Path, what: str, repeats: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", what, str(project), str(repeats)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _gbstats(aggregated: dict[str, Any], repeats: int) -> dict[str, Any] | str:
    python = GBSTATS_VENV / "bin" / "python"
    if not python.exists():
        return (
            f"skipped: no gbstats venv at {GBSTATS_VENV.relative_to(ROOT)} "
            "(make it with .venv/bin/python scripts/gbstats_reference.py)"
        )
    higher = {m["name"]: m.get("higher_is_better", True) for m in _metrics()}
    data = {
        "sums": aggregated["sums"],
        "units": [aggregated["units"]["control"], aggregated["units"]["treatment"]],
        "higher": higher,
        "repeats": repeats,
    }
    done = subprocess.run(
        [str(python), "-c", GBSTATS_CHILD],
        input=json.dumps(data),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return f"skipped: gbstats failed: {done.stderr.strip().splitlines()[-1:]}"
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def _metrics() -> list[dict[str, Any]]:
    experiment = SPEC["experiments"][0]  # type: ignore[index]
    return [experiment["primary"], *experiment["guardrails"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--units", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    project = _data(args.rows, args.units)
    size = sum(p.stat().st_size for p in (project / ".goldenpath" / "logs").rglob("*.parquet"))
    print(
        f"{args.rows:,} exposures of {args.units:,} units, feedback for "
        f"{FEEDBACK_SHARE:.0%} of the rows ({CORRECTED_SHARE:.0%} of them corrected): "
        f"{size / 2**20:,.0f} MiB of Parquet; {os.cpu_count()} CPUs",
        flush=True,
    )
    full = _run_child(project, "analyze", args.repeats)
    aggregated = _run_child(project, "aggregation", args.repeats)
    gbstats = _gbstats(aggregated, args.repeats)
    print(f"decision: {full['decision']}")
    print(
        f"read: {full['rows']:,} rows of {full['units']:,} units, "
        f"{full['feedback_rows']:,} rows with feedback"
    )
    print(f"{'part':<34}{'wall s':>9}{'cpu s':>9}{'peak RSS MB':>13}")
    print(
        f"{'goldenpath analyze (all of it)':<34}{full['seconds']:>9.2f}"
        f"{full['cpu_seconds']:>9.2f}{full['peak_mb']:>13.0f}"
    )
    print(
        f"{'goldenpath aggregation (DuckDB)':<34}{aggregated['seconds']:>9.2f}"
        f"{aggregated['cpu_seconds']:>9.2f}{aggregated['peak_mb']:>13.0f}"
    )
    print(f"  (the interpreter with its imports before the analysis: {full['imported_mb']:.0f} MB)")
    ours = aggregated["statistics_seconds"]
    print(f"statistics on the aggregated sums ({len(_metrics())} metrics, SRM), one pass:")
    print(f"  goldenpath  {ours * 1000:8.2f} ms")
    if isinstance(gbstats, str):
        print(f"  gbstats     {gbstats}")
    else:
        theirs = gbstats["seconds"]
        print(
            f"  gbstats     {theirs * 1000:8.2f} ms  (gbstats / goldenpath: {theirs / ours:.1f}x)"
        )
    target = full["seconds"] < 10 and full["peak_mb"] < 1024
    print(f"target (under 10 s and 1 GB): {'met' if target else 'NOT met'}")
    if args.json is not None:
        report = {
            "rows": args.rows,
            "units": args.units,
            "parquet_mib": size / 2**20,
            "analyze": full,
            "aggregation": {k: v for k, v in aggregated.items() if k != "sums"},
            "gbstats": gbstats,
        }
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        kind = sys.argv[2]
        if kind == "generate":
            _generate(int(sys.argv[4]), int(sys.argv[5]), Path(sys.argv[3]))
        else:
            answer = _child_analyze(Path(sys.argv[3]), kind, int(sys.argv[4]))
            print(json.dumps(answer, default=str))
    else:
        main()
