"""Fairness figures equal Fairlearn's on the same data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)

from goldenpath.evaluation.fairness import fairness_report


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_group_rates_and_gaps_equal_fairlearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    group = pd.Series(rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]))
    y = rng.integers(0, 2, n)
    bias = group.map({"a": 0.0, "b": 0.15, "c": -0.1}).to_numpy()
    pred = (rng.random(n) + 0.3 * y + bias > 0.7).astype(int)

    report = fairness_report("group", group, y, pred)

    frame = MetricFrame(
        metrics={"sel": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y,
        y_pred=pred,
        sensitive_features=group,
    ).by_group
    for rates in report.groups:
        assert rates.selection_rate == pytest.approx(frame.loc[rates.group, "sel"])
        assert rates.true_positive_rate == pytest.approx(frame.loc[rates.group, "tpr"])
        assert rates.false_positive_rate == pytest.approx(frame.loc[rates.group, "fpr"])
    kw = {"sensitive_features": group}
    assert report.demographic_parity_difference == pytest.approx(
        demographic_parity_difference(y, pred, **kw)
    )
    assert report.demographic_parity_ratio == pytest.approx(demographic_parity_ratio(y, pred, **kw))
    assert report.equalized_odds_difference == pytest.approx(
        equalized_odds_difference(y, pred, **kw)
    )


def test_group_without_positives_has_no_tpr_and_no_equalized_odds() -> None:
    group = pd.Series(["a", "a", "b", "b"])
    report = fairness_report("g", group, np.array([1, 0, 0, 0]), np.array([1, 0, 1, 0]))
    b = next(g for g in report.groups if g.group == "b")
    assert b.true_positive_rate is None
    assert b.false_positive_rate == 0.5
    assert report.equalized_odds_difference is None
    assert report.demographic_parity_difference == 0.0
