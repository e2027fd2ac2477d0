"""Fairness figures equal Fairlearn's on the same data, to 1e-12: point values with both methods,
and each bootstrap resample's values on the rows that resample drew."""

from __future__ import annotations

import fairlearn.metrics as fm
import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate

from _benchmarks import benchmark
from goldenpath.evaluation.bootstrap import resample_blocks
from goldenpath.evaluation.fairness import FIGURES, _groups, _Resamples, fairness_report

TOL = 1e-12
differential = benchmark("differential")  # its Fairlearn rows check the same data
BIASES = differential.FAIRNESS_BIASES


def _fairlearn(name: str, method: str, y: np.ndarray, pred: np.ndarray, group: pd.Series) -> float:
    return float(getattr(fm, name)(y, pred, sensitive_features=group, method=method))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_group_rates_and_every_figure_equal_fairlearn(seed: int) -> None:
    group, y, pred = differential.fairness_data(3000, seed)
    report = fairness_report("group", group, y, pred, n_resamples=0)

    frame = MetricFrame(
        metrics={"sel": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y,
        y_pred=pred,
        sensitive_features=group,
    ).by_group
    assert [g.group for g in report.groups] == sorted(BIASES)
    for rates in report.groups:
        assert rates.compared
        assert rates.selection_rate == pytest.approx(frame.loc[rates.group, "sel"], abs=TOL)
        assert rates.true_positive_rate == pytest.approx(frame.loc[rates.group, "tpr"], abs=TOL)
        assert rates.false_positive_rate == pytest.approx(frame.loc[rates.group, "fpr"], abs=TOL)
    assert len(report.disparities) == 12
    for d in report.disparities:
        assert d.value == pytest.approx(_fairlearn(d.name, d.method, y, pred, group), abs=TOL), d
        assert report.measure(d.name, d.method) == d.value
    # the flat figures are the between-groups ones
    assert report.demographic_parity_difference == report.measure("demographic_parity_difference")
    assert report.equalized_odds_difference == pytest.approx(
        fm.equalized_odds_difference(y, pred, sensitive_features=group), abs=TOL
    )
    assert report.excluded_groups == ()
    assert report.notes == ()


def test_each_resample_equals_fairlearn_on_the_rows_it_drew() -> None:
    """The vectorised bootstrap computes, for every resample, Fairlearn's figures on that
    resample's rows (``resample_blocks`` with the same rows, count and seed)."""
    group, y, pred = differential.fairness_data(1500, 3)
    n, resamples, seed = len(y), 40, 11
    grouped = {"g": _groups(group)}
    compared = {"g": np.ones(len(BIASES), dtype=bool)}
    resamples_pass = _Resamples(grouped, y, pred, compared)
    for weights in resample_blocks(n, resamples, seed):
        resamples_pass.add(weights)
    rates, figures = resamples_pass.draws()["g"]
    assert rates.shape == (3, len(BIASES), resamples)
    assert figures.shape == (len(FIGURES), resamples)
    counts = np.concatenate(list(resample_blocks(n, resamples, seed)), axis=1)
    for b in (0, 17, 39):
        rows = np.repeat(np.arange(n), counts[:, b].astype(int))
        g, yb, pb = group.iloc[rows].reset_index(drop=True), y[rows], pred[rows]
        for j, (name, method) in enumerate(FIGURES):
            assert figures[j, b] == pytest.approx(_fairlearn(name, method, yb, pb, g), abs=TOL)
        sel = MetricFrame(
            metrics=selection_rate, y_true=yb, y_pred=pb, sensitive_features=g
        ).by_group
        np.testing.assert_allclose(rates[0, :, b], sel.loc[sorted(BIASES)].to_numpy(), atol=TOL)


def test_excluded_groups_leave_the_figures_as_fairlearn_computes_them_without() -> None:
    """A group under min_group_size and a group without positive rows: between groups, the
    figures are Fairlearn's on the groups compared; to overall, Fairlearn's by-group rates of
    the groups compared against its overall rate on all rows."""
    group, y, pred = differential.fairness_data(3000, 4)
    rng = np.random.default_rng(4)
    small = pd.Series(["tiny"] * 8)
    no_pos = pd.Series(["nopos"] * 60)
    group = pd.concat([group, small, no_pos], ignore_index=True)
    y = np.r_[y, [1, 0, 0, 0, 0, 0, 0, 0], np.zeros(60, dtype=int)]
    pred = np.r_[pred, [0] * 8, rng.integers(0, 2, 60)]
    report = fairness_report("g", group, y, pred, min_group_size=30, n_resamples=0)

    assert report.excluded_groups == ("tiny",)
    tiny = next(g for g in report.groups if g.group == "tiny")
    assert (tiny.support, tiny.positives, tiny.compared) == (8, 1, False)
    assert any("nopos (60 rows)" in note and "Fairlearn" in note for note in report.notes)
    kept = group != "tiny"
    with_pos = kept & (group != "nopos")
    fpr_between = MetricFrame(
        metrics=false_positive_rate,
        y_true=y[kept],
        y_pred=pred[kept],
        sensitive_features=group[kept],
    )
    for d in report.disparities:
        if d.method != "between_groups":
            continue
        if d.name.startswith("demographic_parity"):
            expected = _fairlearn(d.name, d.method, y[kept], pred[kept], group[kept])
        else:
            opportunity = d.name.replace("equalized_odds", "equal_opportunity")
            tpr_part = _fairlearn(
                opportunity, d.method, y[with_pos], pred[with_pos], group[with_pos]
            )
            if d.name.startswith("equal_opportunity"):
                expected = tpr_part
            elif d.name.endswith("difference"):  # equalized odds: the worse of the two parts
                expected = max(tpr_part, float(fpr_between.difference()))
            else:
                expected = min(tpr_part, float(fpr_between.ratio()))
        assert d.value == pytest.approx(expected, abs=TOL), d
    frame = MetricFrame(
        metrics={"sel": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y,
        y_pred=pred,
        sensitive_features=group,
    )
    by_group, overall = frame.by_group, frame.overall

    def to_overall(metric: str, groups: list[str]) -> tuple[float, float]:
        rates = by_group.loc[groups, metric]
        ratios = rates / overall[metric]
        ratios = ratios.where(ratios <= 1, 1 / ratios)
        return float((rates - overall[metric]).abs().max()), float(ratios.min())

    compared = [*sorted(BIASES), "nopos"]
    dp = to_overall("sel", compared)
    tpr = to_overall("tpr", sorted(BIASES))
    fpr = to_overall("fpr", compared)
    expected = {
        "demographic_parity_difference": dp[0],
        "demographic_parity_ratio": dp[1],
        "equal_opportunity_difference": tpr[0],
        "equal_opportunity_ratio": tpr[1],
        "equalized_odds_difference": max(tpr[0], fpr[0]),
        "equalized_odds_ratio": min(tpr[1], fpr[1]),
    }
    for name, value in expected.items():
        assert report.measure(name, "to_overall") == pytest.approx(value, abs=TOL), name


@pytest.mark.parametrize("kind", ["no false positives", "no true positives"])
def test_equalized_odds_with_a_zero_over_zero_part_follows_fairlearn(kind: str) -> None:
    """When every compared group's FPR is 0, the FPR ratio is 0 / 0 and Fairlearn's equalized
    odds ratio is the TPR ratio; when every TPR is 0 it is NaN (goldenpath: undefined)."""
    rng = np.random.default_rng(5)
    group = pd.Series(rng.choice(["a", "b", "c"], 600))
    y = rng.integers(0, 2, 600)
    chosen = rng.random(600) < group.map({"a": 0.3, "b": 0.5, "c": 0.6}).to_numpy()
    pred = (chosen & (y == 1) if kind == "no false positives" else chosen & (y == 0)).astype(int)
    report = fairness_report("g", group, y, pred, n_resamples=0)
    for d in report.disparities:
        expected = _fairlearn(d.name, d.method, y, pred, group)
        if np.isnan(expected):
            assert d.value is None, d
            assert d.undefined is not None
        else:
            assert d.value == pytest.approx(expected, abs=TOL), d
    ratio = report.measure("equalized_odds_ratio")
    assert (ratio is None) == (kind == "no true positives")
