"""A project's dataset: read from its source, checked against its contract, put in canonical
order, fingerprinted and split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from goldenpath.data.contract import validate_frame
from goldenpath.data.fingerprint import dataset_fingerprint, row_hashes, schema_hash
from goldenpath.data.sources import read_source, source_label
from goldenpath.data.split import Split, split_rows
from goldenpath.spec.models import Spec

__all__ = ["Dataset", "load_dataset"]


@dataclass(frozen=True)
class Dataset:
    """Validated data in canonical order (sorted by row content), so that a split by seed
    depends only on the data's content, never on the order of rows in the file."""

    frame: pd.DataFrame
    source: str
    fingerprint: str
    schema_hash: str

    @property
    def n_rows(self) -> int:
        return len(self.frame)

    def split(self, spec: Spec) -> Split:
        return split_rows(
            self.frame,
            spec.data.split,
            task=spec.task.type,
            target=spec.task.target,
            time_column=spec.data.time_column,
        )

    def rows(self, positions: np.ndarray) -> pd.DataFrame:
        return self.frame.iloc[positions].reset_index(drop=True)


def load_dataset(spec: Spec, root: Path, *, source: str | None = None) -> Dataset:
    """Read ``source`` (default: the spec's ``data.source``) and validate it."""
    where = source or spec.data.source
    label = source_label(where, root)
    raw = read_source(where, root)
    frame = validate_frame(raw, spec.data.contract, source=label)
    order = np.argsort(row_hashes(frame), kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    contract = spec.data.contract.model_dump(mode="json")
    return Dataset(
        frame=frame,
        source=label,
        fingerprint=dataset_fingerprint(frame),
        schema_hash=schema_hash(contract),
    )
