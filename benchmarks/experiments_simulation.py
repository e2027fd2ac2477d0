"""Simulations of goldenpath's A/B statistics: do the error rates and the plan hold?

Each section simulates many experiments with a fixed seed and runs goldenpath's functions on
each (tests/unit/experiments/test_simulation.py runs small versions with loose bounds):

1. type-I error of the fixed-horizon test: A/A experiments on a skewed (lognormal) metric,
   raw units drawn and aggregated (target 5% +/- 1%), for the absolute and the relative
   effect's test, at 500 and at 100 units per arm;
2. the sequential test under daily peeking: A/A experiments looked at every day for 14 days,
   rejected at the first look with p < alpha (target <= alpha), next to the fixed test peeked at
   the same way (which is not valid when peeked at: its rate shows why the sequential test is
   there);
3. SRM detection: a 50/50 split served as 52/48, at the units a plan asks for (and smaller);
   and the false-alarm rate of a true 50/50 split (threshold 0.001);
4. CUPED: the variance of the CUPED effect over the raw one across replications, and the mean
   ``variance_reduction`` reported, against the theory ``1 - rho**2`` (and ``rho**2``);
5. the plan: at the units ``plan`` asks for a relative mde, the share of experiments with the
   true effect that the fixed test of the relative effect detects (target the power asked,
   0.8), and that the absolute test detects (a little more).

Normal metrics are simulated through their exact sufficient statistics (``sum`` is normal, the
sum of squared deviations ``sigma**2`` times a chi-square with ``n - 1`` degrees of freedom,
independent of it) and 0/1 metrics through binomial counts, so the simulations draw per
experiment, not per unit; the skewed metric and CUPED draw units. Run from the repository root:

    .venv/bin/python benchmarks/experiments_simulation.py [--seed 20261203] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import dataclass

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from goldenpath.experiments import ArmStats, compare, plan, sample_ratio_mismatch

SEED = 20261203
Generator = np.random.Generator


@dataclass(frozen=True)
class Rate:
    """A share of simulated experiments, with its binomial standard error."""

    hits: int
    runs: int

    @property
    def value(self) -> float:
        return self.hits / self.runs

    @property
    def se(self) -> float:
        return math.sqrt(max(self.value * (1 - self.value), 1e-12) / self.runs)

    def __str__(self) -> str:
        return f"{self.value:.4f} +/- {self.se:.4f} ({self.hits}/{self.runs})"


def _normal_sums(
    rng: Generator, n: int, mean: float, sd: float, size: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Exact (sum, sum_squares) of ``n`` normal units, for ``size`` experiments."""
    total = rng.normal(n * mean, sd * math.sqrt(n), size)
    deviations = sd * sd * rng.chisquare(n - 1, size)
    return total, deviations + total * total / n


@dataclass(frozen=True)
class TypeOne:
    """Rejections among A/A experiments, by the test of the absolute and of the relative effect."""

    absolute: Rate
    relative: Rate


def fixed_type_one(rng: Generator, *, experiments: int, n: int, alpha: float = 0.05) -> TypeOne:
    """A/A experiments on a lognormal metric with ``n`` units per arm, drawn unit by unit."""
    hits = relative_hits = 0
    chunk = max(1, 2_000_000 // (2 * n))
    for start in range(0, experiments, chunk):
        k = min(chunk, experiments - start)
        units = rng.lognormal(1.0, 1.0, (2, k, n))
        sums, squares = units.sum(axis=2), (units * units).sum(axis=2)
        for j in range(k):
            a = ArmStats(n=n, sum=sums[0, j], sum_squares=squares[0, j])
            b = ArmStats(n=n, sum=sums[1, j], sum_squares=squares[1, j])
            effect = compare(a, b, alpha=alpha)
            hits += effect.p_value < alpha
            relative_hits += (effect.relative_p_value or 1.0) < alpha
    return TypeOne(Rate(int(hits), experiments), Rate(int(relative_hits), experiments))


@dataclass(frozen=True)
class Peeking:
    sequential: Rate
    fixed: Rate
    looks: int
    n_per_look: int
    sequential_relative: Rate  # rejections by the relative effect's sequential test


def peeking_type_one(
    rng: Generator,
    *,
    experiments: int,
    looks: int = 14,
    n_per_look: int = 500,
    alpha: float = 0.05,
    tuning: float = 5000.0,
) -> Peeking:
    """A/A experiments looked at after every ``n_per_look`` units per arm; a rejection at any
    look counts once."""
    day_sum, day_squares = _normal_sums(rng, n_per_look, 1.0, 2.0, (2, experiments, looks))
    sums, squares = day_sum.cumsum(axis=2), day_squares.cumsum(axis=2)
    seq = np.zeros(experiments, dtype=bool)
    seq_rel = np.zeros(experiments, dtype=bool)
    fix = np.zeros(experiments, dtype=bool)
    for look in range(looks):
        n = n_per_look * (look + 1)
        for j in range(experiments):
            a = ArmStats(n=n, sum=sums[0, j, look], sum_squares=squares[0, j, look])
            b = ArmStats(n=n, sum=sums[1, j, look], sum_squares=squares[1, j, look])
            if not (seq[j] and seq_rel[j]):
                e = compare(a, b, alpha=alpha, method="sequential", sequential_tuning=tuning)
                seq[j] |= e.p_value < alpha
                seq_rel[j] |= (e.relative_p_value or 1.0) < alpha
            if not fix[j]:
                fix[j] = compare(a, b, alpha=alpha).p_value < alpha
    return Peeking(
        Rate(int(seq.sum()), experiments),
        Rate(int(fix.sum()), experiments),
        looks,
        n_per_look,
        Rate(int(seq_rel.sum()), experiments),
    )


def srm_rate(rng: Generator, *, experiments: int, total: int, share: float) -> Rate:
    """How often the SRM check flags a split served with ``share`` in control, 50/50 expected."""
    control = rng.binomial(total, share, experiments)
    flagged = sum(
        sample_ratio_mismatch([int(c), int(total - c)], [0.5, 0.5]).flagged for c in control
    )
    return Rate(int(flagged), experiments)


@dataclass(frozen=True)
class Cuped:
    rho: float
    variance_ratio: float  # var(CUPED effect) / var(raw effect) across replications
    mean_reported_reduction: float
    theory_ratio: float  # 1 - rho**2


def cuped_reduction(rng: Generator, *, rho: float, replications: int, n: int) -> Cuped:
    """A/A experiments with a pre-period covariate correlated ``rho`` with the metric."""
    raw = np.empty(replications)
    adjusted = np.empty(replications)
    reported = np.empty(replications)
    x = rng.normal(0.0, 1.0, (replications, 2, n))
    y = 3.0 + rho * x + math.sqrt(1 - rho * rho) * rng.normal(0.0, 1.0, (replications, 2, n))
    s_y, q_y = y.sum(axis=2), (y * y).sum(axis=2)
    s_x, q_x, c_xy = x.sum(axis=2), (x * x).sum(axis=2), (x * y).sum(axis=2)
    for r in range(replications):
        arms = [
            ArmStats(
                n=n,
                sum=s_y[r, i],
                sum_squares=q_y[r, i],
                covariate_sum=s_x[r, i],
                covariate_sum_squares=q_x[r, i],
                covariate_cross_sum=c_xy[r, i],
            )
            for i in (0, 1)
        ]
        effect = compare(arms[0], arms[1], cuped=True)
        raw[r] = (s_y[r, 1] - s_y[r, 0]) / n
        adjusted[r] = effect.absolute
        assert effect.variance_reduction is not None
        reported[r] = effect.variance_reduction
    return Cuped(
        rho=rho,
        variance_ratio=float(adjusted.var(ddof=1) / raw.var(ddof=1)),
        mean_reported_reduction=float(reported.mean()),
        theory_ratio=1 - rho * rho,
    )


@dataclass(frozen=True)
class PlannedPower:
    metric: str
    units_per_arm: int
    power: Rate
    asked: float
    relative_power: Rate  # the same experiments judged by the relative effect's test


def planned_power(
    rng: Generator, *, experiments: int, metric: str, alpha: float = 0.05, power: float = 0.8
) -> PlannedPower:
    """Experiments with the planned effect at the planned size: the share the test detects."""
    if metric == "proportion":
        p, lift = 0.10, 0.10
        design = plan(baseline_mean=p, proportion=True, mde=lift, alpha=alpha, power=power)
        n = design.units_per_arm[0]
        sums = np.stack(
            [rng.binomial(n, p, experiments), rng.binomial(n, p * (1 + lift), experiments)]
        )
        squares = sums
    else:
        mean, sd, lift = 20.0, 12.0, 0.02
        design = plan(baseline_mean=mean, baseline_sd=sd, mde=lift, alpha=alpha, power=power)
        n = design.units_per_arm[0]
        c_sum, c_sq = _normal_sums(rng, n, mean, sd, (experiments,))
        t_sum, t_sq = _normal_sums(rng, n, mean * (1 + lift), sd, (experiments,))
        sums, squares = np.stack([c_sum, t_sum]), np.stack([c_sq, t_sq])
    hits = relative_hits = 0
    for j in range(experiments):
        a = ArmStats(n=n, sum=sums[0, j], sum_squares=squares[0, j])
        b = ArmStats(n=n, sum=sums[1, j], sum_squares=squares[1, j])
        effect = compare(a, b, alpha=alpha)
        hits += effect.p_value < alpha and effect.absolute > 0
        assert effect.relative_p_value is not None
        relative_hits += effect.relative_p_value < alpha and effect.absolute > 0
    return PlannedPower(
        metric, n, Rate(int(hits), experiments), power, Rate(int(relative_hits), experiments)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply experiment counts")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    s = args.scale
    started = time.perf_counter()
    print(f"seed {args.seed}, scale {s}")

    for n in (500, 100):
        rate = fixed_type_one(rng, experiments=int(20_000 * s), n=n)
        print(
            f"1. fixed test, A/A, lognormal metric, {n} units/arm: "
            f"type-I error {rate.absolute}, by the relative effect's test {rate.relative} "
            "(target 0.05 +/- 0.01)"
        )

    peek = peeking_type_one(rng, experiments=int(10_000 * s))
    print(
        f"2. A/A looked at {peek.looks} times (every {peek.n_per_look} units/arm): "
        f"sequential type-I error {peek.sequential}, by the relative effect's test "
        f"{peek.sequential_relative} (target <= 0.05); fixed test peeked the same way {peek.fixed}"
    )

    p = 0.10
    design = plan(baseline_mean=p, proportion=True, mde=0.05)
    for total in (design.total_units, 20_000, 10_000):
        detected = srm_rate(rng, experiments=int(10_000 * s), total=total, share=0.52)
        print(f"3. SRM, 50/50 served as 52/48, {total} units: flagged {detected}")
    false_alarm = srm_rate(rng, experiments=int(100_000 * s), total=design.total_units, share=0.5)
    print(
        f"   SRM, a true 50/50 split, {design.total_units} units: "
        f"flagged {false_alarm} (threshold 0.001)"
    )
    print(f"   ({design.total_units} units: plan(baseline 10% conversion, mde 5% relative))")

    for rho in (0.3, 0.5, 0.7, 0.9):
        c = cuped_reduction(rng, rho=rho, replications=int(2_000 * s), n=1_000)
        print(
            f"4. CUPED rho={rho}: var(CUPED)/var(raw) {c.variance_ratio:.4f} "
            f"(theory 1 - rho^2 = {c.theory_ratio:.4f}); mean reported variance_reduction "
            f"{c.mean_reported_reduction:.4f} (theory rho^2 = {rho * rho:.4f})"
        )

    for metric in ("proportion", "mean"):
        pw = planned_power(rng, experiments=int(10_000 * s), metric=metric)
        print(
            f"5. plan, {metric} metric, relative mde, {pw.units_per_arm} units/arm: power of the "
            f"relative effect's test {pw.relative_power} (asked {pw.asked}); of the absolute "
            f"test {pw.power}"
        )
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
