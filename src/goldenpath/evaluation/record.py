"""Keep an evaluation: ``evaluation.json`` and ``evaluation.html`` in the project's state folder
the same two files as artefacts of the model's MLflow run, and a tag pointing at the latest."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from goldenpath.evaluation.evaluate import EvaluationResult
from goldenpath.project import Project
from goldenpath.training.tracking import TAG_PREFIX, mlflow_boundary, open_tracking

__all__ = ["RecordedEvaluation", "record_evaluation"]

JSON_NAME = "evaluation.json"
HTML_NAME = "evaluation.html"


@dataclass(frozen=True)
class RecordedEvaluation:
    json_path: Path
    html_path: Path
    artifact_path: str


def record_evaluation(
    project: Project, result: EvaluationResult, *, html: str
) -> RecordedEvaluation:
    """Write the JSON and the report ``html`` (rendered by :mod:`goldenpath.reports`, a layer
    above this one) atomically, so a crash leaves no half-written file, and log both."""
    document = result.to_dict()
    folder = project.state_dir / "evaluations" / result.evaluation_id
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in ((JSON_NAME, json.dumps(document, indent=2, default=str)), (HTML_NAME, html)):
        partial = folder / f".{name}.partial"
        partial.write_text(text, encoding="utf-8")
        partial.replace(folder / name)
    artifact_path = f"evaluations/{result.evaluation_id}"
    client = open_tracking(project, create=True)
    run_id = str(result.model["run_id"])
    with mlflow_boundary(f"logging evaluation {result.evaluation_id}"):
        with tempfile.TemporaryDirectory() as tmp:
            for name in (JSON_NAME, HTML_NAME):
                (Path(tmp) / name).write_bytes((folder / name).read_bytes())
            client.log_artifacts(run_id, tmp, artifact_path)
        client.set_tag(run_id, TAG_PREFIX + "last_evaluation", result.evaluation_id)
    return RecordedEvaluation(folder / JSON_NAME, folder / HTML_NAME, artifact_path)
