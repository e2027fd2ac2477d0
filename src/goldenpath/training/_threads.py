"""Caps on the native thread pools (OpenMP, BLAS) while a block runs.

Training, reproduction and evaluation run under ``resources.threads``
(:class:`~goldenpath.spec.models.ResourcesSpec`), and the latency profile times single-row
predictions with one thread. The cap is set around the work only, never for the whole process,
and is lifted when the block ends; it lowers a pool, never raises one. It applies to the
libraries loaded when the block starts (the entrypoint's module is imported before its function
is called, so the libraries it imports at the top are capped).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_info, threadpool_limits

__all__ = ["limited_threads", "pool_threads"]


@contextmanager
def limited_threads(threads: int) -> Iterator[int]:
    """At most ``threads`` threads in every native thread pool while the block runs; yields the
    most threads a pool then has (``threads`` when no pool is loaded). A cap never raises a
    pool: one that is smaller already (``OMP_NUM_THREADS=1`` in the environment, an enclosing
    cap) keeps its size."""
    limits: dict[str, int] = {}
    for pool in threadpool_info():
        api = str(pool["user_api"])
        limits[api] = min(limits.get(api, threads), int(pool["num_threads"]))
    with threadpool_limits(limits=limits or threads):
        yield max(limits.values(), default=threads)


def pool_threads() -> int | None:
    """The largest thread count of the native thread pools loaded now (``None``: none is)."""
    counts = [int(pool["num_threads"]) for pool in threadpool_info()]
    return max(counts) if counts else None
