"""Bootstrap confidence intervals for every metric on every slice, vectorised.

Resample ``b`` is a vector of counts (how often each row was drawn, a multinomial draw of n
rows: the classical bootstrap). Resamples come in blocks ``W`` (n x block); every
sum-decomposable metric of every resample in the block is one matrix product
``F[rows].T @ W[rows]`` and every rank metric one sparse product over rows grouped by score,
so no Python code runs per row, and the per-resample loop only draws the counts. A slice uses
the same resamples restricted to its rows, which is the bootstrap of the whole evaluation set
(the slice's size varies with it).

Intervals are percentile intervals at the requested confidence, BCa intervals (bias
corrected and accelerated, scipy's definition) for the metrics whose registry entry asks for
them (statistics that are biased or skewed on resamples: log loss), or studentized
(bootstrap-t) intervals for metrics with a standard error computed from the same sums (RMSE,
whose squared errors are heavy-tailed wherever the errors are): each resample's deviation from
the point is divided by that resample's own standard error, and the quantiles of that ratio,
scaled by the data's standard error, make the interval.
BCa needs the jackknife (leave-one-out) values of the metric: for a sum-decomposable metric they
are the metric of ``total - row`` for every row at once; for a rank metric, of the per-score
counts less one group's counts, with rows dealt into at most ``JACKKNIFE_GROUPS`` groups (exact
leave-one-out for sets up to that size). The seed is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.special import ndtr, ndtri

from goldenpath.evaluation._rank import (
    ScoreGroups,
    auc_from_counts,
    average_precision_from_counts,
)
from goldenpath.evaluation.document import Estimate, MetricDifference, Verdict
from goldenpath.evaluation.metrics import IntervalMethod, Metric, Scored

__all__ = [
    "DEFAULT_RESAMPLES",
    "JACKKNIFE_GROUPS",
    "Estimate",
    "IntervalMethod",
    "MetricDifference",
    "bca_interval",
    "bootstrap",
    "paired_differences",
    "prefetched",
    "resample_blocks",
    "studentized_interval",
]

DEFAULT_RESAMPLES = 1000
_BLOCK_CELLS = 24_000_000  # resample weights held at once (float32): ~100 MB
_ROW_CHUNK = 65_536
_DRAW_CELLS = 1 << 21  # row draws held at once (int64): 16 MB
MAX_SCORE_GROUPS = 4096
JACKKNIFE_GROUPS = 1000  # rank metrics: delete-a-group jackknife past this many rows
_JACKKNIFE_CELLS = 8_000_000  # groups x distinct scores held at once

Array = np.ndarray


def resample_blocks(n: int, n_resamples: int, seed: int) -> Iterator[Array]:
    """Blocks of multinomial resample counts, (n, block) float32 (one column per resample, so
    that a row's counts across the block are contiguous), ``n_resamples`` columns in all."""
    rng = np.random.default_rng(seed)
    block = max(1, min(n_resamples, _BLOCK_CELLS // max(n, 1)))
    per_draw = max(1, _DRAW_CELLS // max(n, 1))
    done = 0
    while done < n_resamples:
        size = min(block, n_resamples - done)
        counts = np.zeros((size, n), dtype=np.float32)
        # several resamples' row draws at once, counted with one bincount: the generator's
        # stream is the same as one draw of n rows per resample, so are the resamples
        for start in range(0, size if n else 0, per_draw):
            m = min(per_draw, size - start)
            drawn = rng.integers(0, n, (m, n)) + (np.arange(m) * n)[:, None]
            counts[start : start + m] = np.bincount(drawn.ravel(), minlength=m * n).reshape(m, n)
        done += size
        yield _transposed(counts)


_TILE = 8192  # columns transposed at once: a tile of a block fits in the cache


def _transposed(counts: Array) -> Array:
    """``np.ascontiguousarray(counts.T)`` tile by tile: a plain transposed copy of a block
    (its rows a million counts apart) was measured ten times slower on a million rows."""
    out = np.empty((counts.shape[1], counts.shape[0]), dtype=counts.dtype)
    for start in range(0, counts.shape[1], _TILE):
        out[start : start + _TILE] = counts[:, start : start + _TILE].T
    return out


def prefetched(blocks: Iterator[Array]) -> Iterator[Array]:
    """The same blocks, the next one drawn in a background thread while the caller works on the
    current one (drawing releases the interpreter lock for most of its time, as do the matrix
    products that use a block), so that on two cores or more the draws cost little wall time.
    One block is drawn ahead, so one more block is held in memory. The draws, hence the blocks,
    are the same as without it; an error in the thread is raised here, at the block it hit."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="goldenpath-resamples") as pool:
        pending = pool.submit(next, blocks, None)
        while (block := pending.result()) is not None:
            pending = pool.submit(next, blocks, None)
            yield block


def _weighted_sums(stats: Array, weights: Array) -> Array:
    """``stats.T @ weights`` (k x resamples) in row chunks: one GEMM with a very long inner
    dimension runs an order of magnitude slower in OpenBLAS than the same work in chunks."""
    out = np.zeros((stats.shape[1], weights.shape[1]), dtype=np.float64)
    for start in range(0, len(stats), _ROW_CHUNK):
        chunk = slice(start, start + _ROW_CHUNK)
        out += stats[chunk].T @ weights[chunk]
    return out


def _score_groups(score: Array, groups: int) -> tuple[Array, int]:
    """Each row's score group (ascending) and the number of groups: the distinct scores when
    there are at most ``groups`` of them, else equal-count quantile groups (ties together)."""
    distinct, index = np.unique(score, return_inverse=True)
    if len(distinct) <= groups:
        return index, len(distinct)
    counts = np.bincount(index)
    below = np.cumsum(counts) - counts  # rows under each distinct score
    return (below * groups // len(score))[index], groups


def _subset(scored: Scored, rows: Array) -> Scored:
    return Scored(
        task=scored.task,
        y=scored.y[rows],
        pred=scored.pred[rows],
        proba=None if scored.proba is None else scored.proba[rows],
        classes=scored.classes,
    )


def _why_undefined(metric: Metric, scored: Scored) -> str:
    if scored.n == 0:
        return "no rows"
    if scored.task == "regression" and (np.isnan(scored.y).any() or np.isnan(scored.pred).any()):
        return "labels or predictions are missing"
    if metric.rank is not None or metric.name == "recall_score":
        positives = int((scored.y == 1).sum())
        if positives == 0:
            return "no positive rows"
        if positives == scored.n and metric.rank == "roc_auc":
            return "no negative rows"
    if metric.name == "precision_score" and not (scored.pred == 1).any():
        return "no positive predictions"
    if metric.name == "r2_score":
        return "the target is constant"
    if metric.name == "mean_absolute_percentage_error":
        return "every target is zero"
    return "undefined on these rows"


_MAX_CELLS = 1024


class _Cells:
    """The rows partitioned by which row sets contain them.

    Slices overlap (a row is in "overall", in one region, one plan, ...), but every row set is a
    union of *cells*: rows with the same membership. Sums over a block of resamples are taken
    once per cell (one pass over the rows, whatever the number of slices) and added up per row
    set, instead of one pass per row set.
    """

    def __init__(self, n: int, row_sets: list[Array]) -> None:
        """Row sets join the partition in order while it stays under ``_MAX_CELLS`` cells
        (``self.included``); the others (typically small, overlapping discovered slices) are
        left to be summed from their own rows (``self.direct``)."""
        keys = np.random.default_rng(0x5EED).integers(1, 2**63, len(row_sets), dtype=np.uint64)
        signature = np.zeros(n, dtype=np.uint64)
        self.included: list[int] = []
        self.direct: list[int] = []
        for i, rows in enumerate(row_sets):
            trial = signature.copy()
            trial[rows] += keys[i]  # wraps modulo 2**64: a hash of the membership
            if i == 0 or len(np.unique(trial)) <= _MAX_CELLS:
                signature = trial
                self.included.append(i)
            else:
                self.direct.append(i)
        _, first, cell = np.unique(signature, return_index=True, return_inverse=True)
        self.order = np.argsort(cell, kind="stable")
        sorted_cell = cell[self.order]
        self.starts = np.flatnonzero(np.r_[True, sorted_cell[1:] != sorted_cell[:-1]])
        self.ends = np.r_[self.starts[1:], n]
        membership = np.zeros((len(self.included), len(first)), dtype=np.float64)
        for k, i in enumerate(self.included):
            inside = np.zeros(n, dtype=bool)
            inside[row_sets[i]] = True
            membership[k] = inside[first]
        self.membership = membership

    def sums(self, stats_sorted: Array, weights: Array) -> Array:
        """(row sets, k, block) weighted sums; ``stats_sorted`` is ``stats[self.order]``."""
        ordered = np.take(weights, self.order, axis=0)  # faster than weights[self.order]
        per_cell = np.stack(
            [
                _weighted_sums(stats_sorted[a:b], ordered[a:b])
                for a, b in zip(self.starts, self.ends, strict=True)
            ]
        )
        summed: Array = np.einsum("sc,ckb->skb", self.membership, per_cell)
        return summed


def _rank_fn(metric: Metric) -> Callable[[Array, Array], Array]:
    return auc_from_counts if metric.rank == "roc_auc" else average_precision_from_counts


def _draws(
    scored: Scored,
    metrics: list[Metric],
    row_sets: Mapping[str, Array],
    *,
    n_resamples: int,
    seed: int,
    max_score_groups: int,
    on_block: Callable[[Array], None] | None = None,
) -> tuple[
    dict[str, dict[str, Estimate]], dict[str, dict[str, Array]], dict[str, dict[str, Array]]
]:
    """Point estimates (no intervals yet), every resample's value, per row set and metric, and
    every resample's standard error for the metrics that have one.

    Resample values of rank metrics on grouped scores are already shifted onto the exact
    statistic. The resamples depend only on (number of rows, n_resamples, seed), so two models
    scored on the same rows with the same seed see the very same resamples: the basis of the
    paired comparison.
    """
    names = list(row_sets)
    sum_metrics = [m for m in metrics if m.rank is None and m.stats is not None]
    rank_metrics = [m for m in metrics if m.rank is not None]
    collected: dict[str, dict[str, list[Array]]] = {
        name: {m.name: [] for m in metrics} for name in names
    }
    studentized = [m for m in sum_metrics if m.standard_error is not None]
    errors: dict[str, dict[str, list[Array]]] = {
        name: {m.name: [] for m in studentized} for name in names
    }
    shift: dict[str, dict[str, float]] = {name: {} for name in names}
    points: dict[str, dict[str, Estimate]] = {}
    for name, rows in row_sets.items():
        sub = _subset(scored, rows)
        points[name] = {}
        for metric in metrics:
            value = metric.compute(sub) if len(rows) else float("nan")
            points[name][metric.name] = (
                Estimate(value=float(value), ci_low=None, ci_high=None, support=len(rows))
                if np.isfinite(value)
                else Estimate(
                    value=None,
                    ci_low=None,
                    ci_high=None,
                    support=len(rows),
                    undefined=_why_undefined(metric, sub),
                )
            )
    if n_resamples > 0 and scored.n > 0:
        blocks = [m.stats(scored) for m in sum_metrics if m.stats is not None]
        widths = [b.shape[1] for b in blocks]
        stats = None
        if blocks:
            # a row whose label or prediction is missing (NaN) makes the point of every set that
            # holds it undefined; zeroed, it leaves the other sets' resample sums as they are
            joined = np.concatenate(blocks, axis=1)  # a new array: zeroed in place
            joined[np.isnan(joined)] = 0.0
            stats = joined.astype(np.float32)
        cells = _Cells(scored.n, [np.asarray(row_sets[nm]) for nm in names])
        stats_sorted = None if stats is None else stats[cells.order]
        score = scored.positive_score
        groups: dict[str, ScoreGroups] = {}
        by_score = None
        if rank_metrics and score is not None:
            score_group, n_groups = _score_groups(score, max_score_groups)
            # each block's counts are taken in score order (one gather per block), so that every
            # row set's sparse product reads them front to back instead of at random
            by_score = np.argsort(score_group, kind="stable")
            position = np.empty(scored.n, dtype=np.int64)
            position[by_score] = np.arange(scored.n)
            groups = {
                name: ScoreGroups(
                    score_group[rows],
                    scored.y[rows] == 1,
                    n_groups=n_groups,
                    columns=position[rows],
                    n_columns=scored.n,
                )
                for name, rows in row_sets.items()
                if len(rows)
            }
        for name, group in groups.items():  # grouped statistic on the data itself
            pos, neg = group.counts(np.ones(scored.n, dtype=np.float32))
            for metric in rank_metrics:
                exact = points[name][metric.name].value
                if exact is not None:
                    shift[name][metric.name] = exact - float(_rank_fn(metric)(pos, neg))
        for weights in prefetched(resample_blocks(scored.n, n_resamples, seed)):
            if on_block is not None:
                on_block(weights)
            if stats_sorted is not None:
                set_sums = cells.sums(stats_sorted, weights)
                by_set = {names[i]: set_sums[k].T for k, i in enumerate(cells.included)}
                for i in cells.direct:
                    rows = np.asarray(row_sets[names[i]])
                    by_set[names[i]] = _weighted_sums(stats[rows], weights[rows]).T  # type: ignore[index]
                for name in names:
                    sums = by_set[name]
                    start = 0
                    for metric, width in zip(sum_metrics, widths, strict=True):
                        assert metric.value is not None
                        part = sums[:, start : start + width]
                        collected[name][metric.name].append(metric.value(part))
                        if metric.standard_error is not None:
                            errors[name][metric.name].append(metric.standard_error(part))
                        start += width
            ranked = None if by_score is None else np.take(weights, by_score, axis=0)
            for name, group in groups.items():
                assert ranked is not None
                pos, neg = group.counts(ranked)
                for metric in rank_metrics:
                    values = _rank_fn(metric)(pos, neg) + shift[name].get(metric.name, 0.0)
                    collected[name][metric.name].append(values)
    draws = {
        name: {
            metric.name: _joined(collected[name][metric.name], n_resamples) for metric in metrics
        }
        for name in names
    }
    draws_errors = {
        name: {
            metric.name: _joined(errors[name][metric.name], n_resamples) for metric in studentized
        }
        for name in names
    }
    return points, draws, draws_errors


def _joined(parts: list[Array], n_resamples: int) -> Array:
    return np.concatenate(parts) if parts else np.full(n_resamples, np.nan)


def _interval(values: Array, confidence: float) -> tuple[float | None, float | None]:
    alpha = (1.0 - confidence) / 2.0
    finite = values[np.isfinite(values)]
    if not len(finite):
        return None, None
    return float(np.quantile(finite, alpha)), float(np.quantile(finite, 1 - alpha))


def _tie_counts(values: Array, point: float) -> tuple[int, int]:
    """Resample values below the point and equal to it. Equal means within 1e-6 relative: the
    resample sums are accumulated in single precision, the point in double, so a resample value
    that equals the point (a one-row slice, a resample that drew every row once) may differ from
    it in the seventh digit."""
    close = np.isclose(values, point, rtol=1e-6, atol=1e-12)
    return int(np.count_nonzero((values < point) & ~close)), int(np.count_nonzero(close))


def bca_interval(
    values: Array, point: float, jackknife: Array, confidence: float
) -> tuple[float, float] | None:
    """The BCa interval of scipy.stats.bootstrap(method="BCa") from resample ``values``, the
    ``point`` estimate and the ``jackknife`` (leave-one-out or leave-one-group-out) values.

    z0 = Phi^-1(share of resample values below the point, ties counted half); the acceleration
    a = sum(d**3) / (6 sum(d**2)**1.5) with d the jackknife values' deviations from their mean;
    the interval is the resample quantiles at Phi(z0 + (z0 + z) / (1 - a (z0 + z))) for
    z = Phi^-1(alpha/2) and Phi^-1(1 - alpha/2). Non-finite values are left out. ``None`` when
    the interval cannot be formed: the point lies outside every resample value (z0 infinite).
    """
    finite = values[np.isfinite(values)]
    jack = jackknife[np.isfinite(jackknife)]
    if not len(finite):
        return None
    below, equal = _tie_counts(finite, point)
    z0 = float(ndtri((2 * below + equal) / (2 * len(finite))))
    deviations = jack.mean() - jack if len(jack) else np.zeros(1)
    spread = float((deviations**2).sum())
    accel = float((deviations**3).sum()) / (6 * spread**1.5) if spread > 0 else 0.0
    alpha = (1.0 - confidence) / 2.0
    levels = []
    for z in (float(ndtri(alpha)), float(ndtri(1 - alpha))):
        shifted = z0 + z
        levels.append(float(ndtr(z0 + shifted / (1 - accel * shifted))))
    if not np.all(np.isfinite(levels)):
        return None
    low, high = np.quantile(finite, levels)
    return float(low), float(high)


def studentized_interval(
    values: Array, errors: Array, point: float, error: float, confidence: float
) -> tuple[float, float] | None:
    """The studentized (bootstrap-t) interval: with t = (value - point) / error on every
    resample (each with its own standard error), ``[point - t_hi * error, point - t_lo * error]``
    where t_lo and t_hi are the quantiles of t at alpha/2 and 1 - alpha/2. Resamples whose
    value or error is not finite, or whose error is 0, are left out. ``None`` when the
    data's own standard error is not finite and positive, when no resample is usable, or when
    a resample has a finite value but no finite error: its error's sums overflowed single
    precision (RMSE: fourth powers of errors around 1e9), and leaving out the resamples that
    overflow would keep those with the smaller errors, so t would be biased."""
    if not (np.isfinite(error) and error > 0):
        return None
    if (np.isfinite(values) & ~np.isfinite(errors)).any():
        return None
    usable = np.isfinite(values) & np.isfinite(errors) & (errors > 0)
    if not usable.any():
        return None
    t = (values[usable] - point) / errors[usable]
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(t, [alpha, 1 - alpha])
    return point - float(high) * error, point - float(low) * error


def _jackknife_sums(metric: Metric, stats: Array) -> Array:
    """Leave-one-out values of a sum-decomposable metric: its value on ``total - row``."""
    assert metric.value is not None
    total = stats.sum(axis=0)
    out = np.empty(len(stats))
    for start in range(0, len(stats), _ROW_CHUNK):
        out[start : start + _ROW_CHUNK] = metric.value(total - stats[start : start + _ROW_CHUNK])
    return out


def _jackknife_rank(metric: Metric, group: Array, positive: Array, n_groups: int) -> Array:
    """Leave-one-group-out values of a rank metric: rows dealt round-robin into at most
    ``JACKKNIFE_GROUPS`` groups (one row each for smaller sets: exact leave-one-out), each
    group's per-score counts taken off the totals. The acceleration estimated from g groups
    of m rows has the same expectation as from single rows (each deviation is a sum of m
    influence values), so only its sampling error grows."""
    rows = len(group)
    groups = max(1, min(rows, JACKKNIFE_GROUPS, _JACKKNIFE_CELLS // max(n_groups, 1)))
    member = np.arange(rows) % groups
    key = member * n_groups + group
    cells = groups * n_groups
    pos = np.bincount(key, weights=positive, minlength=cells).reshape(groups, n_groups)
    neg = np.bincount(key, weights=~positive, minlength=cells).reshape(groups, n_groups)
    values: Array = _rank_fn(metric)(pos.sum(0) - pos, neg.sum(0) - neg)
    return values


def bootstrap(
    scored: Scored,
    metrics: list[Metric],
    row_sets: Mapping[str, Array],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
    max_score_groups: int = MAX_SCORE_GROUPS,
    method: IntervalMethod | None = None,
    on_block: Callable[[Array], None] | None = None,
) -> dict[str, dict[str, Estimate]]:
    """Estimates of ``metrics`` on each named set of row positions (e.g. "overall", slices).

    Rank metrics are resampled on scores grouped into at most ``max_score_groups`` quantile
    groups (their cost grows with the number of distinct scores), and the resampled values are
    shifted by the difference between the exact and the grouped statistic on the data. Point
    values are always exact. ``method`` forces one kind of interval on every metric; by
    default each metric's own (``Metric.interval``). A BCa interval that cannot be formed (the
    point outside every resample value) falls back to the percentile interval, and each
    estimate records the method its interval was made with. ``on_block`` is handed every
    block of resample counts as it is drawn (see :func:`resample_blocks`), for other figures
    to be computed on the same resamples without drawing them again.
    """
    points, draws, errors = _draws(
        scored,
        metrics,
        row_sets,
        n_resamples=n_resamples,
        seed=seed,
        max_score_groups=max_score_groups,
        on_block=on_block,
    )
    jackknife = _Jackknife(scored, max_score_groups)
    results: dict[str, dict[str, Estimate]] = {}
    for name, rows in row_sets.items():
        results[name] = {}
        for metric in metrics:
            point = points[name][metric.name]
            if point.value is None:
                results[name][metric.name] = point.model_copy(update={"interval_method": None})
                continue
            values = draws[name][metric.name]
            used: IntervalMethod = method or metric.interval
            interval = None
            if used == "studentized" and metric.standard_error is None:
                used = "BCa"
            if used == "studentized" and n_resamples > 0:
                error = jackknife.standard_error(metric, np.asarray(rows))
                interval = studentized_interval(
                    values, errors[name][metric.name], point.value, error, confidence
                )
                if interval is None:  # no usable standard errors: the next best, BCa
                    used = "BCa"
            if used == "BCa" and n_resamples > 0:
                loo = jackknife.values(metric, np.asarray(rows))
                interval = bca_interval(values, point.value, loo, confidence)
            if interval is None:
                used = "percentile"
                low, high = _interval(values, confidence)
            else:
                low, high = interval
            results[name][metric.name] = Estimate(
                value=point.value,
                ci_low=low,
                ci_high=high,
                support=point.support,
                interval_method=None if low is None else used,
            )
    return results


class _Jackknife:
    """Jackknife values of any metric on any row set; the contributions of each metric and the
    score groups are computed once per evaluation, on first use."""

    def __init__(self, scored: Scored, max_score_groups: int) -> None:
        self.scored = scored
        self.max_score_groups = max_score_groups
        self._stats: dict[str, Array] = {}
        self._groups: tuple[Array, int] | None = None

    def values(self, metric: Metric, rows: Array) -> Array:
        if metric.rank is not None:
            score = self.scored.positive_score
            assert score is not None
            if self._groups is None:
                self._groups = _score_groups(score, self.max_score_groups)
            group, n_groups = self._groups
            return _jackknife_rank(metric, group[rows], self.scored.y[rows] == 1, n_groups)
        return _jackknife_sums(metric, self._contributions(metric)[rows])

    def standard_error(self, metric: Metric, rows: Array) -> float:
        """The metric's own standard error on these rows (from their sums)."""
        assert metric.standard_error is not None
        return float(metric.standard_error(self._contributions(metric)[rows].sum(axis=0)))

    def _contributions(self, metric: Metric) -> Array:
        assert metric.stats is not None
        if metric.name not in self._stats:
            self._stats[metric.name] = np.asarray(metric.stats(self.scored), dtype=np.float64)
        return self._stats[metric.name]


def paired_differences(
    candidate: Scored,
    reference: Scored,
    metrics: list[Metric],
    row_sets: Mapping[str, Array],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
    max_score_groups: int = MAX_SCORE_GROUPS,
) -> dict[str, dict[str, MetricDifference]]:
    """Paired bootstrap of ``candidate - reference`` for every metric and row set: both models
    are judged on the same resamples of the same rows, so what the rows share cancels out."""
    if candidate.n != reference.n:
        raise ValueError("a paired comparison needs both models scored on the same rows")
    points_a, draws_a, _ = _draws(
        candidate,
        metrics,
        row_sets,
        n_resamples=n_resamples,
        seed=seed,
        max_score_groups=max_score_groups,
    )
    points_b, draws_b, _ = _draws(
        reference,
        metrics,
        row_sets,
        n_resamples=n_resamples,
        seed=seed,
        max_score_groups=max_score_groups,
    )
    out: dict[str, dict[str, MetricDifference]] = {}
    for name in row_sets:
        out[name] = {}
        for metric in metrics:
            a, b = points_a[name][metric.name], points_b[name][metric.name]
            if a.value is None or b.value is None:
                out[name][metric.name] = MetricDifference(
                    difference=None,
                    ci_low=None,
                    ci_high=None,
                    candidate=a.value,
                    reference=b.value,
                    support=a.support,
                    verdict="undefined",
                )
                continue
            low, high = _interval(
                draws_a[name][metric.name] - draws_b[name][metric.name], confidence
            )
            verdict: Verdict = "no clear difference"
            if low is not None and high is not None and (low > 0 or high < 0):
                improved = (low > 0) == metric.greater_is_better
                verdict = "better" if improved else "worse"
            out[name][metric.name] = MetricDifference(
                difference=a.value - b.value,
                ci_low=low,
                ci_high=high,
                candidate=a.value,
                reference=b.value,
                support=a.support,
                verdict=verdict,
            )
    return out
