"""Keep an evaluation: ``evaluation.json`` and ``evaluation.html`` in the project's state folder
the same two files as artefacts of the model's MLflow run, and a tag pointing at the latest."""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from goldenpath._files import write_atomic
from goldenpath.errors import RunError, RunNotFound, TrackingError
from goldenpath.evaluation.document import EvaluationDocument
from goldenpath.evaluation.evaluate import EvaluationResult
from goldenpath.project import Project
from goldenpath.training.tracking import TAG_PREFIX, mlflow_boundary, open_tracking

__all__ = ["LoadedEvaluation", "RecordedEvaluation", "load_evaluation", "record_evaluation"]

JSON_NAME = "evaluation.json"
HTML_NAME = "evaluation.html"


@dataclass(frozen=True)
class RecordedEvaluation:
    """An evaluation and where it was kept: the project's files and the run's artefacts."""

    result: EvaluationResult
    json_path: Path
    html_path: Path
    artifact_path: str
    sha256: str  # of evaluation.json's bytes as written (and logged)


def record_evaluation(
    project: Project, result: EvaluationResult, *, html: str
) -> RecordedEvaluation:
    """Write the JSON and the report ``html`` (rendered by :mod:`goldenpath.reports`, a layer
    above this one) atomically, so a crash leaves no half-written file, and log both. The
    store's record of the evaluation (its SHA-256, which ``gate`` checks) is written by the
    caller, :func:`goldenpath.workflows.evaluate`."""
    document = result.to_dict()
    folder = project.state_dir / "evaluations" / result.evaluation_id
    write_atomic(folder / JSON_NAME, json.dumps(document, indent=2, default=str))
    write_atomic(folder / HTML_NAME, html)
    written = {name: (folder / name).read_bytes() for name in (JSON_NAME, HTML_NAME)}
    artifact_path = f"evaluations/{result.evaluation_id}"
    client = open_tracking(project, create=True)
    run_id = result.model.run_id
    with mlflow_boundary(f"logging evaluation {result.evaluation_id}"):
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in written.items():
                (Path(tmp) / name).write_bytes(content)
            client.log_artifacts(run_id, tmp, artifact_path)
        client.set_tag(run_id, TAG_PREFIX + "last_evaluation", result.evaluation_id)
    sha256 = hashlib.sha256(written[JSON_NAME]).hexdigest()
    return RecordedEvaluation(result, folder / JSON_NAME, folder / HTML_NAME, artifact_path, sha256)


@dataclass(frozen=True)
class LoadedEvaluation:
    """An evaluation document as logged to MLflow, and the SHA-256 of its bytes."""

    evaluation_id: str
    document: EvaluationDocument
    sha256: str


def load_evaluation(
    project: Project, run_id: str, evaluation_id: str | None = None
) -> LoadedEvaluation:
    """Evaluation ``evaluation_id`` of run ``run_id`` (default: the run's latest), read from the
    run's MLflow artefacts: the copy logged with the run is the evidence, not the local file."""
    client = open_tracking(project, create=False)
    if client is None:
        raise RunNotFound(f"project {project.name!r} has no runs yet")
    if evaluation_id is None:
        with mlflow_boundary(f"reading run {run_id}"):
            evaluation_id = client.get_run(run_id).tags.get(TAG_PREFIX + "last_evaluation")
        if evaluation_id is None:
            raise RunNotFound(
                f"run {run_id} has never been evaluated",
                hint="evaluate it first: goldenpath evaluate <model> [--against champion]",
            )
    path = f"evaluations/{evaluation_id}/{JSON_NAME}"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            with mlflow_boundary(f"reading evaluation {evaluation_id}"):
                local = Path(client.download_artifacts(run_id, path, tmp))
        except (TrackingError, OSError) as exc:  # a missing artefact
            raise RunNotFound(
                f"run {run_id} has no evaluation {evaluation_id}",
                hint="list a run's evaluations in MLflow under evaluations/, or omit --evaluation",
            ) from exc
        raw = local.read_bytes()
    try:
        document = EvaluationDocument.model_validate_json(raw)
    except ValidationError as exc:  # not written by goldenpath, or changed since
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the document"
        raise RunError(
            f"evaluation {evaluation_id} of run {run_id} is not a valid evaluation document: "
            f"{where}: {first['msg']} ({exc.error_count()} problem(s))",
            hint="evaluate the model again (goldenpath evaluate); the schema is printed by "
            "goldenpath schema --kind evaluation",
        ) from None
    return LoadedEvaluation(evaluation_id, document, hashlib.sha256(raw).hexdigest())
