"""benchmarks/differential.py runs clean on the sections that need no peer venv: every figure
equals scikit-learn's, scipy's and Fairlearn's within the row's tolerance."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from _benchmarks import benchmark

differential = benchmark("differential")


SECTIONS: dict[str, Callable[[ModuleType], list[Any]]] = {
    "scikit-learn": lambda m: m.sklearn_rows(),
    "scipy bootstrap": lambda m: m.bootstrap_rows(n_resamples=200),
    "scipy drift": lambda m: m.drift_rows(),
    "Fairlearn": lambda m: m.fairness_rows(),
    "Fairlearn intervals": lambda m: m.fairness_interval_rows(n_resamples=8),
}


@pytest.mark.parametrize("section", list(SECTIONS))
def test_every_row_passes(section: str) -> None:
    rows = SECTIONS[section](differential)
    assert rows
    failed = [
        f"{r.check}: goldenpath {r.goldenpath!r}, peer {r.peer!r} (tolerance {r.tolerance})"
        for r in rows
        if r.status != "pass"
    ]
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("section", ["nannyml_rows", "dle_rows"])
def test_a_peer_that_cannot_run_is_skipped_with_its_reason(section: str) -> None:
    rows = getattr(differential, section)("the NannyML venv could not be built: offline")
    assert rows
    assert {r.status for r in rows} == {"skip"}
    assert all("offline" in r.note for r in rows)
