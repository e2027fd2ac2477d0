"""``POST /feedback``'s checks on their own: only answered ids, no more labels than rows, labels
the target column allows, corrections; the ids a server knows at start-up, read from real
prediction-log files; monitoring takes the latest label of a row, also from old files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from goldenpath.monitoring.logs import PredictionLog
from goldenpath.serving.answered import AnsweredRequests
from goldenpath.serving.feedback import UnknownRequestId, feedback_rows
from goldenpath.serving.logs import FEEDBACK_SCHEMA, LogWriter, partition_for, prediction_schema
from goldenpath.serving.validation import RequestRefused, value_check
from goldenpath.spec.models import ColumnSpec
from goldenpath.spec.serving import FeedbackSpec, LimitsSpec, LogSpec

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
LIMITS = LimitsSpec()
LABEL = value_check(ColumnSpec(dtype="str", allowed=["no", "yes"], nullable=True), LIMITS)


def _answered(**ids: int) -> AnsweredRequests:
    answered = AnsweredRequests(Path("/nonexistent"), capacity=100, days=0)
    for request_id, rows in ids.items():
        answered.add(request_id, rows)
    return answered


def _rows(body: Any, answered: AnsweredRequests, **kw: Any) -> dict[str, list[Any]]:
    return feedback_rows(body, LIMITS, NOW, answered=answered, check=LABEL, **kw)


def _refusal(body: Any, answered: AnsweredRequests) -> tuple[int, str, str]:
    with pytest.raises(RequestRefused) as caught:
        _rows(body, answered)
    return caught.value.status, caught.value.code, caught.value.message


def test_labels_of_answered_requests_become_rows_with_the_credential() -> None:
    answered = _answered(a=2, b=1)
    rows = _rows(
        [{"request_id": "a", "labels": ["yes", None]}, {"request_id": "b", "labels": ["no"]}],
        answered,
        credential="cred-7",
    )
    assert rows["request_id"] == ["a", "a", "b"]
    assert rows["row"] == [0, 1, 0]
    assert rows["label"] == ["yes", None, "no"]
    assert rows["correction"] == [False, False, False]
    assert rows["credential"] == ["cred-7"] * 3
    assert set(rows) == set(FEEDBACK_SCHEMA.names)


def test_unknown_ids_extra_rows_and_bad_labels_are_refused_whole() -> None:
    answered = _answered(a=2)
    status, code, message = _refusal(
        [{"request_id": "a", "labels": ["yes"]}, {"request_id": "never", "labels": ["no"]}],
        answered,
    )
    assert (status, code) == (422, "unknown_request_id")
    assert "item 1" in message
    assert _refusal({"request_id": "a", "labels": ["yes", "no", "no"]}, answered)[:2] == (
        422,
        "invalid_feedback",
    )
    status, code, message = _refusal({"request_id": "a", "labels": ["yes", "maybe"]}, answered)
    assert (status, code) == (422, "invalid_label")
    assert message.startswith("item 0, label 1: 'maybe' is not an allowed value")
    assert _refusal({"request_id": "a", "labels": [1]}, answered)[1] == "invalid_label"
    assert _refusal({"request_id": "a", "labels": [{"x": 1}]}, answered)[1] == "invalid_label"
    twice = [{"request_id": "a", "labels": ["yes"]}, {"request_id": "a", "labels": ["no"]}]
    assert "already in item 0" in _refusal(twice, answered)[2]
    # nothing of the refused bodies marked a row labelled: the first real label is no correction
    assert _rows({"request_id": "a", "labels": ["yes", "no"]}, answered)["correction"] == [
        False,
        False,
    ]
    with pytest.raises(UnknownRequestId):
        _rows({"request_id": "b", "labels": ["yes"]}, answered)


def test_numeric_targets_are_checked_against_their_range() -> None:
    check = value_check(ColumnSpec(dtype="int", min=0, max=10, nullable=True), LIMITS)
    answered = _answered(r=3)
    rows = feedback_rows(
        {"request_id": "r", "labels": [3.0, None, 10]}, LIMITS, NOW, answered=answered, check=check
    )
    assert rows["label"] == ["3", None, "10"]  # 3.0 as the int column holds it
    assert rows["label_value"] == [3.0, None, 10.0]
    for bad in (11, -1, 2.5, "3", True):
        with pytest.raises(RequestRefused, match="item 0, label 0"):
            feedback_rows(
                {"request_id": "r", "labels": [bad]}, LIMITS, NOW, answered=answered, check=check
            )


def test_a_second_label_is_a_correction_and_null_is_no_label() -> None:
    answered = _answered(a=3)
    first = _rows({"request_id": "a", "labels": ["yes", None]}, answered)
    assert first["correction"] == [False, False]
    second = _rows({"request_id": "a", "labels": ["no", "yes", "no"]}, answered)
    assert second["correction"] == [True, False, False]
    assert _rows({"request_id": "a", "labels": [None, "no"]}, answered)["correction"] == [
        False,
        True,
    ]


def test_the_oldest_ids_are_forgotten_past_the_capacity() -> None:
    answered = AnsweredRequests(Path("/nonexistent"), capacity=3, days=0)
    for i in range(5):
        answered.add(f"r{i}", 1)
    assert len(answered) == 3
    assert answered.forgotten == 2
    assert [answered.rows_of(f"r{i}") for i in range(5)] == [None, None, 1, 1, 1]


def _predictions(root: Path, when: datetime, ids: list[str], kind: str = "served") -> None:
    columns = {"age": ColumnSpec(dtype="int")}
    writer = LogWriter(root, prediction_schema(columns, "hash"), LogSpec())
    for rid in ids:
        rows = 2 if rid.endswith("2") else 1
        values = {
            "request_id": [rid] * rows,
            "row": list(range(rows)),
            "timestamp": [when] * rows,
            "kind": [kind] * rows,
            "model_version": ["1"] * rows,
            "prediction": ["yes"] * rows,
            "age": [40] * rows,
        }
        writer.append(partition_for("predictions", when, "1"), values, rows)
    writer.close()


def test_start_up_knows_the_ids_served_in_the_last_days(tmp_path: Path) -> None:
    _predictions(tmp_path, NOW - timedelta(days=1), ["old-1", "old-2"])
    _predictions(tmp_path, NOW - timedelta(days=1), ["shadowed"], kind="shadow")
    _predictions(tmp_path, NOW - timedelta(days=9), ["ancient"])
    feedback = LogWriter(tmp_path, FEEDBACK_SCHEMA, LogSpec())
    labelled = {"request_id": ["old-2"], "row": [1], "timestamp": [NOW], "label": ["yes"]}
    feedback.append(partition_for("feedback", NOW), labelled, 1)
    feedback.close()

    answered = AnsweredRequests(tmp_path, capacity=100, days=7)
    assert answered.load(NOW) == 2
    assert answered.rows_of("old-1") == 1
    assert answered.rows_of("old-2") == 2
    assert answered.rows_of("shadowed") is None
    assert answered.rows_of("ancient") is None
    assert answered.label("old-2", [0, 1]) == [False, True]  # row 1 was labelled before

    small = AnsweredRequests(tmp_path, capacity=1, days=30)
    assert small.load(NOW) == 1  # the newest only
    assert AnsweredRequests(tmp_path, capacity=100, days=0).load(NOW) == 0


def test_ids_another_worker_wrote_are_found_by_a_refresh(tmp_path: Path) -> None:
    answered = AnsweredRequests(tmp_path, capacity=100, days=7)
    answered.load()
    now = datetime.now(UTC)
    _predictions(tmp_path, now, ["elsewhere-1"])
    assert answered.rows_of("elsewhere-1") is None
    assert answered.refresh() == 1
    assert answered.rows_of("elsewhere-1") == 1
    assert answered.refresh() == 0  # files read once


def _labels_file(folder: Path, rows: list[dict[str, Any]], schema: pa.Schema) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / f"part-{len(rows)}.parquet")


def test_monitoring_takes_the_latest_label_also_from_files_without_the_new_columns(
    tmp_path: Path,
) -> None:
    _predictions(tmp_path, NOW, ["a-1", "b-1", "c-1"])
    old = pa.schema([f for f in FEEDBACK_SCHEMA if f.name not in ("correction", "credential")])
    day = tmp_path / "feedback" / f"date={NOW.date()}"
    _labels_file(
        day / "old",
        [
            {"request_id": "a-1", "row": 0, "timestamp": NOW, "label": "no"},
            {"request_id": "b-1", "row": 0, "timestamp": NOW, "label": "no"},
        ],
        old,
    )
    log = PredictionLog(tmp_path)
    only_old = log.labelled([f.path for f in log.files("feedback")])
    assert dict(zip(only_old["request_id"], only_old["label"], strict=True)) == {
        "a-1": "no",
        "b-1": "no",
    }
    later = NOW + timedelta(minutes=5)
    _labels_file(
        day / "new",
        [
            # a correction of a-1, and a null (no label) for b-1 that does not undo its label
            {"request_id": "a-1", "row": 0, "timestamp": later, "label": "yes", "correction": True},
            {"request_id": "b-1", "row": 0, "timestamp": later, "label": None},
            {"request_id": "c-1", "row": 0, "timestamp": later, "label": "yes"},
        ],
        FEEDBACK_SCHEMA,
    )
    both = log.labelled([f.path for f in log.files("feedback")])
    assert dict(zip(both["request_id"], both["label"], strict=True)) == {
        "a-1": "yes",
        "b-1": "no",
        "c-1": "yes",
    }


def test_allowed_origins_are_origins() -> None:
    spec = FeedbackSpec(allowed_origins=["https://labels.example.com", "http://localhost:3000"])
    assert spec.allowed_origins == ["https://labels.example.com", "http://localhost:3000"]
    for bad in ("https://labels.example.com/", "labels.example.com", "https://a.example/x"):
        with pytest.raises(ValueError, match="is not an origin"):
            FeedbackSpec(allowed_origins=[bad])


def test_values_ride_along_labels_or_alone() -> None:
    answered = _answered(a=3, b=2)
    rows = _rows(
        [
            {"request_id": "a", "labels": ["yes"], "values": [12.5, None, 3]},
            {"request_id": "b", "values": [0]},
        ],
        answered,
    )
    assert rows["request_id"] == ["a", "a", "a", "b"]
    assert rows["row"] == [0, 1, 2, 0]
    assert rows["label"] == ["yes", None, None, None]
    assert rows["value"] == [12.5, None, 3.0, 0.0]


@pytest.mark.parametrize(
    ("item", "code", "words"),
    [
        ({"request_id": "a", "values": ["12"]}, "invalid_value", "item 0, value 0"),
        ({"request_id": "a", "values": [True]}, "invalid_value", "finite number"),
        ({"request_id": "a", "values": [10**400]}, "invalid_value", "finite number"),
        ({"request_id": "a", "values": [1, 2, 3]}, "invalid_feedback", "3 values for request"),
        ({"request_id": "a", "values": []}, "invalid_feedback", "labels (or values)"),
        ({"request_id": "a", "values": 5}, "invalid_feedback", "labels (or values)"),
    ],
)
def test_bad_values_are_refused(item: dict[str, Any], code: str, words: str) -> None:
    status, found, message = _refusal(item, _answered(a=2))
    assert (status, found) == (422, code)
    assert words in message
