"""Compact, mergeable profiles of data: what monitoring compares windows with.

A reference profile is computed once (at training or evaluation time) and kept with the run, so
the raw training data is never needed again. A numeric feature keeps counts in fixed bins whose
edges are the reference's deciles (the outer bins open-ended), plus count, sum, sum of squares,
minimum and maximum; a categorical one keeps counts of its most frequent categories (the rest as
one "other" bucket). Both keep the number of missing values. A window's profile is computed with
the reference's edges and categories, so two profiles of the same feature add up exactly: profiles
of consecutive windows merge into the profile of their union.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

__all__ = [
    "OTHER",
    "CategoricalProfile",
    "FrameProfile",
    "NumericProfile",
    "profile_frame",
]

OTHER = "__other__"
DEFAULT_BINS = 10
MAX_CATEGORIES = 50


@dataclass
class NumericProfile:
    edges: list[float]  # inner edges; bins are (-inf, e0], (e0, e1], ..., (e_last, inf)
    counts: list[int]
    missing: int = 0
    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    low: float | None = None
    high: float | None = None
    kind: Literal["numeric"] = "numeric"  # tells the two kinds apart in JSON

    @property
    def mean(self) -> float | None:
        return None if self.n == 0 else self.total / self.n

    @property
    def std(self) -> float | None:
        if self.n < 2:
            return None
        variance = (self.total_sq - self.total**2 / self.n) / (self.n - 1)
        return float(np.sqrt(max(variance, 0.0)))

    def merged(self, other: NumericProfile) -> NumericProfile:
        if other.edges != self.edges:
            raise ValueError("profiles with different bin edges cannot be merged")
        lows = [v for v in (self.low, other.low) if v is not None]
        highs = [v for v in (self.high, other.high) if v is not None]
        return NumericProfile(
            self.edges,
            [a + b for a, b in zip(self.counts, other.counts, strict=True)],
            self.missing + other.missing,
            self.n + other.n,
            self.total + other.total,
            self.total_sq + other.total_sq,
            min(lows) if lows else None,
            max(highs) if highs else None,
        )


@dataclass
class CategoricalProfile:
    categories: list[str]  # the reference's categories (most frequent first) and OTHER
    counts: list[int]
    missing: int = 0
    unseen: dict[str, int] = field(default_factory=dict)  # window values not in the reference
    kind: Literal["categorical"] = "categorical"

    @property
    def n(self) -> int:
        return int(sum(self.counts))

    def merged(self, other: CategoricalProfile) -> CategoricalProfile:
        if other.categories != self.categories:
            raise ValueError("profiles with different categories cannot be merged")
        unseen = dict(self.unseen)
        for key, count in other.unseen.items():
            unseen[key] = unseen.get(key, 0) + count
        return CategoricalProfile(
            self.categories,
            [a + b for a, b in zip(self.counts, other.counts, strict=True)],
            self.missing + other.missing,
            unseen,
        )


Profile = NumericProfile | CategoricalProfile


@dataclass
class FrameProfile:
    rows: int
    features: dict[str, Profile]

    def merged(self, other: FrameProfile) -> FrameProfile:
        """The profile of both frames' rows; a feature one of them lacks counts as missing
        in all of its rows."""
        features: dict[str, Profile] = {}
        for name in [*self.features, *(n for n in other.features if n not in self.features)]:
            mine = self.features.get(name) or _absent(other.features[name], self.rows)
            theirs = other.features.get(name) or _absent(mine, other.rows)
            features[name] = mine.merged(theirs)  # type: ignore[arg-type]
        return FrameProfile(self.rows + other.rows, features)


def _absent(like: Profile, rows: int) -> Profile:
    """``rows`` missing values, on the bins or categories of ``like``."""
    if isinstance(like, NumericProfile):
        return NumericProfile(like.edges, [0] * len(like.counts), missing=rows)
    return CategoricalProfile(like.categories, [0] * len(like.counts), missing=rows)


def _numeric_edges(values: np.ndarray, bins: int) -> list[float]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return []
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))
    return [float(e) for e in edges]


def _numeric(values: np.ndarray, edges: list[float]) -> NumericProfile:
    missing = int(np.isnan(values).sum())
    present = values[~np.isnan(values)]
    index = np.searchsorted(np.asarray(edges), present, side="left")
    counts = np.bincount(index, minlength=len(edges) + 1)
    return NumericProfile(
        edges,
        [int(c) for c in counts],
        missing,
        len(present),
        float(present.sum()),
        float((present**2).sum()),
        float(present.min()) if len(present) else None,
        float(present.max()) if len(present) else None,
    )


def _frequencies(values: pd.Series) -> pd.Series:
    """Counts per value as text, most frequent first (counted before converting, so only the
    distinct values are turned into text)."""
    counts = values.value_counts(dropna=True)
    counts.index = counts.index.astype(str)
    if not counts.index.is_unique:  # 1 and "1" are one category as text
        counts = counts.groupby(level=0).sum()
    return counts.sort_values(ascending=False, kind="stable")


def _categorical(
    values: pd.Series, categories: list[str], *, track_unseen: bool
) -> CategoricalProfile:
    missing = int(values.isna().sum())
    frequencies = _frequencies(values)
    counts = [int(frequencies.get(c, 0)) for c in categories if c != OTHER]
    outside = frequencies[~frequencies.index.isin(set(categories))]
    counts.append(int(outside.sum()))
    unseen = {str(k): int(v) for k, v in outside.items()} if track_unseen else {}
    return CategoricalProfile(categories, counts, missing, unseen)


def profile_frame(
    frame: pd.DataFrame,
    reference: FrameProfile | None = None,
    *,
    bins: int = DEFAULT_BINS,
    max_categories: int = MAX_CATEGORIES,
) -> FrameProfile:
    """The profile of ``frame``; with ``reference``, binned on the reference's edges and
    categories (a window), else defining them (a reference)."""
    features: dict[str, Profile] = {}
    for name in frame.columns:
        column = frame[name]
        known = None if reference is None else reference.features.get(name)
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        if isinstance(known, NumericProfile) or (known is None and numeric):
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64")
            edges = (
                known.edges if isinstance(known, NumericProfile) else _numeric_edges(values, bins)
            )
            features[name] = _numeric(values, edges)
        else:
            if isinstance(known, CategoricalProfile):
                categories = known.categories
                # values outside a reference that had no "other" values are unseen categories
                track = known.counts[-1] == 0
            else:
                top = _frequencies(column).index[:max_categories]
                categories, track = [*map(str, top), OTHER], False
            features[name] = _categorical(column, categories, track_unseen=track)
    return FrameProfile(len(frame), features)
