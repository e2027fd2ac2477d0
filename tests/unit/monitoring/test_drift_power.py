"""goldenpath's side of the drift power curve (``benchmarks/drift_power.py`` prints it next to
Evidently's): a mean shift of a N(0, 1) feature, a 20,000-row reference, windows of 200, 1,000
and 5,000 rows, default thresholds, seeded.

What the curve is by design (docs/monitoring.md, "Detection power"): a shift is flagged when it
is both significant and large (PSI above 0.1 or JS distance above 0.1). From about 0.3 SD, the
shift is large, and detection rises with the window's size; below, it is not, and large windows
ignore it while small ones flag some of it, their distances being inflated by chance."""

from __future__ import annotations

import pytest

from _benchmarks import benchmark

drift_power = benchmark("drift_power")
SIZES = drift_power.SIZES

WINDOWS = 40


@pytest.fixture(scope="module")
def rates() -> dict[str, dict[str, float]]:
    reference, cells = drift_power.simulate(WINDOWS, 20_000)
    out: dict[str, dict[str, float]] = drift_power.goldenpath_rates(reference, cells)
    for shift, by_size in out.items():
        print(shift, by_size)
    return out


def test_no_drift_raises_few_alarms_at_every_window_size(
    rates: dict[str, dict[str, float]],
) -> None:
    assert all(rates["0.0"][str(size)] <= 0.05 for size in SIZES)


@pytest.mark.parametrize("shift", ["0.3", "0.4", "0.5", "0.75", "1.0"])
def test_large_shifts_are_detected_more_often_in_larger_windows(
    rates: dict[str, dict[str, float]], shift: str
) -> None:
    by_size = [rates[shift][str(size)] for size in SIZES]
    assert by_size == sorted(by_size)
    assert by_size[-1] == 1.0


def test_small_shifts_are_ignored_by_large_windows(rates: dict[str, dict[str, float]]) -> None:
    """By design: a 0.1 SD shift (PSI about 0.01) is significant in 5,000 rows but small."""
    assert rates["0.1"]["5000"] == 0.0
    assert rates["0.05"]["5000"] == 0.0
