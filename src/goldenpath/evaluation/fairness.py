"""Group fairness of a binary classifier for each sensitive feature, with bootstrap intervals.

Per group: selection rate (share predicted positive), true positive rate (TPR), false positive
rate (FPR). Across the *compared* groups, six figures, each ``between_groups`` (the largest gap,
or the smallest ratio, between two groups) and ``to_overall`` (between a group and all rows):

- demographic parity difference and ratio (selection rates),
- equal opportunity difference and ratio (TPRs),
- equalized odds difference (the larger of the TPR and FPR differences) and ratio (the smaller
  of the TPR and FPR ratios).

Definitions and values are Fairlearn's (``demographic_parity_difference(..., method=...)`` and
the others; a differential test checks them to 1e-12), applied to the compared groups:

- a group with fewer than ``min_group_size`` rows is shown, with its counts and intervals, but
  left out of every figure (``excluded_groups``);
- a group without positive rows has no TPR and is left out of the TPR comparisons, one without
  negative rows likewise for FPR (Fairlearn counts such a rate as 0);
- a figure with no compared group, or a ratio of 0 / 0 (every rate compared is 0; Fairlearn:
  NaN), is undefined. An equalized odds figure takes the worse of its TPR and FPR parts as
  Fairlearn does (Python's ``max``/``min`` of the two): an undefined FPR part leaves the TPR
  part, an undefined TPR part makes it undefined.

``to_overall`` compares with the rate on all rows, excluded groups included (Fairlearn's
``MetricFrame.overall``).

Intervals are percentile intervals over the evaluation's own resamples
(:func:`goldenpath.evaluation.bootstrap.resample_blocks` with the same rows, count and seed as
the metrics), so a group's rates and every figure are bootstrapped together. Each resample
applies the same rules; a figure undefined on a resample (a compared group drew no positive
row, say) leaves that resample out of its interval. Per block of resamples the counts of the
four (truth, prediction) cells of every group are one sparse product, so no Python code runs
per row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from goldenpath.evaluation.bootstrap import DEFAULT_RESAMPLES, resample_blocks
from goldenpath.evaluation.document import Disparity, FairnessReport, GroupRates
from goldenpath.spec.gates import FairnessMethod, FairnessMetric

__all__ = [
    "DEFAULT_MIN_GROUP_SIZE",
    "Disparity",
    "FairnessPass",
    "FairnessReport",
    "GroupRates",
    "fairness_report",
    "fairness_reports",
]

DEFAULT_MIN_GROUP_SIZE = 30
MISSING = "<missing>"

Array = np.ndarray

# (name, method) of every figure, in the order of the rows of :func:`_figures`
FIGURES: tuple[tuple[FairnessMetric, FairnessMethod], ...] = tuple(
    (name, method)
    for name in (
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equal_opportunity_difference",
        "equal_opportunity_ratio",
        "equalized_odds_difference",
        "equalized_odds_ratio",
    )
    for method in ("between_groups", "to_overall")
)


@dataclass(frozen=True)
class _Groups:
    """One feature's groups: each row's group index, the names, and which are compared."""

    index: Array  # (n,) group of each row
    names: list[str]


def _groups(values: pd.Series) -> _Groups:
    """Groups sorted by value; missing values form their own group, ``<missing>``, last."""
    codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=True)
    names = [str(u) for u in uniques]
    if (codes < 0).any():
        names.append(MISSING)
    return _Groups(index=np.where(codes < 0, len(uniques), codes), names=names)


def _cell_counts(counts: Array) -> tuple[Array, Array, Array, Array]:
    """Support, selected, positives and true positives from (groups, 4, b) cell counts
    (cells: truth * 2 + prediction)."""
    support = counts.sum(axis=1)
    selected = counts[:, 1] + counts[:, 3]
    positives = counts[:, 2] + counts[:, 3]
    return support, selected, positives, counts[:, 3]


def _rates(counts: Array) -> tuple[Array, Array, Array]:
    """Selection rate, TPR and FPR, (groups, b) each, NaN where the denominator is 0."""
    support, selected, positives, true_pos = _cell_counts(counts)
    negatives = support - positives
    with np.errstate(invalid="ignore", divide="ignore"):
        return selected / support, true_pos / positives, (selected - true_pos) / negatives


def _max(values: Array) -> Array:
    """Largest value along axis 0, ignoring NaN (all NaN: NaN); no warning."""
    out: Array = np.fmax.reduce(values, axis=0)
    return out


def _min(values: Array) -> Array:
    out: Array = np.fmin.reduce(values, axis=0)
    return out


def _difference_and_ratio(rates: Array, overall: Array) -> tuple[Array, Array, Array, Array]:
    """Fairlearn's ``difference`` and ``ratio`` of per-group ``rates`` (groups, b), NaN for
    a group not compared: between groups, then to ``overall`` (b,)."""
    high, low = _max(rates), _min(rates)
    with np.errstate(invalid="ignore", divide="ignore"):
        between_ratio = low / high
        to_overall = rates / overall
        to_overall = np.where(to_overall > 1, 1 / to_overall, to_overall)
    return high - low, between_ratio, _max(np.abs(rates - overall)), _min(to_overall)


def _figures(counts: Array, compared: Array) -> Array:
    """Every figure of :data:`FIGURES` (rows) for each column of ``counts`` (groups, 4, b);
    ``compared`` (groups,) marks the groups that enter them."""
    selection, tpr, fpr = _rates(counts)
    overall_selection, overall_tpr, overall_fpr = (
        r[0] for r in _rates(counts.sum(axis=0, keepdims=True))
    )
    hidden = ~compared[:, None]
    dp = _difference_and_ratio(np.where(hidden, np.nan, selection), overall_selection)
    eop = _difference_and_ratio(np.where(hidden, np.nan, tpr), overall_tpr)
    fp = _difference_and_ratio(np.where(hidden, np.nan, fpr), overall_fpr)
    # equalized odds: the worse of the two parts as Fairlearn takes it (Python's max/min of
    # [TPR part, FPR part]): an undefined FPR part leaves the TPR part, an undefined TPR part
    # makes it undefined
    eo = (
        np.where(fp[0] > eop[0], fp[0], eop[0]),
        np.where(fp[2] > eop[2], fp[2], eop[2]),
        np.where(fp[1] < eop[1], fp[1], eop[1]),
        np.where(fp[3] < eop[3], fp[3], eop[3]),
    )
    return np.stack(
        [
            dp[0],
            dp[2],
            dp[1],
            dp[3],
            eop[0],
            eop[2],
            eop[1],
            eop[3],
            eo[0],
            eo[1],
            eo[2],
            eo[3],
        ]
    )


def _cells(groups: _Groups, y: Array, pred: Array) -> Array:
    """Each row's cell: group * 4 + truth * 2 + prediction."""
    cells: Array = groups.index * 4 + (y == 1).astype(np.int64) * 2
    cells += (pred == 1).astype(np.int64)
    return cells


class _Resamples:
    """Every resample's group rates and figures of several sensitive features, fed one block of
    resample counts at a time (the (n, block) blocks of
    :func:`~goldenpath.evaluation.bootstrap.resample_blocks`), so that a pass that already draws
    the blocks (the metrics' bootstrap) can feed them here instead of drawing them again.

    ``compared`` (feature to a boolean per group) fixes the groups that enter the figures.
    """

    def __init__(
        self,
        features: Mapping[str, _Groups],
        y: Array,
        pred: Array,
        compared: Mapping[str, Array],
    ) -> None:
        n = len(y)
        self.features = dict(features)
        self.compared = dict(compared)
        self.offsets = np.cumsum([0, *(4 * len(g.names) for g in features.values())])
        columns = np.concatenate(
            [_cells(g, y, pred) + self.offsets[i] for i, g in enumerate(features.values())]
        )
        rows = np.tile(np.arange(n), len(features))
        self.indicator = sp.csr_matrix(
            (np.ones(len(columns), dtype=np.float32), (columns, rows)),
            shape=(self.offsets[-1], n),
        )
        self._rates: dict[str, list[Array]] = {f: [] for f in features}
        self._figures: dict[str, list[Array]] = {f: [] for f in features}

    def add(self, weights: Array) -> None:
        """One block of resamples: (n, block) counts of each row in each resample."""
        counts = np.asarray(self.indicator @ weights, dtype=np.float64)  # (cells, block)
        for i, (feature, g) in enumerate(self.features.items()):
            block = counts[self.offsets[i] : self.offsets[i + 1]].reshape(len(g.names), 4, -1)
            self._rates[feature].append(np.stack(_rates(block)))
            self._figures[feature].append(_figures(block, self.compared[feature]))

    def draws(self) -> dict[str, tuple[Array, Array]]:
        """Per feature, every resample's group rates (3, groups, resamples: selection, TPR,
        FPR) and figures (len(FIGURES), resamples)."""
        return {
            f: (
                np.concatenate(self._rates[f], axis=2)
                if self._rates[f]
                else np.empty((3, len(g.names), 0)),
                np.concatenate(self._figures[f], axis=1)
                if self._figures[f]
                else np.empty((len(FIGURES), 0)),
            )
            for f, g in self.features.items()
        }


def _intervals(draws: Array, confidence: float) -> tuple[list[float | None], list[float | None]]:
    """Percentile interval of each row of ``draws`` over its finite values (None: none)."""
    alpha = (1.0 - confidence) / 2.0
    low: list[float | None] = []
    high: list[float | None] = []
    for row in draws:  # one row per figure or group rate, never per data row
        finite = row[np.isfinite(row)]
        if len(finite):
            a, b = np.quantile(finite, [alpha, 1 - alpha])
            low.append(float(a))
            high.append(float(b))
        else:
            low.append(None)
            high.append(None)
    return low, high


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _why_undefined(name: str, method: str, compared: Array, positives: Array, *, size: int) -> str:
    if not compared.any():
        return f"no group has min_group_size ({size}) rows"
    if name.startswith(("equal_opportunity", "equalized_odds")) and not (positives > 0).any():
        return "no compared group has positive rows"
    if name.endswith("ratio"):
        what = "overall rate" if method == "to_overall" else "largest rate compared"
        return f"0 / 0: the {what} is 0"
    return "undefined on these rows"


def _notes(
    names: list[str], support: Array, positives: Array, compared: Array, size: int
) -> list[str]:
    """What was left out of which figure, in words."""
    notes = []

    def listed(mask: Array) -> str:
        return ", ".join(f"{names[i]} ({int(support[i])} rows)" for i in np.flatnonzero(mask))

    if (~compared).any():
        notes.append(
            f"Under min_group_size {size}, shown but left out of every figure: {listed(~compared)}."
        )
    if (compared & (positives == 0)).any():
        notes.append(
            "No positive rows, so no true positive rate; left out of the equal opportunity "
            "and equalized odds figures (Fairlearn would count the rate as 0): "
            f"{listed(compared & (positives == 0))}."
        )
    if (compared & (positives == support)).any():
        notes.append(
            "No negative rows, so no false positive rate; left out of the equalized odds "
            "figures (Fairlearn would count the rate as 0): "
            f"{listed(compared & (positives == support))}."
        )
    return notes


class FairnessPass:
    """The fairness reports of several sensitive features (name to the column's values,
    aligned with ``y``) for binary truth ``y`` and predictions ``pred`` (1 = positive), whose
    intervals come from resample blocks fed with :meth:`add`: the (n, block) counts of
    :func:`~goldenpath.evaluation.bootstrap.resample_blocks`, so that the metrics' bootstrap,
    which draws them anyway, hands each block here too (``bootstrap(..., on_block=pass.add)``)
    instead of fairness drawing them again. Without any block the reports have no intervals."""

    def __init__(
        self,
        features: Mapping[str, pd.Series],
        y: Array,
        pred: Array,
        *,
        min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
        confidence: float = 0.95,
    ) -> None:
        y, pred = np.asarray(y), np.asarray(pred)
        self.min_group_size, self.confidence = min_group_size, confidence
        self.grouped = {name: _groups(values) for name, values in features.items()}
        self.counts = {
            name: np.bincount(_cells(g, y, pred), minlength=4 * len(g.names))
            .reshape(len(g.names), 4, 1)
            .astype(np.float64)
            for name, g in self.grouped.items()
        }
        self.compared = {
            name: _cell_counts(c)[0][:, 0] >= min_group_size for name, c in self.counts.items()
        }
        self._resamples = _Resamples(self.grouped, y, pred, self.compared) if features else None
        self._blocks = 0

    def add(self, weights: Array) -> None:
        """One block of resamples: (n, block) counts of each row in each resample."""
        if self._resamples is not None:
            self._resamples.add(weights)
            self._blocks += 1

    def reports(self) -> tuple[FairnessReport, ...]:
        draws = self._resamples.draws() if self._resamples is not None and self._blocks else {}
        return tuple(
            _report(
                feature,
                g.names,
                self.counts[feature],
                self.compared[feature],
                draws.get(feature),
                min_group_size=self.min_group_size,
                confidence=self.confidence,
            )
            for feature, g in self.grouped.items()
        )


def fairness_reports(
    features: Mapping[str, pd.Series],
    y: Array,
    pred: Array,
    *,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[FairnessReport, ...]:
    """One report per sensitive feature (see :class:`FairnessPass`), its intervals on
    ``resample_blocks(len(y), n_resamples, seed)``: the metrics' resamples when drawn with the
    same count and seed."""
    fairness = FairnessPass(features, y, pred, min_group_size=min_group_size, confidence=confidence)
    if features and len(y):
        for weights in resample_blocks(len(y), n_resamples, seed):
            fairness.add(weights)
    return fairness.reports()


def _report(
    feature: str,
    names: list[str],
    counts: Array,
    compared: Array,
    draws: tuple[Array, Array] | None,
    *,
    min_group_size: int,
    confidence: float,
) -> FairnessReport:
    support, _, positives, _ = (c[:, 0] for c in _cell_counts(counts))
    selection, tpr, fpr = (r[:, 0] for r in _rates(counts))
    values = _figures(counts, compared)[:, 0]
    k = len(names)
    if draws is None:
        rate_low = rate_high = np.full((3, k), np.nan)
        fig_low: list[float | None] = [None] * len(FIGURES)
        fig_high: list[float | None] = [None] * len(FIGURES)
    else:
        low, high = _intervals(draws[0].reshape(3 * k, -1), confidence)
        rate_low = np.array([np.nan if v is None else v for v in low]).reshape(3, k)
        rate_high = np.array([np.nan if v is None else v for v in high]).reshape(3, k)
        fig_low, fig_high = _intervals(draws[1], confidence)
    groups = tuple(
        GroupRates(
            group=names[i],
            support=int(support[i]),
            selection_rate=float(selection[i]),
            true_positive_rate=_number(tpr[i]),
            false_positive_rate=_number(fpr[i]),
            positives=int(positives[i]),
            selection_rate_ci_low=_number(rate_low[0, i]),
            selection_rate_ci_high=_number(rate_high[0, i]),
            true_positive_rate_ci_low=_number(rate_low[1, i]),
            true_positive_rate_ci_high=_number(rate_high[1, i]),
            false_positive_rate_ci_low=_number(rate_low[2, i]),
            false_positive_rate_ci_high=_number(rate_high[2, i]),
            compared=bool(compared[i]),
        )
        for i in range(k)
    )
    disparities = tuple(
        Disparity(
            name=name,
            method=method,
            value=_number(values[j]),
            ci_low=fig_low[j] if np.isfinite(values[j]) else None,
            ci_high=fig_high[j] if np.isfinite(values[j]) else None,
            undefined=None
            if np.isfinite(values[j])
            else _why_undefined(
                name,
                method,
                compared,
                positives[compared],
                size=min_group_size,
            ),
        )
        for j, (name, method) in enumerate(FIGURES)
    )
    point = {(d.name, d.method): d.value for d in disparities}
    return FairnessReport(
        feature=feature,
        groups=groups,
        demographic_parity_difference=point["demographic_parity_difference", "between_groups"],
        demographic_parity_ratio=point["demographic_parity_ratio", "between_groups"],
        equalized_odds_difference=point["equalized_odds_difference", "between_groups"],
        min_group_size=min_group_size,
        excluded_groups=tuple(names[i] for i in np.flatnonzero(~compared)),
        notes=tuple(_notes(names, support, positives, compared, min_group_size)),
        disparities=disparities,
    )


def fairness_report(
    feature: str,
    groups: pd.Series,
    y: Array,
    pred: Array,
    *,
    min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> FairnessReport:
    """The report of one sensitive feature (see :func:`fairness_reports`); missing values form
    their own group, ``<missing>``."""
    return fairness_reports(
        {feature: groups},
        y,
        pred,
        min_group_size=min_group_size,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )[0]
