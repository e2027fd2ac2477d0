"""The operational profile of a model: how fast it answers, how big it is, what it costs.

Latency is wall time of the model's own predict (``predict_proba`` for classifiers that have
it) on one row and on a batch of 256 rows, over repeated calls after a warm-up; CPU time per
prediction comes from the process CPU clock over the batch calls, and the cost per 1,000
predictions from the spec's price per CPU-hour, in the spec's currency. These are measurements
of this machine at this moment: the document records them with the host's core count, not as
guarantees.

Single-row calls run with one thread per native thread pool (OpenMP, BLAS), as a server
answering one row does best: a pool of threads woken for one row costs more than the row, and on
a busy machine its threads wait for cores (a single-row p95 of 2.2 s was seen on a busy 2-core
machine). Batches run with the evaluation's ``resources.threads``. The document records both.
"""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from goldenpath.evaluation.document import Operations
from goldenpath.training._memory import track_peak_memory
from goldenpath.training._threads import limited_threads, pool_threads

__all__ = ["directory_size", "operational_profile"]

BATCH = 256
_WARMUP = 3


def directory_size(path: Path) -> int:
    """Bytes of every file below ``path`` (or of ``path`` itself)."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _predictor(model: Any) -> Any:
    proba = getattr(model, "predict_proba", None)
    return proba if callable(proba) else model.predict


def _timed(call: Any, frame: pd.DataFrame) -> float:
    started = time.perf_counter()
    call(frame)
    return (time.perf_counter() - started) * 1000.0


def operational_profile(
    model: Any,
    features: pd.DataFrame,
    *,
    price_per_cpu_hour: float,
    currency: str = "USD",
    model_size_bytes: int | None,
    repeats: int = 50,
    seed: int = 0,
    threads: int | None = None,
) -> Operations:
    """Measure ``model`` on rows drawn from ``features`` (at least one row needed): single
    rows with one thread per native thread pool, batches with ``threads`` (default: the pools'
    current size)."""
    predict = _predictor(model)
    rng = np.random.default_rng(seed)
    n = len(features)
    single_rows = [features.iloc[[int(i)]] for i in rng.integers(0, n, repeats + _WARMUP)]
    batch = features.iloc[rng.integers(0, n, BATCH)]
    with limited_threads(1):
        for frame in single_rows[:_WARMUP]:
            predict(frame)
        single = np.array([_timed(predict, frame) for frame in single_rows[_WARMUP:]])
    with limited_threads(threads) if threads is not None else nullcontext():
        batch_threads = pool_threads()
        for _ in range(_WARMUP):
            predict(batch)
        batch_repeats = max(5, repeats // 5)
        cpu_started = time.process_time()
        batched = np.array([_timed(predict, batch) for _ in range(batch_repeats)])
        cpu_seconds = time.process_time() - cpu_started
        cpu_per_prediction = cpu_seconds / (batch_repeats * BATCH)
        big = features.iloc[rng.integers(0, n, min(max(n, BATCH), 20_000))]
        with track_peak_memory() as memory:
            predict(big)
    return Operations(
        single_row_p50_ms=float(np.percentile(single, 50)),
        single_row_p95_ms=float(np.percentile(single, 95)),
        batch_size=BATCH,
        batch_p50_ms=float(np.percentile(batched, 50)),
        batch_p95_ms=float(np.percentile(batched, 95)),
        cpu_ms_per_prediction=cpu_per_prediction * 1000.0,
        cost_per_1000_predictions=cpu_per_prediction * 1000.0 / 3600.0 * price_per_cpu_hour,
        price_per_cpu_hour=price_per_cpu_hour,
        model_size_bytes=model_size_bytes,
        peak_memory_increase_mb=memory.increase_mb,
        repeats=repeats,
        cpu_count=os.cpu_count() or 1,
        currency=currency,
        single_row_threads=1,
        batch_threads=batch_threads,
    )
