"""What monitoring keeps on disk reads back as it was written, and as earlier versions wrote it:
``reference.json`` (a :class:`ReferenceRecord`) and a window's state (a :class:`WindowRecord`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from goldenpath.monitoring.estimation import ScoreCalibration, ScoreSketch
from goldenpath.monitoring.profile import CategoricalProfile, NumericProfile, profile_frame
from goldenpath.monitoring.reference import Reference, ReferenceRecord
from goldenpath.monitoring.windows import WindowRecord

# reference.json as Reference.to_dict wrote it before the records were typed
OLD_REFERENCE = """{"run_id": "abc", "model_version": null,
 "features": {"rows": 4, "features": {
   "age": {"kind": "numeric", "edges": [30.0], "counts": [2, 2], "missing": 0, "n": 4,
           "total": 140.0, "total_sq": 5400.0, "low": 20.0, "high": 50.0},
   "plan": {"kind": "categorical", "categories": ["basic", "__other__"], "counts": [3, 1],
            "missing": 0, "unseen": {}}}},
 "outputs": {"rows": 2, "features": {
   "score": {"kind": "numeric", "edges": [0.5], "counts": [1, 1], "missing": 0, "n": 2,
             "total": 1.0, "total_sq": 0.58, "low": 0.2, "high": 0.8}}},
 "calibration": {"x": [0.0, 1.0], "y": [0.1, 0.9], "threshold": 0.5},
 "metrics": {"accuracy": 0.75, "roc_auc": 0.8}, "evaluation_rows": 2}"""


def test_a_reference_written_before_the_typed_records_loads() -> None:
    record = ReferenceRecord.model_validate_json(OLD_REFERENCE)
    age, plan = record.features.features["age"], record.features.features["plan"]
    assert isinstance(age, NumericProfile)
    assert (age.edges, age.counts, age.n, age.total) == ([30.0], [2, 2], 4, 140.0)
    assert isinstance(plan, CategoricalProfile)
    assert plan.categories == ["basic", "__other__"]
    assert record.calibration == ScoreCalibration(x=[0.0, 1.0], y=[0.1, 0.9], threshold=0.5)
    # written again, it reads back the same
    assert ReferenceRecord.model_validate_json(record.model_dump_json()) == record


def test_a_reference_round_trips_with_its_sample() -> None:
    frame = pd.DataFrame({"age": [20.0, 30.0, np.nan, 50.0], "plan": ["a", "b", "a", None]})
    reference = Reference(
        "run",
        "3",
        profile_frame(frame),
        profile_frame(pd.DataFrame({"score": [0.2, 0.9]})),
        None,
        {"accuracy": 0.5},
        2,
        frame,
    )
    text = reference.record().model_dump_json()
    back = Reference.of_record(ReferenceRecord.model_validate_json(text), frame)
    assert back.record() == reference.record()
    assert '"kind":"numeric"' in text  # each profile says which kind it is


def test_a_window_state_round_trips() -> None:
    scores = np.random.default_rng(0).random(500)
    calibration = ScoreCalibration.identity()
    record = WindowRecord(
        rows=500,
        first="2026-01-01T00:00:00.000000+00:00",
        last="2026-01-01T00:08:19.000000+00:00",
        features=profile_frame(pd.DataFrame({"x": scores})),
        outputs=None,
        scores=ScoreSketch.of(scores, calibration),
        routes={"champion": 500},
        out_of_range={"x": 0},
    )
    assert WindowRecord.model_validate_json(record.model_dump_json()) == record
