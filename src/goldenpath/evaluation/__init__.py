"""Evaluation: metrics with bootstrap confidence intervals, slices, calibration, fairness."""

from __future__ import annotations

__all__: list[str] = []
