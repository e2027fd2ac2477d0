"""The vectorised bootstrap: agrees with a naive loop, handles undefined slices, is seeded."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from _benchmarks import benchmark
from goldenpath.evaluation.bootstrap import bootstrap, prefetched, resample_blocks
from goldenpath.evaluation.document import Estimate
from goldenpath.evaluation.metrics import METRICS, IntervalMethod, Scored, metrics_for

differential = benchmark("differential")  # its bootstrap rows check the same data


def _binary(n: int, seed: int = 0) -> Scored:
    scored: Scored = differential.binary_scored(n, seed, ties=False)
    return scored


def test_resample_counts_are_multinomial_draws_of_n_rows() -> None:
    blocks = list(resample_blocks(n=50, n_resamples=300, seed=1))
    counts = np.concatenate(blocks, axis=1)
    assert counts.shape == (50, 300)
    assert (counts.sum(axis=0) == 50).all()
    assert counts.mean() == pytest.approx(1.0)
    assert counts.var() == pytest.approx(1 - 1 / 50, rel=0.1)  # multinomial variance


def test_vectorised_intervals_equal_a_naive_resampling_loop() -> None:
    scored = _binary(400)
    auc = next(m for m in METRICS if m.name == "roc_auc_score")
    result = bootstrap(scored, [auc], {"all": np.arange(400)}, n_resamples=200, seed=7)["all"]
    # the same resamples, drawn the slow way: index vectors and scikit-learn
    naive = []
    for block in resample_blocks(400, 200, seed=7):
        for counts in block.T:
            idx = np.repeat(np.arange(400), counts.astype(int))
            naive.append(roc_auc_score(scored.y[idx], scored.proba[idx, 1]))
    estimate = result["roc_auc_score"]
    assert estimate.ci_low == pytest.approx(np.quantile(naive, 0.025), rel=1e-9)
    assert estimate.ci_high == pytest.approx(np.quantile(naive, 0.975), rel=1e-9)
    assert estimate.value == pytest.approx(roc_auc_score(scored.y, scored.proba[:, 1]))


def test_same_seed_same_intervals_other_seed_other_intervals() -> None:
    scored = _binary(300)
    metrics = metrics_for(scored)
    rows = {"all": np.arange(300)}
    a = bootstrap(scored, metrics, rows, n_resamples=100, seed=3)
    b = bootstrap(scored, metrics, rows, n_resamples=100, seed=3)
    c = bootstrap(scored, metrics, rows, n_resamples=100, seed=4)
    assert a == b
    assert a["all"]["f1_score"].ci_low != c["all"]["f1_score"].ci_low


def test_every_interval_contains_its_point_estimate_on_reasonable_data() -> None:
    scored = _binary(2000)
    result = bootstrap(scored, metrics_for(scored), {"all": np.arange(2000)}, n_resamples=300)
    for name, estimate in result["all"].items():
        assert estimate.ci_low is not None, name
        assert estimate.ci_high is not None, name
        assert estimate.ci_low <= estimate.value <= estimate.ci_high, name


def test_slice_with_one_class_is_undefined_with_a_reason_not_nan() -> None:
    scored = _binary(500)
    negatives = np.flatnonzero(scored.y == 0)
    result = bootstrap(scored, metrics_for(scored), {"only_negatives": negatives}, n_resamples=50)[
        "only_negatives"
    ]
    auc = result["roc_auc_score"]
    assert auc.value is None
    assert auc.ci_low is None
    assert auc.undefined == "no positive rows"
    assert result["recall_score"].undefined == "no positive rows"
    assert result["accuracy_score"].value is not None  # what is defined stays defined


def test_empty_and_tiny_sets() -> None:
    scored = _binary(3)
    result = bootstrap(
        scored,
        metrics_for(scored),
        {"none": np.array([], dtype=int), "one": np.array([0])},
        n_resamples=20,
    )
    assert result["none"]["accuracy_score"].undefined == "no rows"
    assert result["one"]["accuracy_score"].support == 1
    assert result["one"]["roc_auc_score"].value is None


def test_model_without_probabilities_gets_label_metrics_only() -> None:
    scored = _binary(100)
    labels_only = Scored(scored.task, scored.y, scored.pred, None, scored.classes)
    names = {m.name for m in metrics_for(labels_only)}
    assert names == {"accuracy_score", "precision_score", "recall_score", "f1_score"}
    result = bootstrap(
        labels_only, metrics_for(labels_only), {"all": np.arange(100)}, n_resamples=50
    )
    assert result["all"]["f1_score"].value is not None


def test_regression_and_multiclass_paths() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(50, 10, 300)
    reg = Scored("regression", y, y + rng.normal(0, 3, 300), None, ())
    out = bootstrap(reg, metrics_for(reg), {"all": np.arange(300)}, n_resamples=100)["all"]
    assert out["mean_absolute_error"].ci_low < out["mean_absolute_error"].ci_high
    constant = Scored("regression", np.full(5, 2.0), np.arange(5.0), None, ())
    out = bootstrap(constant, metrics_for(constant), {"all": np.arange(5)}, n_resamples=10)
    assert out["all"]["r2_score"].undefined == "the target is constant"
    k = rng.integers(0, 3, 300)
    proba = rng.dirichlet(np.ones(3), 300)
    multi = Scored("multiclass_classification", k, proba.argmax(1), proba, ("a", "b", "c"))
    out = bootstrap(multi, metrics_for(multi), {"all": np.arange(300)}, n_resamples=100)["all"]
    assert set(out) == {"log_loss", "accuracy_score", "macro_f1_score", "weighted_f1_score"}


def test_grouped_scores_give_the_intervals_of_exact_scores() -> None:
    scored = _binary(20_000, seed=11)  # continuous scores: ~20,000 distinct values
    rank = [m for m in METRICS if m.rank is not None]
    rows = {"all": np.arange(20_000), "part": np.arange(0, 20_000, 3)}
    exact = bootstrap(scored, rank, rows, n_resamples=200, seed=2, max_score_groups=10**9)
    grouped = bootstrap(scored, rank, rows, n_resamples=200, seed=2, max_score_groups=512)
    for name in rows:
        for metric in ("roc_auc_score", "pr_auc_score"):
            a, b = exact[name][metric], grouped[name][metric]
            assert a.value == b.value  # point values are always exact
            width = a.ci_high - a.ci_low
            assert abs(a.ci_low - b.ci_low) < 0.1 * width, (name, metric)
            assert abs(a.ci_high - b.ci_high) < 0.1 * width, (name, metric)


def test_paired_difference_of_a_model_with_itself_is_exactly_zero() -> None:
    from goldenpath.evaluation.bootstrap import paired_differences

    scored = _binary(500)
    out = paired_differences(
        scored, scored, metrics_for(scored), {"all": np.arange(500)}, n_resamples=100
    )["all"]
    for name, d in out.items():
        assert d.difference == 0.0, name
        assert d.ci_low == 0.0, name
        assert d.ci_high == 0.0, name
        assert d.verdict == "no clear difference"


def test_paired_difference_finds_the_better_model_and_matches_a_naive_loop() -> None:
    from goldenpath.evaluation.bootstrap import paired_differences

    rng = np.random.default_rng(4)
    n = 1500
    y = rng.integers(0, 2, n)
    good = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)
    weak = np.clip(good + rng.normal(0, 0.25, n), 0, 1)

    def scored_of(score: np.ndarray) -> Scored:
        return Scored(
            "binary_classification",
            y,
            (score >= 0.5).astype(int),
            np.stack([1 - score, score], 1),
            ("n", "p"),
        )

    auc = [m for m in METRICS if m.name == "roc_auc_score"]
    out = paired_differences(
        scored_of(good), scored_of(weak), auc, {"all": np.arange(n)}, n_resamples=300, seed=9
    )["all"]["roc_auc_score"]
    assert out.verdict == "better"
    assert out.difference == pytest.approx(roc_auc_score(y, good) - roc_auc_score(y, weak))
    naive = []
    for block in resample_blocks(n, 300, seed=9):
        for counts in block.T:
            idx = np.repeat(np.arange(n), counts.astype(int))
            naive.append(roc_auc_score(y[idx], good[idx]) - roc_auc_score(y[idx], weak[idx]))
    assert out.ci_low == pytest.approx(np.quantile(naive, 0.025), rel=1e-6)
    assert out.ci_high == pytest.approx(np.quantile(naive, 0.975), rel=1e-6)
    reverse = paired_differences(
        scored_of(weak), scored_of(good), auc, {"all": np.arange(n)}, n_resamples=300, seed=9
    )["all"]["roc_auc_score"]
    assert reverse.verdict == "worse"


def test_many_overlapping_row_sets_give_the_same_intervals_as_each_set_alone() -> None:
    # 14 random halves make far more than 1,024 membership cells, so some sets are summed
    # directly and some through cells; every set must come out as if bootstrapped alone
    scored = _binary(3000, seed=8)
    rng = np.random.default_rng(0)
    row_sets = {"all": np.arange(3000)} | {
        f"s{i}": np.flatnonzero(rng.random(3000) < 0.5) for i in range(14)
    }
    metrics = metrics_for(scored)
    together = bootstrap(scored, metrics, row_sets, n_resamples=60, seed=4)
    for name, rows in row_sets.items():
        alone = bootstrap(scored, metrics, {name: rows}, n_resamples=60, seed=4)[name]
        for metric in metrics:
            a, b = together[name][metric.name], alone[metric.name]
            assert a.value == b.value
            assert a.ci_low == pytest.approx(b.ci_low, rel=1e-5), (name, metric.name)
            assert a.ci_high == pytest.approx(b.ci_high, rel=1e-5), (name, metric.name)


# ----------------------------------------------------------------------------- BCa intervals


def _scipy_bca(data: tuple[np.ndarray, ...], statistic: object, draws: list[float]) -> object:
    """scipy's BCa interval from the given resample values (``n_resamples=0`` with a
    ``bootstrap_result``: scipy draws nothing and computes z0 and the jackknife itself)."""
    from types import SimpleNamespace

    from scipy import stats

    return stats.bootstrap(
        data,
        statistic,  # type: ignore[arg-type]
        paired=True,
        method="BCa",
        n_resamples=0,
        bootstrap_result=SimpleNamespace(bootstrap_distribution=np.asarray(draws)),
    ).confidence_interval


def _naive_draws(n: int, resamples: int, seed: int, fn: object) -> list[float]:
    """Every resample rebuilt the slow way (rows repeated as often as drawn), through ``fn``."""
    out = []
    for block in resample_blocks(n, resamples, seed=seed):
        for counts in block.T:
            out.append(float(fn(np.repeat(np.arange(n), counts.astype(int)))))  # type: ignore[operator]
    return out


@pytest.mark.parametrize("n", [40, 150])
def test_bca_interval_of_rmse_equals_scipy_on_the_same_resamples(n: int) -> None:
    from sklearn.metrics import root_mean_squared_error

    rng = np.random.default_rng(n)
    y = rng.normal(0, 1, n)
    pred = y + rng.standard_t(4, n)
    scored = Scored("regression", y, pred, None, ())
    rmse = next(m for m in METRICS if m.name == "root_mean_squared_error")
    est = bootstrap(scored, [rmse], {"all": np.arange(n)}, n_resamples=400, seed=5, method="BCa")[
        "all"
    ][rmse.name]
    draws = _naive_draws(n, 400, 5, lambda i: root_mean_squared_error(y[i], pred[i]))

    def statistic(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.sqrt(((a - b) ** 2).mean(axis=axis))

    ci = _scipy_bca((y, pred), statistic, draws)
    assert est.interval_method == "BCa"
    # the resample sums are accumulated in single precision (see the docs' caveats)
    assert est.ci_low == pytest.approx(ci.low, rel=1e-6)
    assert est.ci_high == pytest.approx(ci.high, rel=1e-6)
    percentile = bootstrap(
        scored, [rmse], {"all": np.arange(n)}, n_resamples=400, seed=5, method="percentile"
    )["all"][rmse.name]
    assert percentile.interval_method == "percentile"
    assert percentile.ci_low != est.ci_low


@pytest.mark.parametrize("n", [40, 150])
def test_studentized_interval_of_rmse_equals_the_bootstrap_t_rebuilt_row_by_row(n: int) -> None:
    """The registry's RMSE interval is studentized: every resample rebuilt from its rows gives
    t = (RMSE* - RMSE) / SE*, SE the delta-method standard error (the squared errors' standard
    deviation over sqrt(n), over 2 RMSE); the interval is RMSE - SE * (t's 97.5% and 2.5%
    quantiles)."""
    rng = np.random.default_rng(n)
    y = rng.normal(0, 1, n)
    pred = y + rng.standard_t(4, n)
    scored = Scored("regression", y, pred, None, ())
    rmse = next(m for m in METRICS if m.name == "root_mean_squared_error")
    assert rmse.interval == "studentized"  # the registry's choice for this metric
    est = bootstrap(scored, [rmse], {"all": np.arange(n)}, n_resamples=400, seed=5)["all"][
        rmse.name
    ]

    def root_and_error(squared: np.ndarray) -> tuple[float, float]:
        root = float(np.sqrt(squared.mean()))
        return root, float(squared.std() / np.sqrt(len(squared)) / (2 * root))

    squared = (y - pred) ** 2
    point, error = root_and_error(squared)
    t = []
    for block in resample_blocks(n, 400, seed=5):
        for counts in block.T:
            value, own = root_and_error(squared[np.repeat(np.arange(n), counts.astype(int))])
            t.append((value - point) / own)
    low, high = np.quantile(t, [0.025, 0.975])
    assert est.interval_method == "studentized"
    assert est.value == pytest.approx(point, rel=1e-12)
    # the resample sums are accumulated in single precision (see the docs' caveats)
    assert est.ci_low == pytest.approx(point - high * error, rel=1e-5)
    assert est.ci_high == pytest.approx(point - low * error, rel=1e-5)


def test_studentized_interval_falls_back_to_bca_without_a_standard_error() -> None:
    """Perfect predictions: every squared error is 0, the standard error is not defined (0 / 0),
    so the interval is BCa's (here the point itself) and says so."""
    y = np.arange(30, dtype=float)
    scored = Scored("regression", y, y.copy(), None, ())
    rmse = next(m for m in METRICS if m.name == "root_mean_squared_error")
    est = bootstrap(scored, [rmse], {"all": np.arange(30)}, n_resamples=100, seed=1)["all"][
        rmse.name
    ]
    assert est.value == 0.0
    assert est.interval_method in {"BCa", "percentile"}
    assert est.ci_low == est.ci_high == 0.0


def _rmse_of_scaled_errors(scale: float, method: IntervalMethod | None = None) -> Estimate:
    """RMSE and its interval of 500 N(0, 1) errors times ``scale``."""
    errors = np.random.default_rng(0).normal(0, 1, 500) * scale
    scored = Scored("regression", np.zeros(500), errors, None, ())
    rmse = next(m for m in METRICS if m.name == "root_mean_squared_error")
    all_rows = {"all": np.arange(500)}
    return bootstrap(scored, [rmse], all_rows, n_resamples=400, seed=2, method=method)["all"][
        rmse.name
    ]


@pytest.mark.parametrize("scale", [7.2e8, 1.3e9, 5e9])
def test_studentized_interval_falls_back_to_bca_when_the_error_sums_overflow(
    scale: float,
) -> None:
    """The standard error needs the sums of the errors' fourth powers, which pass float32's
    largest number (3.4e38) on some resamples (7.2e8: N(0, 1) errors on 500 rows sum to about
    3.4e38), on all of them (1.3e9), or row by row (5e9). Leaving the overflowing resamples out
    would keep the ones with the smaller errors: at 7.2e8 the interval missed its own point.
    The interval is BCa's, which scales with the errors."""
    estimate = _rmse_of_scaled_errors(scale)
    unit = _rmse_of_scaled_errors(1.0, method="BCa")
    assert estimate.interval_method == "BCa"
    assert estimate.ci_low is not None
    assert estimate.ci_high is not None
    assert estimate.value is not None
    assert np.isfinite([estimate.ci_low, estimate.ci_high]).all()
    assert estimate.ci_low < estimate.value < estimate.ci_high
    assert estimate.ci_low == pytest.approx(unit.ci_low * scale, rel=1e-5)  # type: ignore[operator]
    assert estimate.ci_high == pytest.approx(unit.ci_high * scale, rel=1e-5)  # type: ignore[operator]


def test_studentized_interval_scales_with_errors_that_do_not_overflow() -> None:
    estimate, unit = _rmse_of_scaled_errors(5e8), _rmse_of_scaled_errors(1.0)
    assert estimate.interval_method == unit.interval_method == "studentized"
    assert estimate.ci_low == pytest.approx(unit.ci_low * 5e8, rel=1e-5)  # type: ignore[operator]
    assert estimate.ci_high == pytest.approx(unit.ci_high * 5e8, rel=1e-5)  # type: ignore[operator]


def test_sets_with_missing_labels_or_predictions_are_undefined_and_leave_the_others() -> None:
    """Regression rows without a label or a prediction (NaN): every set holding one is
    undefined, with the reason and no interval; the other sets get the very intervals they get
    when those rows have values (the resamples are the same)."""
    rng = np.random.default_rng(0)
    y = rng.normal(50, 10, 200)
    pred = y + rng.normal(0, 3, 200)
    sets = {
        "overall": np.arange(200),
        "no labels": np.arange(20),
        "no predictions": np.arange(20, 40),
        "labelled": np.arange(40, 200),
    }
    missing_y, missing_pred = y.copy(), pred.copy()
    missing_y[:20] = np.nan
    missing_pred[20:40] = np.nan
    scored = Scored("regression", missing_y, missing_pred, None, ())
    out = bootstrap(scored, metrics_for(scored), sets, n_resamples=100)
    complete = Scored("regression", y, pred, None, ())
    expected = bootstrap(complete, metrics_for(complete), sets, n_resamples=100)["labelled"]
    for name in ("overall", "no labels", "no predictions"):
        for metric, estimate in out[name].items():
            assert estimate.value is None, (name, metric)
            assert (estimate.ci_low, estimate.ci_high, estimate.interval_method) == (
                None,
                None,
                None,
            )
            assert estimate.undefined == "labels or predictions are missing", (name, metric)
    for metric, estimate in expected.items():
        got = out["labelled"][metric]
        assert estimate.interval_method is not None, metric
        assert (got.value, got.interval_method) == (estimate.value, estimate.interval_method)
        # R^2's rows are centred on the labelled rows' mean: equal within single precision
        assert got.ci_low == pytest.approx(estimate.ci_low, rel=1e-6), metric
        assert got.ci_high == pytest.approx(estimate.ci_high, rel=1e-6), metric


def test_regression_sets_of_no_row_and_of_one_row() -> None:
    """No row: every metric undefined, no interval. One row: its error, with a zero-width
    interval (within single precision, docs/evaluation.md's caveats), and R^2 undefined."""
    y, pred = np.array([3.0, 5.0, 8.0]), np.array([2.5, 6.0, 8.0])
    scored = Scored("regression", y, pred, None, ())
    rows = {"none": np.array([], dtype=int), "one": np.array([1])}
    out = bootstrap(scored, metrics_for(scored), rows, n_resamples=50)
    for metric, estimate in out["none"].items():
        assert estimate.undefined == "no rows", metric
        assert (estimate.value, estimate.ci_low, estimate.interval_method) == (None, None, None)
    one = out["one"]
    assert one["r2_score"].value is None
    assert one["r2_score"].undefined == "the target is constant"
    for metric in ("mean_absolute_error", "root_mean_squared_error"):
        estimate = one[metric]
        assert estimate.value == 1.0
        assert estimate.ci_low == pytest.approx(1.0, rel=1e-6)
        assert estimate.ci_high == pytest.approx(1.0, rel=1e-6)
        assert estimate.interval_method is not None
    assert one["root_mean_squared_error"].interval_method == "BCa"  # its standard error is 0
    json.dumps([e.to_dict() for r in out.values() for e in r.values()], allow_nan=False)


def test_bca_interval_of_roc_auc_equals_scipy_with_the_exact_jackknife() -> None:
    n = 120  # under JACKKNIFE_GROUPS: one row per group, the exact leave-one-out
    scored = _binary(n, seed=3)
    auc = next(m for m in METRICS if m.name == "roc_auc_score")
    est = bootstrap(scored, [auc], {"all": np.arange(n)}, n_resamples=300, seed=2, method="BCa")[
        "all"
    ][auc.name]
    score = scored.proba[:, 1]
    draws = _naive_draws(n, 300, 2, lambda i: roc_auc_score(scored.y[i], score[i]))

    def statistic(y: np.ndarray, s: np.ndarray, axis: int = -1) -> np.ndarray:
        # scipy calls it on the data (1-d) and on every jackknife sample (a 2-d stack)
        if y.ndim == 1:
            return np.asarray(roc_auc_score(y, s))
        return np.array([roc_auc_score(a, b) for a, b in zip(y, s, strict=True)])

    ci = _scipy_bca((scored.y, score), statistic, draws)
    assert est.interval_method == "BCa"
    assert est.ci_low == pytest.approx(ci.low, rel=1e-12)
    assert est.ci_high == pytest.approx(ci.high, rel=1e-12)


def test_bca_interval_of_calibration_errors_on_a_slice_equals_scipy() -> None:
    from goldenpath.evaluation.bootstrap import bca_interval

    # the slice's jackknife leaves out each of its own rows; its resamples are the whole
    # set's restricted to it, so scipy is given those values
    scored = _binary(300, seed=6)
    rows = np.flatnonzero(scored.proba[:, 1] > 0.3)
    for name in ("expected_calibration_error", "debiased_calibration_error", "log_loss"):
        metric = next(m for m in METRICS if m.name == name)
        est = bootstrap(scored, [metric], {"part": rows}, n_resamples=300, seed=1, method="BCa")[
            "part"
        ][name]
        sub = Scored(
            scored.task, scored.y[rows], scored.pred[rows], scored.proba[rows], scored.classes
        )
        draws = []
        for block in resample_blocks(300, 300, seed=1):
            for counts in block.T:
                draws.append(metric.compute(sub, counts[rows].astype(float)))

        def statistic(
            idx: np.ndarray, axis: int = -1, _m: object = metric, sub: Scored = sub
        ) -> np.ndarray:
            idx = np.atleast_2d(idx).astype(int)
            values = [
                _m.compute(  # type: ignore[attr-defined]
                    sub, np.bincount(i, minlength=len(rows)).astype(float)
                )
                for i in idx
            ]
            return np.asarray(values if len(values) > 1 else values[0])

        ci = _scipy_bca((np.arange(len(rows)),), statistic, draws)
        assert est.interval_method == "BCa", name
        assert est.ci_low == pytest.approx(ci.low, rel=1e-5), name
        assert est.ci_high == pytest.approx(ci.high, rel=1e-5), name
        assert bca_interval(np.asarray(draws), est.value, np.zeros(3), 0.95) is not None


def test_bca_falls_back_to_percentile_when_the_point_is_outside_every_resample() -> None:
    from goldenpath.evaluation.bootstrap import bca_interval

    draws = np.linspace(1.0, 2.0, 100)
    assert bca_interval(draws, 0.5, np.arange(5.0), 0.95) is None
    low, high = bca_interval(draws, 1.5, np.zeros(5), 0.95)  # type: ignore[misc]
    assert low == pytest.approx(np.quantile(draws, 0.025))  # z0 = 0, a = 0: percentile
    assert high == pytest.approx(np.quantile(draws, 0.975))
    # a one-row slice: every resample that draws the row sees the same value
    scored = _binary(200)
    out = bootstrap(scored, metrics_for(scored), {"one": np.array([7])}, n_resamples=50)["one"]
    for name, estimate in out.items():
        if estimate.value is None:
            assert estimate.interval_method is None, name
        else:
            assert estimate.interval_method in ("percentile", "BCa"), name


def test_the_registry_records_its_interval_method_in_every_estimate() -> None:
    scored = _binary(500)
    out = bootstrap(scored, metrics_for(scored), {"all": np.arange(500)}, n_resamples=100)["all"]
    by_name = {m.name: m for m in METRICS}
    for name, estimate in out.items():
        assert estimate.interval_method == by_name[name].interval, name
    none = bootstrap(scored, metrics_for(scored), {"all": np.arange(500)}, n_resamples=0)["all"]
    assert all(e.interval_method is None for e in none.values())


@pytest.mark.parametrize("n", [1, 7, 150, 2001, 65_537])  # the last: several draws a block
def test_resamples_are_one_draw_of_n_rows_per_resample_in_order(n: int) -> None:
    # the counts are drawn many resamples at a time; they must be those of drawing n row
    # positions per resample, one resample after the other, from the seeded generator
    rng = np.random.default_rng(12)
    expected = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(70)])
    got = np.concatenate(list(resample_blocks(n, 70, seed=12)), axis=1).T
    assert np.array_equal(got, expected)


def test_prefetched_blocks_are_the_same_blocks_and_errors_surface() -> None:
    plain = list(resample_blocks(500, 130, seed=3))
    ahead = list(prefetched(resample_blocks(500, 130, seed=3)))
    assert len(plain) == len(ahead)
    assert all(np.array_equal(a, b) for a, b in zip(plain, ahead, strict=True))

    def failing() -> Iterator[np.ndarray]:
        yield np.zeros((3, 2), dtype=np.float32)
        raise RuntimeError("drawing failed")

    blocks = prefetched(failing())
    assert next(blocks).shape == (3, 2)
    with pytest.raises(RuntimeError, match="drawing failed"):
        next(blocks)
