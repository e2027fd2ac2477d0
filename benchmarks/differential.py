"""Differential checks: goldenpath's statistics against its peers on the same data, one table.

Every row computes one figure twice on the same (seeded, synthetic) data, once with goldenpath
and once with a peer, and passes when the absolute difference is within the row's tolerance
("rel" tolerances are relative to the peer's value). The sections:

1. scikit-learn, tolerance 1e-12: every point metric of an evaluation that scikit-learn has
   (binary: ROC AUC, PR AUC = average precision, log loss, Brier, accuracy, precision, recall,
   F1; multiclass: accuracy, macro and weighted F1, log loss; regression: MAE, RMSE, R^2, MAPE),
   as goldenpath's bootstrap reports it (``bootstrap(..., n_resamples=0)``). The two calibration
   errors have no scikit-learn counterpart (tests/unit/evaluation check them against a loop).
2. scipy:
   - bootstrap intervals: goldenpath's interval vs ``scipy.stats.bootstrap`` (percentile or
     BCa) given the very same resamples (``resample_blocks``, which goldenpath exposes; each
     resample's value recomputed the slow way with scikit-learn on the rows it drew) and, for
     BCa, scipy's own jackknife (250 and 150 rows: under ``JACKKNIFE_GROUPS``, so goldenpath's
     jackknife is leave-one-out too, and under ``MAX_SCORE_GROUPS`` distinct scores, so rank
     metrics are resampled exactly). Rank metrics (ROC AUC, PR AUC) and accuracy: 1e-12. Other
     sum-decomposable metrics (log loss, MAE, RMSE) accumulate their resample sums in single
     precision by design (docs/evaluation.md): 1e-6 relative. Studentized intervals (RMSE's
     default) have no scipy counterpart, so RMSE is checked with ``method="BCa"``;
   - drift, a 20,000-row reference against a 5,000-row window with mild shifts, per kind of
     numeric feature (continuous, lognormal, binary, discrete, zero-inflated) and a categorical
     one. On goldenpath's own bins: the Jensen-Shannon distance (``jensenshannon``, base 2) and
     PSI, 1e-12 (scipy has no PSI: it is the symmetrised relative entropy
     ``sum(rel_entr(w, r) + rel_entr(r, w))``, on proportions floored at 1e-4 as goldenpath
     does), and the chi-square p-value (``chi2_contingency``, no continuity correction), 1e-9
     relative. From goldenpath's profiles against scipy on the raw values: the Wasserstein
     distance over the reference's standard deviation (``wasserstein_distance``) within 1%, the
     two-sample KS statistic (``ks_2samp``) within 0.01 absolute (issue 13's targets for
     quantile bins), and 1e-12 on the exact-value bins of the binary and discrete features.
3. Fairlearn, tolerance 1e-12: the twelve disparities goldenpath reports (demographic parity,
   equal opportunity, equalized odds; difference and ratio; between groups and to overall) vs
   ``fairlearn.metrics`` on five groups of unequal size (each over 30 rows, with positive and
   negative rows: the cases where goldenpath leaves a group out are in
   tests/unit/evaluation/test_fairness_differential.py); and their bootstrap intervals vs the
   percentile intervals of Fairlearn's figures on the same 40 resamples (the rows each drew;
   few, because Fairlearn takes a MetricFrame, ~0.2 s, per resample).
4. Evidently and NannyML, which need pandas < 3, each in its own venv under build/bench-venvs/
   (made on first use with pinned requirements, as benchmarks/monitoring.py does; the Evidently
   venv is monitoring.py's). A peer whose venv cannot be built is skipped with the reason.
   - Evidently (``Report([ValueDrift(column, method=...)])``, reference and window 5,000 rows):
     its PSI and Jensen-Shannon distance bin a numeric column with 20 distinct values or fewer,
     and a categorical one, by value, as goldenpath does: equal to 1e-12 (its JS distance uses
     the natural logarithm, goldenpath's base 2, so goldenpath's is multiplied by sqrt(ln 2)).
     A column with more distinct values Evidently bins into Sturges bins of both samples
     together, goldenpath into reference quantiles: different figures by definition, so only
     the formulas are compared, goldenpath's ``psi`` and ``jensen_shannon`` applied to
     Evidently's bins (1e-12; both floor an empty bin's share at 1e-4 for PSI, and with 5,000
     rows no share lies between 0 and 1e-4, where Evidently floors at the smallest share / 1e6
     instead). Its "Wasserstein distance (normed)" divides by the reference's population
     standard deviation (ddof 0), goldenpath by the sample one (ddof 1): goldenpath's is
     rescaled, then 1% (1e-12 on exact-value bins). Evidently's KS gives a p-value, not the
     statistic: not compared.
   - NannyML (``CBPE``, one chunk; its venv pins pandas 2 and adds statsmodels, which NannyML
     0.13.1 imports without declaring it) against goldenpath's ``estimate`` of the same
     analysis rows (an over-confident model's scores; no shift, and inputs shifted by half a
     standard deviation), with the same calibration: isotonic on the reference's raw scores
     where NannyML decides the scores need it (``ScoreCalibration.fit``), else none. Estimated
     accuracy is the same sum: 1e-9. Estimated ROC AUC: NannyML ranks row by row and rounds
     its cumulative counts to 5 decimals, goldenpath counts rows in 1,000 score bins (ties
     within a bin), so they agree to about 1e-4: tolerance 1e-3.
   - NannyML (``DLE`` with its defaults: LightGBM, no tuning; one chunk per window) against
     goldenpath's loss estimator (``LossEstimator``: two shallow gradient-boosted regressors),
     both fitted on the same 5,000 held-out rows of a regressor whose noise grows with some
     inputs, on 200 windows of 1,000 rows, every other one with its inputs shifted towards the
     noisy region (the simulation of tests/unit/monitoring/test_loss_estimation.py). Two
     estimators, not one formula: the figures compared are each tool's mean |estimate -
     realised| of the window's MAE and RMSE, per kind of window, and a row passes when
     goldenpath's is at most 10% above NannyML's (one-sided: lower is better). The first windows
     and each tool's mean bias are printed above the table.

Run from the repository root (seconds a section on two cores; the first run with peers builds
their venvs, a few minutes; children run with OMP_NUM_THREADS=1):

    .venv/bin/python benchmarks/differential.py [--skip-peers] [--json PATH]

Exit status: 0 when every row passes, 1 when any fails, 2 when none fails but rows were skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy: small data, shared cores

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / "build" / "bench-venvs"
NANNYML_VENV = VENVS / "nannyml"
# NannyML 0.13.1 imports statsmodels without declaring it, and needs pandas < 3
NANNYML_REQUIREMENTS = [
    "nannyml==0.13.1",
    "pandas==2.3.3",
    "statsmodels==0.15.0",
    "numpy==2.4.6",
    "scipy==1.17.1",
    "scikit-learn==1.9.1",
]
PEER_ENV = {"DO_NOT_TRACK": "1", "NML_DISABLE_USAGE_LOGGING": "1", "OMP_NUM_THREADS": "1"}

EXACT = 1e-12


@dataclass(frozen=True)
class Row:
    """One figure computed by goldenpath and by a peer."""

    section: str
    check: str
    goldenpath: float | None
    peer: float | None
    tolerance: float
    relative: bool = False  # the tolerance is relative to the peer's value
    note: str = ""  # why a row was skipped
    one_sided: bool = False  # an error (lower is better): passes when goldenpath <= peer + bound

    @property
    def difference(self) -> float | None:
        if self.goldenpath is None or self.peer is None:
            return None
        return abs(self.goldenpath - self.peer)

    @property
    def status(self) -> str:
        difference = self.difference
        if difference is None:
            return "skip"
        bound = self.tolerance * abs(self.peer) if self.relative else self.tolerance  # type: ignore[arg-type]
        if self.one_sided:
            difference = self.goldenpath - self.peer  # type: ignore[operator]
        return "pass" if difference <= bound else "FAIL"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "difference": self.difference, "status": self.status}


def _skipped(section: str, checks: list[str], why: str) -> list[Row]:
    return [Row(section, check, None, None, math.nan, note=why) for check in checks]


# ----------------------------------------------------------------------------- data
# The tests check goldenpath on these same generators (tests/_benchmarks.py loads this script).


def binary_scored(n: int, seed: int, *, ties: bool) -> Any:
    import numpy as np

    from goldenpath.evaluation.metrics import Scored

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0.0, 1.0)
    if ties:
        score = score.round(2)  # many tied scores: rank metrics must treat ties as sklearn
    pred = (score >= 0.5).astype(int)
    return Scored("binary_classification", y, pred, np.stack([1 - score, score], 1), ("n", "p"))


def multiclass_scored(n: int, seed: int) -> Any:
    import numpy as np

    from goldenpath.evaluation.metrics import Scored

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    proba = rng.dirichlet(np.ones(4), n)
    proba[np.arange(n), y] += 0.5
    proba /= proba.sum(1, keepdims=True)
    return Scored("multiclass_classification", y, proba.argmax(1), proba, ("a", "b", "c", "d"))


def regression_scored(n: int, seed: int) -> Any:
    import numpy as np

    from goldenpath.evaluation.metrics import Scored

    rng = np.random.default_rng(seed)
    y = rng.gamma(3.0, 10.0, n)
    return Scored("regression", y, y + 5 * rng.standard_t(4, n), None, ())


def _sklearn_metric(name: str) -> Callable[[Any, Any], float]:
    """scikit-learn's value of goldenpath's metric ``name`` on the rows ``idx`` of ``s``."""
    from sklearn import metrics as skm

    table: dict[str, Callable[[Any, Any], float]] = {
        "roc_auc_score": lambda s, i: skm.roc_auc_score(s.y[i], s.proba[i, 1]),
        "pr_auc_score": lambda s, i: skm.average_precision_score(s.y[i], s.proba[i, 1]),
        "log_loss": lambda s, i: skm.log_loss(s.y[i], s.proba[i], labels=range(len(s.classes))),
        "brier_loss": lambda s, i: skm.brier_score_loss(s.y[i], s.proba[i, 1]),
        "accuracy_score": lambda s, i: skm.accuracy_score(s.y[i], s.pred[i]),
        "precision_score": lambda s, i: skm.precision_score(s.y[i], s.pred[i]),
        "recall_score": lambda s, i: skm.recall_score(s.y[i], s.pred[i]),
        "f1_score": lambda s, i: skm.f1_score(s.y[i], s.pred[i]),
        "macro_f1_score": lambda s, i: skm.f1_score(s.y[i], s.pred[i], average="macro"),
        "weighted_f1_score": lambda s, i: skm.f1_score(s.y[i], s.pred[i], average="weighted"),
        "mean_absolute_error": lambda s, i: skm.mean_absolute_error(s.y[i], s.pred[i]),
        "root_mean_squared_error": lambda s, i: skm.root_mean_squared_error(s.y[i], s.pred[i]),
        "r2_score": lambda s, i: skm.r2_score(s.y[i], s.pred[i]),
        "mean_absolute_percentage_error": lambda s, i: skm.mean_absolute_percentage_error(
            s.y[i], s.pred[i]
        ),
    }
    fn = table[name]
    return lambda s, i: float(fn(s, i))


NO_SKLEARN = {"expected_calibration_error", "debiased_calibration_error"}


# ----------------------------------------------------------------------------- 1. scikit-learn


def sklearn_rows() -> list[Row]:
    """Every point metric of an evaluation against scikit-learn's, to 1e-12."""
    import numpy as np

    from goldenpath.evaluation.bootstrap import bootstrap
    from goldenpath.evaluation.metrics import metrics_for

    rows: list[Row] = []
    cases = {
        "binary": binary_scored(2000, 0, ties=True),
        "multiclass": multiclass_scored(2000, 1),
        "regression": regression_scored(2000, 2),
    }
    for label, scored in cases.items():
        metrics = [m for m in metrics_for(scored) if m.name not in NO_SKLEARN]
        everything = np.arange(scored.n)
        points = bootstrap(scored, metrics, {"all": everything}, n_resamples=0)["all"]
        for metric in metrics:
            peer = _sklearn_metric(metric.name)(scored, everything)
            check = f"{label} {metric.name}"
            rows.append(Row("scikit-learn", check, points[metric.name].value, peer, EXACT))
    return rows


# ----------------------------------------------------------------------------- 2a. bootstrap


def _rowwise(fn: Callable[[Any], float]) -> Callable[..., Any]:
    """A statistic for scipy.stats.bootstrap over row indices: scipy calls it on the data
    (1-d) and on a stack of jackknife samples (2-d)."""
    import numpy as np

    def statistic(idx: Any, axis: int = -1) -> Any:
        idx = np.asarray(idx).astype(int)
        if idx.ndim == 1:
            return np.asarray(fn(idx))
        flat = idx.reshape(-1, idx.shape[-1])
        return np.asarray([fn(r) for r in flat]).reshape(idx.shape[:-1])

    return statistic


def bootstrap_rows(n_resamples: int = 500, seed: int = 7) -> list[Row]:
    """goldenpath's intervals vs scipy.stats.bootstrap on the same resamples."""
    import numpy as np
    import sklearn
    from scipy import stats

    from goldenpath.evaluation.bootstrap import bootstrap, resample_blocks
    from goldenpath.evaluation.metrics import METRICS, IntervalMethod

    by_name = {m.name: m for m in METRICS}
    binary = binary_scored(250, 3, ties=False)
    regression = regression_scored(150, 4)
    # (data, metric, method, tolerance, relative)
    cases: list[tuple[Any, str, IntervalMethod, float, bool]] = [
        (binary, "roc_auc_score", "percentile", EXACT, False),
        (binary, "roc_auc_score", "BCa", EXACT, False),
        (binary, "pr_auc_score", "percentile", EXACT, False),
        (binary, "accuracy_score", "percentile", EXACT, False),
        (binary, "accuracy_score", "BCa", EXACT, False),
        (binary, "log_loss", "BCa", 1e-6, True),
        (regression, "mean_absolute_error", "percentile", 1e-6, True),
        (regression, "mean_absolute_error", "BCa", 1e-6, True),
        (regression, "root_mean_squared_error", "BCa", 1e-6, True),
    ]
    counts: dict[int, Any] = {}
    draws: dict[tuple[int, str], Any] = {}  # the percentile and BCa rows share the draws
    rows: list[Row] = []
    for scored, name, method, tolerance, relative in cases:
        n = scored.n
        if n not in counts:
            counts[n] = np.concatenate(list(resample_blocks(n, n_resamples, seed)), axis=1)
        metric = by_name[name]
        estimate = bootstrap(
            scored,
            [metric],
            {"all": np.arange(n)},
            n_resamples=n_resamples,
            seed=seed,
            method=method,
        )["all"][name]
        fn = _sklearn_metric(name)
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            key = (id(scored), name)
            if key not in draws:  # every resample the slow way: the rows it drew, repeated
                draws[key] = np.asarray(
                    [
                        fn(scored, np.repeat(np.arange(n), counts[n][:, b].astype(int)))
                        for b in range(n_resamples)
                    ]
                )
            interval = stats.bootstrap(
                (np.arange(n),),
                _rowwise(partial(fn, scored)),
                method=method,
                n_resamples=0,
                bootstrap_result=SimpleNamespace(bootstrap_distribution=draws[key]),
            ).confidence_interval
        label = f"{'binary' if scored is binary else 'regression'} {name} {method} 95%"
        if estimate.interval_method != method:
            raise RuntimeError(f"{label}: goldenpath made a {estimate.interval_method} interval")
        low, high = float(interval.low), float(interval.high)
        rows += [
            Row("scipy bootstrap", f"{label} low", estimate.ci_low, low, tolerance, relative),
            Row("scipy bootstrap", f"{label} high", estimate.ci_high, high, tolerance, relative),
        ]
    return rows


# ----------------------------------------------------------------------------- 2b. drift


def _drift_frames(reference_rows: int, window_rows: int, seed: int) -> tuple[Any, Any, set[str]]:
    """A reference and a shifted window with one column per kind of feature, and the names of
    the numeric columns goldenpath bins by exact value."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    rating = [0.1, 0.2, 0.4, 0.2, 0.1]

    def frame(n: int, shifted: bool) -> Any:
        zero = rng.random(n) < 0.6
        nonzero = rng.gamma(2.0, 1.0, n) * (1.2 if shifted else 1.0)
        categories = np.array([f"c{i}" for i in range(8)])
        weights = np.array([8, 7, 6, 5, 4, 3, 2, 1], dtype=float)
        if shifted:
            weights = weights[::-1] * 0.1 + weights * 0.9
        return pd.DataFrame(
            {
                "continuous": rng.normal(0.1 if shifted else 0.0, 1.0, n),
                "lognormal": rng.lognormal(0.0, 0.55 if shifted else 0.5, n),
                "binary": (rng.random(n) < (0.85 if shifted else 0.9)).astype("int64"),
                "discrete": rng.choice(5, n, p=[0.1, 0.2, 0.3, 0.25, 0.15] if shifted else rating)
                + 1,
                "zero_inflated": np.where(zero, 0.0, nonzero),
                "category": rng.choice(categories, n, p=weights / weights.sum()),
            }
        )

    return frame(reference_rows, False), frame(window_rows, True), {"binary", "discrete"}


def _scipy_psi(reference: Any, window: Any, floor: float = 1e-4) -> float:
    """PSI as scipy computes the symmetrised relative entropy, on floored proportions."""
    import numpy as np
    from scipy.special import rel_entr

    r = np.maximum(reference / reference.sum(), floor)
    w = np.maximum(window / window.sum(), floor)
    return float(np.sum(rel_entr(w, r) + rel_entr(r, w)))


def drift_rows(seed: int = 11) -> list[Row]:
    """Drift statistics from goldenpath's profiles vs scipy on the same bins or raw values."""
    import numpy as np
    from scipy import stats
    from scipy.spatial import distance

    from goldenpath.monitoring.drift import coarse_counts, window_drift
    from goldenpath.monitoring.profile import NumericProfile, profile_frame

    reference_df, window_df, exact_columns = _drift_frames(20_000, 5_000, seed)
    reference = profile_frame(reference_df)
    window = profile_frame(window_df, reference)
    drifts = {d.feature: d for d in window_drift(reference, window)}
    rows: list[Row] = []
    section = "scipy drift"
    for name in reference_df.columns:
        r_profile, w_profile, drift = reference.features[name], window.features[name], drifts[name]
        if isinstance(r_profile, NumericProfile):
            assert isinstance(w_profile, NumericProfile)
            r_counts, w_counts = coarse_counts(r_profile, w_profile)
        else:
            r_counts = np.asarray(r_profile.counts)
            w_counts = np.asarray(w_profile.counts)
        table = np.vstack([r_counts, w_counts])
        table = table[:, table.sum(axis=0) > 0]
        p_value = float(stats.chi2_contingency(table, correction=False).pvalue)
        js = float(distance.jensenshannon(r_counts, w_counts, base=2))
        bins = f"{len(r_counts)} bins"
        rows += [
            Row(section, f"{name} PSI ({bins})", drift.psi, _scipy_psi(r_counts, w_counts), EXACT),
            Row(section, f"{name} JS distance ({bins})", drift.js_distance, js, EXACT),
            Row(section, f"{name} chi-square p ({bins})", drift.p_value, p_value, 1e-9, True),
        ]
        if not isinstance(r_profile, NumericProfile):
            continue
        raw_r = reference_df[name].to_numpy(dtype=float)
        raw_w = window_df[name].to_numpy(dtype=float)
        exact = name in exact_columns
        wasserstein = stats.wasserstein_distance(raw_r, raw_w) / np.std(raw_r, ddof=1)
        ks = float(stats.ks_2samp(raw_r, raw_w).statistic)
        raw = "exact-value bins" if exact else "raw values"
        rows += [
            Row(
                section,
                f"{name} Wasserstein / sd ({raw})",
                drift.wasserstein,
                float(wasserstein),
                EXACT if exact else 0.01,
                relative=True,
            ),
            Row(section, f"{name} KS ({raw})", drift.ks, ks, EXACT if exact else 0.01),
        ]
    return rows


# ----------------------------------------------------------------------------- 3. Fairlearn


FAIRNESS_BIASES = {"a": 0.0, "b": 0.15, "c": -0.1, "d": 0.25, "e": 0.05}


def fairness_data(n: int, seed: int) -> tuple[Any, Any, Any]:
    """Five groups of unequal sizes whose selection and error rates differ."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    group = pd.Series(rng.choice(list(FAIRNESS_BIASES), n, p=[0.4, 0.25, 0.15, 0.12, 0.08]))
    y = rng.integers(0, 2, n)
    bias = group.map(FAIRNESS_BIASES).to_numpy()
    pred = (rng.random(n) + 0.3 * y + bias > 0.7).astype(int)
    return group, y, pred


def fairness_rows(n: int = 3000, seed: int = 0) -> list[Row]:
    """Every disparity goldenpath reports vs fairlearn.metrics, to 1e-12."""
    import fairlearn.metrics as fm

    from goldenpath.evaluation.fairness import fairness_report

    group, y, pred = fairness_data(n, seed)
    report = fairness_report("group", group, y, pred, n_resamples=0)
    rows = []
    for d in report.disparities:
        peer = float(getattr(fm, d.name)(y, pred, sensitive_features=group, method=d.method))
        rows.append(Row("Fairlearn", f"{d.name} {d.method}", d.value, peer, EXACT))
    return rows


def _fairlearn_figures(y: Any, pred: Any, group: Any) -> dict[tuple[str, str], float]:
    """Every figure as Fairlearn computes it (its ``*_difference`` and ``*_ratio`` functions are
    these ``MetricFrame`` differences and ratios; equalized odds the worse of TPR and FPR), from
    one MetricFrame: a call per figure would cost a MetricFrame each."""
    from fairlearn.metrics import (
        MetricFrame,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    frame = MetricFrame(
        metrics={"sel": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=y,
        y_pred=pred,
        sensitive_features=group,
    )
    out = {}
    for method in ("between_groups", "to_overall"):
        difference, ratio = frame.difference(method=method), frame.ratio(method=method)
        out["demographic_parity_difference", method] = float(difference["sel"])
        out["demographic_parity_ratio", method] = float(ratio["sel"])
        out["equal_opportunity_difference", method] = float(difference["tpr"])
        out["equal_opportunity_ratio", method] = float(ratio["tpr"])
        out["equalized_odds_difference", method] = float(max(difference[["tpr", "fpr"]]))
        out["equalized_odds_ratio", method] = float(min(ratio[["tpr", "fpr"]]))
    return out


def fairness_interval_rows(n_resamples: int = 40, n: int = 3000, seed: int = 5) -> list[Row]:
    """goldenpath's bootstrap interval of every disparity vs the percentile interval of
    Fairlearn's figures on the same resamples (the rows each resample drew), to 1e-12."""
    import numpy as np

    from goldenpath.evaluation.bootstrap import resample_blocks
    from goldenpath.evaluation.fairness import fairness_report

    group, y, pred = fairness_data(n, 0)
    report = fairness_report("group", group, y, pred, n_resamples=n_resamples, seed=seed)
    counts = np.concatenate(list(resample_blocks(n, n_resamples, seed)), axis=1)
    draws: dict[tuple[str, str], list[float]] = {}
    for b in range(n_resamples):
        rows = np.repeat(np.arange(n), counts[:, b].astype(int))
        drawn = group.iloc[rows].reset_index(drop=True)
        for key, value in _fairlearn_figures(y[rows], pred[rows], drawn).items():
            draws.setdefault(key, []).append(value)
    out = []
    for d in report.disparities:
        low, high = np.quantile(draws[d.name, d.method], [0.025, 0.975])
        label = f"{d.name} {d.method} 95%"
        section = f"Fairlearn, {n_resamples} resamples"
        out += [
            Row(section, f"{label} low", d.ci_low, float(low), EXACT),
            Row(section, f"{label} high", d.ci_high, float(high), EXACT),
        ]
    return out


# ----------------------------------------------------------------------------- 4. peer venvs


def _evidently_pins() -> tuple[Path, list[str]]:
    """monitoring.py's Evidently venv and requirements, so both benchmarks share one venv."""
    spec = importlib.util.spec_from_file_location(
        "_monitoring", Path(__file__).with_name("monitoring.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Path(module.EVIDENTLY_VENV), list(module.EVIDENTLY_REQUIREMENTS)


def _peer_python(name: str, venv: Path, requirements: list[str]) -> Path | str:
    """The venv's interpreter, made with ``requirements`` on first use; or why it cannot be."""
    python = venv / "bin" / "python"
    marker = venv / "requirements.txt"
    wanted = "\n".join(requirements) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    try:
        if not python.exists():
            print(f"creating the {name} venv in {venv.relative_to(ROOT)} ...", flush=True)
            subprocess.run(
                [sys.executable, "-m", "venv", str(venv)],
                check=True,
                capture_output=True,
                text=True,
            )
        print(f"installing {' '.join(requirements)} (minutes, once) ...", flush=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *requirements],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as error:
        lines = [
            line
            for line in f"{error.stdout}\n{error.stderr}".splitlines()
            if line.strip() and "is ignored: it is neither a file nor a directory" not in line
        ]
        said = " | ".join(line if len(line) < 200 else line[:200] + " ..." for line in lines[-2:])
        return f"the {name} venv could not be built ({' '.join(requirements)}): {said}"
    except OSError as error:
        return f"the {name} venv could not be built: {error}"
    marker.write_text(wanted)
    return python


def _run_peer(python: Path, child: str, data: Path) -> dict[str, Any] | str:
    """This script as ``--child`` in the peer's venv; its JSON, or why it failed."""
    done = subprocess.run(
        [str(python), __file__, "--child", child, "--data", str(data)],
        env={**os.environ, **PEER_ENV, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = " | ".join(line[:200] for line in done.stderr.strip().splitlines()[-3:])
        return f"the {child} child failed (exit {done.returncode}): {tail}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# Evidently: the columns of _drift_frames, and how Evidently bins each
EVIDENTLY_BY_VALUE = ["binary", "discrete", "category"]  # <= 20 distinct values: one bin each
EVIDENTLY_STURGES = ["continuous", "lognormal", "zero_inflated"]  # Sturges bins of both samples
EVIDENTLY_NUMERIC = ["continuous", "lognormal", "binary", "discrete", "zero_inflated"]


def _evidently_child(data: Path) -> dict[str, Any]:
    """In Evidently's venv: PSI, JS and normed Wasserstein per column through a Report, and the
    proportions Evidently bins the Sturges-binned columns into."""
    import evidently  # type: ignore[import-not-found]
    from evidently import DataDefinition, Dataset, Report
    from evidently.legacy.calculations.stattests.utils import (  # type: ignore[import-not-found]
        get_binned_data,
    )
    from evidently.legacy.core import ColumnType  # type: ignore[import-not-found]
    from evidently.metrics import ValueDrift  # type: ignore[import-not-found]

    frames = {k: _load_frame(data / f"{k}.npz") for k in ("reference", "current")}
    definition = DataDefinition(
        numerical_columns=EVIDENTLY_NUMERIC, categorical_columns=["category"]
    )
    reference, current = (
        Dataset.from_pandas(frames[k], data_definition=definition) for k in ("reference", "current")
    )
    metrics = [
        ValueDrift(column=column, method=method)
        for column in [*EVIDENTLY_NUMERIC, "category"]
        for method in ("psi", "jensenshannon", "wasserstein")
        if not (column == "category" and method == "wasserstein")
    ]
    snapshot = Report(metrics).run(current, reference).dict()
    values: dict[str, float] = {}
    for metric in snapshot["metrics"]:
        config = metric["config"]
        values[f"{config['column']} {config['method']}"] = float(metric["value"])
    bins = {}
    for column in EVIDENTLY_STURGES:
        ref, cur = get_binned_data(
            frames["reference"][column],
            frames["current"][column],
            ColumnType.Numerical,
            30,
            feel_zeroes=False,
        )
        bins[column] = [[float(v) for v in ref], [float(v) for v in cur]]
    return {"version": evidently.__version__, "values": values, "bins": bins}


def _save_frame(frame: Any, path: Path) -> None:
    """Columns as plain numpy arrays (text as unicode, so no pickle): exact in both venvs."""
    import numpy as np

    arrays = {}
    for column in frame.columns:
        values = frame[column].to_numpy()
        arrays[str(column)] = values.astype(str) if values.dtype == object else values
    np.savez(path, **arrays)


def _load_frame(path: Path) -> Any:
    import numpy as np
    import pandas as pd

    with np.load(path) as arrays:
        return pd.DataFrame({name: arrays[name] for name in arrays.files})


def evidently_rows(python: Path | str | None = None) -> list[Row]:
    """goldenpath's drift figures vs Evidently's where their definitions agree."""
    import numpy as np

    from goldenpath.monitoring.drift import jensen_shannon, psi, window_drift
    from goldenpath.monitoring.profile import NumericProfile, profile_frame

    section = "Evidently"
    reference_df, window_df, _ = _drift_frames(5_000, 5_000, 12)
    checks = [
        *(f"{c} PSI (by value)" for c in EVIDENTLY_BY_VALUE),
        *(f"{c} JS distance, ln (by value)" for c in EVIDENTLY_BY_VALUE),
        *(f"{c} PSI formula (Evidently's bins)" for c in EVIDENTLY_STURGES),
        *(f"{c} JS formula, ln (Evidently's bins)" for c in EVIDENTLY_STURGES),
        *(f"{c} Wasserstein normed" for c in EVIDENTLY_NUMERIC),
    ]
    if python is None:
        evidently_venv, requirements = _evidently_pins()
        python = _peer_python("Evidently", evidently_venv, requirements)
    if isinstance(python, str):
        return _skipped(section, checks, python)
    with tempfile.TemporaryDirectory() as tmp:
        _save_frame(reference_df, Path(tmp) / "reference.npz")
        _save_frame(window_df, Path(tmp) / "current.npz")
        result = _run_peer(python, "evidently", Path(tmp))
    if isinstance(result, str):
        return _skipped(section, checks, result)
    section = f"Evidently {result['version']}"
    values: dict[str, float] = result["values"]
    reference = profile_frame(reference_df)
    window = profile_frame(window_df, reference)
    drifts = {d.feature: d for d in window_drift(reference, window)}
    ln = math.sqrt(math.log(2))  # JS distance base e = base 2 x sqrt(ln 2)
    rows: list[Row] = []
    for column in EVIDENTLY_BY_VALUE:
        drift = drifts[column]
        rows.append(
            Row(section, f"{column} PSI (by value)", drift.psi, values[f"{column} psi"], EXACT)
        )
    for column in EVIDENTLY_BY_VALUE:
        drift = drifts[column]
        peer = values[f"{column} jensenshannon"]
        rows.append(
            Row(
                section, f"{column} JS distance, ln (by value)", drift.js_distance * ln, peer, EXACT
            )
        )
    for column in EVIDENTLY_STURGES:
        ref, cur = (np.asarray(v) for v in result["bins"][column])
        peer = values[f"{column} psi"]
        check = f"{column} PSI formula (Evidently's bins)"
        rows.append(Row(section, check, psi(ref, cur), peer, EXACT))
    for column in EVIDENTLY_STURGES:
        ref, cur = (np.asarray(v) for v in result["bins"][column])
        peer = values[f"{column} jensenshannon"]
        check = f"{column} JS formula, ln (Evidently's bins)"
        rows.append(Row(section, check, jensen_shannon(ref, cur) * ln, peer, EXACT))
    for column in EVIDENTLY_NUMERIC:
        profile = reference.features[column]
        assert isinstance(profile, NumericProfile)
        drift = drifts[column]
        # Evidently divides by the population sd (ddof 0), goldenpath by the sample sd (ddof 1)
        ours = (
            None
            if drift.wasserstein is None
            else drift.wasserstein * math.sqrt(profile.n / (profile.n - 1))
        )
        exact = column in EVIDENTLY_BY_VALUE
        rows.append(
            Row(
                section,
                f"{column} Wasserstein normed",
                ours,
                values[f"{column} wasserstein"],
                EXACT if exact else 0.01,
                relative=True,
            )
        )
    return rows


# NannyML: a model whose scores are over-confident (so both sides calibrate), its reference and
# two analysis sets: the same mix of inputs, and inputs shifted half a standard deviation
CBPE_SETS = {"no shift": 0.0, "covariate shift +0.5 sd": 0.5}


def _cbpe_frames(rows: int, seed: int) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)

    def frame(shift: float) -> Any:
        x = rng.normal(shift, 1.0, rows)
        logit = 1.5 * x - 0.5
        y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype("int64")
        score = 1.0 / (1.0 + np.exp(-2.5 * logit))  # the model: right order, too confident
        return pd.DataFrame({"score": score, "pred": (score >= 0.5).astype("int64"), "y": y})

    return {"reference": frame(0.0)} | {name: frame(shift) for name, shift in CBPE_SETS.items()}


def _nannyml_child(data: Path) -> dict[str, Any]:
    """In NannyML's venv: CBPE fitted on the reference, one chunk per analysis set."""
    import nannyml  # type: ignore[import-not-found]

    reference = _load_frame(data / "reference.npz")
    estimator = nannyml.CBPE(
        y_pred_proba="score",
        y_pred="pred",
        y_true="y",
        problem_type="classification_binary",
        metrics=["accuracy", "roc_auc"],
        chunk_number=1,
    )
    estimator.fit(reference)
    out: dict[str, Any] = {
        "version": nannyml.__version__,
        "needs_calibration": bool(estimator.needs_calibration),
    }
    for index, name in enumerate(CBPE_SETS):
        analysis = _load_frame(data / f"analysis{index}.npz").drop(columns=["y"])
        frame = estimator.estimate(analysis).filter(period="analysis").to_df()
        out[name] = {
            metric: float(frame[(metric, "value")].iloc[0]) for metric in ("accuracy", "roc_auc")
        }
    return out


def nannyml_rows(python: Path | str | None = None) -> list[Row]:
    """goldenpath's CBPE estimates vs NannyML's on the same rows with the same calibration."""
    from goldenpath.monitoring.estimation import ScoreCalibration, ScoreSketch, estimate

    section = "NannyML"
    checks = [f"CBPE {m} ({name})" for name in CBPE_SETS for m in ("accuracy", "ROC AUC")]
    if python is None:
        python = _peer_python("NannyML", NANNYML_VENV, NANNYML_REQUIREMENTS)
    if isinstance(python, str):
        return _skipped(section, checks, python)
    frames = _cbpe_frames(5_000, 21)
    with tempfile.TemporaryDirectory() as tmp:
        _save_frame(frames["reference"], Path(tmp) / "reference.npz")
        for index, name in enumerate(CBPE_SETS):
            _save_frame(frames[name], Path(tmp) / f"analysis{index}.npz")
        result = _run_peer(python, "nannyml", Path(tmp))
    if isinstance(result, str):
        return _skipped(section, checks, result)
    reference = frames["reference"]
    # the same calibration: isotonic on the reference where NannyML calibrates, else none
    if result["needs_calibration"]:
        calibration = ScoreCalibration.fit(reference["score"], reference["y"], 0.5)
    else:
        calibration = ScoreCalibration.identity(0.5)
    how = "isotonic" if result["needs_calibration"] else "uncalibrated"
    section = f"NannyML {result['version']}"
    rows = []
    for name in CBPE_SETS:
        expected = estimate(ScoreSketch.of(frames[name]["score"], calibration))
        peer = result[name]
        rows += [
            Row(
                section, f"CBPE accuracy ({name}, {how})", expected.accuracy, peer["accuracy"], 1e-9
            ),
            Row(section, f"CBPE ROC AUC ({name}, {how})", expected.roc_auc, peer["roc_auc"], 1e-3),
        ]
    return rows


# NannyML's DLE: a regressor whose noise grows with x2 and category "c", and which misses a sine
# of x2; windows whose inputs move towards the noisy region (tests/unit/monitoring/
# test_loss_estimation.py runs goldenpath's DLE on the same simulation)
DLE_REFERENCE_ROWS = 5_000
DLE_WINDOW_ROWS = 1_000
DLE_WINDOWS = 200  # every other one shifted by a random strength, as in the test
DLE_SHOWN = 10  # windows printed one by one
DLE_FEATURES = ["x1", "x2", "kind"]


def dle_draw(rng: Any, n: int, shift: float = 0.0) -> tuple[Any, Any]:
    """Rows whose inputs move with ``shift`` (0: the reference's mix, 1: far towards the noisy
    region); the target given the inputs never changes."""
    import numpy as np
    import pandas as pd

    x1 = rng.normal(0.5 * shift, 1.0, n)
    x2 = rng.beta(1.0 + 2.0 * shift, 1.0, n)
    kind = rng.choice(["a", "b", "c"], n, p=[0.5 - 0.2 * shift, 0.3, 0.2 + 0.2 * shift])
    noise = (0.3 + 1.5 * x2 + 0.5 * (kind == "c")) * rng.normal(size=n)
    y = 3.0 * x1 + 2.0 * np.sin(3.0 * x2) + 1.0 * (kind == "b") + noise
    return pd.DataFrame({"x1": x1, "x2": x2, "kind": kind}), y


def dle_inputs(frame: Any) -> Any:
    """The model's inputs: the numbers, and the categories b and c as indicators."""
    import numpy as np

    return np.c_[frame["x1"], frame["x2"], frame["kind"] == "b", frame["kind"] == "c"]


def dle_reference(rng: Any, rows: int = DLE_REFERENCE_ROWS) -> tuple[Any, Any, Any]:
    """The model (a linear regression fitted on its own training rows) and the held-out rows
    (features, target) that the loss estimators learn its errors on."""
    from sklearn.linear_model import LinearRegression

    train, y_train = dle_draw(rng, rows)
    model = LinearRegression().fit(dle_inputs(train), y_train)
    held, y_held = dle_draw(rng, rows)
    return model, held, y_held


def _nannyml_dle_child(data: Path) -> dict[str, Any]:
    """In NannyML's venv: DLE (its defaults: LightGBM, no tuning) fitted on the reference, one
    chunk per window."""
    import nannyml  # type: ignore[import-not-found]

    reference = _load_frame(data / "reference.npz")
    analysis = _load_frame(data / "analysis.npz")
    estimator = nannyml.DLE(
        feature_column_names=DLE_FEATURES,
        y_pred="y_pred",
        y_true="y_true",
        metrics=["mae", "rmse"],
        chunk_size=DLE_WINDOW_ROWS,
    )
    estimator.fit(reference)
    frame = estimator.estimate(analysis).filter(period="analysis").to_df()
    return {
        "version": nannyml.__version__,
        **{metric: frame[(metric, "value")].astype(float).tolist() for metric in ("mae", "rmse")},
    }


def dle_rows(python: Path | str | None = None, seed: int = 31) -> list[Row]:
    """goldenpath's DLE vs NannyML's on the same reference and windows: per metric and kind of
    window, the mean |estimate - realised| of each; goldenpath's may exceed NannyML's by 10%."""
    import numpy as np
    import pandas as pd

    from goldenpath.monitoring.loss_estimation import LossEstimator, LossSketch, estimate_loss

    groups = ("no shift", "covariate shift")
    metrics = {"mae": "MAE", "rmse": "RMSE"}
    checks = [
        f"DLE {m}: mean |estimate - realised| ({g})" for m in metrics.values() for g in groups
    ]
    if python is None:
        python = _peer_python("NannyML", NANNYML_VENV, NANNYML_REQUIREMENTS)
    if isinstance(python, str):
        return _skipped("NannyML", checks, python)
    rng = np.random.default_rng(seed)
    model, held, y_held = dle_reference(rng)
    estimator = LossEstimator.fit(held, model.predict(dle_inputs(held)), y_held, seed=0)
    assert estimator is not None
    shifted = np.arange(DLE_WINDOWS) % 2 == 1
    strengths = np.where(shifted, rng.uniform(0.0, 1.0, DLE_WINDOWS), 0.0)
    windows = [dle_draw(rng, DLE_WINDOW_ROWS, shift=float(s)) for s in strengths]
    realised: dict[str, list[float]] = {"mae": [], "rmse": []}
    ours: dict[str, list[float]] = {"mae": [], "rmse": []}
    for frame, y in windows:
        predicted = model.predict(dle_inputs(frame))
        error = y - predicted
        realised["mae"].append(float(np.abs(error).mean()))
        realised["rmse"].append(math.sqrt(float((error**2).mean())))
        sketch = LossSketch.of(estimator, frame, predicted)
        assert sketch is not None
        loss = estimate_loss(sketch, estimator.rows)
        ours["mae"].append(float(loss.mean_absolute_error))  # type: ignore[arg-type]
        ours["rmse"].append(float(loss.root_mean_squared_error))  # type: ignore[arg-type]
    reference = held.assign(y_pred=model.predict(dle_inputs(held)), y_true=y_held)
    analysis = pd.concat([f for f, _ in windows], ignore_index=True)
    analysis["y_pred"] = model.predict(dle_inputs(analysis))
    with tempfile.TemporaryDirectory() as tmp:
        _save_frame(reference, Path(tmp) / "reference.npz")
        _save_frame(analysis, Path(tmp) / "analysis.npz")
        result = _run_peer(python, "nannyml-dle", Path(tmp))
    if isinstance(result, str):
        return _skipped("NannyML", checks, result)
    section = f"NannyML {result['version']}"
    _print_dle(section, strengths, realised, ours, result)
    rows = []
    for metric, label in metrics.items():
        truth = np.asarray(realised[metric])
        for group, chosen in zip(groups, (~shifted, shifted), strict=True):
            errors = [
                float(np.mean(np.abs(np.asarray(values)[chosen] - truth[chosen])))
                for values in (ours[metric], result[metric])
            ]
            check = f"DLE {label}: mean |estimate - realised| ({group})"
            rows.append(Row(section, check, *errors, 0.1, relative=True, one_sided=True))
    return rows


def _print_dle(
    section: str,
    strengths: Any,
    realised: dict[str, list[float]],
    ours: dict[str, list[float]],
    peer: dict[str, Any],
) -> None:
    """The first windows' realised and estimated MAE and RMSE, then per kind of window the
    mean realised value and each tool's mean estimate and bias."""
    import numpy as np

    print(f"{section} DLE, {len(strengths)} windows of {DLE_WINDOW_ROWS:,} rows:")
    print("window  shift  MAE: realised  goldenpath  NannyML  RMSE: realised  goldenpath  NannyML")
    for k in range(min(DLE_SHOWN, len(strengths))):
        print(
            f"{k:>6}  {strengths[k]:5.2f}  {realised['mae'][k]:14.4f}  {ours['mae'][k]:10.4f}  "
            f"{peer['mae'][k]:7.4f}  {realised['rmse'][k]:14.4f}  {ours['rmse'][k]:10.4f}  "
            f"{peer['rmse'][k]:7.4f}"
        )
    for group, chosen in (("no shift", strengths == 0), ("covariate shift", strengths > 0)):
        for metric in ("mae", "rmse"):
            truth = np.asarray(realised[metric])[chosen]
            gp, nml = (np.asarray(v[metric])[chosen] for v in (ours, peer))
            bias = [float(np.mean(v - truth)) for v in (gp, nml)]
            print(
                f"{group}, {int(chosen.sum())} windows, {metric.upper()}: realised "
                f"{truth.mean():.4f}; goldenpath {gp.mean():.4f} (bias {bias[0]:+.4f}), "
                f"NannyML {nml.mean():.4f} (bias {bias[1]:+.4f})"
            )
    print()


# ----------------------------------------------------------------------------- the table


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if value != 0 and (abs(value) < 1e-4 or abs(value) >= 1e6):
        return f"{value:.6e}"
    return f"{value:.10f}"


def _tolerance(row: Row) -> str:
    if math.isnan(row.tolerance):
        return "-"
    bound = f"{row.tolerance:g}" + (" rel" if row.relative else "")
    return f"<= peer + {bound}" if row.one_sided else bound


def print_table(rows: list[Row]) -> None:
    header = ("check", "goldenpath", "peer", "|difference|", "tolerance", "result")
    cells = [
        (
            f"{row.section}: {row.check}",
            _number(row.goldenpath),
            _number(row.peer),
            "-" if row.difference is None else f"{row.difference:.2e}",
            _tolerance(row),
            row.status,
        )
        for row in rows
    ]
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header))]
    line = "  ".join(
        h.ljust(w) if i == 0 else h.rjust(w)
        for i, (h, w) in enumerate(zip(header, widths, strict=True))
    )
    print(line)
    print("-" * len(line))
    for c in cells:
        print(
            "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w)
                for i, (v, w) in enumerate(zip(c, widths, strict=True))
            )
        )
    for note in dict.fromkeys(row.note for row in rows if row.note):
        print(f"skipped: {note}")
    counts = {s: sum(row.status == s for row in rows) for s in ("pass", "FAIL", "skip")}
    print(f"{counts['pass']} passed, {counts['FAIL']} failed, {counts['skip']} skipped")
    print()
    print_summary(rows)


def print_summary(rows: list[Row]) -> None:
    """Per section and tolerance: checks, how many passed, and the largest absolute difference,
    as a Markdown table (the docs quote it)."""
    print("| section | tolerance | checks | passed | largest difference |")
    print("|---|---|---|---|---|")
    for section, tolerance in dict.fromkeys((row.section, _tolerance(row)) for row in rows):
        mine = [r for r in rows if r.section == section and _tolerance(r) == tolerance]
        differences = [r.difference for r in mine if r.difference is not None]
        largest = f"{max(differences):.1e}" if differences else "-"
        passed = sum(r.status == "pass" for r in mine)
        print(f"| {section} | {tolerance} | {len(mine)} | {passed} | {largest} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--skip-peers", action="store_true", help="only the sections that run in this venv"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    children = {
        "evidently": _evidently_child,
        "nannyml": _nannyml_child,
        "nannyml-dle": _nannyml_dle_child,
    }
    parser.add_argument("--child", choices=list(children), help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(children[args.child](args.data)))
        return 0
    sections: list[tuple[str, Callable[[], list[Row]]]] = [
        ("scikit-learn", sklearn_rows),
        ("scipy bootstrap", bootstrap_rows),
        ("scipy drift", drift_rows),
        ("Fairlearn", fairness_rows),
        ("Fairlearn intervals", fairness_interval_rows),
    ]
    if not args.skip_peers:
        sections += [
            ("Evidently", evidently_rows),
            ("NannyML", nannyml_rows),
            ("NannyML DLE", dle_rows),
        ]
    rows: list[Row] = []
    for name, section in sections:
        started = time.perf_counter()
        rows += section()
        print(f"{name}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    print_table(rows)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([row.as_dict() for row in rows], indent=2) + "\n")
    if any(row.status == "FAIL" for row in rows):
        return 1
    return 2 if any(row.status == "skip" for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
