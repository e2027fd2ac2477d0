"""Numbers in messages: a value and its threshold never print equal when they differ."""

from __future__ import annotations

import math

import pytest

from goldenpath.monitoring._numbers import compared
from goldenpath.monitoring.drift import DriftThresholds, FeatureDrift, window_drift
from goldenpath.monitoring.profile import FrameProfile, NumericProfile


@pytest.mark.parametrize(
    ("value", "threshold", "expected"),
    [
        (0.10001, 0.1, ("0.10001", "0.1")),  # four digits would print 0.1 for both
        (0.1, 0.1, ("0.1", "0.1")),  # equal numbers print equal
        (0.3, 0.25, ("0.3", "0.25")),  # no more digits than needed
        (0.31234567, 0.25, ("0.3123", "0.25")),
        (0.24996, 0.25, ("0.24996", "0.25")),  # below: rounding would reach the threshold
        (123456789.0, 123456788.0, ("123456789", "123456788")),  # large
        (1.00001e-9, 1e-9, ("1.00001e-09", "1e-09")),  # tiny
        (0.1 + 0.2, 0.3, ("0.30000000000000004", "0.3")),  # down to the last bit
        (0.2, 0.123456, ("0.2", "0.123456")),  # the threshold as the spec wrote it
    ],
)
def test_a_value_and_its_threshold_print_apart(
    value: float, threshold: float, expected: tuple[str, str]
) -> None:
    assert compared(value, threshold) == expected


@pytest.mark.parametrize("scale", [1e-12, 1e-6, 1e-3, 1.0, 1e3, 1e9, 1e15])
@pytest.mark.parametrize("gap", [1e-15, 1e-12, 1e-9, 1e-6, 1e-3, 0.0])
def test_differing_numbers_never_print_equal(scale: float, gap: float) -> None:
    threshold = 0.1 * scale
    value = threshold * (1 + gap)
    shown, bound = compared(value, threshold)
    assert (shown == bound) == (value == threshold)
    assert float(bound) == threshold  # the threshold is shown exactly


def test_non_finite_values_print_as_python_prints_them() -> None:
    assert compared(math.nan, 0.1) == ("nan", "0.1")
    assert compared(math.inf, 0.1) == ("inf", "0.1")


def _profile(counts: list[int]) -> FrameProfile:
    numeric = NumericProfile(edges=[1.0], counts=counts, n=sum(counts), total=1.0 * sum(counts))
    return FrameProfile(sum(counts), {"x": numeric})


def test_a_drift_reason_names_the_threshold_when_the_psi_would_print_as_it() -> None:
    reference = _profile([5000, 5000])
    window = _profile([3445, 6555])  # a PSI of 0.100034
    only_psi = DriftThresholds(js_alert=1.0)  # a warning above a PSI of 0.1
    (drift,) = window_drift(reference, window, only_psi)
    assert drift.severity == "warning"
    assert drift.reasons == ("distribution shifted (PSI 0.10003, above 0.1)",)
    assert isinstance(drift, FeatureDrift)
    (plain,) = window_drift(
        reference, _profile([3442, 6558]), DriftThresholds(psi_warn=0.09, js_alert=1.0)
    )
    assert plain.reasons == ("distribution shifted (PSI 0.100)",)


def test_shares_in_reasons_keep_the_digits_that_put_them_above_their_limit() -> None:
    reference = FrameProfile(1000, {"x": NumericProfile(edges=[1.0], counts=[500, 500], n=1000)})
    # 5.04% missing against none in the reference: above the 5-point limit, not "5.0%"
    window = FrameProfile(
        10000, {"x": NumericProfile(edges=[1.0], counts=[4748, 4748], missing=504, n=9496)}
    )
    (drift,) = window_drift(reference, window, DriftThresholds())
    assert drift.severity == "critical"
    assert "missing values 5.04% (reference 0.0%)" in drift.reasons
    far = FrameProfile(
        10000, {"x": NumericProfile(edges=[1.0], counts=[4650, 4650], missing=700, n=9300)}
    )
    (plain,) = window_drift(reference, far, DriftThresholds())
    assert "missing values 7.0% (reference 0.0%)" in plain.reasons
