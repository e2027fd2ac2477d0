"""Windows of the prediction log and their mergeable state.

A window is a span of time (``1h``: every hour since the epoch) or a run of consecutive rows
(``5000-rows``: the stream's rows in timestamp order, 5,000 at a time). Its state is made of
mergeable parts only (feature and output profiles on the reference's bins, a score sketch for
CBPE, a loss sketch for DLE, counts per route and of values outside the contract), so rows that
arrive in a later run are added to the window exactly, without reading the earlier rows again.
The store keeps it as a :class:`WindowRecord`.

Time windows keep time by the stream's clock (:mod:`goldenpath.monitoring.logs`): a row's
``timestamp`` here is its window time, its event time with the event clock (its arrival time when
it has none, counted in ``event_time_missing``), its arrival time otherwise. Row windows always
count rows in arrival order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from goldenpath.monitoring._document import Document
from goldenpath.monitoring.estimation import ScoreCalibration, ScoreSketch
from goldenpath.monitoring.logs import EVENT_TIME_MISSING
from goldenpath.monitoring.loss_estimation import LossEstimator, LossSketch
from goldenpath.monitoring.profile import CategoricalProfile, FrameProfile, profile_frame
from goldenpath.spec.models import ColumnSpec

__all__ = ["WindowRecord", "WindowState", "out_of_range", "row_keys", "window_keys"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    """Always with microseconds, so stored times compare as text and parse with one format."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def window_keys(timestamps: pd.Series, kind: str, size: int, offset: int = 0) -> np.ndarray:
    """The window index of each row: its window time's seconds since the epoch // size for time
    windows (a window is [start, end): a row at its end belongs to the next); for row windows
    (rows in timestamp order), (offset + position) // size."""
    if kind == "time":
        micros = timestamps.astype("datetime64[us, UTC]").astype("int64").to_numpy()
        return np.floor_divide(micros, size * 1_000_000)
    return np.floor_divide(np.arange(offset, offset + len(timestamps)), size)


def row_keys(frame: pd.DataFrame) -> pd.Series:
    """Each row's place in the order of row windows (timestamp, request id, row) as text that
    sorts the same way."""
    stamps = pd.to_datetime(frame["timestamp"], utc=True)
    text = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
    rows = frame["row"].astype("int64").map("{:010d}".format)
    return text + "|" + frame["request_id"].astype(str) + "|" + rows


def out_of_range(frame: pd.DataFrame, columns: dict[str, ColumnSpec]) -> dict[str, int]:
    """Rows per feature outside the contract's min/max or allowed values (missing excluded)."""
    counts: dict[str, int] = {}
    for name in frame.columns:
        spec = columns.get(name)
        if spec is None:
            continue
        values = frame[name]
        bad = pd.Series(False, index=values.index)
        if spec.min is not None or spec.max is not None:
            numbers = pd.to_numeric(values, errors="coerce")
            if spec.min is not None:
                bad |= numbers < spec.min
            if spec.max is not None:
                bad |= numbers > spec.max
        if spec.allowed is not None:  # contract values are typed as the column is
            bad |= values.notna() & ~values.isin(list(spec.allowed))
        counts[name] = int(bad.sum())
    return counts


class WindowRecord(Document):
    """A window's mergeable state as the store keeps it (its index, kind and size are the
    store's keys and the stream's)."""

    rows: int
    first: str | None
    last: str | None
    first_key: str | None = None
    features: FrameProfile | None
    outputs: FrameProfile | None
    scores: ScoreSketch | None
    routes: dict[str, int]
    out_of_range: dict[str, int]
    loss: LossSketch | None = None  # regressors' expected errors (None before DLE)
    event_time_missing: int = 0  # event clock: rows without an event time, windowed by arrival


@dataclass
class WindowState:
    index: int
    kind: str  # time or rows
    size: int  # seconds or rows
    rows: int = 0
    first: str | None = None  # earliest and latest window time seen
    last: str | None = None
    first_key: str | None = None  # row windows: the first row's sort key (row_keys)
    features: FrameProfile | None = None
    outputs: FrameProfile | None = None
    scores: ScoreSketch | None = None
    routes: dict[str, int] = field(default_factory=dict)
    out_of_range: dict[str, int] = field(default_factory=dict)
    loss: LossSketch | None = None
    event_time_missing: int = 0  # rows windowed by arrival: their event time was null

    @property
    def start(self) -> str:
        if self.kind == "time":
            return _iso(EPOCH + timedelta(seconds=self.index * self.size))
        return self.first or ""

    @property
    def end(self) -> str | None:
        if self.kind == "time":
            return _iso(EPOCH + timedelta(seconds=(self.index + 1) * self.size))
        return self.last

    def complete(self, now: datetime) -> bool:
        if self.kind == "time":
            return now >= EPOCH + timedelta(seconds=(self.index + 1) * self.size)
        return self.rows >= self.size

    @classmethod
    def of(
        cls,
        index: int,
        kind: str,
        size: int,
        part: pd.DataFrame,
        *,
        features: list[str],
        outputs: list[str],
        reference_features: FrameProfile,
        reference_outputs: FrameProfile,
        calibration: ScoreCalibration | None,
        contract: dict[str, ColumnSpec],
        version: str | None,
        loss: LossEstimator | None = None,
    ) -> WindowState:
        """The state of the rows ``part`` (all in window ``index``). Outputs, scores and
        expected errors are those of the reference's model ``version`` only (another version's
        are not comparable); inputs are everyone's."""
        stamps = part["timestamp"]
        absent = [c for c in features if c not in part]
        if absent:  # files without a feature (a producer stopped sending it): all missing
            part = part.assign(
                **{c: pd.Series(None, index=part.index, dtype=object) for c in absent}
            )
        own = part
        if version is not None and "model_version" in part:
            own = part[part["model_version"].astype(str) == version]
        output_frame = own[outputs].copy()
        predicted = reference_outputs.features.get("prediction")
        if "prediction" in output_frame and isinstance(predicted, CategoricalProfile):
            output_frame["prediction"] = output_frame["prediction"].astype("string")
        scores = None
        if calibration is not None and "score" in own:
            present = own["score"].dropna().to_numpy(dtype="float64")
            scores = ScoreSketch.of(present, calibration)
        loss_sketch = None
        if loss is not None and "prediction" in own:
            loss_sketch = LossSketch.of(loss, own, own["prediction"])
        return cls(
            index,
            kind,
            size,
            rows=len(part),
            first=_iso(stamps.min().to_pydatetime()),
            last=_iso(stamps.max().to_pydatetime()),
            first_key=str(row_keys(part).min()) if kind == "rows" else None,
            features=profile_frame(part[features], reference_features),
            outputs=profile_frame(output_frame, reference_outputs),
            scores=scores,
            routes={str(k): int(v) for k, v in Counter(part["route"].astype(str)).items()},
            out_of_range=out_of_range(part[features], contract),
            loss=loss_sketch,
            event_time_missing=(
                int(part[EVENT_TIME_MISSING].sum()) if EVENT_TIME_MISSING in part else 0
            ),
        )

    def merged(self, other: WindowState) -> WindowState:
        def joined(a: Any, b: Any) -> Any:
            return b if a is None else a if b is None else a.merged(b)

        def added(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
            return {k: a.get(k, 0) + b.get(k, 0) for k in sorted({*a, *b})}

        firsts = [t for t in (self.first, other.first) if t]
        lasts = [t for t in (self.last, other.last) if t]
        keys = [k for k in (self.first_key, other.first_key) if k]
        return WindowState(
            self.index,
            self.kind,
            self.size,
            self.rows + other.rows,
            min(firsts) if firsts else None,
            max(lasts) if lasts else None,
            min(keys) if keys else None,
            joined(self.features, other.features),
            joined(self.outputs, other.outputs),
            joined(self.scores, other.scores),
            added(self.routes, other.routes),
            added(self.out_of_range, other.out_of_range),
            joined(self.loss, other.loss),
            self.event_time_missing + other.event_time_missing,
        )

    def record(self) -> WindowRecord:
        return WindowRecord(
            rows=self.rows,
            first=self.first,
            last=self.last,
            first_key=self.first_key,
            features=self.features,
            outputs=self.outputs,
            scores=self.scores,
            routes=self.routes,
            out_of_range=self.out_of_range,
            loss=self.loss,
            event_time_missing=self.event_time_missing,
        )

    @classmethod
    def of_record(cls, index: int, kind: str, size: int, record: WindowRecord) -> WindowState:
        return cls(
            index,
            kind,
            size,
            record.rows,
            record.first,
            record.last,
            record.first_key,
            record.features,
            record.outputs,
            record.scores,
            dict(record.routes),
            dict(record.out_of_range),
            record.loss,
            record.event_time_missing,
        )
