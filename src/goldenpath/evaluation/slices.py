"""Row sets for the spec's slices and the groups of its sensitive features.

A column slice gives one row set per value (or per listed value), a binned slice one per
``[edge_i, edge_i+1)`` interval, a cross slice one per combination of its component slices'
groups. Names read like conditions: ``contract=Month-to-month``,
``tenure_months=[0, 6)``, ``contract=Two year & tenure_months=[48, 121)``.

:func:`slice_results` turns each group's estimates into a :class:`SliceResult` and ranks them
by evidence of harm: slices of enough rows first; among them, those worse than overall across
their whole interval, by how far the end of the interval nearest to the overall value lies
beyond it (the harm the interval guarantees), then the rest by point value. A six-row slice
with the interval [0, 0.667] does not outrank a large slice that is clearly worse.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from goldenpath.evaluation.document import Estimate, SliceResult
from goldenpath.evaluation.metrics import Metric
from goldenpath.spec.models import SliceSpec, Spec

__all__ = ["SliceGroup", "guaranteed_harm", "slice_groups", "slice_results"]

Array = np.ndarray


@dataclass(frozen=True)
class SliceGroup:
    """One group of one slice: its name, the slice it belongs to, and its row positions."""

    name: str
    slice: str
    rows: Array


def _label(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _column_groups(spec: SliceSpec, frame: pd.DataFrame) -> list[tuple[str, Array]]:
    assert spec.column is not None
    values = frame[spec.column]
    if spec.bins is not None:
        edges = spec.bins
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        out = []
        for low, high in itertools.pairwise(edges):
            mask = (numbers >= low) & (numbers < high)
            out.append((f"{spec.name}=[{_label(low)}, {_label(high)})", np.flatnonzero(mask)))
        return out
    wanted = spec.values if spec.values is not None else sorted(values.dropna().unique(), key=str)
    return [
        (f"{spec.name}={_label(v)}", np.flatnonzero((values == v).to_numpy(dtype=bool)))
        for v in wanted
    ]


def slice_groups(spec: Spec, frame: pd.DataFrame) -> list[SliceGroup]:
    """Every group of every declared slice, then of every sensitive feature not already sliced."""
    by_slice: dict[str, list[tuple[str, Array]]] = {}
    for slice_spec in spec.data.slices:
        if slice_spec.column is not None:
            by_slice[slice_spec.name] = _column_groups(slice_spec, frame)
    for slice_spec in spec.data.slices:
        if slice_spec.cross is not None:
            combos: list[tuple[str, Array]] = [("", np.arange(len(frame)))]
            for part in slice_spec.cross:
                combos = [
                    (f"{name} & {sub}" if name else sub, np.intersect1d(rows, sub_rows))
                    for name, rows in combos
                    for sub, sub_rows in by_slice.get(part, [])
                ]
            by_slice[slice_spec.name] = combos
    declared = {s.column for s in spec.data.slices if s.column is not None and s.bins is None}
    for feature in spec.data.sensitive_features:
        if feature not in declared:
            by_slice[feature] = _column_groups(SliceSpec(name=feature, column=feature), frame)
    return [
        SliceGroup(name=name, slice=slice_name, rows=rows)
        for slice_name, groups in by_slice.items()
        for name, rows in groups
    ]


def guaranteed_harm(
    estimate: Estimate, overall: float | None, *, greater_is_better: bool
) -> float | None:
    """How far the end of ``estimate``'s interval nearest to ``overall`` lies beyond it in the
    harmful direction: positive when the whole interval is worse than overall; ``None`` without
    an interval or an overall value."""
    if overall is None or estimate.ci_low is None or estimate.ci_high is None:
        return None
    return overall - estimate.ci_high if greater_is_better else estimate.ci_low - overall


def _rank(result: SliceResult) -> tuple[bool, bool, bool, float]:
    """Sort key: slices of enough rows first, a defined primary metric before an undefined one,
    then the slices worse than overall across their whole interval, by the harm the interval
    guarantees, then the others by their point harm."""
    sure = result.harm_ci_low is not None and result.harm_ci_low > 0
    harm = result.harm_ci_low if sure else result.harm
    return (result.small, result.harm is None, not sure, -(harm if harm is not None else 0.0))


def slice_results(
    groups: list[SliceGroup],
    estimates: dict[str, dict[str, Estimate]],
    primary: Metric,
    *,
    overall: float | None,
    min_support: int,
) -> list[SliceResult]:
    """One result per group (``estimates`` by group name), most clearly harmful first."""
    results = []
    for group in groups:
        metrics = estimates[group.name]
        value = metrics[primary.name].value
        difference = None if value is None or overall is None else value - overall
        harm = None
        if difference is not None:
            harm = -difference if primary.greater_is_better else difference
        results.append(
            SliceResult(
                name=group.name,
                slice=group.slice,
                support=len(group.rows),
                small=len(group.rows) < min_support,
                metrics=metrics,
                primary_difference=difference,
                harm=harm,
                harm_ci_low=guaranteed_harm(
                    metrics[primary.name], overall, greater_is_better=primary.greater_is_better
                ),
            )
        )
    return sorted(results, key=_rank)
