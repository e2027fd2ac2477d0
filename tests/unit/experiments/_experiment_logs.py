"""Generated experiment logs for the analysis tests: per-unit truth in numpy, written as Parquet
files in the server's log layout (``predictions/date=.../version=N/``, ``feedback/date=.../``)
with the experiment columns, so the analysis reads them as it reads a served log.

Values are multiples of 1/8 (latency, value, covariate), so sums are exact in any order and
DuckDB's sums can be compared with numpy's for equality."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from goldenpath.serving.logs import FEEDBACK_SCHEMA, prediction_schema
from goldenpath.spec.models import ColumnSpec

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# the server's own schemas, so these files stay what a served log holds when the log changes
PREDICTIONS = prediction_schema(
    {
        "spend": ColumnSpec(dtype="float"),
        "customer_id": ColumnSpec(dtype="str"),  # the contract's id column: the unit
    },
    "hash",
)
FEEDBACK = FEEDBACK_SCHEMA


@dataclass(frozen=True)
class Generated:
    """The rows written (numpy arrays, one entry per prediction row) and what was written."""

    unit: np.ndarray  # int unit index per row
    arm: np.ndarray  # "control"/"treatment" per row
    latency: np.ndarray
    degraded: np.ndarray  # bool
    prediction: np.ndarray  # "yes"/"no"
    spend: np.ndarray  # the covariate as logged on the row
    time: np.ndarray  # seconds after START
    label: np.ndarray  # the final label ("yes"/"no"/"" none)
    value: np.ndarray  # the final value (nan: none)

    def units(self) -> dict[str, np.ndarray]:
        """Per-unit truth for the units seen in one arm only: arm, rows and the sums."""
        order = np.lexsort((self.time, self.unit))
        unit = self.unit[order]
        ids, first = np.unique(unit, return_index=True)
        arms_first = self.arm[order][first]
        both = np.array([len(set(self.arm[self.unit == u])) > 1 for u in ids])

        def per_unit(values: np.ndarray) -> np.ndarray:
            return np.bincount(np.searchsorted(ids, self.unit), weights=values, minlength=len(ids))

        keep = ~both
        return {
            "id": ids[keep],
            "arm": arms_first[keep],
            "rows": per_unit(np.ones(len(self.unit)))[keep],
            "latency_ms": per_unit(self.latency)[keep],
            "degraded": per_unit(self.degraded.astype(float))[keep],
            "label": per_unit((self.label == "yes").astype(float))[keep],
            "value": per_unit(np.nan_to_num(self.value))[keep],
            "correct": per_unit((self.label == self.prediction).astype(float))[keep],
            "covariate": self.spend[order][first][keep],
            "both": np.array([int(both.sum())]),
        }


def generate(
    root: Path,
    *,
    units: int = 600,
    seed: int = 0,
    experiment: str = "price-test",
    treatment_share: float = 0.5,
    value_lift: float = 0.0,
    conversion_lift: float = 0.0,
    both_arms: int = 0,
    feedback_share: float = 0.7,
    corrections: int = 0,
    other_experiment_rows: int = 20,
) -> Generated:
    """Write a generated experiment's logs under ``root`` (the ``.goldenpath/logs`` folder)."""
    rng = np.random.default_rng(seed)
    unit_arm = np.where(rng.random(units) < treatment_share, "treatment", "control")
    per_unit_rows = 1 + rng.poisson(1.5, units)
    unit = np.repeat(np.arange(units), per_unit_rows)
    n = len(unit)
    arm = unit_arm[unit].copy()
    # a few units reach both arms (a second row in the other arm, later than the first)
    crossing = rng.choice(np.flatnonzero(per_unit_rows > 1), size=both_arms, replace=False)
    for u in crossing:
        rows = np.flatnonzero(unit == u)
        arm[rows[-1]] = "control" if unit_arm[u] == "treatment" else "treatment"
    treated = arm == "treatment"
    spend_unit = np.round(rng.gamma(2.0, 20.0, units) * 8) / 8
    spend = spend_unit[unit] + np.round(rng.normal(0, 2, n) * 8) / 8  # drifts across rows
    time = np.cumsum(rng.integers(1, 60, n)).astype(float)
    latency = np.round(rng.gamma(3.0, 4.0, n) * 8) / 8
    degraded = rng.random(n) < 0.02
    prediction = np.where(rng.random(n) < 0.4, "yes", "no")
    p = np.clip(0.2 + 0.004 * spend_unit[unit] + conversion_lift * treated, 0, 1)
    converted = rng.random(n) < p
    value = np.where(
        converted,
        np.round((rng.gamma(2.0, 10.0, n) + 0.2 * spend_unit[unit] + value_lift * treated) * 8) / 8,
        0.0,
    )
    has_feedback = rng.random(n) < feedback_share
    label = np.where(has_feedback, np.where(converted, "yes", "no"), "")
    final_value = np.where(has_feedback, value, np.nan)
    request_id = np.array([f"req-{i:07d}" for i in range(n)])

    stamps = [START + timedelta(seconds=float(t)) for t in time]
    columns = {
        "request_id": request_id,
        "row": np.zeros(n, dtype=np.int32),
        "timestamp": stamps,
        "model_name": ["churn"] * n,
        "model_version": np.where(treated, "2", "1"),
        "route": np.where(treated, "challenger", "champion"),
        "kind": ["served"] * n,
        "latency_ms": latency,
        "degraded": degraded,
        "prediction": prediction,
        "prediction_value": [None] * n,
        "score": rng.random(n),
        "event_time": [None] * n,
        "experiment": [experiment] * n,
        "arm": arm,
        "unit": [f"user-{u}" for u in unit],
        "spend": spend,
        "customer_id": [f"user-{u}" for u in unit],
    }
    table = pa.table(columns, schema=PREDICTIONS)
    day = np.array([s.date().isoformat() for s in stamps])
    version = np.where(treated, "2", "1")
    for d in np.unique(day):
        for v in ("1", "2"):
            mask = (day == d) & (version == v)
            if mask.any():
                folder = root / "predictions" / f"date={d}" / f"version={v}"
                folder.mkdir(parents=True, exist_ok=True)
                pq.write_table(table.filter(pa.array(mask)), folder / f"part-{d}-{v}.parquet")
    # rows of another experiment, and shadow rows of this one: never counted
    if other_experiment_rows:
        other = table.slice(0, other_experiment_rows)
        other = other.set_column(
            other.schema.get_field_index("experiment"),
            "experiment",
            pa.array(["another"] * other.num_rows),
        )
        shadow = table.slice(0, other_experiment_rows).set_column(
            table.schema.get_field_index("kind"),
            "kind",
            pa.array(["shadow"] * other_experiment_rows),
        )
        folder = root / "predictions" / f"date={day[0]}" / "version=3"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.concat_tables([other, shadow]), folder / "part-other.parquet")

    # feedback: the final label and value; corrections: an earlier wrong label first
    sent = np.flatnonzero(has_feedback)
    corrected = rng.choice(sent, size=min(corrections, len(sent)), replace=False)
    first_rows = {
        "request_id": request_id[corrected],
        "row": np.zeros(len(corrected), dtype=np.int32),
        "timestamp": [stamps[i] + timedelta(minutes=5) for i in corrected],
        "label": np.where(label[corrected] == "yes", "no", "yes"),
        "label_value": [None] * len(corrected),
        "correction": np.zeros(len(corrected), dtype=bool),
        "credential": [None] * len(corrected),
        "value": final_value[corrected] + 100.0,
    }
    final_rows = {
        "request_id": request_id[sent],
        "row": np.zeros(len(sent), dtype=np.int32),
        "timestamp": [stamps[i] + timedelta(minutes=30) for i in sent],
        "label": label[sent],
        "label_value": [None] * len(sent),
        "correction": np.isin(sent, corrected),
        "credential": [None] * len(sent),
        "value": final_value[sent],
    }
    folder = root / "feedback" / f"date={day[0]}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(first_rows, schema=FEEDBACK), folder / "part-1.parquet")
    pq.write_table(pa.table(final_rows, schema=FEEDBACK), folder / "part-2.parquet")
    return Generated(
        unit=unit,
        arm=arm,
        latency=latency,
        degraded=degraded,
        prediction=prediction,
        spend=spend,
        time=time,
        label=label,
        value=final_value,
    )
