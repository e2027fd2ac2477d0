"""Train/test splits: random (stratified, seeded) or by time, over rows in canonical order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from goldenpath.errors import SplitError
from goldenpath.spec.models import SplitSpec, TaskType

__all__ = ["Split", "split_rows"]


@dataclass(frozen=True)
class Split:
    """Row positions (in the dataset's canonical order) of the training and test sets."""

    train: np.ndarray
    test: np.ndarray


def split_rows(
    frame: pd.DataFrame,
    spec: SplitSpec,
    *,
    task: TaskType,
    target: str,
    time_column: str | None,
) -> Split:
    """Split ``frame`` as ``spec`` says. Positions are sorted ascending."""
    n = len(frame)
    if spec.method == "time":
        assert time_column is not None  # the spec validator guarantees it
        try:
            cutoff = pd.Timestamp(str(spec.cutoff))
        except (ValueError, TypeError):
            raise SplitError(
                f"data.split.cutoff {spec.cutoff!r} is not a date or time",
                hint="write it as an ISO date, e.g. 2024-01-31",
            ) from None
        is_test = (frame[time_column] >= cutoff).to_numpy()
        train, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    else:
        from sklearn.model_selection import train_test_split

        stratify = frame[target].to_numpy() if spec.stratify and task != "regression" else None
        try:
            train, test = train_test_split(
                np.arange(n),
                test_size=spec.test_fraction,
                random_state=spec.seed,
                stratify=stratify,
            )
        except ValueError as exc:
            raise SplitError(
                f"cannot split {n} rows with test_fraction={spec.test_fraction}: {exc}",
                hint="use more data, another test_fraction, or set data.split.stratify: false",
            ) from None
    if len(train) == 0 or len(test) == 0:
        empty = "training" if len(train) == 0 else "test"
        raise SplitError(
            f"the split leaves the {empty} set empty ({n} rows)",
            hint="move data.split.cutoff or change data.split.test_fraction",
        )
    return Split(train=np.sort(train), test=np.sort(test))
