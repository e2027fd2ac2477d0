"""``resources.threads``: the spec's default, the cap inside the user's entrypoint while it fits
(and lifted after it), and the latency profile timing single rows with one thread."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sklearn.ensemble  # noqa: F401  (loads OpenMP, so that there is a pool to cap)
import yaml
from threadpoolctl import threadpool_info, threadpool_limits

import goldenpath
from conftest import MakeProject, small_spec
from goldenpath.errors import SpecInvalid
from goldenpath.evaluation.operations import operational_profile
from goldenpath.spec import parse_spec
from goldenpath.spec.models import usable_cores
from goldenpath.training import fit_model

THREAD_MODEL = """
from threadpoolctl import threadpool_info
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline


def train(frame, params):
    seen = {pool["user_api"]: pool["num_threads"] for pool in threadpool_info()}
    numbers = ColumnTransformer([("numbers", "passthrough", ["age", "spend"])])
    model = Pipeline([("numbers", numbers), ("model", LogisticRegression())])
    model.fit(frame.drop(columns=["label"]), frame["label"])
    model.seen_threads_ = seen
    return model
"""


def _pools() -> set[int]:
    return {int(pool["num_threads"]) for pool in threadpool_info()}


def test_threads_default_to_the_cores_the_process_may_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = parse_spec(yaml.safe_dump(small_spec()), source="goldenpath.yaml")
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert spec.resources.threads == expected == usable_cores()
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 7)
    assert usable_cores() == 7
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert usable_cores() == 1


def test_threads_must_be_at_least_one() -> None:
    text = yaml.safe_dump({**small_spec(), "resources": {"threads": 0}})
    with pytest.raises(SpecInvalid, match=r"resources\.threads"):
        parse_spec(text, source="goldenpath.yaml")
    spec = parse_spec(yaml.safe_dump({**small_spec(), "resources": {"threads": 3}}), source="x")
    assert spec.resources.threads == 3


@pytest.mark.parametrize(("outer", "threads", "capped"), [(2, 1, 1), (2, 3, 2), (3, 3, 3)])
def test_the_entrypoint_runs_under_the_cap_and_the_cap_is_lifted_after(
    make_project: MakeProject, outer: int, threads: int, capped: int
) -> None:
    """The cap lowers the pools (never raises them: a smaller pool, as OMP_NUM_THREADS=1
    makes it, keeps its size), for the entrypoint's call only."""
    assert threadpool_info(), "no native thread pool is loaded"
    spec = small_spec(**{"training.entrypoint": "thread_model:train"})
    spec["resources"] = {"threads": threads}
    root = make_project(spec=spec)
    (root / "thread_model.py").write_text(THREAD_MODEL)
    project = goldenpath.open_project(root)
    with threadpool_limits(limits=outer):
        fitted = fit_model(project)
        assert _pools() == {outer}  # only the entrypoint's call was capped
    seen = fitted.model.seen_threads_
    assert set(seen) >= {"openmp", "blas"}
    assert set(seen.values()) == {capped}
    assert fitted.threads == capped  # what lineage.json records


def test_fit_model_takes_a_cap_over_the_spec(make_project: MakeProject) -> None:
    spec = small_spec(**{"training.entrypoint": "thread_model:train"})
    spec["resources"] = {"threads": 2}
    root = make_project(spec=spec)
    (root / "thread_model.py").write_text(THREAD_MODEL)
    with threadpool_limits(limits=2):
        fitted = fit_model(goldenpath.open_project(root), threads=1)  # as reproduce passes it
    assert set(fitted.model.seen_threads_.values()) == {1}
    assert fitted.threads == 1


class _Recording:
    """A model whose predict_proba records how many rows it got and the pools' thread count."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, set[int]]] = []

    def predict_proba(self, frame: pd.DataFrame) -> Any:
        self.calls.append((len(frame), _pools()))
        return np.full((len(frame), 2), 0.5)


def test_the_profile_times_single_rows_with_one_thread_and_batches_with_the_cap() -> None:
    features = pd.DataFrame({"x": np.arange(40.0)})
    model = _Recording()
    with threadpool_limits(limits=3):
        ops = operational_profile(
            model, features, price_per_cpu_hour=0.05, model_size_bytes=None, repeats=5, threads=2
        )
        assert _pools() == {3}
    singles = [pools for rows, pools in model.calls if rows == 1]
    batches = [pools for rows, pools in model.calls if rows > 1]
    assert len(singles) == 5 + 3  # the timed calls and the warm-up
    assert all(pools == {1} for pools in singles)
    assert batches
    assert all(pools == {2} for pools in batches)
    assert (ops.single_row_threads, ops.batch_threads) == (1, 2)


def test_the_profile_records_the_pools_it_ran_with_when_not_told() -> None:
    model = _Recording()
    with threadpool_limits(limits=2):
        ops = operational_profile(
            model, pd.DataFrame({"x": [1.0, 2.0]}), price_per_cpu_hour=0.0, model_size_bytes=None
        )
    assert (ops.single_row_threads, ops.batch_threads) == (1, 2)
