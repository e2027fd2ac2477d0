"""Adaptive micro-batching: concurrent requests coalesced into one predict call.

Requests wait in a bounded queue. One worker takes the first waiting request and every other one
already queued (up to ``max_batch_size`` rows), optionally waits ``max_wait_ms`` for more, and
runs one predict call on a thread while the event loop keeps accepting requests. So an idle
server adds no latency (a lone request is predicted at once) and a busy one batches exactly what
queued while the model was busy: batch size adapts to load. A full queue sheds load at once
(:class:`Overloaded`, HTTP 503 with Retry-After) instead of letting latency grow without limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["Batcher", "Outputs", "Overloaded"]


class Overloaded(Exception):
    """The queue is full: the request is refused before any work."""


@dataclass(frozen=True)
class Outputs:
    """Per-row predictions and scores (positive-class probability, or None)."""

    predictions: list[Any]
    scores: list[float | None]


PredictFn = Callable[[pd.DataFrame], Outputs]


@dataclass
class _Job:
    frame: pd.DataFrame
    future: asyncio.Future[Outputs]
    enqueued: float = field(default_factory=time.perf_counter)


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
    ) -> None:
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=max_queue)
        self.observe = observe
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")
        self._worker: asyncio.Task[None] | None = None
        self._busy = False

    @property
    def depth(self) -> int:
        return self.queue.qsize()

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run())

    async def submit(self, frame: pd.DataFrame) -> Outputs:
        """Predict ``frame``'s rows within some batch; Overloaded when the queue is full."""
        self.start()
        future: asyncio.Future[Outputs] = asyncio.get_running_loop().create_future()
        try:
            self.queue.put_nowait(_Job(frame, future))
        except asyncio.QueueFull:
            raise Overloaded from None
        return await future

    async def _take(self) -> list[_Job]:
        jobs = [await self.queue.get()]
        rows = len(jobs[0].frame)
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
            jobs.append(job)
            rows += len(job.frame)
        return jobs

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = await self._take()
            live = [j for j in jobs if not j.future.done()]  # timed-out callers are gone
            if not live:
                continue
            frame = live[0].frame if len(live) == 1 else pd.concat([j.frame for j in live])
            started = time.perf_counter()
            self._busy = True
            try:
                outputs = await loop.run_in_executor(self.executor, self.predict, frame)
            except Exception as exc:  # the model failed: every caller in the batch hears it
                for job in live:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            finally:
                self._busy = False
            self.observe(len(frame), time.perf_counter() - started)
            start = 0
            for job in live:
                n = len(job.frame)
                if not job.future.done():
                    job.future.set_result(
                        Outputs(
                            outputs.predictions[start : start + n],
                            outputs.scores[start : start + n],
                        )
                    )
                start += n

    async def close(self) -> None:
        """Stop after the queued and in-flight work is answered."""
        while not self.queue.empty() or self._busy:
            await asyncio.sleep(0.01)
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self.executor.shutdown(wait=True)
