"""``goldenpath reproduce``: retrain a run from its recorded inputs and compare predictions.

The recorded inputs are the run's spec snapshot (data source, contract, task, entrypoint,
params, seed) and its split (row positions in the dataset's canonical order). The data must
still have the recorded fingerprint; otherwise the run cannot be reproduced and we say so
before training anything. The code is the project's current entrypoint; a change of its source
since the run is reported (``code_changed``) because it is the usual reason for a mismatch.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from goldenpath.data.dataset import load_dataset
from goldenpath.data.split import Split
from goldenpath.errors import FingerprintMismatch, RunNotFound
from goldenpath.project import Project
from goldenpath.spec.loader import parse_spec
from goldenpath.training.lineage import source_hash
from goldenpath.training.predictions import compare_predictions
from goldenpath.training.run import (
    PREDICTIONS_ARTIFACT,
    SPEC_ARTIFACT,
    SPLIT_ARTIFACT,
    StepCallback,
    fit_model,
)
from goldenpath.training.tracking import TAG_PREFIX, Tracking, find_run, require_tracking

__all__ = ["DEFAULT_TOLERANCE", "ReproduceResult", "recorded_project", "reproduce_run"]

DEFAULT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class ReproduceResult:
    """The verdict of ``goldenpath reproduce``."""

    run_id: str
    reproduced: bool
    tolerance: float
    label_tolerance: float
    rows_compared: int
    max_abs_score_diff: float
    changed_label_share: float | None
    dataset_fingerprint: str
    split_matches: bool
    code_changed: bool | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _noop(_: str) -> None:
    return None


def reproduce_run(
    project: Project,
    run_ref: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    label_tolerance: float = 0.0,
    on_step: StepCallback = _noop,
) -> ReproduceResult:
    """Retrain run ``run_ref`` (an id or ``latest``) and compare its test predictions. The
    mechanics only: :func:`goldenpath.reproduce` checks the role and audits around this."""
    on_step("Reading the recorded run")
    run = find_run(project, run_ref)
    run_id: str = run.run_id
    client = require_tracking(project)
    tags = run.tags
    recorded_fp = tags.get(TAG_PREFIX + "dataset_fingerprint")
    if recorded_fp is None:
        raise RunNotFound(
            f"run {run_id} was not recorded by goldenpath train (no dataset fingerprint)",
            hint="reproduce a run listed by `goldenpath runs`",
        )
    recorded = recorded_project(project, client, run_id)
    split_record = client.load_json(run_id, SPLIT_ARTIFACT)
    before = _recorded_predictions(client, run_id)

    on_step("Reading and validating data")
    dataset = load_dataset(recorded.spec, recorded.root)
    if dataset.fingerprint != recorded_fp:
        raise FingerprintMismatch(
            f"the data of run {run_id} has changed: recorded fingerprint {recorded_fp}, "
            f"now {dataset.fingerprint} ({dataset.source})",
            hint=(
                "restore the data the run was trained on; a run on other data is a new run "
                "(`goldenpath train`), not a reproduction"
            ),
            details={"recorded": recorded_fp, "current": dataset.fingerprint},
        )
    split = Split(
        train=np.asarray(split_record["train_positions"], dtype=np.int64),
        test=np.asarray(split_record["test_positions"], dtype=np.int64),
    )
    params = recorded.spec.training.params
    fitted = fit_model(
        recorded,
        dataset=dataset,
        split=split,
        params=dict(params),
        seed=recorded.spec.training.seed,
        threads=project.spec.resources.threads,  # this machine's cap, not the recorded one
        on_step=on_step,
    )
    on_step("Comparing predictions")
    diff = compare_predictions(before, fitted.test_predictions, recorded.spec.task.type)
    split_matches = fitted.train_fingerprint == tags.get(
        TAG_PREFIX + "train_fingerprint"
    ) and fitted.test_fingerprint == tags.get(TAG_PREFIX + "test_fingerprint")
    recorded_source = tags.get(TAG_PREFIX + "source_hash") or None
    current_source = source_hash(fitted.entrypoint.sources)
    code_changed = (
        None
        if recorded_source is None or current_source is None
        else recorded_source != current_source
    )
    labels_ok = diff.changed_label_share is None or diff.changed_label_share <= label_tolerance
    result = ReproduceResult(
        run_id=run_id,
        reproduced=bool(split_matches and diff.max_abs_score_diff <= tolerance and labels_ok),
        tolerance=tolerance,
        label_tolerance=label_tolerance,
        rows_compared=diff.rows,
        max_abs_score_diff=diff.max_abs_score_diff,
        changed_label_share=diff.changed_label_share,
        dataset_fingerprint=dataset.fingerprint,
        split_matches=split_matches,
        code_changed=code_changed,
    )
    # For people browsing MLflow: gate's ``reproduced`` rule reads the audited verdict instead
    # (goldenpath.reproduce audits it), since anyone who can write to MLflow can set a tag.
    client.set_tag(run_id, TAG_PREFIX + "reproducible", str(result.reproduced).lower())
    client.set_tag(run_id, TAG_PREFIX + "reproduced_at", datetime.now(UTC).isoformat())
    client.set_tag(run_id, TAG_PREFIX + "reproduce_max_abs_diff", repr(result.max_abs_score_diff))
    client.set_tag(run_id, TAG_PREFIX + "reproduce_tolerance", repr(tolerance))
    return result


def recorded_project(project: Project, client: Tracking, run_id: str) -> Project:
    """The project as it was when the run was trained (its spec snapshot), in the same folder."""
    text = client.read_artifact(run_id, SPEC_ARTIFACT).decode("utf-8")
    spec = parse_spec(text, source=f"run {run_id}:{SPEC_ARTIFACT}")
    return Project(root=project.root, spec_path=project.spec_path, spec=spec)


def _recorded_predictions(client: Tracking, run_id: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(client.read_artifact(run_id, PREDICTIONS_ARTIFACT)))
