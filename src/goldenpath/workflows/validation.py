"""``validate`` as a library verb: the spec (gates included) and the data against its contract."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from goldenpath.data import load_dataset
from goldenpath.gates import check_gates
from goldenpath.project import Project

__all__ = ["Validation", "validate"]


@dataclass(frozen=True)
class Validation:
    """What ``goldenpath validate`` reports: the data honours the contract, and how it splits."""

    project: str
    source: str
    rows: int
    columns: int
    train_rows: int
    test_rows: int
    dataset_fingerprint: str
    schema_hash: str
    valid: bool = True  # a contract violation raises instead

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def validate(project: Project, *, data: str | None = None) -> Validation:
    """Check the spec's gates against its metrics, then read ``data`` (default: the spec's
    ``data.source``) and check every row against the contract, reporting all failures at once
    (:class:`~goldenpath.errors.ContractViolation`). Reads only: nothing is written."""
    check_gates(project.spec)
    dataset = load_dataset(project.spec, project.root, source=data)
    split = dataset.split(project.spec)
    return Validation(
        project=project.name,
        source=dataset.source,
        rows=dataset.n_rows,
        columns=len(dataset.frame.columns),
        train_rows=len(split.train),
        test_rows=len(split.test),
        dataset_fingerprint=dataset.fingerprint,
        schema_hash=dataset.schema_hash,
    )
