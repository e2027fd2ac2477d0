"""CBPE under pure covariate shift, on the bundled telco data: how far the estimate can be off
when only the mix of inputs moves (P(y | x) unchanged, because the shifted windows are real
held-out rows, reweighted).

The telco example's model is fitted on its training rows. Its held-out rows are split at random
into a calibration half (the reference: the isotonic map CBPE uses) and a pool. A window under
covariate shift is the pool reweighted by ``exp(strength * z)``, where ``z`` is a standardised
input (monthly charges, or month-to-month contracts); its true accuracy and CBPE's expected
accuracy are exact weighted means over the pool, so no window is drawn. The bias (estimate minus
truth) is averaged over many random calibration/pool splits. The table gives its mean; the
standard error of that mean across splits (which reuse the same rows, so it leaves out the noise
of those rows' labels); that label noise (the standard error of the pool's weighted true
accuracy, given the calibrated probabilities), which bounds how precisely this data can show a
bias; and the sampling error of a 1,000-row window, for scale.

    python benchmarks/cbpe_shift.py [--splits 40]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

SHIFTS = {  # name: (description, function of the held-out frame giving the shifted input)
    "none": "no shift",
    "monthly_charges": "towards high monthly charges",
    "month_to_month": "towards month-to-month contracts",
}
STRENGTHS = (0.5, 1.0, 1.5)


def _input(frame: object, shift: str) -> np.ndarray:
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    if shift == "monthly_charges":
        values = frame["monthly_charges"].to_numpy(dtype=np.float64)
    else:
        values = (frame["contract"] == "Month-to-month").to_numpy(dtype=np.float64)
    return (values - values.mean()) / values.std()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--splits", type=int, default=40)
    args = parser.parse_args()

    import goldenpath
    from goldenpath.monitoring.estimation import ScoreCalibration
    from goldenpath.training import fit_model

    with tempfile.TemporaryDirectory() as tmp:
        root = goldenpath.init_project(Path(tmp) / "telco", "telco-churn")
        project = goldenpath.open_project(root)
        fitted = fit_model(project)
    spec = project.spec
    held_out = fitted.dataset.rows(fitted.split.test).reset_index(drop=True)
    score = fitted.test_predictions[f"score_{spec.task.positive_label}"].to_numpy()
    truth = (held_out[spec.task.target] == spec.task.positive_label).to_numpy()
    threshold = spec.evaluation.threshold
    correct = (score >= threshold) == truth
    print(
        f"telco-churn, {len(held_out):,} held-out rows; threshold {threshold}; "
        f"{args.splits} random calibration/pool splits"
    )
    print(
        f"{'shift':<34} {'strength':>8} {'bias':>8} {'splits s.e.':>11} {'labels s.e.':>11} "
        f"{'1,000-row s.e.':>15}"
    )
    rng = np.random.default_rng(13)
    halves = [rng.permutation(len(held_out)) for _ in range(args.splits)]
    for shift, description in SHIFTS.items():
        z = np.zeros(len(held_out)) if shift == "none" else _input(held_out, shift)
        for strength in STRENGTHS if shift != "none" else (0.0,):
            biases, spreads, noise = [], [], []
            for order in halves:
                calibrate, pool = order[: len(order) // 2], order[len(order) // 2 :]
                calibration = ScoreCalibration.choose(
                    score[calibrate], truth[calibrate].astype(int), threshold
                )
                p = calibration(score[pool])
                expected = np.where(score[pool] >= threshold, p, 1.0 - p)
                weights = np.exp(strength * z[pool])
                weights /= weights.sum()
                biases.append(float(weights @ expected - weights @ correct[pool]))
                spreads.append(float(np.sqrt(weights @ (p * (1.0 - p)) / 1_000)))
                noise.append(float(np.sqrt((weights**2) @ (p * (1.0 - p)))))
            bias = np.asarray(biases)
            print(
                f"{description:<34} {strength:>8.1f} {bias.mean():>+8.4f} "
                f"{bias.std(ddof=1) / np.sqrt(len(bias)):>11.4f} {np.mean(noise):>11.4f} "
                f"{np.mean(spreads):>15.4f}"
            )
    calibrations(score, truth, threshold, args.splits)


def calibrations(score: np.ndarray, truth: np.ndarray, threshold: float, splits: int) -> None:
    """Without shift: the bias of CBPE's accuracy and ROC AUC (estimate minus the pool's
    realised value) with each calibration method, over the same kind of random splits."""
    from goldenpath.monitoring.estimation import (
        ScoreCalibration,
        ScoreSketch,
        estimate,
        realised,
    )

    fits = {
        "isotonic (always, before)": ScoreCalibration.fit,
        "Platt scaling": ScoreCalibration.platt,
        "raw scores": lambda s, y, t: ScoreCalibration.identity(t),
        "chosen (ScoreCalibration.choose)": ScoreCalibration.choose,
    }
    rng = np.random.default_rng(17)
    orders = [rng.permutation(len(score)) for _ in range(splits)]
    print(f"\nno shift: bias of the estimate per calibration method, {splits} splits")
    print(f"{'calibration':<34} {'accuracy bias':>13} {'s.e.':>6} {'ROC AUC bias':>13} {'s.e.':>6}")
    for name, fit in fits.items():
        biases = []
        for order in orders:
            calibrate, pool = order[: len(order) // 2], order[len(order) // 2 :]
            calibration = fit(score[calibrate], truth[calibrate].astype(int), threshold)
            sketch = ScoreSketch.of(score[pool], calibration, truth[pool].astype(int))
            expected, seen = estimate(sketch), realised(sketch)
            assert expected.accuracy is not None
            assert seen.accuracy is not None
            assert expected.roc_auc is not None
            assert seen.roc_auc is not None
            biases.append((expected.accuracy - seen.accuracy, expected.roc_auc - seen.roc_auc))
        b = np.asarray(biases)
        error = b.std(axis=0, ddof=1) / np.sqrt(len(b))
        print(
            f"{name:<34} {b[:, 0].mean():>+13.4f} {error[0]:>6.4f} "
            f"{b[:, 1].mean():>+13.4f} {error[1]:>6.4f}"
        )


if __name__ == "__main__":
    main()
