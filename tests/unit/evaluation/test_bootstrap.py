"""The vectorised bootstrap: agrees with a naive loop, handles undefined slices, is seeded."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from goldenpath.evaluation.bootstrap import bootstrap, resample_blocks
from goldenpath.evaluation.metrics import METRICS, Scored, metrics_for


def _binary(n: int, seed: int = 0) -> Scored:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    return Scored(
        "binary_classification",
        y,
        (score >= 0.5).astype(int),
        np.stack([1 - score, score], 1),
        ("n", "p"),
    )


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
