"""Every metric equals scikit-learn's on the same data, with and without sample weights."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sklearn import metrics as skm

from _benchmarks import benchmark
from goldenpath.evaluation.metrics import METRICS, Metric, Scored, metrics_for

# the data of benchmarks/differential.py, which checks the same metrics in its scikit-learn rows
differential = benchmark("differential")


def _ece(y: np.ndarray, score: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """ECE written the textbook way, loop over bins: sum_b |B_b|/N * |mean(y) - mean(score)|."""
    w = np.ones(len(y)) if sample_weight is None else sample_weight
    bins = np.minimum((score * 10).astype(int), 9)
    total = 0.0
    for b in range(10):
        m = bins == b
        if w[m].sum() > 0:
            gap = np.average(score[m], weights=w[m]) - np.average(y[m], weights=w[m])
            total += w[m].sum() / w.sum() * abs(gap)
    return total


def _debiased_ce(
    y: np.ndarray, score: np.ndarray, sample_weight: np.ndarray | None = None
) -> float:
    """Kumar et al.'s debiased binned L2 calibration error, loop over bins: per bin the squared
    mean gap less the sample variance of the gaps over the bin's rows (frequency weights), then
    the count-weighted mean over bins and its signed square root."""
    w = np.ones(len(y)) if sample_weight is None else sample_weight
    bins = np.minimum((score * 10).astype(int), 9)
    gap = score - y
    total = 0.0
    for b in range(10):
        m = bins == b
        count = w[m].sum()
        if count > 0:
            mean = np.average(gap[m], weights=w[m])
            noise = 0.0
            if count > 1:
                noise = (w[m] * (gap[m] - mean) ** 2).sum() / (count - 1) / count
            total += count * (mean**2 - noise)
    total /= w.sum()
    return float(np.sign(total) * np.sqrt(abs(total)))


REFERENCE: dict[str, Callable[[Scored, np.ndarray | None], float]] = {
    "roc_auc_score": lambda s, w: skm.roc_auc_score(s.y, s.proba[:, 1], sample_weight=w),
    "pr_auc_score": lambda s, w: skm.average_precision_score(s.y, s.proba[:, 1], sample_weight=w),
    "log_loss": lambda s, w: skm.log_loss(
        s.y, s.proba, sample_weight=w, labels=range(len(s.classes))
    ),
    "brier_loss": lambda s, w: skm.brier_score_loss(s.y, s.proba[:, 1], sample_weight=w),
    "accuracy_score": lambda s, w: skm.accuracy_score(s.y, s.pred, sample_weight=w),
    "precision_score": lambda s, w: skm.precision_score(s.y, s.pred, sample_weight=w),
    "recall_score": lambda s, w: skm.recall_score(s.y, s.pred, sample_weight=w),
    "f1_score": lambda s, w: skm.f1_score(s.y, s.pred, sample_weight=w),
    "expected_calibration_error": lambda s, w: _ece(s.y, s.proba[:, 1], w),
    "debiased_calibration_error": lambda s, w: _debiased_ce(s.y, s.proba[:, 1], w),
    "macro_f1_score": lambda s, w: skm.f1_score(s.y, s.pred, average="macro", sample_weight=w),
    "weighted_f1_score": lambda s, w: skm.f1_score(
        s.y, s.pred, average="weighted", sample_weight=w
    ),
    "mean_absolute_error": lambda s, w: skm.mean_absolute_error(s.y, s.pred, sample_weight=w),
    "root_mean_squared_error": lambda s, w: skm.root_mean_squared_error(
        s.y, s.pred, sample_weight=w
    ),
    "r2_score": lambda s, w: skm.r2_score(s.y, s.pred, sample_weight=w),
    "mean_absolute_percentage_error": lambda s, w: skm.mean_absolute_percentage_error(
        s.y, s.pred, sample_weight=w
    ),
}


def test_every_metric_has_a_reference() -> None:
    assert {m.name for m in METRICS} == set(REFERENCE)


def _cases() -> list[tuple[Metric, Scored]]:
    data = [
        differential.binary_scored(2000, 0, ties=True),
        differential.binary_scored(2000, 5, ties=False),
        differential.multiclass_scored(2000, 1),
        differential.regression_scored(2000, 2),
    ]
    return [(m, s) for s in data for m in metrics_for(s)]


@pytest.mark.parametrize(("metric", "scored"), _cases(), ids=lambda v: getattr(v, "name", ""))
def test_metric_equals_scikit_learn(metric: Metric, scored: Scored) -> None:
    assert metric.compute(scored) == pytest.approx(REFERENCE[metric.name](scored, None), rel=1e-9)


@pytest.mark.parametrize(("metric", "scored"), _cases(), ids=lambda v: getattr(v, "name", ""))
def test_weighted_metric_equals_scikit_learn(metric: Metric, scored: Scored) -> None:
    # integer weights are what a bootstrap resample is: rows drawn 0, 1, 2 ... times
    weights = np.random.default_rng(3).poisson(1.0, scored.n).astype(float)
    expected = REFERENCE[metric.name](scored, weights)
    assert metric.compute(scored, weights) == pytest.approx(expected, rel=1e-9)


def test_higher_is_better_follows_the_name() -> None:
    for metric in METRICS:
        assert metric.greater_is_better == metric.name.endswith("_score"), metric.name


def test_r2_intervals_survive_a_large_target_mean() -> None:
    from goldenpath.evaluation.bootstrap import bootstrap

    rng = np.random.default_rng(0)
    y = 100_000 + rng.normal(0, 1, 2000)
    scored = Scored("regression", y, y + rng.normal(0, 0.5, 2000), None, ())
    r2 = next(m for m in METRICS if m.name == "r2_score")
    estimate = bootstrap(scored, [r2], {"all": np.arange(2000)}, n_resamples=200)["all"]["r2_score"]
    assert estimate.value == pytest.approx(skm.r2_score(scored.y, scored.pred))
    assert estimate.ci_low < estimate.value < estimate.ci_high
    assert estimate.ci_high - estimate.ci_low < 0.05
