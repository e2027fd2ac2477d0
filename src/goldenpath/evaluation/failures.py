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
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

__all__ = ["FailureRule", "failure_rules"]

_MAX_CATEGORIES = 20
_QUANTILES = (0.25, 0.5, 0.75)


@dataclass(frozen=True)
class FailureRule:
    rule: str
    rows: int
    error_rate: float
    overall_error_rate: float
    excess_errors: float

    def describe(self) -> str:
        return (
            f"{self.rule}: error rate {self.error_rate:.0%} vs {self.overall_error_rate:.0%} "
            f"overall, {self.rows:,} rows"
        )

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "text": self.describe()}


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
                mask = (values.isna() if pd.isna(category) else values == category).to_numpy(
                    dtype=bool
                )
                found.append((column, f"{column} = {category}", mask))
    return found


def failure_rules(
    features: pd.DataFrame, errors: np.ndarray, *, min_rows: int, top: int = 5
) -> list[FailureRule]:
    """The ``top`` conditions (single or pairs) with the most excess errors and at least
    ``min_rows`` rows, skipping a rule whose rows are mostly those of a better one."""
    n = len(errors)
    if n == 0 or not errors.any():
        return []
    overall = float(errors.mean())
    # a condition must select something and leave something out to say anything
    singles = [c for c in _conditions(features) if min_rows <= c[2].sum() <= 0.95 * n]
    candidates: list[tuple[str, np.ndarray]] = [(text, mask) for _, text, mask in singles]
    for (fa, ta, ma), (fb, tb, mb) in itertools.combinations(singles, 2):
        if fa != fb:
            both = ma & mb
            if both.sum() >= min_rows:
                candidates.append((f"{ta} and {tb}", both))
    masks = np.stack([m for _, m in candidates]) if candidates else np.zeros((0, n), bool)
    support = masks.sum(axis=1)
    hits = masks.astype(np.float32) @ errors.astype(np.float32)
    excess = hits - support * overall
    chosen: list[FailureRule] = []
    taken: list[np.ndarray] = []
    for i in np.argsort(-excess):
        if excess[i] <= 0 or len(chosen) == top:
            break
        mask = masks[i]
        if any((mask & other).sum() > 0.8 * mask.sum() for other in taken):
            continue  # mostly the same rows as a rule already listed
        taken.append(mask)
        chosen.append(
            FailureRule(
                rule=candidates[i][0],
                rows=int(support[i]),
                error_rate=float(hits[i] / support[i]),
                overall_error_rate=overall,
                excess_errors=float(excess[i]),
            )
        )
    return chosen
