"""Domain-classifier drift: about 0.5 and "ok" on windows from the reference distribution;
a shifted mean, a broken correlation (invisible to per-feature PSI) and a moved category share
detected, with the responsible features on top."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from goldenpath.monitoring.drift import window_drift
from goldenpath.monitoring.multivariate import (
    MIN_ROWS,
    DomainDrift,
    corrected_lower_bound,
    domain_classifier,
)
from goldenpath.monitoring.profile import profile_frame

CATEGORIES = ["a", "b", "c", "d", "e"]
SHARES = np.array([0.2, 0.3, 0.25, 0.15, 0.1])


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """12 numeric and 8 categorical features, with some missing values on both kinds."""
    data: dict[str, object] = {}
    for i in range(12):
        data[f"x{i}"] = rng.normal(10 * i, 1 + i, n) if i % 2 else rng.gamma(2.0, 3.0, n)
    for i in range(8):
        data[f"c{i}"] = rng.choice(CATEGORIES, n, p=SHARES)
    frame = pd.DataFrame(data)
    frame.loc[rng.random(n) < 0.05, "x2"] = np.nan
    frame.loc[rng.random(n) < 0.05, "c1"] = None
    return frame


def _pair(rng: np.random.Generator, n: int, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """Two standard normals with correlation ``rho`` (the marginals do not depend on it)."""
    first = rng.normal(size=n)
    second = rho * first + np.sqrt(1 - rho**2) * rng.normal(size=n)
    return first, second


def test_no_false_alarm_on_windows_from_the_reference_distribution() -> None:
    rng = np.random.default_rng(0)
    reference = _frame(rng, 5_000)
    results = [domain_classifier(reference, _frame(rng, 2_000), seed=k) for k in range(10)]
    aucs = [r.auc for r in results]
    print(f"\nno drift: AUCs {np.round(aucs, 3).tolist()}, max {max(aucs):.3f}")
    assert all(0.4 <= auc <= 0.58 for auc in aucs)
    assert all(r.severity == "ok" for r in results)
    assert all(r.rows_reference == 5_000 and r.rows_window == 2_000 for r in results)


def test_mean_shift_of_half_a_standard_deviation_in_one_feature() -> None:
    rng = np.random.default_rng(1)
    reference, window = _frame(rng, 5_000), _frame(rng, 5_000)
    window["x5"] += 0.5 * 6  # x5 has standard deviation 6
    start = time.perf_counter()
    result = domain_classifier(reference, window)
    print(f"\nmean shift: {result} ({time.perf_counter() - start:.2f} s for 5k + 5k x 20)")
    # the best any classifier can do on this shift is Phi(0.5 / sqrt(2)) = 0.638
    assert result.auc > 0.6
    assert result.auc_low > 0.5
    assert result.severity != "ok"
    assert result.top_features[0][0] == "x5"


def test_broken_correlation_that_per_feature_tests_miss() -> None:
    rng = np.random.default_rng(2)
    reference, window = _frame(rng, 5_000), _frame(rng, 5_000)
    reference["x3"], reference["x4"] = _pair(rng, 5_000, 0.9)
    window["x3"], window["x4"] = _pair(rng, 5_000, 0.0)

    profile = profile_frame(reference)
    per_feature = {d.feature: d.psi for d in window_drift(profile, profile_frame(window, profile))}
    result = domain_classifier(reference, window)
    psi_x3, psi_x4 = per_feature["x3"], per_feature["x4"]
    print(f"\nbroken correlation: {result}; PSI x3 {psi_x3:.4f}, x4 {psi_x4:.4f}")
    assert psi_x3 < 0.1
    assert psi_x4 < 0.1
    assert result.auc > 0.6
    assert result.severity != "ok"
    assert {name for name, _ in result.top_features[:2]} == {"x3", "x4"}


def test_category_share_moved_from_20_to_40_percent() -> None:
    rng = np.random.default_rng(3)
    reference, window = _frame(rng, 5_000), _frame(rng, 5_000)
    others = SHARES[1:] / SHARES[1:].sum() * 0.6
    window["c4"] = rng.choice(CATEGORIES, 5_000, p=[0.4, *others])
    # the best possible AUC here is 0.6 exactly (the indicator of "a": 0.4 * 0.8 + 0.56 / 2),
    # so the warning threshold is set below it
    result = domain_classifier(reference, window, warning_auc=0.55)
    print(f"\ncategory share: {result}")
    assert result.auc > 0.55
    assert result.auc_low > 0.5
    assert result.severity == "warning"
    assert result.top_features[0][0] == "c4"


def test_sampling_seed_and_report() -> None:
    rng = np.random.default_rng(4)
    reference, window = _frame(rng, 3_000), _frame(rng, 800)
    first = domain_classifier(reference, window, max_rows=1_000, seed=7)
    again = domain_classifier(reference, window, max_rows=1_000, seed=7)
    assert first == again
    assert (first.rows_reference, first.rows_window) == (1_000, 800)
    assert len(first.top_features) <= 5
    assert all(score > 0 for _, score in first.top_features)
    data = json.loads(first.model_dump_json())
    assert DomainDrift.model_validate(data) == first
    assert set(data) == {
        "auc",
        "auc_low",
        "rows_reference",
        "rows_window",
        "top_features",
        "severity",
    }


def test_only_common_columns_are_used_and_odd_columns_are_handled() -> None:
    rng = np.random.default_rng(5)
    n = 400
    reference = pd.DataFrame(
        {
            "shifted": rng.normal(size=n),
            "empty": np.full(n, np.nan),
            "infinite": np.where(rng.random(n) < 0.02, np.inf, rng.normal(size=n)),
            "flag": rng.random(n) < 0.5,
            "kind": pd.Categorical([["p", "q", None][i] for i in rng.integers(0, 3, n)]),
            "nullable": pd.array(rng.integers(0, 3, n), dtype="Int64"),
            "only_reference": rng.normal(size=n),
        }
    )
    window = reference.drop(columns="only_reference").assign(
        shifted=rng.normal(2.0, 1.0, n), only_window=rng.normal(size=n)
    )
    window.loc[window.index[:20], "nullable"] = pd.NA
    result = domain_classifier(reference, window)
    assert result.severity == "critical"
    assert result.top_features[0][0] == "shifted"
    names = {name for name, _ in result.top_features}
    assert not names & {"only_reference", "only_window"}


def test_corrected_lower_bound() -> None:
    folds = [0.61, 0.63, 0.6, 0.64, 0.62]
    sd = float(np.std(folds, ddof=1))
    # Nadeau-Bengio: the naive variance of the mean, sd**2 / k, grows by 1 / (k - 1) * sd**2
    expected = 0.62 - stats.t.ppf(0.95, 4) * sd * np.sqrt(1 / 5 + 1 / 4)
    assert corrected_lower_bound(folds) == pytest.approx(expected)
    assert corrected_lower_bound([0.7, 0.7, 0.7]) == pytest.approx(0.7)
    with pytest.raises(ValueError, match="2 folds"):
        corrected_lower_bound([0.6])


def test_errors() -> None:
    rng = np.random.default_rng(6)
    frame = _frame(rng, 500)
    with pytest.raises(ValueError, match=f"at least {MIN_ROWS} rows"):
        domain_classifier(frame, frame.head(MIN_ROWS - 1))
    with pytest.raises(ValueError, match=f"at least {MIN_ROWS} rows"):
        domain_classifier(frame.head(10), frame)
    renamed = frame.rename(columns=lambda c: f"other_{c}")
    with pytest.raises(ValueError, match="no column in common"):
        domain_classifier(frame, renamed)
    with pytest.raises(ValueError, match="thresholds"):
        domain_classifier(frame, frame, warning_auc=0.8, critical_auc=0.7)
    with pytest.raises(ValueError, match="folds"):
        domain_classifier(frame, frame, folds=1)
