"""Drift of a window against the reference, per feature, from two profiles.

Effect sizes decide: on large windows every test rejects trivial shifts, so alerts are judged on
PSI (population stability index; 0.1 and 0.25 are the thresholds practice settled on), the
Jensen-Shannon distance (base 2, in [0, 1]) and, for numeric features, the Wasserstein distance
between the binned distributions divided by the reference's standard deviation. p-values
(chi-square on the binned counts, with Benjamini-Hochberg adjustment across features) never
raise an alert on their own, but a shift counts only when it is also significant (q-value below
``significance``, 0.01): on small windows effect sizes are noisy (a 100-row window of a feature
with 28 categories has a PSI around 0.27 by chance alone), and the test says when they are.

Data quality is judged against the reference and the contract: the share of missing values
(an increase of ``max_missing_increase``), and unseen categories.

Every distance is computed on the binned distributions, and equals scipy's on the same binned
data (tests check each).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from goldenpath.monitoring._document import Document, Severity
from goldenpath.monitoring._numbers import compared
from goldenpath.monitoring.profile import CategoricalProfile, FrameProfile, NumericProfile

__all__ = [
    "DriftThresholds",
    "FeatureDrift",
    "benjamini_hochberg",
    "coarse_counts",
    "feature_drift",
    "jensen_shannon",
    "kolmogorov_smirnov",
    "psi",
    "wasserstein",
    "window_drift",
]

COARSE_SHARE = 0.095  # quantile bins grouped into about deciles for PSI, JS and chi-square
_EPS = 1e-4  # proportions are floored here before PSI's logarithm (an empty bin is not infinite)


@dataclass(frozen=True)
class DriftThresholds:
    psi_warn: float = 0.1
    psi_alert: float = 0.25
    js_alert: float = 0.1
    max_missing_increase: float = 0.05  # absolute increase of the missing share
    max_unseen_share: float = 0.01
    significance: float = 0.01  # BH q-value below which a distribution shift is not noise


def _proportions(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total > 0 else np.full(len(counts), 1.0 / max(len(counts), 1))


def psi(reference: np.ndarray, window: np.ndarray) -> float:
    """Population stability index of two count vectors over the same bins."""
    r = np.maximum(_proportions(np.asarray(reference, dtype=float)), _EPS)
    w = np.maximum(_proportions(np.asarray(window, dtype=float)), _EPS)
    return float(np.sum((w - r) * np.log(w / r)))


def jensen_shannon(reference: np.ndarray, window: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2) of two count vectors over the same bins."""
    r = _proportions(np.asarray(reference, dtype=float))
    w = _proportions(np.asarray(window, dtype=float))
    m = (r + w) / 2

    def kl(p: np.ndarray) -> float:
        inside = p > 0
        return float(np.sum(p[inside] * np.log2(p[inside] / m[inside])))

    return float(np.sqrt(max((kl(r) + kl(w)) / 2, 0.0)))


def _bin_points(profile: NumericProfile) -> np.ndarray:
    """A representative value per bin of an old profile (no sums): the middle of inner bins;
    the outer bins at the reference's minimum and maximum (or one bin width beyond the edge)."""
    edges = np.asarray(profile.edges, dtype=float)
    if not len(edges):
        return np.asarray([profile.mean or 0.0])
    width = float(np.median(np.diff(edges))) if len(edges) > 1 else 1.0
    low = profile.low if profile.low is not None else edges[0] - width
    high = profile.high if profile.high is not None else edges[-1] + width
    inner = (edges[:-1] + edges[1:]) / 2
    return np.concatenate([[min(low, edges[0])], inner, [max(high, edges[-1])]])


def wasserstein(reference: NumericProfile, window: NumericProfile) -> float | None:
    """The Wasserstein distance between the two profiles' distributions (not scaled).

    With the sum of each interval bin's values, the integral of F_ref - F_window over a bin
    (a, b] is exact: b * D(b) - a * D(a) - (S_ref - S_window), D the difference of the two
    distribution functions and S each side's sum over the bin divided by its count (the outer
    bins likewise, without their infinite end). The distance, the sum of the integrals'
    absolute values, equals scipy's on the raw values wherever the distribution functions do
    not cross inside a bin (point bins have no width). Old profiles (no sums) put each bin's
    mass at its middle, the outer bins at the reference's minimum and maximum."""
    if reference.n == 0 or window.n == 0:
        return None
    if reference.sums is None or window.sums is None:
        points = _bin_points(reference)
        counts = np.asarray(reference.counts), np.asarray(window.counts)
        return float(stats.wasserstein_distance(points, points, *counts))
    order = reference.order()
    interval = order <= len(reference.edges)  # the positions past the edges are points
    mass = reference.binned() / reference.n - window.binned() / window.n
    after = np.cumsum(mass)  # D at the top of each bin
    before = (after - mass)[interval]
    after = after[interval]
    at = order[interval]
    counts = np.asarray(reference.counts)[at], np.asarray(window.counts)[at]
    sums = np.asarray(reference.sums)[at], np.asarray(window.sums)[at]
    edges = np.asarray(reference.edges, dtype=float)
    lower = np.concatenate([[-np.inf], edges])[at]
    upper = np.concatenate([edges, [np.inf]])[at]
    low, high = np.where(np.isfinite(lower), lower, 0.0), np.where(np.isfinite(upper), upper, 0.0)
    # both sides in the bin: the integral, exact (D is 0 at the infinite ends)
    integral = high * after - low * before - (sums[0] / reference.n - sums[1] / window.n)
    # one side only: D is monotone; that side's mass is put at its mean (exact for one value)
    mean = np.where(counts[0] > 0, sums[0], sums[1]) / np.maximum(counts[0] + counts[1], 1)
    mean = np.where(counts[0] + counts[1] > 0, mean, np.where(np.isfinite(lower), lower, upper))
    split = np.abs(before) * np.where(np.isfinite(lower), mean - low, 0.0) + np.abs(
        after
    ) * np.where(np.isfinite(upper), high - mean, 0.0)
    both = (counts[0] > 0) & (counts[1] > 0)
    distance = float(np.where(both, np.abs(integral), split).sum())
    return distance if np.isfinite(distance) else None


def coarse_counts(
    reference: NumericProfile, window: NumericProfile
) -> tuple[np.ndarray, np.ndarray]:
    """The two profiles' counts on the bins PSI, JS and chi-square are computed on.

    A profile with sums (quantile bins, finer than deciles for Wasserstein and KS) has its
    consecutive interval bins grouped into about ``1 / COARSE_SHARE`` groups of at least that
    share of the reference's interval rows (deciles, as PSI's thresholds assume); each exact
    value keeps its own bin. Old profiles keep their bins."""
    r, w = reference.binned(), window.binned()
    if reference.sums is None:
        return r, w
    interval = reference.order() <= len(reference.edges)
    floor = COARSE_SHARE * r[interval].sum()
    rest = r[interval].sum() - np.cumsum(np.where(interval, r, 0))  # interval rows after each
    groups = np.zeros(len(r), dtype=np.int64)
    group, running, open_group = 0, 0, False
    for i, (count, inside) in enumerate(zip(r, interval, strict=True)):
        if not inside:  # an exact value: a bin of its own
            group += open_group
            groups[i], group, running, open_group = group, group + 1, 0, False
            continue
        groups[i], running, open_group = group, running + count, True
        if running >= floor and rest[i] >= floor / 2:  # no sliver of a group at the end
            group, running, open_group = group + 1, 0, False
    length = int(groups.max()) + 1
    return np.bincount(groups, r, length), np.bincount(groups, w, length)


def kolmogorov_smirnov(reference: NumericProfile, window: NumericProfile) -> float | None:
    """The two-sample Kolmogorov-Smirnov statistic between the profiles: the largest
    difference of the distribution functions at the bins' edges and points (scipy's
    ``ks_2samp`` on the raw values takes it at every value)."""
    if reference.n == 0 or window.n == 0:
        return None
    r, w = reference.binned(), window.binned()
    return float(np.abs(np.cumsum(r) / r.sum() - np.cumsum(w) / w.sum()).max())


def benjamini_hochberg(p_values: list[float | None]) -> list[float | None]:
    """BH-adjusted q-values (None stays None)."""
    present = [(i, p) for i, p in enumerate(p_values) if p is not None]
    out: list[float | None] = [None] * len(p_values)
    if not present:
        return out
    order = sorted(present, key=lambda ip: ip[1])
    m = len(order)
    adjusted = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        running = min(running, order[rank - 1][1] * m / rank)
        adjusted[rank - 1] = running
    for (i, _), q in zip(order, adjusted, strict=True):
        out[i] = min(q, 1.0)
    return out


class FeatureDrift(Document):
    """The drift of one feature (or model output) of a window against the reference."""

    feature: str
    kind: Literal["numeric", "categorical"]
    rows: int  # the window's rows, missing values included
    psi: float
    js_distance: float
    wasserstein: float | None  # divided by the reference's standard deviation
    p_value: float | None  # chi-square on the binned counts
    q_value: float | None  # Benjamini-Hochberg across the window's features
    missing_share: float
    reference_missing_share: float
    unseen_share: float  # rows with a category the reference never saw
    significant: bool = True  # the q-value is below the significance level (or untested)
    ks: float | None = None  # two-sample Kolmogorov-Smirnov statistic (numeric features)
    severity: Severity
    reasons: tuple[str, ...]


def _chi_square(reference: np.ndarray, window: np.ndarray) -> float | None:
    """p-value of Pearson's chi-square test of independence on the 2 x bins table (as
    ``scipy.stats.chi2_contingency(table, correction=False)``, without its overhead)."""
    table = np.vstack([reference, window]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return None
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    return float(stats.chi2.sf(statistic, table.shape[1] - 1))


def feature_drift(
    name: str,
    reference: NumericProfile | CategoricalProfile,
    window: NumericProfile | CategoricalProfile,
    thresholds: DriftThresholds,
) -> FeatureDrift:
    wasserstein_sd = ks = None
    if isinstance(reference, NumericProfile) and isinstance(window, NumericProfile):
        r_counts, w_counts = coarse_counts(reference, window)
        spread, distance = reference.std, wasserstein(reference, window)
        if spread and distance is not None:
            wasserstein_sd = distance / spread
        ks = kolmogorov_smirnov(reference, window)
    else:
        r_counts, w_counts = np.asarray(reference.counts), np.asarray(window.counts)
    r_rows = reference.n + reference.missing
    w_rows = window.n + window.missing
    unseen = sum(window.unseen.values()) if isinstance(window, CategoricalProfile) else 0
    drift = FeatureDrift(
        feature=name,
        kind="numeric" if isinstance(reference, NumericProfile) else "categorical",
        rows=w_rows,
        psi=psi(r_counts, w_counts),
        js_distance=jensen_shannon(r_counts, w_counts),
        wasserstein=wasserstein_sd,
        ks=ks,
        p_value=_chi_square(r_counts, w_counts),
        q_value=None,
        missing_share=window.missing / w_rows if w_rows else 0.0,
        reference_missing_share=reference.missing / r_rows if r_rows else 0.0,
        unseen_share=unseen / w_rows if w_rows else 0.0,
        significant=True,
        severity="ok",
        reasons=(),
    )
    return _judged(drift, thresholds)


def _judged(d: FeatureDrift, t: DriftThresholds) -> FeatureDrift:
    reasons: list[str] = []
    severity: Severity = "ok"
    if not d.significant:
        pass  # a small window's distances are noisy: a shift must also be significant
    elif d.psi > t.psi_alert or d.js_distance > t.js_alert:
        severity = "critical"
        psi, js = _shown(d.psi, t.psi_alert), _shown(d.js_distance, t.js_alert)
        reasons.append(f"distribution shifted (PSI {psi}, JS {js})")
    elif d.psi > t.psi_warn:
        severity = "warning"
        reasons.append(f"distribution shifted (PSI {_shown(d.psi, t.psi_warn)})")
    if d.missing_share - d.reference_missing_share > t.max_missing_increase:
        severity = "critical"
        missing = _percent(d.missing_share, d.reference_missing_share + t.max_missing_increase)
        reasons.append(f"missing values {missing} (reference {d.reference_missing_share:.1%})")
    if d.unseen_share > t.max_unseen_share:
        severity = "critical"
        reasons.append(
            f"unseen categories in {_percent(d.unseen_share, t.max_unseen_share)} of rows"
        )
    return d.model_copy(update={"severity": severity, "reasons": tuple(reasons)})


def _percent(share: float, limit: float) -> str:
    """A share as a percentage to one decimal; more digits where that would print it as the
    ``limit`` it exceeds (5.004% of missing values, above 5%, is not shown as 5.0%)."""
    text, bound = f"{share:.1%}", round(limit * 100, 12)
    if float(text[:-1]) != bound:
        return text
    return f"{compared(share * 100, bound, digits=2)[0]}%"


def _shown(value: float, threshold: float) -> str:
    """A distance to 3 decimals; where that would print it as the threshold it exceeds, to
    enough digits and with the threshold (``PSI 0.1004, above 0.1``, not ``PSI 0.100``)."""
    text = f"{value:.3f}"
    if float(text) != threshold:
        return text
    exact, bound = compared(value, threshold)
    return f"{exact}, above {bound}" if value > threshold else text


def window_drift(
    reference: FrameProfile, window: FrameProfile, thresholds: DriftThresholds | None = None
) -> list[FeatureDrift]:
    """Drift of every feature of ``window`` against ``reference``, with BH q-values."""
    t = thresholds or DriftThresholds()
    drifts = [
        feature_drift(name, profile, window.features[name], t)
        for name, profile in reference.features.items()
        if name in window.features
    ]
    q_values = benjamini_hochberg([d.p_value for d in drifts])
    return [
        _judged(
            d.model_copy(update={"q_value": q, "significant": q is None or q < t.significance}),
            t,
        )
        for d, q in zip(drifts, q_values, strict=True)
    ]
