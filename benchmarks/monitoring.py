"""Monitoring at scale: goldenpath's drift and data quality vs Evidently's DataDriftPreset.

Part 1 (the default): a window of 1,000,000 rows x 20 features (12 numeric: normal, lognormal and
integer counts; 8 categorical with 3 to 30 skewed categories; a few % missing in some columns, mild
drift in a few features, one unseen category) against a 100,000-row reference. The data is
generated once (seeded) and kept as Parquet under build/bench-monitoring/. Each side runs in its
own fresh interpreter, reads the two Parquet files with pandas, then is timed on the computation
alone ("compute") and with the reading ("total"; imports excluded from both):

- goldenpath (this venv, pandas 3): ``profile_frame`` of the reference (timed apart: in production
  it is computed once at training time and stored, but the headline counts it), ``profile_frame``
  of the window on the reference's bins and categories, then ``window_drift``: per feature PSI,
  Jensen-Shannon distance, Wasserstein distance (numeric), chi-square p-value with
  Benjamini-Hochberg q-values, and data quality (missing share against the reference's, share of
  unseen categories) with a severity;
- Evidently (its own venv under build/bench-venvs/evidently, created on the first run with the
  pinned ``EVIDENTLY_REQUIREMENTS``, pandas 2, since Evidently fails under pandas 3):
  ``Report([DataDriftPreset()]).run(current, reference)`` on datasets whose 12 numeric and 8
  categorical columns are declared in a ``DataDefinition`` (nothing inferred), then
  ``snapshot.dict()`` to materialise every result. At these sizes Evidently's defaults are the
  Wasserstein distance (normed) for numeric columns and the Jensen-Shannon distance for
  categorical ones, on the raw values, plus the share of drifted columns (its report computes
  each column's drift several times over: for the dataset summary, the table and each column's
  metric, with histograms for the widgets). No data-quality figures: ``--with-summary`` adds a
  third, informative row with ``DataSummaryPreset`` too (missing values, per-column statistics).

Memory is the child's peak resident set (``getrusage(RUSAGE_SELF).ru_maxrss``). Once the data is
loaded, what the reading freed is handed back to the system (Arrow's pool, ``malloc_trim``) and
the peak is reset to the resident set (Linux: /proc/self/clear_refs), so the peak during the
computation minus the resident set of the loaded data is the increment the target compares; the
absolute peak (reading included) is printed too. The parent stays small (no numpy, pandas: the data
is generated in a child too), since a child's ru_maxrss starts at its parent's.

The compute's CPU time is printed next to its wall time: on a busy machine the wall time of the
slower side stretches more.

Targets: goldenpath at least 10x faster and at most a quarter of Evidently's memory increment.
The figures are printed, not asserted.

    python benchmarks/monitoring.py [--rows 1000000] [--reference-rows 100000] [--with-summary]
                                    [--json PATH]

The first run creates the Evidently venv (pip, about a minute) and the data (seconds).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
DATA_DIR = BUILD / "bench-monitoring"
EVIDENTLY_VENV = BUILD / "bench-venvs" / "evidently"
# the newest Evidently that installs here; pandas < 3 because Evidently fails under pandas 3
EVIDENTLY_REQUIREMENTS = [
    "evidently==0.7.23",
    "pandas==2.3.3",
    "numpy==2.4.6",
    "scipy==1.17.1",
    "pyarrow==26.0.1",
]
SEED = 20240501
DATA_VERSION = 2  # bump when _generate changes, so stale Parquet files are not reused

NORMAL = [f"normal_{i}" for i in range(4)]
LOGNORMAL = [f"lognormal_{i}" for i in range(4)]
COUNT = [f"count_{i}" for i in range(4)]
NUMERIC = NORMAL + LOGNORMAL + COUNT
CARDINALITIES = [3, 5, 8, 12, 15, 20, 25, 30]
CATEGORICAL = [f"cat_{k}" for k in CARDINALITIES]


# ---------------------------------------------------------------------------------------------
# data


def _generate(rows: int, reference_rows: int, folder: Path) -> None:
    """Write reference.parquet and current.parquet (plain Arrow types, no pandas metadata, so
    pandas 2 and 3 read them the same way)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(SEED)

    def frame(n: int, drifted: bool) -> pa.Table:
        columns: dict[str, Any] = {}
        for i, name in enumerate(NORMAL):
            shift = 0.1 if drifted and i == 1 else 0.0  # a tenth of a standard deviation
            columns[name] = rng.normal(10.0 * i + shift * (i + 1), i + 1, n)
        for i, name in enumerate(LOGNORMAL):
            sigma = (0.5 + 0.25 * i) * (1.15 if drifted and i == 2 else 1.0)
            columns[name] = rng.lognormal(1.0 + i / 2, sigma, n)
        for i, name in enumerate(COUNT):
            lam = (1.0, 4.0, 20.0, 150.0)[i] * (1.05 if drifted and i == 0 else 1.0)
            columns[name] = rng.poisson(lam, n).astype("int64")
        for k, name in zip(CARDINALITIES, CATEGORICAL, strict=True):
            weights = 1.0 / np.arange(1, k + 1) ** 1.1  # Zipf-like skew
            if drifted and k == 8:
                weights = weights[::-1] * 0.15 + weights * 0.85  # the rare ones gain a little
            codes = rng.choice(k, n, p=weights / weights.sum())
            labels = np.array([f"{name}_v{j:02d}" for j in range(k)], dtype=object)
            values = labels[codes]
            if drifted and k == 12:
                values[rng.random(n) < 0.015] = f"{name}_new"  # an unseen category
            columns[name] = values
        # missing values: a few % in some columns, one of them more often in the window
        for name, share, current_share in (
            ("normal_2", 0.02, 0.02),
            ("lognormal_0", 0.03, 0.03),
            ("count_1", 0.01, 0.01),  # counts with NaN become float, as pandas reads them
            ("cat_5", 0.02, 0.02),
            ("cat_20", 0.04, 0.10),
        ):
            hole = rng.random(n) < (current_share if drifted else share)
            column = columns[name]
            if column.dtype == object:
                column[hole] = None
            else:
                column = column.astype("float64")
                column[hole] = np.nan
                columns[name] = column
        arrays = {
            name: pa.array(values, type=pa.string() if values.dtype == object else None)
            for name, values in columns.items()
        }
        return pa.table(arrays)

    folder.mkdir(parents=True, exist_ok=True)
    for name, n, drifted in (("reference", reference_rows, False), ("current", rows, True)):
        table = frame(n, drifted)
        partial = folder / f"{name}.parquet.partial"
        pq.write_table(table, partial)
        partial.replace(folder / f"{name}.parquet")


def _data(rows: int, reference_rows: int) -> Path:
    folder = DATA_DIR / f"v{DATA_VERSION}-seed{SEED}-ref{reference_rows}-cur{rows}"
    if not all((folder / f"{n}.parquet").exists() for n in ("reference", "current")):
        print(f"generating the data in {folder.relative_to(ROOT)} ...", flush=True)
        # in a child, so that this process stays small (a child's ru_maxrss starts at its
        # parent's peak when it is spawned)
        _child(sys.executable, "generate", folder, rows, reference_rows)
    return folder


# ---------------------------------------------------------------------------------------------
# the Evidently venv


def _evidently_python() -> Path:
    python = EVIDENTLY_VENV / "bin" / "python"
    marker = EVIDENTLY_VENV / "requirements.txt"
    wanted = "\n".join(EVIDENTLY_REQUIREMENTS) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    if not python.exists():
        print(f"creating the Evidently venv in {EVIDENTLY_VENV.relative_to(ROOT)} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
    print(f"installing {' '.join(EVIDENTLY_REQUIREMENTS)} ...", flush=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *EVIDENTLY_REQUIREMENTS], check=True
    )
    marker.write_text(wanted)
    return python


# ---------------------------------------------------------------------------------------------
# the children: each reads the data, computes, and prints one JSON line of figures


def _rss_mb() -> float:
    """The resident set now (Linux), else the peak so far."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return _peak_mb()


def _peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, else KiB


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # resets the peak resident set to the current one (Linux >= 4.0)
    except OSError:
        return False
    return True


def _load(folder: Path) -> tuple[Any, Any, float]:
    import ctypes
    import gc

    import pandas as pd
    import pyarrow as pa

    started = time.perf_counter()
    reference = pd.read_parquet(folder / "reference.parquet")
    current = pd.read_parquet(folder / "current.parquet")
    read_s = time.perf_counter() - started
    # hand what the reading freed back to the system, so that the resident set measured next
    # is the data's and the increment cannot hide in memory that reading left free
    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # glibc only
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return reference, current, read_s


def _run_goldenpath(folder: Path) -> dict[str, Any]:
    from goldenpath.monitoring.drift import window_drift
    from goldenpath.monitoring.profile import profile_frame

    reference_df, current_df, read_s = _load(folder)
    figures: dict[str, Any] = {"read_s": read_s, "loaded_mb": _rss_mb(), "load_peak_mb": _peak_mb()}
    figures["peak_reset"] = _reset_peak()
    cpu = time.process_time()
    started = time.perf_counter()
    reference = profile_frame(reference_df)
    profiled = time.perf_counter()
    window = profile_frame(current_df, reference)
    windowed = time.perf_counter()
    drift = window_drift(reference, window)
    done = time.perf_counter()
    figures.update(
        compute_s=done - started,
        compute_cpu_s=time.process_time() - cpu,
        reference_s=profiled - started,
        window_s=windowed - profiled,
        drift_s=done - windowed,
        compute_peak_mb=_peak_mb(),
        features=len(drift),
        flagged=sum(d.severity != "ok" for d in drift),
        flagged_features={d.feature: list(d.reasons) for d in drift if d.severity != "ok"},
    )
    return figures


def _run_evidently(folder: Path, *, summary: bool = False) -> dict[str, Any]:
    import evidently
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset, DataSummaryPreset

    reference_df, current_df, read_s = _load(folder)
    figures: dict[str, Any] = {"read_s": read_s, "loaded_mb": _rss_mb(), "load_peak_mb": _peak_mb()}
    figures["peak_reset"] = _reset_peak()
    cpu = time.process_time()
    started = time.perf_counter()
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    reference = Dataset.from_pandas(reference_df, data_definition=definition)
    current = Dataset.from_pandas(current_df, data_definition=definition)
    presets = [DataDriftPreset(), DataSummaryPreset()] if summary else [DataDriftPreset()]
    snapshot = Report(presets).run(current, reference)
    result = snapshot.dict()  # materialises every metric's result
    done = time.perf_counter()
    cpu_s = time.process_time() - cpu
    drifted, drifted_columns = None, []
    for metric in result["metrics"]:
        config = metric["config"]
        if metric["metric_name"].startswith("DriftedColumnsCount"):
            drifted = int(metric["value"]["count"])
        elif (
            metric["metric_name"].startswith("ValueDrift")
            and metric["value"] >= config["threshold"]
        ):
            drifted_columns.append(config["column"])
    figures.update(
        compute_s=done - started,
        compute_cpu_s=cpu_s,
        compute_peak_mb=_peak_mb(),
        version=evidently.__version__,
        metrics=len(result["metrics"]),
        drifted=drifted,
        drifted_columns=drifted_columns,
    )
    return figures


def _child(python: str | Path, side: str, folder: Path, rows: int, reference_rows: int) -> Any:
    env = {**os.environ, "DO_NOT_TRACK": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [
            str(python),
            __file__,
            "--child",
            side,
            "--data",
            str(folder),
            "--rows",
            str(rows),
            "--reference-rows",
            str(reference_rows),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the {side} child failed:\n{done.stdout}\n{done.stderr}")
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else None


def _child_main(args: argparse.Namespace) -> None:
    if args.child == "generate":
        _generate(args.rows, args.reference_rows, args.data)
        print("{}")
        return
    began = time.perf_counter()
    if args.child == "goldenpath":
        figures = _run_goldenpath(args.data)
    else:
        figures = _run_evidently(args.data, summary=args.child == "evidently-summary")
    figures["total_s"] = figures["read_s"] + figures["compute_s"]
    figures["with_imports_s"] = time.perf_counter() - began  # the side's imports, reading, compute
    figures["peak_mb"] = max(figures["load_peak_mb"], figures["compute_peak_mb"])
    figures["increment_mb"] = figures["compute_peak_mb"] - figures["loaded_mb"]
    print(json.dumps(figures))


# ---------------------------------------------------------------------------------------------
# part 1: one window against the reference, goldenpath vs Evidently


def _window_vs_evidently(args: argparse.Namespace) -> dict[str, Any]:
    folder = _data(args.rows, args.reference_rows)
    evidently_python = _evidently_python()
    load_before = os.getloadavg()[0]
    sizes = (args.rows, args.reference_rows)
    gp = _child(sys.executable, "goldenpath", folder, *sizes)
    ev = _child(evidently_python, "evidently", folder, *sizes)
    rows = [("goldenpath drift + quality", gp), (f"Evidently {ev['version']} DataDriftPreset", ev)]
    if args.with_summary:
        summary = _child(evidently_python, "evidently-summary", folder, *sizes)
        rows.append(("  + DataSummaryPreset (not headline)", summary))

    print(
        f"\n{args.rows:,}-row window vs a {args.reference_rows:,}-row reference, "
        f"{len(NUMERIC)} numeric + {len(CATEGORICAL)} categorical features, "
        "each side in a fresh interpreter"
    )
    print("  compute: after the Parquet files are read; total: reading + compute (no imports)")
    print("  CPU: the compute's CPU time (all threads); far below compute s = a busy machine")
    print("  increment: peak RSS during compute minus the RSS with the data loaded (the target)")
    print(
        f"  load average before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    print(
        f"{'side':<36}{'compute s':>11}{'CPU s':>9}{'total s':>10}{'peak RSS MB':>13}"
        f"{'increment MB':>14}"
    )
    for label, r in rows:
        print(
            f"{label:<36}{r['compute_s']:>11.2f}{r['compute_cpu_s']:>9.2f}{r['total_s']:>10.2f}"
            f"{r['peak_mb']:>13,.0f}{r['increment_mb']:>14,.0f}"
        )
    print(
        f"  goldenpath compute = reference profile {gp['reference_s']:.2f} s (once, at training "
        f"time in production) + window profile {gp['window_s']:.2f} s + drift {gp['drift_s']:.3f} s"
    )
    print(
        f"  sanity: goldenpath flags {gp['flagged']} of {gp['features']} features "
        f"({', '.join(gp['flagged_features']) or 'none'}); "
        f"Evidently finds {ev['drifted']} drifted columns "
        f"({', '.join(ev['drifted_columns']) or 'none'})"
    )
    if not (gp["peak_reset"] and ev["peak_reset"]):
        print("  (the peak could not be reset after loading: increments include the reading)")
    speed = ev["compute_s"] / gp["compute_s"]
    speed_window = ev["compute_s"] / (gp["window_s"] + gp["drift_s"])
    speed_total = ev["total_s"] / gp["total_s"]
    memory = gp["increment_mb"] / ev["increment_mb"]
    memory_peak = gp["peak_mb"] / ev["peak_mb"]
    print(
        f"speed: Evidently/goldenpath = {speed:.1f}x  (target >= 10; compute, goldenpath's "
        f"reference profile included; {speed_window:.1f}x without it, "
        f"{speed_total:.1f}x on total time)"
    )
    print(
        f"memory: goldenpath/Evidently = {memory:.3f}  (target <= 0.25; increment above the "
        f"loaded data; absolute peaks: {memory_peak:.3f})"
    )
    return {
        "rows": args.rows,
        "reference_rows": args.reference_rows,
        "evidently_requirements": EVIDENTLY_REQUIREMENTS,
        "goldenpath": gp,
        "evidently": ev,
        **({"evidently_with_summary": rows[2][1]} if args.with_summary else {}),
        "speed_ratio": speed,
        "speed_ratio_without_reference": speed_window,
        "speed_ratio_total": speed_total,
        "memory_ratio": memory,
        "memory_ratio_peak": memory_peak,
        "load_average_before": load_before,
    }


# ---------------------------------------------------------------------------------------------
# part 2 (--scale): 20,000,000 logged rows processed window by window by `goldenpath monitor`

SCALE_ROWS = 20_000_000
SCALE_DAYS = 30
SCALE_FILE_ROWS = 500_000
SCALE_FOLDER = Path("build/bench-monitoring/scale")


def _scale_generate(project_dir: Path, rows: int) -> None:
    """A prediction log of ``rows`` served rows over SCALE_DAYS days, laid out as the server
    writes it: telco customers drawn with replacement (inputs), random scores (outputs)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    import goldenpath
    from goldenpath.data.dataset import load_dataset
    from goldenpath.serving.logs import prediction_schema

    project = goldenpath.open_project(project_dir)
    spec = project.spec
    frame = load_dataset(spec, project.root).frame
    schema = prediction_schema(spec.data.contract.columns, spec.serving.log.pii)
    rng = np.random.default_rng(5)
    start = np.datetime64("2026-10-01T00:00:00", "us")
    span_us = SCALE_DAYS * 86_400 * 1_000_000
    stamps = np.sort(rng.integers(0, span_us, rows)) + start.astype("int64")
    folder = project.state_dir / "logs" / "predictions"
    for number, first in enumerate(range(0, rows, SCALE_FILE_ROWS)):
        n = min(SCALE_FILE_ROWS, rows - first)
        chunk = frame.iloc[rng.integers(0, len(frame), n)].reset_index(drop=True)
        score = rng.beta(2, 5, n)
        columns: dict[str, object] = {
            "request_id": [f"r{first + i}" for i in range(n)],
            "row": np.zeros(n, dtype="int32"),
            "timestamp": stamps[first : first + n].astype("datetime64[us]"),
            "model_name": [project.name] * n,
            "model_version": ["1"] * n,
            "route": ["champion"] * n,
            "kind": ["served"] * n,
            "latency_ms": rng.gamma(2, 3, n),
            "degraded": np.zeros(n, dtype=bool),
            "prediction": np.where(score >= 0.5, "Yes", "No"),
            "prediction_value": [None] * n,
            "score": score,
            "event_time": [None] * n,  # the telco contract has no time column
        }
        for name in schema.names:
            if name not in columns:
                columns[name] = chunk[name].astype(object).where(chunk[name].notna(), None)
        table = pa.Table.from_pydict({name: columns[name] for name in schema.names}, schema=schema)
        day = str(stamps[first + n - 1].astype("datetime64[us]").astype("datetime64[D]"))
        target = folder / f"date={day}" / "version=1" / f"part-{number:05d}.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target)


def _scale_monitor(project_dir: Path) -> dict[str, Any]:
    """One `goldenpath monitor` run (library call) in this fresh interpreter."""
    import resource

    began = time.perf_counter()
    import goldenpath
    from goldenpath.monitoring import run_monitor

    project = goldenpath.open_project(project_dir)
    started = time.perf_counter()
    run = run_monitor(project, "latest", window="1h")
    seconds = time.perf_counter() - started
    document = run.report
    return {
        "seconds": seconds,
        "with_imports_s": time.perf_counter() - began,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "windows": len(document.windows),
        "rows": sum(w.rows for w in document.windows),
        "new_files": document.processed.new_files,
        "new_rows": document.processed.new_rows,
        "open_alerts": len(run.open_alerts),
    }


def _scale_child(args: list[str]) -> Any:
    done = subprocess.run(
        [sys.executable, __file__, *args],
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{args[1]} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _scale(rows: int) -> dict[str, Any]:
    project_dir = SCALE_FOLDER / f"telco-{rows}"
    goldenpath_cli = str(Path(sys.executable).parent / "goldenpath")
    if not (project_dir / ".goldenpath" / "logs").exists():
        shutil.rmtree(project_dir, ignore_errors=True)
        print(f"creating {project_dir}: the telco example, trained, and a log of {rows:,} rows")
        subprocess.run(
            [goldenpath_cli, "init", str(project_dir), "--example", "telco-churn"], check=True
        )
        subprocess.run([goldenpath_cli, "train"], cwd=project_dir, check=True)
        began = time.perf_counter()
        _scale_child(["--child", "scale-generate", "--data", str(project_dir), "--rows", str(rows)])
        print(f"  log written in {time.perf_counter() - began:.0f} s")
    logs = project_dir / ".goldenpath" / "logs" / "predictions"
    files = list(logs.rglob("*.parquet"))
    size_mb = sum(f.stat().st_size for f in files) / 2**20
    store = project_dir / ".goldenpath" / "goldenpath.db"
    if store.exists():  # start the stream afresh: every file is new to the first run
        with sqlite3.connect(store) as connection:
            for table in ("gp_monitor_files", "gp_monitor_windows", "gp_alerts"):
                connection.execute(f"DELETE FROM {table}")
    first = _scale_child(["--child", "scale-monitor", "--data", str(project_dir)])
    second = _scale_child(["--child", "scale-monitor", "--data", str(project_dir)])
    print(
        f"\n{first['rows']:,} logged rows in {len(files)} Parquet files ({size_mb:,.0f} MB), "
        f"hourly windows, each run in a fresh interpreter"
    )
    print(f"{'run':<28}{'monitor s':>11}{'with imports s':>16}{'peak RSS MB':>13}{'windows':>9}")
    for label, r in (("first (every file new)", first), ("second (nothing new)", second)):
        print(
            f"{label:<28}{r['seconds']:>11.2f}{r['with_imports_s']:>16.2f}"
            f"{r['peak_mb']:>13,.0f}{r['windows']:>9,}"
        )
    print(
        f"peak memory of the first run: {first['peak_mb']:,.0f} MB  (target < 2,048 MB); "
        f"second run: {second['seconds']:.2f} s  (target < 2 s; {second['with_imports_s']:.2f} s "
        "with the interpreter's imports)"
    )
    return {"files": len(files), "size_mb": size_mb, "first": first, "second": second}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the window")
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument(
        "--with-summary",
        action="store_true",
        help="also time Evidently's DataDriftPreset + DataSummaryPreset (informative only)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--scale",
        action="store_true",
        help=f"also run part 2: {SCALE_ROWS:,} logged rows through goldenpath monitor",
    )
    parser.add_argument("--scale-only", action="store_true", help="run part 2 only")
    parser.add_argument("--scale-rows", type=int, default=SCALE_ROWS, help=argparse.SUPPRESS)
    parser.add_argument(
        "--child",
        choices=[
            "generate",
            "goldenpath",
            "evidently",
            "evidently-summary",
            "scale-generate",
            "scale-monitor",
        ],
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "scale-generate":
        _scale_generate(args.data, args.rows)
        print("{}")
        return
    if args.child == "scale-monitor":
        print(json.dumps(_scale_monitor(args.data)))
        return
    if args.child:
        _child_main(args)
        return
    results: dict[str, Any] = {}
    if not args.scale_only:  # part 1: one 1,000,000-row window against Evidently
        results["window"] = _window_vs_evidently(args)
    if args.scale or args.scale_only:  # part 2: 20,000,000 logged rows, window by window
        results["scale"] = _scale(args.scale_rows)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
