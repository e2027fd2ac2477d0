"""The monitoring part of ``make demo``, run inside the demo project after the serving part.

Replays the telco traffic through ``goldenpath serve`` in two phases of 1,000 rows each, with
feedback labels for 30% of them, and runs ``goldenpath monitor`` after each phase (windows of
1,000 rows, only rows since the demo began):

1. held-out rows as they are: like the training data, so no alert;
2. the same customers a few months on: more month-to-month contracts and higher monthly
   charges (a realistic price rise): drift alerts, and the report's path.

Then the same traffic is monitored in windows of 500 rows by rules whose thresholds are learnt
from the reference (``sigmas``: mean + 3 sd over chunks of the held-out rows), and
``goldenpath alerts`` lists what is open.

    python scripts/demo_monitoring.py GOLDENPATH_EXECUTABLE [PORT]
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from _demo import fetch, runner, serving, token_options

import goldenpath
from goldenpath.data.dataset import load_dataset
from goldenpath.evaluation.evaluate import resolve_model
from goldenpath.training.recorded import run_rows
from goldenpath.training.tracking import open_tracking

ROWS = 1000
LEARNT_RULES = """
monitoring:
  default_rules: false  # only the learnt rules
  alerts:
    rules:
      - {name: learnt-drift, metric: feature.js_distance, sigmas: 3}
      - {name: learnt-accuracy, metric: estimated.accuracy_drop, sigmas: 3}
"""


def phases(folder: Path) -> tuple[Path, Path]:
    """Phase one: 1,000 held-out rows of the champion's run; phase two: 1,000 held-out rows
    with contracts moved to month-to-month and monthly charges raised."""
    project = goldenpath.open_project(".")
    model = resolve_model(project, f"{project.name}@champion")
    dataset = load_dataset(project.spec, project.root)
    client = open_tracking(project, create=False)
    test = run_rows(client, model.run_id, dataset, "test", hint="run make demo from the start")
    rng = np.random.default_rng(7)
    one = test.sample(n=ROWS, random_state=1)
    two = test.sample(n=ROWS, random_state=2).copy()
    move = (two["contract"] != "Month-to-month") & (rng.random(ROWS) < 0.6)
    two.loc[move, "contract"] = "Month-to-month"
    two["monthly_charges"] = (two["monthly_charges"] * 1.2 + 10).round(2)
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "phase-1.csv", folder / "phase-2.csv"
    one.to_csv(paths[0], index=False)
    two.to_csv(paths[1], index=False)
    share = lambda f: (f["contract"] == "Month-to-month").mean()  # noqa: E731
    print(
        f"phase 1: {ROWS} held-out rows (month-to-month {share(one):.0%}, mean monthly charges "
        f"{one['monthly_charges'].mean():.1f}); phase 2: month-to-month {share(two):.0%}, "
        f"mean monthly charges {two['monthly_charges'].mean():.1f}",
        flush=True,
    )
    return paths


def main() -> None:
    goldenpath_cli = sys.argv[1]
    port = sys.argv[2] if len(sys.argv) > 2 else "8766"
    run = runner(goldenpath_cli)
    one, two = phases(Path(".goldenpath") / "demo")
    began = datetime.now(UTC).isoformat()
    with serving(goldenpath_cli, port) as base:

        def logged_rows() -> float:
            return sum(
                float(line.split()[-1])
                for line in fetch(base, "/metrics").splitlines()
                if line.startswith("goldenpath_prediction_log_rows_total")
            )

        monitor = ("monitor", "--window", f"{ROWS}-rows", "--since", began)
        for number, data in enumerate((one, two), start=1):
            print(f"--- phase {number} ---", flush=True)
            run(
                "replay",
                "--url",
                base,
                "--data",
                str(data),
                "--feedback-share",
                "0.3",
                *token_options(),
            )
            deadline = time.time() + 60  # the log is written every few seconds: wait for it
            while logged_rows() < number * ROWS and time.time() < deadline:
                time.sleep(0.5)
            run(*monitor)
    print("--- the same traffic, 500-row windows, thresholds learnt from the reference", flush=True)
    with Path("goldenpath.yaml").open("a") as spec:
        spec.write(LEARNT_RULES)
    run("monitor", "--window", "500-rows", "--since", began)
    run("alerts", "--status", "open")


if __name__ == "__main__":
    main()
