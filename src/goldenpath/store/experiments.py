"""Experiments as the store records them (repositories over ``gp_experiments``; they take the
caller's connection and return frozen dataclasses): one online A/B test of a project, from its
start to its stop or ship."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from sqlalchemy import Connection, select

from goldenpath.store.schema import experiments

__all__ = [
    "Experiment",
    "ExperimentStatus",
    "experiments_of",
    "get_experiment",
    "insert_experiment",
    "running_experiment",
    "update_experiment",
]

ExperimentStatus = Literal["running", "stopped", "shipped"]
Decision = Literal["ship", "stop"]


@dataclass(frozen=True)
class Experiment:
    """One experiment: the spec entry as started (``spec``, canonical JSON, and its SHA-256),
    the versions its arms resolved to at the start, the unit column, allocation and salt the
    server assigns by; its status, who started and stopped it and why (``reason``), and the
    decision (None: stopped by a guardrail and not decided yet), who took it and why, with the
    promotion that shipped it."""

    experiment_id: str
    project: str
    name: str
    spec_sha256: str
    spec: str
    control_version: str
    treatment_version: str
    unit: str
    allocation: float
    salt: str
    status: ExperimentStatus
    started_at: str
    started_by: str
    stopped_at: str | None = None
    stopped_by: str | None = None
    reason: str | None = None
    decision: Decision | None = None
    decided_by: str | None = None
    decided_at: str | None = None
    decision_reason: str | None = None
    promotion_id: int | None = None

    @property
    def running(self) -> bool:
        return self.status == "running"

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        del out["spec"]
        return out


def _experiment(row: Any) -> Experiment:
    return Experiment(**dict(row._mapping))


def insert_experiment(connection: Connection, experiment: Experiment) -> None:
    connection.execute(experiments.insert().values(**asdict(experiment)))


def get_experiment(connection: Connection, project: str, name: str) -> Experiment | None:
    row = connection.execute(
        select(experiments).where(experiments.c.project == project, experiments.c.name == name)
    ).first()
    return None if row is None else _experiment(row)


def running_experiment(connection: Connection, project: str) -> Experiment | None:
    """The project's running experiment (None: none runs)."""
    row = connection.execute(
        select(experiments)
        .where(experiments.c.project == project, experiments.c.status == "running")
        .order_by(experiments.c.started_at.desc(), experiments.c.experiment_id)
    ).first()
    return None if row is None else _experiment(row)


def experiments_of(connection: Connection, project: str) -> list[Experiment]:
    """The project's experiments, newest first."""
    rows = connection.execute(
        select(experiments)
        .where(experiments.c.project == project)
        .order_by(experiments.c.started_at.desc(), experiments.c.experiment_id)
    )
    return [_experiment(r) for r in rows]


def update_experiment(
    connection: Connection, experiment_id: str, *, expected: ExperimentStatus, **values: Any
) -> bool:
    """Set ``values`` on the experiment if its status is still ``expected``; False when it was
    not (another process stopped or shipped it meanwhile)."""
    done = connection.execute(
        experiments.update()
        .where(experiments.c.experiment_id == experiment_id, experiments.c.status == expected)
        .values(**values)
    )
    return done.rowcount == 1
