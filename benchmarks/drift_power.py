"""Drift detection power: how often a mean shift is flagged, by shift size and window size,
goldenpath next to Evidently on the very same simulated windows.

A continuous feature, N(0, 1) in a 20,000-row reference; windows of 200, 1,000 and 5,000 rows
drawn from N(shift, 1) for shifts of 0 to 1 standard deviation, ``--windows`` windows (default
100) per cell, seeded. A window counts as detected when:

- goldenpath: the feature's severity is not ``ok`` with the default thresholds (PSI above 0.1
  or Jensen-Shannon distance above 0.1, and the chi-square test significant at q < 0.01:
  ``window_drift`` on ``profile_frame`` profiles, as ``goldenpath monitor`` does);
- Evidently (its own venv, as ``benchmarks/monitoring.py`` builds it): its default column drift
  test for a numeric column, chosen by its own rule from the reference's size (more than 1,000
  rows: the Wasserstein distance normed by the reference's standard deviation, drift at 0.1;
  up to 1,000 rows: the two-sample KS test at p < 0.05), called through its stat-test registry
  on the same values.

``--reference-rows 1000`` shows Evidently's small-reference branch (the KS test). The figures
are printed, not asserted; ``tests/unit/monitoring/test_drift_power.py`` checks goldenpath's
side of the curve.

    OMP_NUM_THREADS=1 python benchmarks/drift_power.py [--windows 100] [--reference-rows 20000]
        [--skip-evidently] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

SHIFTS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0)
SIZES = (200, 1_000, 5_000)
SEED = 20261203

Rates = dict[str, dict[str, float]]  # shift -> size -> detected share


def simulate(
    windows: int, reference_rows: int, seed: int = SEED
) -> tuple[np.ndarray, dict[tuple[float, int], np.ndarray]]:
    """The reference's values and, per (shift, window size), a (windows, size) array."""
    rng = np.random.default_rng(seed)
    reference = rng.normal(0.0, 1.0, reference_rows)
    cells = {
        (shift, size): rng.normal(shift, 1.0, (windows, size)) for shift in SHIFTS for size in SIZES
    }
    return reference, cells


def goldenpath_rates(reference: np.ndarray, cells: dict[tuple[float, int], np.ndarray]) -> Rates:
    import pandas as pd

    from goldenpath.monitoring import profile_frame, window_drift

    ref = profile_frame(pd.DataFrame({"x": reference}))
    rates: Rates = {}
    for (shift, size), values in cells.items():
        flagged = [
            window_drift(ref, profile_frame(pd.DataFrame({"x": row}), ref))[0].severity != "ok"
            for row in values
        ]
        rates.setdefault(str(shift), {})[str(size)] = float(np.mean(flagged))
    return rates


_EVIDENTLY_CHILD = """
import json, sys
import numpy as np, pandas as pd
from evidently.legacy.calculations.stattests.registry import get_stattest
data = np.load(sys.argv[1])
reference = pd.Series(data["reference"])
rates, tests = {}, set()
for key in data.files:
    if key == "reference":
        continue
    shift, size = key.split("_")
    flagged = []
    for row in data[key]:
        current = pd.Series(row)
        test = get_stattest(reference, current, "num", None)
        tests.add(test.display_name)
        flagged.append(bool(test(reference, current, "num", None).drifted))
    rates.setdefault(shift, {})[size] = float(np.mean(flagged))
print(json.dumps({"rates": rates, "tests": sorted(tests)}))
"""


def evidently_rates(
    reference: np.ndarray, cells: dict[tuple[float, int], np.ndarray]
) -> tuple[Rates, list[str]]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from monitoring import _evidently_python  # the venv benchmarks/monitoring.py builds

    python = _evidently_python()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "windows.npz"
        arrays = {f"{shift}_{size}": v for (shift, size), v in cells.items()}
        np.savez(path, reference=reference, **arrays)  # type: ignore[arg-type]
        out = subprocess.run(
            [str(python), "-c", _EVIDENTLY_CHILD, str(path)],
            check=True,
            capture_output=True,
            text=True,
        )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["rates"], result["tests"]


def _table(goldenpath: Rates, evidently: Rates | None) -> str:
    sizes = [f"{s:,}" for s in SIZES]
    head = ["shift (SD)", *(f"goldenpath {s}" for s in sizes)]
    if evidently is not None:
        head += [f"Evidently {s}" for s in sizes]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for shift in SHIFTS:
        row = [f"{shift:g}"] + [f"{goldenpath[str(shift)][str(s)]:.0%}" for s in SIZES]
        if evidently is not None:
            row += [f"{evidently[str(shift)][str(s)]:.0%}" for s in SIZES]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=100)
    parser.add_argument("--reference-rows", type=int, default=20_000)
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    reference, cells = simulate(args.windows, args.reference_rows)
    goldenpath = goldenpath_rates(reference, cells)
    evidently, tests = (None, []) if args.skip_evidently else evidently_rates(reference, cells)
    print(
        f"mean shift detected, N(0, 1) feature, {args.reference_rows:,}-row reference, "
        f"{args.windows} windows per cell (seed {SEED}); Evidently's test: {', '.join(tests)}"
        if tests
        else f"mean shift detected, N(0, 1) feature, {args.reference_rows:,}-row reference, "
        f"{args.windows} windows per cell (seed {SEED})"
    )
    print(_table(goldenpath, evidently))
    if args.json is not None:
        result: dict[str, Any] = {"goldenpath": goldenpath, "evidently": evidently, "tests": tests}
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
