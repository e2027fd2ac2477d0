"""Peak resident memory of the process while a block runs, sampled by a background thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil

__all__ = ["MemoryPeak", "track_peak_memory"]

_MB = 1024 * 1024


@dataclass
class MemoryPeak:
    baseline_mb: float = 0.0
    peak_mb: float = 0.0

    @property
    def increase_mb(self) -> float:
        """How far the peak rose above the resident memory when the block started."""
        return max(0.0, self.peak_mb - self.baseline_mb)


@contextmanager
def track_peak_memory(interval_s: float = 0.005) -> Iterator[MemoryPeak]:
    process = psutil.Process()
    peak = MemoryPeak(baseline_mb=process.memory_info().rss / _MB)
    peak.peak_mb = peak.baseline_mb
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak.peak_mb = max(peak.peak_mb, process.memory_info().rss / _MB)
            done.wait(interval_s)

    thread = threading.Thread(target=sample, name="goldenpath-memory", daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()
        peak.peak_mb = max(peak.peak_mb, process.memory_info().rss / _MB)
