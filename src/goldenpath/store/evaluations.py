"""The evaluations ``evaluate`` produced, as the store recorded them: what ``gate`` checks an
``evaluation.json`` read back from MLflow against (repositories over ``gp_evaluations``; they
take the caller's connection and return frozen dataclasses)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, select

from goldenpath.store.schema import evaluations

__all__ = ["EvaluationRecord", "evaluations_of_run", "get_evaluation", "insert_evaluation"]


@dataclass(frozen=True)
class EvaluationRecord:
    """One evaluation: whose (project, model, version or bare run), the SHA-256 of its JSON
    as written, the digest of the model artefact it evaluated, the fingerprint of its rows, and
    who made it when."""

    evaluation_id: str
    project: str
    model_name: str
    model_version: str | None  # None: a run without a registered version
    run_id: str
    evaluation_sha256: str
    artifact_sha256: str
    data_fingerprint: str
    created_at: str
    actor: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _record(row: Any) -> EvaluationRecord:
    return EvaluationRecord(**dict(row._mapping))


def insert_evaluation(connection: Connection, record: EvaluationRecord) -> None:
    connection.execute(evaluations.insert().values(**asdict(record)))


def get_evaluation(connection: Connection, evaluation_id: str) -> EvaluationRecord | None:
    row = connection.execute(
        select(evaluations).where(evaluations.c.evaluation_id == evaluation_id)
    ).first()
    return None if row is None else _record(row)


def evaluations_of_run(connection: Connection, run_id: str) -> list[EvaluationRecord]:
    """The recorded evaluations of one training run, newest first."""
    rows = connection.execute(
        select(evaluations)
        .where(evaluations.c.run_id == run_id)
        .order_by(evaluations.c.created_at.desc(), evaluations.c.evaluation_id)
    )
    return [_record(r) for r in rows]
