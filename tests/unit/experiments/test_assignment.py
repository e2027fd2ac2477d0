"""Assignment to arms: deterministic, sticky, uniform, and independent of the canary's bucket.

The keys are generated (``user-0`` ... ``user-99999``), so every statistic below is a fixed
number: the bounds are the chi-square quantiles a uniform hash passes with probability 0.999.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from goldenpath.experiments.assignment import (
    arm_of,
    assign_request,
    bucket,
    unit_text,
)
from goldenpath.serving.deployment import _bucket as canary_bucket

KEYS = [f"user-{i}" for i in range(100_000)]
SALT = "new-model"


def buckets(salt: str = SALT) -> np.ndarray:
    return np.array([bucket(k, salt) for k in KEYS])


def test_deterministic_and_sticky() -> None:
    first = [arm_of(k, salt=SALT, allocation=0.5) for k in KEYS[:2000]]
    again = [arm_of(k, salt=SALT, allocation=0.5) for k in KEYS[:2000]]
    assert first == again
    # a request of several rows of one unit takes that unit's arm
    for key, arm in zip(KEYS[:200], first[:200], strict=True):
        found = assign_request([key, key, key], experiment="e", salt=SALT, allocation=0.5)
        assert (found.arm, found.unit, found.exposed) == (arm, key, True)


def test_uniform_over_deciles() -> None:
    counts, _ = np.histogram(buckets(), bins=10, range=(0.0, 1.0))
    statistic, p = stats.chisquare(counts)
    assert statistic < stats.chi2.ppf(0.999, df=9), (counts, p)
    assert counts.sum() == len(KEYS)


@pytest.mark.parametrize("allocation", [0.5, 0.2, 0.05])
def test_the_treatment_gets_its_allocation(allocation: float) -> None:
    treated = sum(arm_of(k, salt=SALT, allocation=allocation) == "treatment" for k in KEYS)
    expected = np.array([allocation, 1 - allocation]) * len(KEYS)
    statistic, _ = stats.chisquare([treated, len(KEYS) - treated], expected)
    assert statistic < stats.chi2.ppf(0.999, df=1), treated


def test_independent_of_the_canary_bucket() -> None:
    canary = np.array([canary_bucket(k) for k in KEYS]) < 0.1
    treated = buckets() < 0.5
    table = np.array(
        [
            [np.sum(canary & treated), np.sum(canary & ~treated)],
            [np.sum(~canary & treated), np.sum(~canary & ~treated)],
        ]
    )
    statistic, _, _, _ = stats.chi2_contingency(table, correction=False)
    assert statistic < stats.chi2.ppf(0.999, df=1), table
    # nor the same numbers under another name: the two hashes are not correlated
    rho = np.corrcoef(buckets()[:20_000], [canary_bucket(k) for k in KEYS[:20_000]])[0, 1]
    assert abs(rho) < 4 / np.sqrt(20_000)


def test_a_new_salt_reshuffles_units() -> None:
    one = buckets("experiment-a") < 0.5
    two = buckets("experiment-b") < 0.5
    table = np.array(
        [[np.sum(one & two), np.sum(one & ~two)], [np.sum(~one & two), np.sum(~one & ~two)]]
    )
    statistic, _, _, _ = stats.chi2_contingency(table, correction=False)
    assert statistic < stats.chi2.ppf(0.999, df=1), table


def test_unit_text() -> None:
    assert unit_text(42) == unit_text("42") == unit_text(42.0) == "42"
    assert unit_text(1.5) == "1.5"
    assert unit_text(True) == "true"
    assert unit_text(None) is None
    assert unit_text(float("nan")) is None


def test_requests_that_cannot_be_assigned() -> None:
    none = assign_request([None, None], experiment="e", salt=SALT, allocation=0.5)
    assert (none.exposed, none.arm, none.unit, none.reason) == (False, None, None, "no_unit")
    partial = assign_request(["a", None], experiment="e", salt=SALT, allocation=0.5)
    assert (partial.exposed, partial.reason) == (False, "no_unit")
    mixed = assign_request(["a", "b"], experiment="e", salt=SALT, allocation=0.5)
    assert (mixed.exposed, mixed.reason) == (False, "mixed_units")
