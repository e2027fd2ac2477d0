"""Drift on every kind of feature: continuous, binary, discrete, zero-inflated numerics and a
high-cardinality categorical. Each kind is profiled its own way (goldenpath.monitoring.profile);
these tests check the statistics against scipy on the raw values and, by seeded simulation at
1,000-row windows and the default thresholds, the false-alarm and detection rates that
docs/monitoring.md quotes (``pytest -s -k rates tests/unit/monitoring/test_drift_kinds.py``
prints them)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from goldenpath.monitoring.drift import kolmogorov_smirnov, wasserstein, window_drift
from goldenpath.monitoring.profile import (
    MAX_UNSEEN_NAMED,
    OTHER,
    CategoricalProfile,
    FrameProfile,
    NumericProfile,
    profile_frame,
)

WINDOW = 1_000
WINDOWS = 200
REFERENCE = 20_000

Draw = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]
_CATEGORIES = np.asarray([f"c{i:03d}" for i in range(300)], dtype=object)
_ZIPF = 1 / np.arange(1, 301)
_ZIPF /= _ZIPF.sum()
_DISCRETE = np.asarray([0.9, 0.05, 0.025, 0.015, 0.01])


def _zero_inflated(rng: np.random.Generator, shape: tuple[int, ...], scale: float) -> np.ndarray:
    return np.where(rng.random(shape) < 0.9, 0.0, rng.gamma(2.0, 3.0 * scale, shape))


def _discrete(rng: np.random.Generator, shape: tuple[int, ...], p: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.cumsum(p), rng.random(shape)).astype(float)


def _categorical(rng: np.random.Generator, shape: tuple[int, ...], new: float) -> np.ndarray:
    values = rng.choice(_CATEGORIES, size=shape, p=_ZIPF)
    return np.where(rng.random(shape) < new, "new category", values)


# kind: (the reference distribution, the named shift)
KINDS: dict[str, tuple[Draw, Draw]] = {
    "continuous": (  # +0.5 SD
        lambda rng, shape: rng.normal(0.0, 1.0, shape),
        lambda rng, shape: rng.normal(0.5, 1.0, shape),
    ),
    "binary": (  # 94% -> 80% ones
        lambda rng, shape: (rng.random(shape) < 0.94).astype(float),
        lambda rng, shape: (rng.random(shape) < 0.80).astype(float),
    ),
    "discrete": (  # counts 0-4, 90% zeros; the non-zero values' shares reversed (1s rarest)
        lambda rng, shape: _discrete(rng, shape, _DISCRETE),
        lambda rng, shape: _discrete(rng, shape, np.r_[_DISCRETE[:1], _DISCRETE[:0:-1]]),
    ),
    "zero-inflated": (  # 90% zeros; the non-zero part doubled
        lambda rng, shape: _zero_inflated(rng, shape, 1.0),
        lambda rng, shape: _zero_inflated(rng, shape, 2.0),
    ),
    "high-cardinality": (  # 300 categories (Zipf); a new category in 5% of rows
        lambda rng, shape: _categorical(rng, shape, 0.0),
        lambda rng, shape: _categorical(rng, shape, 0.05),
    ),
}


Judged = tuple[float, float, float]


def _judged(reference: FrameProfile, windows: np.ndarray) -> Judged:
    """The share of windows (rows of ``windows``) whose feature is not ``ok``, and their
    mean PSI and JS distance."""
    drifts = [
        window_drift(reference, profile_frame(pd.DataFrame({"x": row}), reference))[0]
        for row in windows
    ]
    alarms = np.mean([d.severity != "ok" for d in drifts])
    return (
        float(alarms),
        float(np.mean([d.psi for d in drifts])),
        float(np.mean([d.js_distance for d in drifts])),
    )


def _rates(kind: str, seed: int) -> tuple[Judged, Judged]:
    """(false-alarm share, mean PSI, mean JS) of no-drift windows; (detected share, mean PSI,
    mean JS) of windows with the named shift."""
    null, shifted = KINDS[kind]
    rng = np.random.default_rng(seed)
    reference = profile_frame(pd.DataFrame({"x": null(rng, (REFERENCE,))}))
    return (
        _judged(reference, null(rng, (WINDOWS, WINDOW))),
        _judged(reference, shifted(rng, (WINDOWS, WINDOW))),
    )


@pytest.mark.parametrize("kind", list(KINDS))
def test_rates_of_false_alarms_and_detection(kind: str) -> None:
    (false_alarms, null_psi, null_js), (detected, psi, js) = _rates(kind, list(KINDS).index(kind))
    print(
        f"\n{kind}: false alarms {false_alarms:.1%} (mean PSI {null_psi:.3f}, JS {null_js:.3f}), "
        f"detected {detected:.1%} (mean PSI {psi:.3f}, JS {js:.3f})"
    )
    assert false_alarms <= 0.05
    assert detected >= 0.95


def _pair(reference: np.ndarray, window: np.ndarray) -> tuple[NumericProfile, NumericProfile]:
    ref = profile_frame(pd.DataFrame({"x": reference}))
    win = profile_frame(pd.DataFrame({"x": window}), ref)
    r, w = ref.features["x"], win.features["x"]
    assert isinstance(r, NumericProfile)
    assert isinstance(w, NumericProfile)
    return r, w


@pytest.mark.parametrize("shift", [0.5, 10.0, -10.0])
def test_wasserstein_and_ks_from_profiles_equal_scipy_on_raw_values(shift: float) -> None:
    rng = np.random.default_rng(11)
    reference, window = rng.normal(3.0, 2.0, 20_000), rng.normal(3.0 + 2.0 * shift, 2.0, 1_000)
    r, w = _pair(reference, window)
    distance = wasserstein(r, w)
    assert distance == pytest.approx(stats.wasserstein_distance(reference, window), rel=0.01)
    ks = kolmogorov_smirnov(r, w)
    assert ks == pytest.approx(stats.ks_2samp(reference, window).statistic, abs=0.01)
    (drift,) = window_drift(
        FrameProfile(len(reference), {"x": r}), FrameProfile(len(window), {"x": w})
    )
    assert drift.ks == ks
    raw_w = stats.wasserstein_distance(reference, window)
    raw_ks = stats.ks_2samp(reference, window).statistic
    print(
        f"\nshift {shift:+} SD: Wasserstein {distance:.4f} (scipy {raw_w:.4f}), "
        f"KS {ks:.4f} (scipy {raw_ks:.4f})"
    )
    assert drift.wasserstein == pytest.approx(distance / r.std)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("kind", "tolerance"),
    [("spread", 0.01), ("gamma", 0.01), ("lognormal", 0.03)],
)
def test_other_continuous_shifts_match_scipy_too(kind: str, tolerance: float) -> None:
    """A change of spread and a scaled skewed feature: Wasserstein to 1%, KS to 0.01. A
    heavy tail (lognormal, +0.3 on the log scale) to 3% only: the two distribution functions
    cross inside the top bin, where the profile cannot see it."""
    rng = np.random.default_rng(12)
    reference, window = {
        "spread": (rng.normal(0, 1, 20_000), rng.normal(0, 1.5, 1_000)),
        "gamma": (rng.gamma(2, 3, 20_000), 1.3 * rng.gamma(2, 3, 1_000)),
        "lognormal": (rng.lognormal(0, 1, 20_000), rng.lognormal(0.3, 1, 1_000)),
    }[kind]
    r, w = _pair(reference, window)
    raw = stats.wasserstein_distance(reference, window)
    assert wasserstein(r, w) == pytest.approx(raw, rel=tolerance)
    raw_ks = stats.ks_2samp(reference, window).statistic
    assert kolmogorov_smirnov(r, w) == pytest.approx(raw_ks, abs=0.01)


def test_a_binary_shift_gives_the_statistics_of_its_raw_counts() -> None:
    """90% -> 50% ones: one bin per value, so PSI, chi-square, KS and Wasserstein are those of
    the raw counts (before exact bins: one bin, PSI 0)."""
    reference = np.r_[np.ones(9_000), np.zeros(1_000)]
    window = np.r_[np.ones(500), np.zeros(500)]
    r, w = _pair(reference, window)
    assert r.points == [0.0, 1.0]
    (drift,) = window_drift(FrameProfile(10_000, {"x": r}), FrameProfile(1_000, {"x": w}))
    p, q = np.array([0.1, 0.9]), np.array([0.5, 0.5])
    assert drift.psi == pytest.approx(float(np.sum((q - p) * np.log(q / p))))
    print(f"\nbinary 90% -> 50% ones: PSI {drift.psi:.3f}, p-value {drift.p_value:.3g}")
    table = np.array([[1_000, 9_000], [500, 500]])
    assert drift.p_value == pytest.approx(stats.chi2_contingency(table, correction=False).pvalue)
    assert drift.ks == pytest.approx(stats.ks_2samp(reference, window).statistic)
    raw = stats.wasserstein_distance(reference, window)
    assert drift.wasserstein * r.std == pytest.approx(raw)  # type: ignore[operator]
    assert drift.severity == "critical"


def test_discrete_values_the_reference_never_had_fall_between_its_values() -> None:
    rng = np.random.default_rng(13)
    reference = rng.integers(0, 5, 10_000).astype(float)
    window = np.r_[rng.integers(0, 5, 950), np.full(50, 2.5)]  # 5% of a value never seen
    r, w = _pair(reference, window)
    assert r.points == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert sum(w.point_counts) == 950
    assert w.counts[3] == 50  # the interval (2, 3)
    assert kolmogorov_smirnov(r, w) == pytest.approx(stats.ks_2samp(reference, window).statistic)
    raw = stats.wasserstein_distance(reference, window)
    assert wasserstein(r, w) == pytest.approx(raw)
    (drift,) = window_drift(FrameProfile(10_000, {"x": r}), FrameProfile(1_000, {"x": w}))
    assert drift.severity == "critical"  # the 2.5s' bin is empty in the reference


def test_a_zero_inflated_feature_keeps_its_zeros_as_a_point() -> None:
    rng = np.random.default_rng(14)
    reference = _zero_inflated(rng, (20_000,), 1.0)
    r, _ = _pair(reference, reference[:10])
    assert r.points == [0.0]
    assert r.point_counts[0] == int((reference == 0).sum())
    assert len(r.counts) > 20  # quantile bins for the non-zero part


def test_profiles_of_every_kind_add_up() -> None:
    rng = np.random.default_rng(15)
    frames = [
        pd.DataFrame({kind: draw[0](rng, (n,)) for kind, draw in KINDS.items()})
        for n in (REFERENCE, 700, 1_300)
    ]
    frames[1].iloc[::7, 0] = np.nan
    many = np.asarray([f"u{i}" for i in range(200)], dtype=object)[rng.integers(0, 200, 1_300)]
    frames[2]["high-cardinality"] = np.where(rng.random(1_300) < 0.3, many, frames[2].iloc[:, 4])
    reference = profile_frame(frames[0])
    a, b = profile_frame(frames[1], reference), profile_frame(frames[2], reference)
    merged, whole = a.merged(b), profile_frame(pd.concat(frames[1:]), reference)
    for name, profile in whole.features.items():
        mine = merged.features[name]
        assert mine.counts == profile.counts
        assert mine.missing == profile.missing
        if isinstance(profile, NumericProfile):
            assert isinstance(mine, NumericProfile)
            assert mine.point_counts == profile.point_counts
            assert mine.sums == pytest.approx(profile.sums, rel=1e-12)
        else:
            assert isinstance(mine, CategoricalProfile)
            assert sum(mine.unseen.values()) == sum(profile.unseen.values()) > 300
            assert len(mine.unseen) <= MAX_UNSEEN_NAMED + 1


def test_unseen_values_past_the_top_categories_are_counted() -> None:
    rng = np.random.default_rng(16)
    reference = profile_frame(pd.DataFrame({"c": _categorical(rng, (REFERENCE,), 0.0)}))
    known = reference.features["c"]
    assert isinstance(known, CategoricalProfile)
    assert known.members is not None  # 300 categories: 250 past the top 50, hashed
    new = [f"new-{i}" for i in range(200)]  # 5% of rows, 200 values never seen
    values = np.r_[_categorical(rng, (3_800,), 0.0), np.repeat(new, 1)]
    window = profile_frame(pd.DataFrame({"c": values}), reference)
    profile = window.features["c"]
    assert isinstance(profile, CategoricalProfile)
    assert sum(profile.unseen.values()) == 200
    assert profile.members is None  # the hashes stay with the reference, not in window states
    assert OTHER in profile.unseen  # past MAX_UNSEEN_NAMED, counted together
    (drift,) = window_drift(reference, window)
    assert drift.unseen_share == pytest.approx(0.05)
    assert drift.severity == "critical"


def test_membership_false_positives_are_rare() -> None:
    """100,000 members of 32 bits: a new value passes for a known one with probability
    100,000 / 2**32 (2.3e-5): about 2 of 100,000 new values."""
    reference = pd.DataFrame({"c": np.r_[["top"] * 100, [f"r{i}" for i in range(100_000)]]})
    profile = profile_frame(reference, max_categories=1)
    window = profile_frame(pd.DataFrame({"c": [f"w{i}" for i in range(100_000)]}), profile)
    unseen = sum(window.features["c"].unseen.values())  # type: ignore[union-attr]
    assert 100_000 - unseen <= 12  # Poisson(2.3): 12 or more has probability below 1e-5


def test_new_profiles_round_trip_through_json() -> None:
    from goldenpath.monitoring.windows import WindowRecord

    rng = np.random.default_rng(17)
    frame = pd.DataFrame({kind: draw[0](rng, (2_000,)) for kind, draw in KINDS.items()})
    profile = profile_frame(frame)
    record = WindowRecord(
        rows=2_000,
        first=None,
        last=None,
        features=profile,
        outputs=None,
        scores=None,
        routes={},
        out_of_range={},
    )
    assert WindowRecord.model_validate_json(record.model_dump_json()) == record


OLD_REFERENCE = """{"rows": 1000, "features": {
  "x": {"kind": "numeric", "edges": [-1.0, 0.0, 1.0], "counts": [160, 340, 340, 160],
        "missing": 0, "n": 1000, "total": 0.0, "total_sq": 1000.0, "low": -3.0, "high": 3.0},
  "c": {"kind": "categorical", "categories": ["a", "__other__"], "counts": [900, 100],
        "missing": 0, "unseen": {}}}}"""


def test_an_old_reference_and_old_window_states_are_judged_as_before() -> None:
    """Written before the kinds: decile edges without sums, categories without hashes. Windows
    profiled on it keep its bins, merge with window states stored then, and count no unseen
    values past its top categories (it cannot tell them)."""
    from pydantic import TypeAdapter

    reference = TypeAdapter(FrameProfile).validate_json(OLD_REFERENCE)
    rng = np.random.default_rng(18)
    frame = pd.DataFrame({"x": rng.normal(0, 1, 1_000), "c": np.r_[["a"] * 900, ["z"] * 100]})
    window = profile_frame(frame, reference)
    x, c = window.features["x"], window.features["c"]
    assert isinstance(x, NumericProfile)
    assert (x.edges, x.points, x.sums) == ([-1.0, 0.0, 1.0], [], None)
    assert isinstance(c, CategoricalProfile)
    assert (c.unseen, c.members) == ({}, None)
    stored = TypeAdapter(FrameProfile).validate_json(OLD_REFERENCE)  # an old window's state
    merged = stored.merged(window)
    assert merged.features["x"].counts == [
        a + b for a, b in zip(stored.features["x"].counts, x.counts, strict=True)
    ]
    drifts = {d.feature: d for d in window_drift(reference, window)}
    assert drifts["x"].wasserstein is not None
    assert drifts["x"].ks is not None
    assert drifts["c"].unseen_share == 0.0


def test_a_small_sample_of_a_continuous_feature_is_not_taken_for_a_discrete_one() -> None:
    """15 distinct values in 60 rows: quantile bins, so a window's values between them do not
    land in bins the reference left empty."""
    rng = np.random.default_rng(19)
    reference = np.round(rng.normal(40, 8, 60) / 4) * 4  # ages rounded to 4 years
    assert len(np.unique(reference)) <= 20
    r, _ = _pair(reference, reference[:5])
    assert len(r.points) < len(np.unique(reference))  # at most a point mass (20% of rows)
    assert len(r.counts) > 5
    counts = np.array([40] * 10 + [41] * 10)  # ten times each: discrete
    assert _pair(counts.astype(float), counts[:5].astype(float))[0].points == [40.0, 41.0]


def test_values_too_large_to_square_give_an_unknown_spread_not_nan() -> None:
    """Σx² of values beyond ~1e154 overflows: the spread is unknown (None) and every drift
    figure stays a number or None, never NaN."""
    rng = np.random.default_rng(5)
    huge = pd.DataFrame({"x": rng.normal(0.0, 1.0, 2_000) * 1e200})
    reference = profile_frame(huge)
    numeric = reference.features["x"]
    assert isinstance(numeric, NumericProfile)
    assert numeric.std is None
    (drift,) = window_drift(reference, profile_frame(huge * 1.5, reference))
    figures = drift.model_dump()
    assert not [k for k, v in figures.items() if isinstance(v, float) and np.isnan(v)], figures
    assert drift.wasserstein is None
    assert drift.psi > 0.1  # the shift is still seen by the binned statistics
