"""``goldenpath monitor``: one window of the prediction log against the reference profile.

The reference is the profile of the training rows of the model that served (default: the
champion), computed once from the run's recorded split and kept under
``.goldenpath/monitoring/reference-<run id>.json``, so the raw training data is read only once.
The window is every served row of the prediction log with a timestamp in ``[since, until)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as ds

from goldenpath.data.dataset import load_dataset
from goldenpath.errors import RunNotFound
from goldenpath.evaluation.evaluate import resolve_model
from goldenpath.monitoring.drift import DriftThresholds, FeatureDrift, window_drift
from goldenpath.monitoring.profile import FrameProfile, profile_frame
from goldenpath.project import Project
from goldenpath.training.recorded import run_rows
from goldenpath.training.tracking import open_tracking

__all__ = ["MonitorResult", "monitor", "monitored_features", "reference_profile", "window_rows"]


def monitored_features(project: Project) -> list[str]:
    """Features compared with the reference: not PII (the log holds their hashes, or nothing)
    and not datetimes (the log holds their text)."""
    columns = project.spec.data.contract.columns
    return [
        c
        for c in project.spec.feature_columns
        if not columns[c].pii and columns[c].dtype != "datetime"
    ]


def reference_profile(project: Project, ref: str = "champion") -> tuple[str, FrameProfile]:
    """(run id, profile of its training rows' features), cached per run."""
    bare = "@" not in ref and "/" not in ref and ref != "latest" and len(ref) != 32
    model = resolve_model(project, f"{project.name}@{ref}" if bare else ref)
    cache = project.state_dir / "monitoring" / f"reference-{model.run_id}.json"
    if cache.exists():
        return model.run_id, FrameProfile.from_dict(json.loads(cache.read_text()))
    spec = project.spec
    dataset = load_dataset(spec, project.root)
    client = open_tracking(project, create=False)
    rows = run_rows(
        client, model.run_id, dataset, "train", hint="restore the training data of that run"
    )
    profile = profile_frame(rows[monitored_features(project)])
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(".partial")
    partial.write_text(json.dumps(profile.to_dict()))
    partial.replace(cache)
    return model.run_id, profile


def window_rows(project: Project, since: datetime | None, until: datetime | None) -> pd.DataFrame:
    """Served rows of the prediction log with ``since <= timestamp < until``."""
    folder = project.state_dir / "logs" / "predictions"
    files = sorted(str(p) for p in Path(folder).rglob("*.parquet")) if folder.exists() else []
    if not files:
        return pd.DataFrame()
    dataset = ds.dataset(files, format="parquet")
    condition = ds.field("kind") == "served"
    if since is not None:
        condition &= ds.field("timestamp") >= since
    if until is not None:
        condition &= ds.field("timestamp") < until
    frame: pd.DataFrame = dataset.to_table(filter=condition).to_pandas()
    return frame


@dataclass(frozen=True)
class MonitorResult:
    reference_run_id: str
    reference_rows: int
    since: str | None
    until: str | None
    rows: int
    features: list[FeatureDrift]

    @property
    def alerts(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.severity != "ok"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference_run_id": self.reference_run_id,
            "reference_rows": self.reference_rows,
            "since": self.since,
            "until": self.until,
            "rows": self.rows,
            "alerts": [f.to_dict() for f in self.alerts],
            "features": [f.to_dict() for f in self.features],
        }


def monitor(
    project: Project,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    reference: str = "champion",
    thresholds: DriftThresholds | None = None,
) -> MonitorResult:
    """One window against the reference, judged by ``thresholds`` (default: the spec's
    ``monitoring`` section)."""
    run_id, ref = reference_profile(project, reference)
    rows = window_rows(project, since, until)
    if rows.empty:
        raise RunNotFound(
            "no served predictions in the prediction log for this window",
            hint="serve traffic first (goldenpath serve, goldenpath replay), or widen --since",
        )
    features = [c for c in monitored_features(project) if c in rows.columns]
    window = profile_frame(rows[features], ref)
    settings = project.spec.monitoring
    drift = window_drift(
        ref,
        window,
        thresholds
        or DriftThresholds(
            psi_warn=settings.psi_warning,
            psi_alert=settings.psi_critical,
            js_alert=settings.js_critical,
            max_missing_increase=settings.max_missing_increase,
            max_unseen_share=settings.max_unseen_share,
        ),
    )

    def text(moment: datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(UTC).isoformat()

    return MonitorResult(run_id, ref.rows, text(since), text(until), len(rows), drift)
