"""Drift statistics: equal to scipy's on the same binned data; no false alarms on windows from
the reference distribution; injected shifts detected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from goldenpath.monitoring.drift import (
    benjamini_hochberg,
    coarse_counts,
    jensen_shannon,
    psi,
    window_drift,
)
from goldenpath.monitoring.profile import FrameProfile, NumericProfile, profile_frame


def _frame(rng: np.random.Generator, n: int, features: int = 20) -> pd.DataFrame:
    """12 numeric and 8 categorical features (as the issue's benchmark)."""
    data: dict[str, object] = {}
    numeric = features * 3 // 5
    for i in range(numeric):
        data[f"x{i}"] = rng.normal(10 * i, 1 + i, n) if i % 2 else rng.gamma(2.0, 3.0, n)
    shares = np.array([0.2, 0.3, 0.25, 0.15, 0.1])
    for i in range(features - numeric):
        data[f"c{i}"] = rng.choice(["a", "b", "c", "d", "e"], n, p=shares)
    return pd.DataFrame(data)


def test_distances_equal_scipy_on_the_same_binned_data() -> None:
    rng = np.random.default_rng(0)
    reference, window = rng.integers(1, 500, 12), rng.integers(1, 500, 12)
    p, q = reference / reference.sum(), window / window.sum()
    assert jensen_shannon(reference, window) == pytest.approx(distance.jensenshannon(p, q, 2))
    expected_psi = float(np.sum((q - p) * np.log(q / p)))  # no empty bins: no flooring
    assert psi(reference, window) == pytest.approx(expected_psi)
    assert psi(reference, window) == pytest.approx(
        stats.entropy(q, p) + stats.entropy(p, q)  # PSI is the symmetrised KL divergence
    )


def test_wasserstein_and_chi_square_equal_scipy() -> None:
    rng = np.random.default_rng(1)
    raw_ref, raw_win = rng.normal(0, 2, 20_000), rng.normal(0.5, 2, 3_000)
    ref = profile_frame(pd.DataFrame({"x": raw_ref}))
    win = profile_frame(pd.DataFrame({"x": raw_win}), ref)
    (drift,) = window_drift(ref, win)
    r, w = ref.features["x"], win.features["x"]
    assert isinstance(r, NumericProfile)
    assert isinstance(w, NumericProfile)
    assert r.std is not None
    assert drift.wasserstein is not None
    raw = stats.wasserstein_distance(raw_ref, raw_win)  # on the raw values, to 1%
    assert drift.wasserstein * r.std == pytest.approx(raw, rel=0.01)
    table = np.vstack(coarse_counts(r, w))  # the quantile bins grouped into deciles
    assert table.shape == (2, 10)
    assert drift.p_value == pytest.approx(stats.chi2_contingency(table, correction=False).pvalue)


def test_an_old_profile_keeps_its_bins_and_midpoints() -> None:
    """A profile written before the sums (deciles, no sums): Wasserstein on the bins' middles,
    the outer bins at the reference's minimum and maximum, as then."""
    rng = np.random.default_rng(5)
    old = NumericProfile([-1.0, 0.0, 1.0], [160, 340, 340, 160], 0, 1000, 0.0, 1000.0, -3.0, 3.0)
    ref = FrameProfile(1000, {"x": old})
    win = profile_frame(pd.DataFrame({"x": rng.normal(0.5, 1, 500)}), ref)
    w = win.features["x"]
    assert isinstance(w, NumericProfile)
    assert w.sums is None
    assert w.edges == old.edges
    (drift,) = window_drift(ref, win)
    points = np.asarray([-3.0, -0.5, 0.5, 3.0])
    expected = stats.wasserstein_distance(points, points, old.counts, w.counts) / old.std  # type: ignore[operator]
    assert drift.wasserstein == pytest.approx(expected)


def test_benjamini_hochberg_equals_scipy() -> None:
    p = [0.01, 0.04, None, 0.03, 0.2, 0.5]
    present = [v for v in p if v is not None]
    expected = stats.false_discovery_control(present, method="bh")
    assert [q for q in benjamini_hochberg(p) if q is not None] == pytest.approx(list(expected))
    assert benjamini_hochberg(p)[2] is None


def test_profiles_of_windows_merge_into_the_profile_of_their_union() -> None:
    rng = np.random.default_rng(2)
    ref = profile_frame(_frame(rng, 5_000))
    a, b = _frame(rng, 1_000), _frame(rng, 700)
    merged = profile_frame(a, ref).merged(profile_frame(b, ref))
    whole = profile_frame(pd.concat([a, b], ignore_index=True), ref)
    assert merged.rows == whole.rows
    for name, profile in whole.features.items():
        assert merged.features[name].counts == profile.counts
        assert merged.features[name].missing == profile.missing


def test_windows_from_the_reference_distribution_rarely_alert() -> None:
    rng = np.random.default_rng(3)
    reference = profile_frame(_frame(rng, 100_000))
    alerts, largest = 0, 0.0
    windows = 200
    for _ in range(windows):
        window = profile_frame(_frame(rng, 5_000), reference)
        drifts = window_drift(reference, window)
        largest = max(largest, *(d.psi for d in drifts))
        if any(d.severity != "ok" for d in drifts):
            alerts += 1
    print(f"\nno drift: {alerts} of {windows} windows alerted; largest PSI {largest:.3f}")
    assert alerts / windows <= 0.05


@pytest.mark.parametrize("shift", ["mean", "category", "nulls"])
def test_injected_shifts_are_detected_in_nearly_every_window(shift: str) -> None:
    rng = np.random.default_rng(4)
    base = _frame(rng, 100_000)
    reference = profile_frame(base)
    spread = float(base["x1"].std())
    detected, values = 0, []
    windows = 100
    for _ in range(windows):
        frame = _frame(rng, 5_000)
        if shift == "mean":  # half a reference standard deviation
            frame["x1"] = frame["x1"] + 0.5 * spread
        elif shift == "category":  # "a" from 20% to 40% of rows
            others = frame.index[frame["c0"] != "a"]
            extra = rng.choice(others, size=int(0.2 * len(frame) * 1.0), replace=False)
            frame.loc[extra, "c0"] = "a"
        else:  # 20% nulls in one column
            frame.loc[rng.random(len(frame)) < 0.2, "x2"] = np.nan
        drifts = {d.feature: d for d in window_drift(reference, profile_frame(frame, reference))}
        column = {"mean": "x1", "category": "c0", "nulls": "x2"}[shift]
        values.append(drifts[column].psi)
        if drifts[column].severity != "ok":
            detected += 1
    print(
        f"\n{shift}: detected {detected} of {windows}; PSI min {min(values):.3f}, "
        f"mean {np.mean(values):.3f}"
    )
    assert detected / windows >= 0.95
