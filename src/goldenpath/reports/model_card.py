"""``goldenpath card``: gather a version's evidence (spec, run lineage, latest decision and its
evaluation, approvals, alias history), render the model card, write it under
``.goldenpath/cards/<name>-v<version>/`` and log it to the version's MLflow run
(``model_card/``)."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from goldenpath._files import write_atomic
from goldenpath.auth.principal import acting
from goldenpath.errors import RecordNotFound, RunNotFound
from goldenpath.evaluation.document import ModelInfo
from goldenpath.evaluation.evaluate import resolve_model
from goldenpath.evaluation.record import load_evaluation
from goldenpath.project import Project
from goldenpath.reports.card import CardContext, render_card_html, render_card_markdown
from goldenpath.store import Store, open_store
from goldenpath.store.access import authorize, record
from goldenpath.store.audit import now
from goldenpath.store.records import approvals_of, decisions_of, promotion_history
from goldenpath.training.tracking import mlflow_boundary, require_tracking

__all__ = ["WrittenCard", "write_model_card"]

CARD_ARTIFACT_DIR = "model_card"


@dataclass(frozen=True)
class WrittenCard:
    model: str
    markdown_path: Path
    html_path: Path
    artifact_path: str
    decision_id: str | None
    evaluation_id: str | None

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["markdown_path"] = str(self.markdown_path)
        out["html_path"] = str(self.html_path)
        return out


def write_model_card(project: Project, ref: str, *, store: Store | None = None) -> WrittenCard:
    """The model card of version ``ref`` from the recorded evidence (role developer)."""
    store = store or open_store(project)
    actor = acting(store)
    with store.transaction() as connection:
        authorize(connection, actor, "developer", project=project.name, action="write a card")
    model = resolve_model(project, ref)
    if model.version is None:
        raise RecordNotFound(
            f"{ref} is a run without a registered model version; cards describe versions",
            hint=f"name the version: {project.name}/VERSION",
        )
    label = f"{model.name}/{model.version}"
    with store.transaction() as connection:
        decisions = decisions_of(connection, model.name, model.version)
        decision = decisions[0] if decisions else None
        approvals = [] if decision is None else approvals_of(connection, decision.decision_id)
        moves = [
            p
            for p in promotion_history(connection, project.name)
            if p.state == "completed" and model.version in (p.to_version, p.from_version)
        ]
    try:
        evaluation = load_evaluation(
            project, model.run_id, None if decision is None else decision.evaluation_id
        )
    except RunNotFound:
        evaluation = None
    client = require_tracking(project)
    run = client.get_run(model.run_id)
    context = CardContext(
        spec=project.spec,
        model=ModelInfo(name=model.name, version=model.version, run_id=model.run_id, uri=model.uri),
        run_tags=dict(run.tags),
        run_params=dict(run.params),
        run_metrics={k: float(v) for k, v in run.metrics.items()},
        evaluation=None if evaluation is None else evaluation.document,
        decision=decision,
        approvals=list(approvals),
        promotions=moves,
        generated_at=now(),
    )
    folder = project.state_dir / "cards" / f"{model.name}-v{model.version}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "model_card.md": render_card_markdown(context),
        "model_card.html": render_card_html(context),
    }
    for name, text in paths.items():  # atomically: no half-written card after a crash
        write_atomic(folder / name, text)
    with (
        mlflow_boundary(f"logging the model card of {label}"),
        tempfile.TemporaryDirectory() as tmp,
    ):
        for name in paths:
            (Path(tmp) / name).write_bytes((folder / name).read_bytes())
        client.log_artifacts(model.run_id, tmp, CARD_ARTIFACT_DIR)
    with store.transaction() as connection:
        record(
            connection,
            actor=actor,
            action="card",
            project=project.name,
            subject=label,
            payload={
                "decision_id": None if decision is None else decision.decision_id,
                "evaluation_id": None if evaluation is None else evaluation.evaluation_id,
            },
        )
    return WrittenCard(
        model=label,
        markdown_path=folder / "model_card.md",
        html_path=folder / "model_card.html",
        artifact_path=CARD_ARTIFACT_DIR,
        decision_id=None if decision is None else decision.decision_id,
        evaluation_id=None if evaluation is None else evaluation.evaluation_id,
    )
