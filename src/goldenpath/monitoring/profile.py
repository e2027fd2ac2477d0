"""Compact, mergeable profiles of data: what monitoring compares windows with.

A reference profile is computed once (at training or evaluation time) and kept with the run, so
the raw training data is never needed again. A window's profile is computed on the reference's
bins and categories, so two profiles of the same feature add up exactly: profiles of consecutive
windows merge into the profile of their union. Every profile keeps the number of missing values.

A numeric feature's bins depend on its kind, decided on the reference:

- **low cardinality** (at most ``MAX_EXACT_VALUES`` distinct values, each seen ten times on
  average, so a small sample of a continuous feature is not taken for a discrete one):
  one exact bin per value; values the reference never had fall in the intervals between them;
- otherwise, **point masses** (a value holding at least ``POINT_MASS_SHARE`` of the rows, such as
  the zeros of a zero-inflated feature) get exact bins, and the other values **quantile bins**
  (``QUANTILES`` of the rest, finer in the tails).

Each interval bin keeps the count and the sum of its values, so the Wasserstein distance and the
two-sample Kolmogorov-Smirnov statistic between two profiles are exact wherever the two
distribution functions do not cross inside a bin (``goldenpath.monitoring.drift``); the profile
also keeps the count, sum, sum of squares, minimum and maximum of the values. Profiles written
before these bins existed (deciles, no sums) load and are judged on their own bins.

A categorical feature keeps counts of its most frequent categories (the rest as one "other"
bucket), and, where the reference had other values, a sorted set of 32-bit hashes of them, so a
window's values that the reference never had are counted as unseen (a new value is taken for a
known one with probability members / 2**32: 2.3e-5 at the cap of 100,000 members).
"""

from __future__ import annotations

import base64
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
DEFAULT_BINS = 30  # equal-probability bins between the tail edges
TAILS = (0.001, 0.005, 0.01, 0.025)  # extra quantile edges at each end (and one minus them)
MAX_EXACT_VALUES = 20
POINT_MASS_SHARE = 0.2
MAX_CATEGORIES = 50
MAX_MEMBERS = 100_000  # reference values past the top categories hashed for membership
MAX_UNSEEN_NAMED = 50  # a window's unseen values kept by name; the rest counted under OTHER


def _sum_of_squares(values: np.ndarray) -> float:
    """Σx², or inf where it overflows (values beyond ~1e154), without a warning: the profile's
    standard deviation is then unknown (None), which the drift statistics handle."""
    with np.errstate(over="ignore"):
        return float(np.square(values).sum())


@dataclass
class NumericProfile:
    edges: list[float]  # inner edges; bins are (-inf, e0], (e0, e1], ..., (e_last, inf)
    counts: list[int]  # per interval bin, values equal to a point excluded
    missing: int = 0
    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    low: float | None = None
    high: float | None = None
    kind: Literal["numeric"] = "numeric"  # tells the two kinds apart in JSON
    points: list[float] = field(default_factory=list)  # exact-value bins (each also an edge)
    point_counts: list[int] = field(default_factory=list)
    sums: list[float] | None = None  # per interval bin (None in profiles of old references)

    @property
    def mean(self) -> float | None:
        return None if self.n == 0 else self.total / self.n

    @property
    def std(self) -> float | None:
        if self.n < 2:
            return None
        with np.errstate(over="ignore", invalid="ignore"):
            total = np.float64(self.total)  # numpy: inf on overflow, where a float raises
            variance = (self.total_sq - total * total / self.n) / (self.n - 1)
        if not np.isfinite(variance):  # values beyond ~1e154 overflow Σx²: unknown, not NaN
            return None
        return float(np.sqrt(max(variance, 0.0)))

    def order(self) -> np.ndarray:
        """Positions in ``counts + point_counts`` of the bins in the order of their values:
        the interval below each edge, then the edge's point if it is one, then the top bin."""
        at = {p: i for i, p in enumerate(self.points)}
        k = len(self.edges)
        order: list[int] = []
        for j, edge in enumerate(self.edges):
            order.append(j)
            if edge in at:
                order.append(k + 1 + at[edge])
        order.append(k)
        return np.asarray(order, dtype=np.int64)

    def binned(self) -> np.ndarray:
        """Counts of every bin (intervals and points) in the order of their values."""
        counts = np.asarray([*self.counts, *self.point_counts], dtype=np.int64)
        ordered: np.ndarray = counts[self.order()]
        return ordered

    def merged(self, other: NumericProfile) -> NumericProfile:
        if other.edges != self.edges or other.points != self.points:
            raise ValueError("profiles with different bin edges cannot be merged")
        lows = [v for v in (self.low, other.low) if v is not None]
        highs = [v for v in (self.high, other.high) if v is not None]
        sums = None
        if self.sums is not None and other.sums is not None:
            sums = [a + b for a, b in zip(self.sums, other.sums, strict=True)]
        return NumericProfile(
            self.edges,
            [a + b for a, b in zip(self.counts, other.counts, strict=True)],
            self.missing + other.missing,
            self.n + other.n,
            self.total + other.total,
            self.total_sq + other.total_sq,
            min(lows) if lows else None,
            max(highs) if highs else None,
            points=self.points,
            point_counts=[
                a + b for a, b in zip(self.point_counts, other.point_counts, strict=True)
            ],
            sums=sums,
        )


@dataclass
class CategoricalProfile:
    categories: list[str]  # the reference's categories (most frequent first) and OTHER
    counts: list[int]
    missing: int = 0
    unseen: dict[str, int] = field(default_factory=dict)  # window values not in the reference
    kind: Literal["categorical"] = "categorical"
    # a reference's other values (past the top categories): base64 of their sorted 32-bit hashes
    # (a reference only: a window's state does not carry them)
    members: str | None = None

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
            _capped(unseen),
            members=self.members,
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
        return NumericProfile(
            like.edges,
            [0] * len(like.counts),
            missing=rows,
            points=like.points,
            point_counts=[0] * len(like.points),
            sums=None if like.sums is None else [0.0] * len(like.sums),
        )
    return CategoricalProfile(like.categories, [0] * len(like.counts), missing=rows)


def _capped(unseen: dict[str, int]) -> dict[str, int]:
    """The ``MAX_UNSEEN_NAMED`` most frequent unseen values by name, the others counted under
    OTHER (the total, all that is judged, stays exact through merges)."""
    named = {k: v for k, v in unseen.items() if k != OTHER}
    if len(named) <= MAX_UNSEEN_NAMED:
        return unseen
    ranked = sorted(named.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = dict(ranked[:MAX_UNSEEN_NAMED])
    kept[OTHER] = unseen.get(OTHER, 0) + sum(v for _, v in ranked[MAX_UNSEEN_NAMED:])
    return kept


def _quantile_probabilities(bins: int) -> np.ndarray:
    middle = np.linspace(0, 1, bins + 1)[1:-1]
    tails = np.asarray(TAILS)
    return np.unique(np.concatenate([tails, middle, 1 - tails]))


def _numeric_layout(values: np.ndarray, bins: int) -> tuple[list[float], list[float]]:
    """The reference's inner edges and exact-value points (each point is also an edge)."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return [], []
    distinct, counts = np.unique(finite, return_counts=True)
    if len(distinct) <= MAX_EXACT_VALUES and 10 * len(distinct) <= len(finite):
        exact = [float(v) for v in distinct]
        return exact, exact
    heavy = distinct[counts >= POINT_MASS_SHARE * len(finite)]
    rest = finite[~np.isin(finite, heavy)] if len(heavy) else finite
    quantiles = np.quantile(rest, _quantile_probabilities(bins)) if len(rest) else []
    edges = np.unique(np.concatenate([np.asarray(quantiles, dtype=float), heavy]))
    return [float(e) for e in edges], [float(v) for v in heavy]


def _numeric(
    values: np.ndarray, edges: list[float], points: list[float], *, with_sums: bool
) -> NumericProfile:
    missing = int(np.isnan(values).sum())
    present = values[~np.isnan(values)]
    rest = present
    point_counts: list[int] = []
    if points:
        exact = np.asarray(points, dtype=float)
        at_point = np.isin(present, exact)
        where = np.searchsorted(exact, present[at_point])
        point_counts = [int(c) for c in np.bincount(where, minlength=len(exact))]
        rest = present[~at_point]
    index = np.searchsorted(np.asarray(edges, dtype=float), rest, side="left")
    counts = np.bincount(index, minlength=len(edges) + 1)
    sums = None
    if with_sums:
        sums = [float(s) for s in np.bincount(index, weights=rest, minlength=len(edges) + 1)]
    return NumericProfile(
        edges,
        [int(c) for c in counts],
        missing,
        len(present),
        float(present.sum()),
        _sum_of_squares(present),
        float(present.min()) if len(present) else None,
        float(present.max()) if len(present) else None,
        points=points,
        point_counts=point_counts,
        sums=sums,
    )


def _frequencies(values: pd.Series) -> pd.Series:
    """Counts per value as text, most frequent first (counted before converting, so only the
    distinct values are turned into text)."""
    counts = values.value_counts(dropna=True)
    counts.index = counts.index.astype(str)
    if not counts.index.is_unique:  # 1 and "1" are one category as text
        counts = counts.groupby(level=0).sum()
    return counts.sort_values(ascending=False, kind="stable")


def _hashes(values: pd.Index) -> np.ndarray:
    """Stable 32-bit hashes of text values, sorted and unique."""
    text = np.asarray(values.astype(str), dtype=object)
    full = pd.util.hash_array(text, categorize=False)
    return np.unique((full & np.uint64(0xFFFFFFFF)).astype("<u4"))


def _members(hashes: np.ndarray) -> str:
    return base64.b64encode(hashes.astype("<u4").tobytes()).decode("ascii")


def _is_member(values: pd.Index, members: str) -> np.ndarray:
    known = np.frombuffer(base64.b64decode(members), dtype="<u4")
    if not len(values) or not len(known):
        return np.zeros(len(values), dtype=bool)
    text = np.asarray(values.astype(str), dtype=object)
    hashed = (pd.util.hash_array(text, categorize=False) & np.uint64(0xFFFFFFFF)).astype("<u4")
    at = np.minimum(np.searchsorted(known, hashed), len(known) - 1)
    return np.asarray(known[at] == hashed)


def _categorical(
    values: pd.Series,
    categories: list[str],
    *,
    track_unseen: bool,
    members: str | None = None,
) -> CategoricalProfile:
    missing = int(values.isna().sum())
    frequencies = _frequencies(values)
    counts = [int(frequencies.get(c, 0)) for c in categories if c != OTHER]
    outside = frequencies[~frequencies.index.isin(set(categories))]
    counts.append(int(outside.sum()))
    unseen: dict[str, int] = {}
    if members is not None:
        outside = outside[~_is_member(outside.index, members)]
    if track_unseen or members is not None:
        unseen = _capped({str(k): int(v) for k, v in outside.items()})
    # the hashes stay with the reference: a window's state does not carry them
    return CategoricalProfile(categories, counts, missing, unseen)


def _categorical_reference(values: pd.Series, max_categories: int) -> CategoricalProfile:
    """A reference's profile: its top categories, and the hashes of its other values."""
    top = _frequencies(values).index
    categories = [*map(str, top[:max_categories]), OTHER]
    profile = _categorical(values, categories, track_unseen=False)
    others = top[max_categories:]
    if 0 < len(others) <= MAX_MEMBERS:
        profile.members = _members(_hashes(others))
    return profile


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
            if isinstance(known, NumericProfile):
                edges, points, sums = known.edges, known.points, known.sums is not None
            else:
                (edges, points), sums = _numeric_layout(values, bins), True
            features[name] = _numeric(values, edges, points, with_sums=sums)
        elif isinstance(known, CategoricalProfile):
            # values outside a reference that had no "other" values are unseen categories;
            # past its top categories, those whose hash is not among its other values
            track = known.counts[-1] == 0
            features[name] = _categorical(
                column, known.categories, track_unseen=track, members=known.members
            )
        else:
            features[name] = _categorical_reference(column, max_categories)
    return FrameProfile(len(frame), features)
