"""GrowthBook's stats engine (gbstats 0.8.0) on fixed A/B inputs: the reference that
tests/unit/experiments/test_gbstats_differential.py compares goldenpath's statistics with.

gbstats 0.8 pins pandas 1.5 and numpy 1.26, so it runs in its own venv,
build/bench-venvs/gbstats (made on first use: ``python3.11 -m venv`` and ``pip install
gbstats==0.8.0``, about 15 s with a reachable index). This script, in goldenpath's venv, draws
the cases with a fixed seed (mean, proportion, ratio and CUPED metrics; several sizes and
effects; SRM counts) as per-arm sufficient statistics, then runs itself as ``--child`` in
gbstats' venv, which feeds each case to gbstats (fixed and sequential two-sided t tests, relative
and absolute; the effect Bayesian test with its default flat prior, higher and lower is better;
``check_srm``) and answers JSON. The file written holds gbstats' version, the inputs and gbstats'
answers.

    .venv/bin/python scripts/gbstats_reference.py          # writes the reference file
    .venv/bin/python scripts/gbstats_reference.py --check  # regenerates in a temp file, compares

``--check`` exits 1 on any difference from the committed file and 0 when they agree; when the
venv cannot be built because the package index is unreachable it prints why and exits 0
(skipped); any other failure to build it exits 1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "build" / "bench-venvs" / "gbstats"
REQUIREMENTS = ["gbstats==0.8.0"]
REFERENCE = ROOT / "tests" / "data" / "gbstats_reference.json"
SEED = 20261203
# pip's words for "the index cannot be reached" (a skip), as opposed to a broken install (a failure)
UNREACHABLE = (
    "No matching distribution found",
    "Could not find a version",
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "ConnectTimeoutError",
)

# ---------------------------------------------------------------- the cases (goldenpath's venv)


def _sums(values: Any) -> tuple[int, float, float]:
    return int(values.size), float(values.sum()), float((values * values).sum())


def make_cases(seed: int = SEED) -> dict[str, Any]:
    """The inputs: per-arm sufficient statistics drawn from raw data with a fixed seed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    cases: list[dict[str, Any]] = []
    sizes = [(40, 55), (1_000, 1_200), (20_000, 20_000)]
    lifts = [0.0, 0.02, 0.1]
    for n_c, n_t in sizes:
        for lift in lifts:
            # a skewed revenue-like mean metric
            c = rng.lognormal(1.0, 0.8, n_c)
            t = rng.lognormal(1.0, 0.8, n_t) * (1 + lift)
            cases.append(_plain(f"mean n={n_c}/{n_t} lift={lift}", "mean", c, t))
            # a conversion rate
            c = (rng.random(n_c) < 0.12).astype(float)
            t = (rng.random(n_t) < 0.12 * (1 + lift)).astype(float)
            cases.append(_plain(f"proportion n={n_c}/{n_t} lift={lift}", "proportion", c, t))
            # a ratio metric: clicks per session, users as units
            arms = []
            for n, k in ((n_c, 1.0), (n_t, 1 + lift)):
                sessions = rng.poisson(3.0, n) + 1.0
                clicks = rng.binomial(sessions.astype(int), min(0.3 * k, 1.0)).astype(float)
                arms.append((clicks, sessions))
            cases.append(_ratio(f"ratio n={n_c}/{n_t} lift={lift}", *arms[0], *arms[1]))
            # CUPED: a pre-period covariate correlated with the metric (rho about 0.7)
            arms = []
            for n, k in ((n_c, 1.0), (n_t, 1 + lift)):
                pre = rng.normal(10.0, 2.0, n)
                post = 10.0 * k + 0.7 * (pre - 10.0) + rng.normal(0.0, 2.0 * math.sqrt(0.51), n)
                arms.append((post, pre))
            cases.append(_cuped(f"cuped n={n_c}/{n_t} lift={lift}", *arms[0], *arms[1]))
    for case, alpha, tuning in ((cases[4], 0.1, 1_000.0), (cases[13], 0.01, 20_000.0)):
        cases.append({**case, "name": case["name"] + f" alpha={alpha} tuning={tuning}"})
        cases[-1].update(alpha=alpha, tuning=tuning)
    srm = [
        {"observed": [5000, 5000], "shares": [0.5, 0.5]},
        {"observed": [5000, 5200], "shares": [0.5, 0.5]},
        {"observed": [10400, 9600], "shares": [0.5, 0.5]},
        {"observed": [1000, 2100, 2950], "shares": [0.2, 0.35, 0.45]},
        {"observed": [900, 120], "shares": [0.9, 0.1]},
        {"observed": [500, 480, 3], "shares": [0.5, 0.5, 0.0]},
        {"observed": [0, 0], "shares": [0.5, 0.5]},
    ]
    return {"seed": seed, "cases": cases, "srm": srm}


def _plain(name: str, kind: str, c: Any, t: Any) -> dict[str, Any]:
    arms = []
    for x in (c, t):
        n, s, ss = _sums(x)
        arms.append({"n": n, "sum": s, "sum_squares": ss})
    return {"name": name, "kind": kind, "control": arms[0], "treatment": arms[1]} | _defaults()


def _ratio(name: str, cm: Any, cd: Any, tm: Any, td: Any) -> dict[str, Any]:
    arms = []
    for m, d in ((cm, cd), (tm, td)):
        n, s, ss = _sums(m)
        _, ds, dss = _sums(d)
        arms.append(
            {
                "n": n,
                "sum": s,
                "sum_squares": ss,
                "denominator_sum": ds,
                "denominator_sum_squares": dss,
                "cross_sum": float((m * d).sum()),
            }
        )
    return {"name": name, "kind": "ratio", "control": arms[0], "treatment": arms[1]} | _defaults()


def _cuped(name: str, cy: Any, cx: Any, ty: Any, tx: Any) -> dict[str, Any]:
    arms = []
    for y, x in ((cy, cx), (ty, tx)):
        n, s, ss = _sums(y)
        _, xs, xss = _sums(x)
        arms.append(
            {
                "n": n,
                "sum": s,
                "sum_squares": ss,
                "covariate_sum": xs,
                "covariate_sum_squares": xss,
                "covariate_cross_sum": float((y * x).sum()),
            }
        )
    return {"name": name, "kind": "cuped", "control": arms[0], "treatment": arms[1]} | _defaults()


def _defaults() -> dict[str, Any]:
    return {"alpha": 0.05, "tuning": 5000.0}


# ---------------------------------------------------------------- gbstats (its own venv)


def child() -> None:  # pragma: no cover - runs in gbstats' venv
    """Read the cases on stdin, answer gbstats' figures on stdout."""
    import importlib.metadata

    from gbstats.bayesian.tests import (  # type: ignore[import-not-found]
        EffectBayesianABTest,
        EffectBayesianConfig,
    )
    from gbstats.frequentist.tests import (  # type: ignore[import-not-found]
        FrequentistConfig,
        SequentialConfig,
        SequentialTwoSidedTTest,
        TwoSidedTTest,
    )
    from gbstats.models.statistics import (  # type: ignore[import-not-found]
        ProportionStatistic,
        RatioStatistic,
        RegressionAdjustedStatistic,
        SampleMeanStatistic,
    )
    from gbstats.utils import check_srm  # type: ignore[import-not-found]

    data = json.load(sys.stdin)

    def statistic(kind: str, arm: dict[str, Any], proportion: bool = False) -> Any:
        n = arm["n"]
        if proportion:
            return ProportionStatistic(n=n, sum=arm["sum"])
        main = SampleMeanStatistic(n=n, sum=arm["sum"], sum_squares=arm["sum_squares"])
        if kind == "ratio":
            d = SampleMeanStatistic(
                n=n, sum=arm["denominator_sum"], sum_squares=arm["denominator_sum_squares"]
            )
            return RatioStatistic(
                n=n, m_statistic=main, d_statistic=d, m_d_sum_of_products=arm["cross_sum"]
            )
        if kind == "cuped":
            pre = SampleMeanStatistic(
                n=n, sum=arm["covariate_sum"], sum_squares=arm["covariate_sum_squares"]
            )
            return RegressionAdjustedStatistic(
                n=n,
                post_statistic=main,
                pre_statistic=pre,
                post_pre_sum_of_products=arm["covariate_cross_sum"],
                theta=0,
            )
        return main

    def frequentist(result: Any) -> dict[str, Any]:
        return {
            "expected": float(result.expected),
            "ci": [float(v) for v in result.ci],
            "p_value": float(result.p_value),
            "error": result.error_message,
        }

    out = []
    for case in data["cases"]:
        kind, alpha, tuning = case["kind"], case["alpha"], case["tuning"]
        answers: dict[str, Any] = {}
        for difference in ("relative", "absolute"):
            fresh = (statistic(kind, case["control"]), statistic(kind, case["treatment"]))
            config = FrequentistConfig(alpha=alpha, difference_type=difference)
            answers[f"fixed_{difference}"] = frequentist(
                TwoSidedTTest(*fresh, config).compute_result()
            )
            fresh = (statistic(kind, case["control"]), statistic(kind, case["treatment"]))
            sequential = SequentialConfig(
                alpha=alpha, difference_type=difference, sequential_tuning_parameter=tuning
            )
            answers[f"sequential_{difference}"] = frequentist(
                SequentialTwoSidedTTest(*fresh, sequential).compute_result()
            )
        if kind == "proportion":  # gbstats' own binomial variance, p (1 - p): for the record
            fresh = (
                statistic(kind, case["control"], proportion=True),
                statistic(kind, case["treatment"], proportion=True),
            )
            answers["fixed_relative_proportion_statistic"] = frequentist(
                TwoSidedTTest(*fresh, FrequentistConfig(alpha=alpha)).compute_result()
            )
        for inverse in (False, True):
            fresh = (statistic(kind, case["control"]), statistic(kind, case["treatment"]))
            config = EffectBayesianConfig(alpha=alpha, inverse=inverse)
            result = EffectBayesianABTest(*fresh, config).compute_result()
            answers["bayes_lower_is_better" if inverse else "bayes"] = {
                "chance_to_win": float(result.chance_to_win),
                "expected": float(result.expected),
                "ci": [float(v) for v in result.ci],
                "risk": [float(v) for v in result.risk],
                "error": result.error_message,
            }
        out.append(answers)
    srm = [float(check_srm(s["observed"], s["shares"])) for s in data["srm"]]
    json.dump(
        {"gbstats_version": importlib.metadata.version("gbstats"), "cases": out, "srm": srm},
        sys.stdout,
    )


# ---------------------------------------------------------------- driver (goldenpath's venv)


class Unreachable(Exception):
    """The package index cannot be reached: the reference cannot be regenerated here."""


def venv_python() -> Path:
    """gbstats' venv interpreter, built on first use. Raises :class:`Unreachable` when pip
    cannot reach its index, ``RuntimeError`` on any other failure."""
    python = VENV / "bin" / "python"
    marker = VENV / "requirements.txt"
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    base = shutil.which("python3.11") or sys.executable
    print(f"building {VENV.relative_to(ROOT)} ({' '.join(REQUIREMENTS)}) ...", flush=True)
    subprocess.run([base, "-m", "venv", "--clear", str(VENV)], check=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        said = f"{done.stdout}\n{done.stderr}"
        tail = " | ".join(line for line in said.strip().splitlines()[-3:])
        if any(word in said for word in UNREACHABLE):
            raise Unreachable(tail)
        raise RuntimeError(f"pip install {' '.join(REQUIREMENTS)} failed: {tail}")
    marker.write_text(wanted)
    return python


def generate(path: Path) -> None:
    """Run gbstats on the cases and write the reference file to ``path``."""
    inputs = make_cases()
    python = venv_python()
    done = subprocess.run(
        [str(python), __file__, "--child"],
        input=json.dumps(inputs),
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"the gbstats child failed: {done.stderr.strip()[-2000:]}")
    answers = json.loads(done.stdout)
    cases = [
        case | {"gbstats": answer}
        for case, answer in zip(inputs["cases"], answers["cases"], strict=True)
    ]
    srm = [s | {"p_value": p} for s, p in zip(inputs["srm"], answers["srm"], strict=True)]
    document = {
        "generated_by": "scripts/gbstats_reference.py",
        "gbstats_version": answers["gbstats_version"],
        "seed": inputs["seed"],
        "cases": cases,
        "srm": srm,
    }
    path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


def differences(expected: Any, found: Any, where: str = "") -> list[str]:
    """Where two JSON documents differ (numbers to 1e-12 relative)."""
    if isinstance(expected, dict) and isinstance(found, dict):
        out = [f"{where}.{k}: missing" for k in expected.keys() ^ found.keys()]
        for key in expected.keys() & found.keys():
            out += differences(expected[key], found[key], f"{where}.{key}")
        return out
    if isinstance(expected, list) and isinstance(found, list):
        if len(expected) != len(found):
            return [f"{where}: {len(expected)} items, now {len(found)}"]
        out = []
        for i, (e, f) in enumerate(zip(expected, found, strict=True)):
            out += differences(e, f, f"{where}[{i}]")
        return out
    numbers = (int, float)
    if isinstance(expected, numbers) and isinstance(found, numbers):
        if math.isclose(expected, found, rel_tol=1e-12, abs_tol=1e-15):
            return []
    elif expected == found:
        return []
    return [f"{where}: committed {expected!r}, now {found!r}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return 0
    try:
        if not args.check:
            generate(REFERENCE)
            print(f"wrote {REFERENCE.relative_to(ROOT)}")
            return 0
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / "gbstats_reference.json"
            generate(fresh)
            found = differences(json.loads(REFERENCE.read_text()), json.loads(fresh.read_text()))
    except Unreachable as why:
        print(f"SKIPPED gbstats reference check: the package index is unreachable ({why})")
        return 0
    if found:
        print(f"FAILED: gbstats' answers differ from {REFERENCE.relative_to(ROOT)}:")
        for line in found[:50]:
            print(f"  {line}")
        print("rerun `make gbstats-reference` if the change is intended, and commit the file")
        return 1
    print(f"gbstats reference OK: {REFERENCE.relative_to(ROOT)} matches a fresh gbstats run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
