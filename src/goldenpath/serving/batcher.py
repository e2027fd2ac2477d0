"""Adaptive micro-batching: concurrent requests coalesced into one predict call.

Requests wait in a bounded queue. One worker takes the first waiting request and every other one
already queued (up to ``max_batch_size`` rows), optionally waits ``max_wait_ms`` for more, and
runs one predict call on a thread while the event loop keeps accepting requests. So an idle
server adds no latency (a lone request is predicted at once) and a busy one batches exactly what
queued while the model was busy: batch size adapts to load. A full queue sheds load at once
(:class:`Overloaded`, HTTP 503 with Retry-After) instead of letting latency grow without limit.

A request larger than ``slice_rows`` rows (``serving.limits.slice_rows``, never below
``max_batch_size``) is predicted in slices of that size, one predict call each, and its caller is
checked before every slice: a request that timed out (its future cancelled) stops costing model
time within one slice, instead of after all its rows. Slices are large (1024 rows by default)
because one call on many rows costs far less than many calls on few.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

__all__ = ["Batcher", "Columns", "Outputs", "Overloaded", "Retired"]


def _limit_threads(threads: int) -> None:
    """Cap the native thread pools (OpenMP, BLAS) of the predict thread. A gradient-boosting
    model predicting one small batch gains nothing from them, and their spinning threads compete
    with the event loop for the cores: on 2 cores, one row took 15 ms instead of 6."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)


class Overloaded(Exception):
    """The queue is full: the request is refused before any work."""


class Retired(Exception):
    """The batcher's model was replaced: ask the current one (see Deployment.answer)."""


@dataclass(frozen=True)
class Outputs:
    """Per-row predictions and scores (positive-class probability, or None); a multiclass
    classifier's probability of every class, by class label, per row (otherwise None)."""

    predictions: list[Any]
    scores: list[float | None]
    probabilities: list[dict[str, float]] | None = None

    def rows(self, start: int, stop: int) -> Outputs:
        """The outputs of rows ``start`` to ``stop`` (exclusive)."""
        probabilities = self.probabilities
        return Outputs(
            self.predictions[start:stop],
            self.scores[start:stop],
            None if probabilities is None else probabilities[start:stop],
        )


Columns = dict[str, list[Any]]  # checked rows, column by column (see validation.RowValidator)
PredictFn = Callable[[Columns], Outputs]


@dataclass
class _Job:
    columns: Columns
    rows: int
    future: asyncio.Future[Outputs]


def _merge(jobs: list[_Job]) -> Columns:
    """One batch's columns: list concatenation, cheap enough for the event loop."""
    if len(jobs) == 1:
        return jobs[0].columns
    merged: Columns = {name: [] for name in jobs[0].columns}
    for job in jobs:
        for name, values in job.columns.items():
            merged[name].extend(values)
    return merged


class Batcher:
    """One model's queue and worker. ``observe(batch_rows, seconds)`` sees every batch."""

    def __init__(
        self,
        predict: PredictFn,
        *,
        max_batch_size: int,
        max_wait_ms: float,
        max_queue: int,
        observe: Callable[[int, float], None] = lambda rows, seconds: None,
        threads: int = 1,
        slice_rows: int = 1024,
    ) -> None:
        self.predict = predict
        self.max_batch_size = max_batch_size
        # a request larger than this is predicted slice by slice (never below a batch's size)
        self.slice_rows = max(max_batch_size, slice_rows)
        self.max_wait = max_wait_ms / 1000.0
        # unbounded underneath: the bound is enforced in submit, so close() can always enqueue
        # its stop marker behind the waiting work
        self.queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self.max_queue = max_queue
        self.closing = False
        self.observe = observe
        self.executor = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="predict",
            initializer=_limit_threads,
            initargs=(threads,),
        )
        self._worker: asyncio.Task[None] | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def depth(self) -> int:
        return self.queue.qsize()

    def start(self) -> None:
        if self._worker is None:
            self._stopped = asyncio.Event()
            self._worker = asyncio.get_running_loop().create_task(self._run())

    def warm(self, columns: Columns) -> None:
        """Run one predict on the predict thread itself (blocking; from a loading thread), so
        the thread exists, its native pools are capped and first-call costs are paid before
        traffic arrives."""
        self.executor.submit(self.predict, columns).result()

    async def submit(self, columns: Columns, rows: int) -> Outputs:
        """Predict ``rows`` rows within some batch; Overloaded when the queue is full, Retired
        once the batcher is closing. The DataFrame is built once per batch, on the predict
        thread, not per request."""
        if self.closing:
            raise Retired
        if self.queue.qsize() >= self.max_queue:
            raise Overloaded
        self.start()
        future: asyncio.Future[Outputs] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(_Job(columns, rows, future))
        return await future

    async def _take(self) -> tuple[list[_Job], bool]:
        """The next batch, and whether the stop marker was reached (after everything queued
        before it)."""
        first = await self.queue.get()
        if first is None:
            return [], True
        jobs, rows = [first], first.rows
        deadline = time.perf_counter() + self.max_wait
        while rows < self.max_batch_size:
            if not self.queue.empty():
                job = self.queue.get_nowait()
            elif self.max_wait > 0 and (left := deadline - time.perf_counter()) > 0:
                try:
                    job = await asyncio.wait_for(self.queue.get(), left)
                except TimeoutError:
                    break
            else:
                break
            if job is None:
                return jobs, True
            jobs.append(job)
            rows += job.rows
        return jobs, False

    async def _run(self) -> None:
        try:
            stop = False
            while not stop:
                jobs, stop = await self._take()
                await self._predict(jobs)
        finally:
            if self._stopped is not None:
                self._stopped.set()

    async def _predict(self, jobs: list[_Job]) -> None:
        live = [j for j in jobs if not j.future.done()]  # timed-out callers are gone
        size = self.slice_rows
        small = [j for j in live if j.rows <= size]
        if small:
            await self._predict_together(small)
        for job in live:
            if job.rows > size:
                await self._predict_sliced(job)

    async def _predict_sliced(self, job: _Job) -> None:
        """One request of more than ``slice_rows`` rows, slice by slice, while its caller
        still waits."""
        size = self.slice_rows
        predictions: list[Any] = []
        scores: list[float | None] = []
        probabilities: list[dict[str, float]] | None = []
        loop = asyncio.get_running_loop()
        for start in range(0, job.rows, size):
            if job.future.done():  # timed out (or cancelled): no more model time for it
                return
            part = {name: values[start : start + size] for name, values in job.columns.items()}
            began = time.perf_counter()
            try:
                outputs = await loop.run_in_executor(self.executor, self.predict, part)
            except Exception as exc:
                if not job.future.done():
                    job.future.set_exception(exc)
                return
            self.observe(min(size, job.rows - start), time.perf_counter() - began)
            predictions.extend(outputs.predictions)
            scores.extend(outputs.scores)
            if probabilities is not None and outputs.probabilities is not None:
                probabilities.extend(outputs.probabilities)
            else:
                probabilities = None
        if not job.future.done():
            job.future.set_result(Outputs(predictions, scores, probabilities))

    async def _predict_together(self, live: list[_Job]) -> None:
        """Requests of at most ``slice_rows`` rows each, in one predict call."""
        if not live:
            return
        batch = _merge(live)
        started = time.perf_counter()
        try:
            outputs = await asyncio.get_running_loop().run_in_executor(
                self.executor, self.predict, batch
            )
        except Exception as exc:  # the model failed: every caller in the batch hears it
            for job in live:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        self.observe(sum(j.rows for j in live), time.perf_counter() - started)
        start = 0
        for job in live:
            n = job.rows
            if not job.future.done():
                job.future.set_result(outputs.rows(start, start + n))
            start += n

    async def close(self) -> None:
        """Refuse new work (Retired), answer everything already queued or in flight, stop."""
        self.closing = True
        if self._worker is not None and self._stopped is not None:
            self.queue.put_nowait(None)  # behind every waiting request
            await self._stopped.wait()
        await asyncio.get_running_loop().run_in_executor(None, self.executor.shutdown)
