"""Row sets for the spec's slices and the groups of its sensitive features.

A column slice gives one row set per value (or per listed value), a binned slice one per
``[edge_i, edge_i+1)`` interval, a cross slice one per combination of its component slices'
groups. Names read like conditions: ``contract=Month-to-month``,
``tenure_months=[0, 6)``, ``contract=Two year & tenure_months=[48, 121)``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from goldenpath.spec.models import SliceSpec, Spec

__all__ = ["SliceGroup", "slice_groups"]

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
