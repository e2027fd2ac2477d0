"""The rows a run was trained or tested on, recovered from its recorded split.

A run records its split as row positions in the canonical order of its dataset; the positions
mean the same rows only while the data has the same content fingerprint, so the fingerprint is
checked first.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from goldenpath.data.dataset import Dataset
from goldenpath.errors import FingerprintMismatch
from goldenpath.training.run import SPLIT_ARTIFACT
from goldenpath.training.tracking import TAG_PREFIX, Tracking

__all__ = ["run_rows"]


def run_rows(
    client: Tracking,
    run_id: str,
    dataset: Dataset,
    part: Literal["train", "test"],
    *,
    hint: str,
) -> pd.DataFrame:
    """The ``part`` rows of run ``run_id`` in ``dataset``; FingerprintMismatch (with ``hint``)
    when the data changed since the run."""
    recorded = client.get_run(run_id).tags.get(TAG_PREFIX + "dataset_fingerprint")
    if dataset.fingerprint != recorded:
        rows = "training" if part == "train" else "held-out"
        raise FingerprintMismatch(
            f"the data of run {run_id} has changed since training, so its {rows} rows cannot "
            "be recovered",
            hint=hint,
            details={"recorded": recorded, "current": dataset.fingerprint},
        )
    split = client.load_json(run_id, SPLIT_ARTIFACT)
    return dataset.rows(np.asarray(split[f"{part}_positions"], dtype=np.int64))
