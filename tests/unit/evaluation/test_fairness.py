"""Fairness with uncertainty: small groups left out of the figures, intervals on the metrics'
resamples, and their coverage by simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from goldenpath.evaluation.bootstrap import bootstrap
from goldenpath.evaluation.document import FairnessReport
from goldenpath.evaluation.fairness import FairnessPass, fairness_report, fairness_reports
from goldenpath.evaluation.metrics import METRICS, Scored


def _data(n: int, seed: int) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    group = pd.Series(rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]))
    y = rng.integers(0, 2, n)
    pred = rng.random(n) + 0.3 * y + group.map({"a": 0.0, "b": 0.1, "c": -0.1}) > 0.7
    return group, y, pred.to_numpy().astype(int)


def test_a_one_row_group_no_longer_sets_the_parity_ratio_to_zero() -> None:
    """The issue's cases: one row predicted negative made the demographic parity ratio 0, and
    8 rows with one positive drove equalized odds; under min_group_size both are only shown."""
    group, y, pred = _data(2000, 0)
    group = pd.concat([group, pd.Series(["one"]), pd.Series(["eight"] * 8)], ignore_index=True)
    y = np.r_[y, 0, [1, 0, 0, 0, 0, 0, 0, 0]]
    pred = np.r_[pred, 0, [0, 1, 1, 1, 1, 1, 1, 1]]

    every = fairness_report("g", group, y, pred, min_group_size=1, n_resamples=0)
    assert every.demographic_parity_ratio == 0.0
    report = fairness_report("g", group, y, pred, n_resamples=200, seed=3)
    assert report.min_group_size == 30
    assert report.excluded_groups == ("eight", "one")
    assert report.demographic_parity_ratio is not None
    assert report.demographic_parity_ratio > 0.5
    assert report.equalized_odds_difference is not None
    assert report.equalized_odds_difference < every.equalized_odds_difference  # type: ignore[operator]
    assert report.notes == (
        "Under min_group_size 30, shown but left out of every figure: "
        "eight (8 rows), one (1 rows).",
    )
    eight = next(g for g in report.groups if g.group == "eight")
    assert (eight.support, eight.positives, eight.compared) == (8, 1, False)
    # shown with counts and intervals
    assert eight.selection_rate_ci_low is not None
    assert eight.selection_rate_ci_high is not None
    assert eight.selection_rate_ci_low <= eight.selection_rate <= eight.selection_rate_ci_high


def test_figures_are_undefined_with_a_reason_and_never_nan() -> None:
    group = pd.Series(["a"] * 40 + ["b"] * 40)
    y = np.r_[np.zeros(40, dtype=int), np.ones(40, dtype=int)]  # a: no positives, b: no negatives
    pred = np.zeros(80, dtype=int)  # nobody selected
    report = fairness_report("g", group, y, pred, n_resamples=50)
    dp = report.disparity("demographic_parity_ratio")
    assert dp is not None
    assert (dp.value, dp.ci_low, dp.undefined) == (
        None,
        None,
        "0 / 0: the largest rate compared is 0",
    )
    assert report.demographic_parity_difference == 0.0
    assert report.measure("equalized_odds_difference", "to_overall") == 0.0  # rates all 0
    eo = report.disparity("equalized_odds_ratio", "to_overall")
    assert eo is not None
    assert (eo.value, eo.undefined) == (None, "0 / 0: the overall rate is 0")
    a = report.groups[0]
    assert (a.true_positive_rate, a.true_positive_rate_ci_low) == (None, None)
    assert any(n.startswith("No positive rows") and "a (40 rows)" in n for n in report.notes)
    assert any(n.startswith("No negative rows") and "b (40 rows)" in n for n in report.notes)
    nobody = fairness_report("g", group, y, pred, min_group_size=100, n_resamples=0)
    assert {d.undefined for d in nobody.disparities} == {"no group has min_group_size (100) rows"}
    # the document round-trips (no NaN in JSON)
    assert FairnessReport.model_validate_json(report.model_dump_json()) == report


def test_group_intervals_use_the_metrics_resamples() -> None:
    """A group's true positive rate is the recall on its rows: with the same seed its interval
    is the very one the metrics' bootstrap gives that slice (same resamples, same percentiles)."""
    group, y, pred = _data(1500, 1)
    report = fairness_report("g", group, y, pred, n_resamples=300, seed=7, confidence=0.9)
    scored = Scored(
        task="binary_classification",
        y=y,
        pred=pred,
        proba=None,
        classes=(0, 1),
    )
    recall = [m for m in METRICS if m.name == "recall_score"]
    rows = {name: np.flatnonzero(group.to_numpy() == name) for name in ("a", "b", "c")}
    estimates = bootstrap(scored, recall, rows, n_resamples=300, seed=7, confidence=0.9)
    for g in report.groups:
        estimate = estimates[g.group]["recall_score"]
        assert g.true_positive_rate == pytest.approx(estimate.value, abs=1e-12)
        assert g.true_positive_rate_ci_low == pytest.approx(estimate.ci_low, abs=1e-9)
        assert g.true_positive_rate_ci_high == pytest.approx(estimate.ci_high, abs=1e-9)


def test_several_features_share_one_pass_and_equal_their_own_reports() -> None:
    group, y, pred = _data(1200, 2)
    other = pd.Series(np.where(np.arange(1200) % 3 == 0, "x", None))  # missing values: a group
    both = fairness_reports({"g": group, "o": other}, y, pred, n_resamples=100, seed=5)
    assert both[0] == fairness_report("g", group, y, pred, n_resamples=100, seed=5)
    assert both[1] == fairness_report("o", other, y, pred, n_resamples=100, seed=5)
    assert [g.group for g in both[1].groups] == ["x", "<missing>"]
    again = fairness_reports({"g": group, "o": other}, y, pred, n_resamples=100, seed=5)
    assert again == both
    none = fairness_report("g", group, y, pred, n_resamples=0)
    assert all(d.ci_low is None and d.value is not None for d in none.disparities)


def test_fed_by_the_metrics_bootstrap_the_reports_equal_their_own_draws() -> None:
    """An evaluation draws its resamples once: the metrics' bootstrap hands every block to the
    fairness pass, whose reports equal those of fairness_reports drawing the same resamples."""
    group, y, pred = _data(900, 3)
    fairness = FairnessPass({"g": group}, y, pred)
    scored = Scored("binary_classification", y, pred, None, ("n", "y"))
    accuracy = [m for m in METRICS if m.name == "accuracy_score"]
    bootstrap(
        scored, accuracy, {"all": np.arange(900)}, n_resamples=250, seed=8, on_block=fairness.add
    )
    assert fairness.reports() == fairness_reports({"g": group}, y, pred, n_resamples=250, seed=8)
    assert fairness.reports()[0].disparities[0].ci_low is not None
    unfed = FairnessPass({"g": group}, y, pred).reports()[0]
    assert all(d.ci_low is None and d.value is not None for d in unfed.disparities)


def _coverage(
    rates: tuple[float, float], sizes: tuple[int, int], datasets: int, resamples: int
) -> dict[str, float]:
    """Share of simulated data sets whose 95% interval holds the true figure, for two groups
    whose selection rates and true positive rates are ``rates`` (base rate 0.5)."""
    (p_a, p_b), (n_a, n_b) = rates, sizes
    truth = {
        "demographic_parity_difference": abs(p_a - p_b),
        "demographic_parity_ratio": min(p_a, p_b) / max(p_a, p_b),
        "equal_opportunity_difference": abs(p_a - p_b),
    }
    rng = np.random.default_rng(20261203)
    n = n_a + n_b
    group = pd.Series(np.r_[np.zeros(n_a, dtype=int), np.ones(n_b, dtype=int)])
    rate = np.where(group.to_numpy() == 0, p_a, p_b)
    hits = dict.fromkeys(truth, 0)
    for i in range(datasets):  # one data set per iteration; each is fully vectorised
        y = (rng.random(n) < 0.5).astype(int)
        pred = (rng.random(n) < rate).astype(int)  # selection and TPR both ``rate``
        report = fairness_report("g", group, y, pred, n_resamples=resamples, seed=i)
        for name, value in truth.items():
            d = report.disparity(name)
            assert d is not None
            low, high = d.ci_low, d.ci_high
            assert low is not None
            assert high is not None
            hits[name] += low <= value <= high
    return {name: count / datasets for name, count in hits.items()}


def test_intervals_cover_the_true_disparity() -> None:
    """400 simulated evaluations (groups of 600 and 400 rows, selection rates and true positive
    rates 0.30 and 0.45): each figure's 95% interval holds the truth about 95% of the time (the
    coverage's own standard error is 1.1 points; as run: 0.955, 0.9725, 0.9525)."""
    coverage = _coverage((0.30, 0.45), (600, 400), datasets=400, resamples=400)
    print("coverage of the 95% intervals:", coverage)
    for name, share in coverage.items():
        assert 0.92 <= share <= 0.98, (name, share)


def test_no_sensitive_features_no_reports() -> None:
    assert fairness_reports({}, np.array([0, 1]), np.array([1, 1])) == ()
