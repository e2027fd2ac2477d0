"""Coverage of the 95% bootstrap intervals, by simulation against known true values.

AUC: scores of negatives ~ N(0, 1) and of positives ~ N(d, 1), so the true AUC is
Phi(d / sqrt 2). Mean absolute error: errors ~ N(0, sigma), so the true MAE is sigma sqrt(2/pi).
RMSE: errors ~ N(0, 1), true RMSE 1; and errors ~ t with 4 degrees of freedom, variance 2, so
the true RMSE is sqrt 2. ECE: scores
~ U(0, 1) and P(y = 1 | score s) = s + 0.05 below 0.5 and s - 0.05 above, so every bin's gap
is 0.05 and the true (binned) ECE and L2 calibration error are both 0.05.

Seeded, so the figures are reproducible; the issue asks for 93-97% coverage. With R
repetitions the binomial standard error of a coverage near 0.95 is sqrt(0.95 * 0.05 / R):
0.0069 for R = 1000, 0.0049 for R = 2000. Run with ``-s`` to see the figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import norm

from goldenpath.evaluation.bootstrap import bootstrap
from goldenpath.evaluation.metrics import ECE_BINS, METRICS, Metric, Scored

REPETITIONS = 1000
ROWS = 400
RESAMPLES = 1000

Draw = Callable[[np.random.Generator], Scored]


def _coverage(
    metrics: list[Metric] | str,
    draw: Draw,
    truth: float,
    *,
    repetitions: int = REPETITIONS,
    resamples: int = RESAMPLES,
    seed: int = 20261125,
) -> dict[str, float]:
    """Share of the data sets whose interval holds ``truth``, per metric (each with its own
    interval method; a name: that metric of the registry). All the metrics of one data set
    share one bootstrap call, so their resamples are the same; each data set has its own seed."""
    if isinstance(metrics, str):
        metrics = [next(m for m in METRICS if m.name == metrics)]
    rng = np.random.default_rng(seed)
    hits = dict.fromkeys((m.name for m in metrics), 0)
    for rep in range(repetitions):
        scored = draw(rng)
        out = bootstrap(
            scored, metrics, {"all": np.arange(scored.n)}, n_resamples=resamples, seed=rep
        )["all"]
        for name, est in out.items():
            assert est.ci_low is not None
            assert est.ci_high is not None
            hits[name] += est.ci_low <= truth <= est.ci_high
    return {name: count / repetitions for name, count in hits.items()}


@pytest.mark.slow
def test_auc_interval_coverage() -> None:
    d = 1.0

    def draw(rng: np.random.Generator) -> Scored:
        y = rng.integers(0, 2, ROWS)
        score = norm.cdf(rng.normal(d * y, 1.0))  # a monotone map keeps the AUC
        return Scored(
            "binary_classification",
            y,
            (score > 0.5).astype(int),
            np.stack([1 - score, score], 1),
            ("n", "p"),
        )

    coverage = _coverage("roc_auc_score", draw, float(norm.cdf(d / np.sqrt(2))))["roc_auc_score"]
    print(f"AUC 95% interval coverage: {coverage:.3f} over {REPETITIONS} repetitions")
    assert 0.93 <= coverage <= 0.97


@pytest.mark.slow
def test_mean_absolute_error_interval_coverage() -> None:
    sigma = 2.0

    def draw(rng: np.random.Generator) -> Scored:
        y = rng.normal(10, 3, ROWS)
        return Scored("regression", y, y + rng.normal(0, sigma, ROWS), None, ())

    name = "mean_absolute_error"
    coverage = _coverage(name, draw, sigma * np.sqrt(2 / np.pi))[name]
    print(f"MAE 95% interval coverage: {coverage:.3f} over {REPETITIONS} repetitions")
    assert 0.93 <= coverage <= 0.97


def _regression(rows: int, errors: Callable[[np.random.Generator, int], np.ndarray]) -> Draw:
    def draw(rng: np.random.Generator) -> Scored:
        y = rng.normal(10, 3, rows)
        return Scored("regression", y, y + errors(rng, rows), None, ())

    return draw


def _rmse_methods() -> list[Metric]:
    """The registry's RMSE (studentized) and the same metric with BCa and percentile
    intervals, so that all three are judged on the same resamples."""
    rmse = next(m for m in METRICS if m.name == "root_mean_squared_error")
    assert rmse.interval == "studentized"
    assert rmse.standard_error is not None
    return [
        rmse,
        replace(rmse, name="BCa", interval="BCa"),
        replace(rmse, name="percentile", interval="percentile"),
    ]


@pytest.mark.slow
def test_rmse_interval_coverage_with_normal_errors() -> None:
    """n = 150 rows, N(0, 1) errors: the true RMSE is 1."""
    rows = 150
    coverage = _coverage(
        _rmse_methods(), _regression(rows, lambda rng, n: rng.normal(0, 1, n)), 1.0
    )
    print(f"RMSE (normal errors, n = {rows}) 95% interval coverage: {coverage}")
    assert 0.93 <= coverage["root_mean_squared_error"] <= 0.97


@pytest.mark.slow
def test_rmse_interval_coverage_with_heavy_tailed_errors() -> None:
    """n = 150 rows, t(4) errors: the squared errors have no finite variance, and a sample of
    150 usually lacks the tail that makes the true RMSE, so every bootstrap interval misses
    mostly from below. The studentized interval (the registry's method for RMSE) covers
    measurably more than BCa and the percentile interval, but no resampling interval reaches
    93% here (docs/evaluation.md gives the figures); the test pins their order and band."""
    rows = 150
    draw = _regression(rows, lambda rng, n: rng.standard_t(4, n))
    coverage = _coverage(_rmse_methods(), draw, float(np.sqrt(2.0)))
    print(
        f"RMSE (t(4) errors, n = {rows}) 95% interval coverage over {REPETITIONS} repetitions: "
        + ", ".join(f"{name} {value:.3f}" for name, value in coverage.items())
    )
    studentized = coverage["root_mean_squared_error"]
    assert studentized >= coverage["BCa"] + 0.015
    assert coverage["BCa"] >= coverage["percentile"] + 0.02
    assert 0.87 <= studentized <= 0.97


def _overconfident(rng: np.random.Generator, rows: int, gap: float) -> Scored:
    score = rng.random(rows)
    truth = np.where(score < 0.5, score + gap, score - gap)
    y = (rng.random(rows) < truth).astype(int)
    return Scored(
        "binary_classification",
        y,
        (score >= 0.5).astype(int),
        np.stack([1 - score, score], 1),
        ("n", "p"),
    )


@pytest.mark.slow
def test_calibration_error_interval_coverage_at_a_true_ece_of_five_percent() -> None:
    """2,000 rows (200 a bin, where a bin's gap of 0.05 is 1.5 standard errors of its mean):
    the percentile intervals of both calibration errors (the registry's choice) cover. BCa
    intervals on the same resamples over-correct the upward bias and cover less: the reason
    for that choice (|gap| has a kink at 0, where the bias the bootstrap sees is not the
    estimate's)."""
    rows = 2000
    names = ["expected_calibration_error", "debiased_calibration_error"]
    chosen = [m for m in METRICS if m.name in names]
    assert all(m.interval == "percentile" for m in chosen)
    bca = [replace(m, name=f"{m.name} BCa", interval="BCa") for m in chosen]
    coverage = _coverage(
        chosen + bca,
        lambda rng: _overconfident(rng, rows, 0.05),
        0.05,
        seed=20261203,
    )
    print(
        f"calibration errors (true 0.05, n = {rows}) 95% interval coverage over "
        f"{REPETITIONS} repetitions: "
        + ", ".join(f"{name} {value:.3f}" for name, value in coverage.items())
    )
    for name in names:
        assert coverage[name] > coverage[f"{name} BCa"], name
        assert 0.93 <= coverage[name] <= 0.97, name


def test_debiased_calibration_error_of_a_calibrated_model_is_zero_on_average() -> None:
    """2,000 perfectly calibrated data sets of 2,000 rows, every one's bin sums at once: the
    plain ECE is biased upward (about 0.02 here); the debiased squared error D is 0 within its
    standard error, and its signed root (the reported value) averages slightly below 0, the
    root being concave: -0.0015 here."""
    repetitions, rows = 2000, 2000
    rng = np.random.default_rng(7)
    score = rng.random((repetitions, rows))
    y = (rng.random((repetitions, rows)) < score).astype(float)
    gap = score - y
    key = np.arange(repetitions)[:, None] * ECE_BINS + np.minimum(score * ECE_BINS, 9).astype(int)
    cells = repetitions * ECE_BINS

    def per_bin(weights: np.ndarray) -> np.ndarray:
        return np.bincount(key.ravel(), weights.ravel(), cells).reshape(repetitions, ECE_BINS)

    count, first, second = per_bin(np.ones_like(gap)), per_bin(gap), per_bin(gap**2)
    by_name = {m.name: m for m in METRICS}
    ece = by_name["expected_calibration_error"].value(np.concatenate([count, first], 1))  # type: ignore[misc]
    debiased = by_name["debiased_calibration_error"].value(  # type: ignore[misc]
        np.concatenate([count, first, second], 1)
    )
    squared = debiased * np.abs(debiased)  # D, the debiased squared error before its root
    error = squared.std() / np.sqrt(repetitions)
    print(
        f"calibrated model, {repetitions} data sets of {rows} rows: mean ECE {ece.mean():.4f}, "
        f"mean debiased calibration error {debiased.mean():.5f}, mean of its square D "
        f"{squared.mean():.2e} (standard error {error:.1e})"
    )
    assert abs(squared.mean()) < 3 * error  # D is unbiased: 0 on average
    assert abs(debiased.mean()) < 0.1 * ece.mean()  # its signed root: nearly so
    assert ece.mean() > 0.015
