"""Evaluation at scale: 1,000,000 rows, 20 declared slices, 1,000 resamples for every metric.

goldenpath computes every binary metric with a bootstrap interval overall and on every slice
group, plus calibration, thresholds, curves, fairness, worst-slice discovery (with intervals
for the 10 worst), failure rules and robustness (with a stand-in model), from scores already
predicted (the model's own predict time is not the evaluation's). The peer is the usual way:
a loop over resamples drawing row indices and calling scikit-learn's metric functions; it is
timed on a few resamples of the overall set only and extrapolated linearly to the same work
(resamples x row sets), which flatters the peer (its per-call overhead on small slices is
ignored).

    python benchmarks/evaluation.py [--rows 1000000] [--resamples 1000] [--peer-resamples 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import yaml
from sklearn import metrics as skm

from goldenpath.evaluation.bootstrap import bootstrap
from goldenpath.evaluation.calibration import calibration, curves, threshold_analysis
from goldenpath.evaluation.failures import candidates, failure_rules, worst_candidates
from goldenpath.evaluation.fairness import FairnessPass
from goldenpath.evaluation.metrics import Scored, metrics_for
from goldenpath.evaluation.robustness import robustness
from goldenpath.evaluation.slices import slice_groups
from goldenpath.spec import parse_spec
from goldenpath.training._memory import track_peak_memory


def _data(rows: int, decimals: int | None) -> tuple[pd.DataFrame, Scored]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "region": rng.choice([f"r{i}" for i in range(8)], rows),
            "plan": rng.choice(["basic", "plus", "pro", "max"], rows),
            "age": rng.integers(18, 90, rows),
            "gender": rng.choice(["f", "m"], rows),
        }
    )
    y = rng.integers(0, 2, rows)
    score = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    if decimals is not None:
        score = score.round(decimals)
    proba = np.stack([1 - score, score], 1)
    scored = Scored("binary_classification", y, (score >= 0.5).astype(int), proba, ("n", "y"))
    frame["label"] = np.where(y == 1, "y", "n")
    return frame, scored


SPEC = {
    "project": {"name": "bench", "owners": ["bench"]},
    "task": {"type": "binary_classification", "target": "label", "positive_label": "y"},
    "data": {
        "source": "unused.csv",
        "sensitive_features": ["gender"],
        "contract": {
            "columns": {
                "region": {"dtype": "str"},
                "plan": {"dtype": "str"},
                "age": {"dtype": "int"},
                "gender": {"dtype": "str"},
                "label": {"dtype": "str", "allowed": ["n", "y"]},
            }
        },
        # 8 regions + 4 plans + 6 age bins + 2 genders = 20 slice groups
        "slices": [
            {"name": "region", "column": "region"},
            {"name": "plan", "column": "plan"},
            {"name": "age", "column": "age", "bins": [18, 30, 40, 50, 60, 70, 90]},
        ],
    },
    "training": {"entrypoint": "m:train"},
}


def _goldenpath(frame: pd.DataFrame, scored: Scored, resamples: int) -> tuple[float, float, int]:
    spec = parse_spec(yaml.safe_dump(SPEC))
    started, cpu = time.perf_counter(), time.process_time()
    groups = slice_groups(spec, frame)
    row_sets = {"overall": np.arange(scored.n), **{g.name: g.rows for g in groups}}
    # as `goldenpath evaluate` does: discovery first, its 10 worst slices join the bootstrap
    errors = scored.y != scored.pred
    features = frame.drop(columns=["label"])
    tested = candidates(features, errors, min_rows=30)
    worst = worst_candidates(tested, top=10)
    row_sets.update({f"discovered: {c.rule}": np.flatnonzero(c.mask) for c in worst})
    # fairness on the metrics' resamples, handed over block by block as they are drawn
    fairness = FairnessPass({"gender": frame["gender"]}, scored.y, scored.pred)
    bootstrap(
        scored,
        metrics_for(scored),
        row_sets,
        n_resamples=resamples,
        seed=1,
        on_block=fairness.add,
    )
    fairness.reports()
    failure_rules(features, errors, min_rows=30, tested=tested)
    score = scored.proba[:, 1]  # type: ignore[index]
    calibration(score, scored.y)
    threshold_analysis(score, scored.y, cost_false_positive=1, cost_false_negative=5)
    curves(score, scored.y)

    def rescore(damaged: pd.DataFrame) -> Scored:  # a stand-in model: logistic on age
        s = 1 / (1 + np.exp(-(damaged["age"].to_numpy(dtype="float64") - 50) / 10))
        s = np.nan_to_num(s, nan=0.5)
        y = scored.y[damaged.index.to_numpy()]
        return Scored(
            "binary_classification",
            y,
            (s >= 0.5).astype(int),
            np.stack([1 - s, s], 1),
            scored.classes,
        )

    primary = next(m for m in metrics_for(scored) if m.name == "roc_auc_score")
    robustness(features, rescore, rescore(features), primary, seed=1)
    return time.perf_counter() - started, time.process_time() - cpu, len(row_sets)


def _peer_per_resample(scored: Scored, resamples: int) -> float:
    rng = np.random.default_rng(1)
    score = scored.proba[:, 1]  # type: ignore[index]
    started = time.perf_counter()
    for _ in range(resamples):
        i = rng.integers(0, scored.n, scored.n)
        y, s, p = scored.y[i], score[i], scored.pred[i]
        skm.roc_auc_score(y, s)
        skm.average_precision_score(y, s)
        skm.log_loss(y, scored.proba[i])  # type: ignore[index]
        skm.brier_score_loss(y, s)
        skm.accuracy_score(y, p)
        skm.precision_score(y, p)
        skm.recall_score(y, p)
        skm.f1_score(y, p)
    return (time.perf_counter() - started) / resamples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--peer-resamples", type=int, default=5)
    parser.add_argument(
        "--score-decimals",
        type=int,
        default=None,
        help="round scores (fewer distinct values); default: continuous scores",
    )
    args = parser.parse_args()
    frame, scored = _data(args.rows, args.score_decimals)
    with track_peak_memory() as memory:
        seconds, cpu, row_sets = _goldenpath(frame, scored, args.resamples)
    per_resample = _peer_per_resample(scored, args.peer_resamples)
    # the peer's work for the same result: every resample of every row set; a slice costs in
    # proportion to its rows, so the sum of row-set sizes over n counts whole-data passes
    passes = sum(len(rows) for rows in [np.arange(scored.n)]) / scored.n
    slice_rows = sum(len(g.rows) for g in slice_groups(parse_spec(yaml.safe_dump(SPEC)), frame))
    passes += slice_rows / scored.n
    peer = per_resample * args.resamples * passes
    distinct = len(np.unique(scored.proba[:, 1]))  # type: ignore[index]
    print(
        f"{args.rows:,} rows ({distinct:,} distinct scores), {row_sets} row sets "
        f"(overall, 20 declared slice groups, {row_sets - 21} discovered), "
        f"{args.resamples:,} resamples, 9 metrics each, binary"
    )
    print(
        f"  goldenpath: {seconds:7.1f} s ({cpu:.1f} s of CPU time: on a busy machine the wall "
        f"time stretches, the CPU time much less), peak memory {memory.increase_mb:,.0f} MB above "
        f"the {memory.baseline_mb:,.0f} MB held before (data included in the baseline)"
    )
    print(
        f"  scikit-learn resampling loop: {per_resample:.2f} s per resample of the whole set "
        f"(measured on {args.peer_resamples}), extrapolated to the same work: {peer:,.0f} s"
    )
    print(f"  ratio peer / goldenpath: {peer / seconds:.0f}x")


if __name__ == "__main__":
    main()
