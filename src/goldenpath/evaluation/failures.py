"""Failure analysis: where errors concentrate, as a few rules a person can read.

An *error* is a wrong label (classification) or an absolute error above the median one
(regression). Candidate conditions are single features — a category (numeric features with at
most 10 distinct values count as categories), or a numeric feature below / at-or-above one of
its quartiles — that select at most 95% of the rows, and pairs of them; each is scored by how
many more errors it holds than the overall rate would give (excess errors), and the best few
with enough rows are kept, e.g. ``contract = Month-to-month and tenure < 9: error rate 41% vs
19% overall, 312 rows``. Counting is vectorised: one boolean mask per condition, pairs by mask
products.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from goldenpath.evaluation.document import FailureRule

__all__ = ["Candidate", "FailureRule", "candidates", "failure_rules"]

_MAX_CATEGORIES = 20
_QUANTILES = (0.25, 0.5, 0.75)


def _text(rule: str, rows: int, error_rate: float, overall: float) -> str:
    return f"{rule}: error rate {error_rate:.0%} vs {overall:.0%} overall, {rows:,} rows"


def _conditions(features: pd.DataFrame) -> list[tuple[str, str, np.ndarray]]:
    """(feature, readable condition, mask) for every candidate single condition."""
    found = []
    for column in features.columns:
        values = features[column]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if numeric and values.nunique() > _MAX_CATEGORIES // 2:  # few values: a category
            numbers = values.to_numpy(dtype="float64", na_value=np.nan)
            for q in sorted({float(v) for v in np.nanquantile(numbers, _QUANTILES)}):
                shown = f"{q:g}"
                found.append((column, f"{column} < {shown}", numbers < q))
                found.append((column, f"{column} >= {shown}", numbers >= q))
        else:
            counts = values.astype(object).value_counts(dropna=False)
            for category in counts.index[:_MAX_CATEGORIES]:
                # nullable dtypes (boolean, Int64) compare to NA where missing: not in the slice
                mask = (values.isna() if pd.isna(category) else values == category).to_numpy(
                    dtype=bool, na_value=False
                )
                found.append((column, f"{column} = {category}", mask))
    return found


@dataclass(frozen=True)
class Candidate:
    """A condition with its rows and its errors, tested against the rest of the rows."""

    rule: str
    parts: tuple[np.ndarray, ...]  # the single conditions' masks it is the AND of
    rows: int
    errors: float
    p_value: float
    q_value: float  # Benjamini-Hochberg adjusted over every candidate tested

    @property
    def mask(self) -> np.ndarray:
        mask = self.parts[0]
        for part in self.parts[1:]:
            mask = mask & part
        return mask


def candidates(features: pd.DataFrame, errors: np.ndarray, *, min_rows: int) -> list[Candidate]:
    """Every single condition and pair of conditions on different features with at least
    ``min_rows`` rows, with a one-sided two-proportion z-test of "more errors here than in the
    other rows" and Benjamini-Hochberg q-values across all of them (the multiple testing).

    Pair counts come from two matrix products of the single conditions' indicators (no pair
    mask is ever built), so memory stays at one indicator row per single condition.
    """
    from scipy.stats import false_discovery_control, norm

    n = len(errors)
    if n == 0:
        return []
    singles = [c for c in _conditions(features) if min_rows <= c[2].sum() <= 0.95 * n]
    if not singles:
        return []
    indicator = np.stack([m for _, _, m in singles]).astype(np.float64)  # exact counts
    pair_rows = indicator @ indicator.T
    pair_errors = (indicator * errors.astype(np.float64)) @ indicator.T
    found: list[tuple[str, tuple[np.ndarray, ...], float, float]] = [
        (text, (mask,), float(pair_rows[i, i]), float(pair_errors[i, i]))
        for i, (_, text, mask) in enumerate(singles)
    ]
    for i, j in itertools.combinations(range(len(singles)), 2):
        (fa, ta, ma), (fb, tb, mb) = singles[i], singles[j]
        if fa != fb and min_rows <= pair_rows[i, j] <= 0.95 * n:
            found.append(
                (f"{ta} and {tb}", (ma, mb), float(pair_rows[i, j]), float(pair_errors[i, j]))
            )
    support = np.array([f[2] for f in found])
    hits = np.array([f[3] for f in found])
    total = float(errors.sum())
    rest = np.maximum(n - support, 1)
    inside, outside = hits / support, (total - hits) / rest
    pooled = total / n
    se = np.sqrt(np.maximum(pooled * (1 - pooled) * (1 / support + 1 / rest), 1e-300))
    p_values = norm.sf((inside - outside) / se)
    q_values = false_discovery_control(p_values, method="bh")
    return [
        Candidate(
            text,
            parts,
            round(float(support[i])),
            float(hits[i]),
            float(p_values[i]),
            float(q_values[i]),
        )
        for i, (text, parts, _, _) in enumerate(found)
    ]


def _distinct(ranked: list[Candidate], top: int) -> list[Candidate]:
    """The first ``top`` candidates, skipping one whose rows are mostly (80%) those of a
    candidate already kept: two names for the same rows say nothing new."""
    kept: list[Candidate] = []
    for c in ranked:
        if len(kept) == top:
            break
        if not any((c.mask & k.mask).sum() > 0.8 * c.rows for k in kept):
            kept.append(c)
    return kept


def worst_candidates(tested: list[Candidate], *, top: int) -> list[Candidate]:
    """Distinct candidates with the highest error rates, worst first."""
    return _distinct(sorted(tested, key=lambda c: -c.errors / c.rows), top)


def failure_rules(
    features: pd.DataFrame,
    errors: np.ndarray,
    *,
    min_rows: int,
    top: int = 5,
    tested: list[Candidate] | None = None,
) -> list[FailureRule]:
    """The ``top`` conditions (single or pairs) with the most excess errors and at least
    ``min_rows`` rows, skipping a rule whose rows are mostly those of a better one."""
    n = len(errors)
    if n == 0 or not errors.any():
        return []
    overall = float(errors.mean())
    pool = candidates(features, errors, min_rows=min_rows) if tested is None else tested
    ranked = sorted(
        (c for c in pool if c.errors - c.rows * overall > 0),
        key=lambda c: -(c.errors - c.rows * overall),
    )
    return [
        FailureRule(
            rule=c.rule,
            rows=c.rows,
            error_rate=c.errors / c.rows,
            overall_error_rate=overall,
            excess_errors=c.errors - c.rows * overall,
            text=_text(c.rule, c.rows, c.errors / c.rows, overall),
        )
        for c in _distinct(ranked, top)
    ]
