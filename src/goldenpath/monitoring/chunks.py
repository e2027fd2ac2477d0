"""Alert thresholds learnt from the reference: how far each statistic strays across chunks of
held-out rows that have not drifted (NannyML's approach, with subsamples).

A rule with ``sigmas: k`` instead of ``above`` fires for a subject when the window's value is
above ``mean + k * sd`` of that metric's values over reference *chunks*: ``chunk_count`` random
subsets of ``chunk_rows`` rows each (drawn without replacement within a chunk, independently
across chunks, so a held-out set of twice the chunk size already gives many chunks). Each chunk is
monitored exactly as a window of the stream is (its feature drift against the training profile,
its outputs' drift, CBPE's and DLE's estimates, realised performance from its labels), and every
observation an alert rule could watch is collected.

What the chunks are drawn from:

* a model's reference: its held-out rows (recovered from the run, as ``monitor`` recovers a
  reference of an older run), with the model's outputs and the labels. Their features are not
  the rows the feature profile was built on, so feature drift is measured out of sample; outputs,
  the calibration CBPE uses and DLE's estimator were fitted on these rows, so their chunks vary a
  little less than fresh traffic would.
* a data file's reference: its sample of rows (features only), which the profile includes.

Chunks that each hold a large share of the held-out rows vary less than independent windows
would; the standard deviation is corrected for it (:func:`spread_of`).

Chunks must match the windows in size (a statistic's spread shrinks as windows grow): for row
windows the chunk size is the window's, for time windows ``monitoring.chunk_rows`` says how many
rows a window typically holds. The thresholds are computed once per reference and chunk size and
cached beside the reference under ``.goldenpath/monitoring/``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from goldenpath._files import write_atomic
from goldenpath.data.dataset import load_dataset
from goldenpath.errors import SpecError
from goldenpath.evaluation.evaluate import load_model, resolve_model
from goldenpath.monitoring._document import Document
from goldenpath.monitoring.alerts import Observation
from goldenpath.monitoring.reference import Reference, model_outputs, monitored_features
from goldenpath.project import Project
from goldenpath.serving.models import predictor
from goldenpath.spec.monitoring import AlertRule
from goldenpath.training.recorded import run_rows
from goldenpath.training.tracking import require_tracking

__all__ = [
    "ANY_ROUTE",
    "MIN_CHUNKS",
    "ChunkThresholds",
    "Spread",
    "chunk_thresholds",
    "expand_rules",
    "held_out",
    "spread_of",
]

MIN_CHUNKS = 10
ANY_ROUTE = "*"  # route metrics: the chunks' spread holds for every route
_ROUTE_METRICS = ("estimated.", "realised.")
# what chunks observe, in their cache key: 2 added the realised loss over the reference's interval
_OBSERVED = "observations/2"


class Spread(Document):
    """One (metric, subject)'s values over the reference chunks."""

    metric: str
    subject: str
    mean: float
    sd: float
    chunks: int  # the chunks that observed it

    def bound(self, sigmas: float) -> float:
        return self.mean + sigmas * self.sd


class ChunkThresholds(Document):
    """The spread of every observed statistic over a reference's chunks."""

    run_id: str
    chunk_rows: int
    chunk_count: int
    source_rows: int  # the rows the chunks were drawn from
    spreads: list[Spread]


def spread_of(chunks: Sequence[list[Observation]], *, share: float = 0.0) -> list[Spread]:
    """Mean and standard deviation (ddof 1) per (metric, subject) over the chunks' observations;
    route metrics pooled over routes (the chunks have one route: the reference).

    ``share``: each chunk's share of the rows the chunks were drawn from. Chunks that each hold
    a large share of one set of rows vary less than windows drawn from the population do (by
    the finite-population factor ``1 - share`` on the variance, exact for means such as an
    accuracy or a missing share), so the standard deviation is divided by its square root."""
    correction = 1.0 / math.sqrt(1.0 - share)
    values: dict[tuple[str, str], list[float]] = {}
    for seen in chunks:
        for metric, subject, value in seen:
            key = (metric, ANY_ROUTE if metric.startswith(_ROUTE_METRICS) else subject)
            if math.isfinite(value):
                values.setdefault(key, []).append(value)
    return [
        Spread(
            metric=metric,
            subject=subject,
            mean=float(np.mean(found)),
            sd=float(np.std(found, ddof=1)) * correction if len(found) > 1 else 0.0,
            chunks=len(found),
        )
        for (metric, subject), found in sorted(values.items())
    ]


def expand_rules(rules: Sequence[AlertRule], thresholds: ChunkThresholds | None) -> list[AlertRule]:
    """The rules with every ``sigmas`` rule replaced by one ``above`` rule per subject its
    metric was observed for in the reference chunks (route metrics: one rule for every route),
    its bound rounded to 4 significant digits.
    SpecError when a ``sigmas`` rule has nothing to learn from."""
    found: list[AlertRule] = []
    for rule in rules:
        if rule.sigmas is None:
            found.append(rule)
            continue
        spreads = (
            []
            if thresholds is None
            else [
                s for s in thresholds.spreads if s.metric == rule.metric and s.chunks >= MIN_CHUNKS
            ]
        )
        if not spreads:
            raise SpecError(
                f"alert rule {rule.name!r} learns its threshold from the reference, but no "
                f"reference chunk observed {rule.metric}",
                hint="give the rule a fixed threshold (above / below) instead of sigmas, or "
                "monitor against a model's reference (held-out rows with outputs and labels)",
            )
        for spread in spreads:
            if spread.subject == ANY_ROUTE:
                subjects = rule.subjects
            elif rule.subjects is None or spread.subject in rule.subjects:
                subjects = [spread.subject]
            else:
                continue
            found.append(
                AlertRule(
                    name=rule.name,
                    metric=rule.metric,
                    above=float(f"{spread.bound(rule.sigmas):.4g}"),  # as a person writes it
                    severity=rule.severity,
                    windows=rule.windows,
                    subjects=subjects,
                )
            )
    return found


def held_out(project: Project, ref: Reference) -> pd.DataFrame:
    """The rows reference chunks are drawn from, as the prediction log holds them: a model's
    held-out rows with its prediction and score (and the label, column ``label``), or a data
    file's sample (features only)."""
    if ref.run_id.startswith("file-"):
        return ref.sample.copy()
    spec = project.spec
    client = require_tracking(project)
    dataset = load_dataset(spec, project.root)
    test = run_rows(client, ref.run_id, dataset, "test", hint="restore the data of that run")
    estimator, _ = load_model(project, resolve_model(project, ref.run_id))
    answered = predictor(estimator, spec)(test[spec.feature_columns])
    predictions = pd.Series(answered.predictions, dtype="object")
    scores = pd.Series([np.nan if s is None else s for s in answered.scores], dtype="float64")
    outputs = model_outputs(project, predictions, scores)
    frame = test[monitored_features(project)].reset_index(drop=True)
    for column in outputs:
        frame[column] = outputs[column].to_numpy()
    frame["label"] = test[spec.task.target].to_numpy()
    return frame


def _chunks(rows: int, size: int, count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(rows, size=size, replace=False)) for _ in range(count)]


Observe = Callable[[pd.DataFrame], list[Observation]]


def chunk_thresholds(
    project: Project,
    ref: Reference,
    *,
    chunk_rows: int,
    chunk_count: int,
    observe: Observe,
    seed: int = 0,
) -> ChunkThresholds:
    """The spread of what ``observe`` (a chunk's frame -> its observations, as a window's) finds
    over ``chunk_count`` chunks of ``chunk_rows`` rows of the reference's held-out rows; read
    from the cache when computed before."""
    cache = _cache_path(project, ref.run_id, chunk_rows, chunk_count, seed)
    if cache.exists():
        return ChunkThresholds.model_validate_json(cache.read_bytes())
    source = held_out(project, ref)
    if 2 * chunk_rows > len(source):
        raise SpecError(
            f"reference chunks of {chunk_rows:,} rows need at least {2 * chunk_rows:,} "
            f"held-out rows; the reference has {len(source):,}",
            hint="lower monitoring.chunk_rows (or the window size), or give the rules fixed "
            "thresholds (above / below) instead of sigmas",
        )
    seen = [
        observe(source.iloc[chosen].reset_index(drop=True))
        for chosen in _chunks(len(source), chunk_rows, chunk_count, seed)
    ]
    found = ChunkThresholds(
        run_id=ref.run_id,
        chunk_rows=chunk_rows,
        chunk_count=chunk_count,
        source_rows=len(source),
        spreads=spread_of(seen, share=chunk_rows / len(source)),
    )
    write_atomic(cache, found.model_dump_json().encode())
    return found


def _cache_path(project: Project, run_id: str, rows: int, count: int, seed: int) -> Path:
    """Keyed by everything the observations depend on: the reference, the chunks, the
    monitoring settings (a significance level or threshold changes what a chunk observes; the
    rules do not) and what is observed (``_OBSERVED``, raised when observations are added)."""
    rules = {"alerts", "default_rules"}
    settings = project.spec.monitoring.model_dump_json(exclude=rules) + _OBSERVED
    digest = hashlib.sha256(settings.encode()).hexdigest()[:12]
    name = f"chunks-{run_id}-{rows}x{count}-{seed}-{digest}.json"
    return project.state_dir / "monitoring" / name
