"""The log writer never dies: a request the schema cannot hold is set aside in the quarantine
with its reason and counted, the rest of the same write still lands, the writer's state says
degraded until a write succeeds again, and its thread outlives any exception."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import small_spec
from goldenpath.serving import logs
from goldenpath.serving.logs import LogWriter, partition_for, prediction_schema
from goldenpath.spec import parse_spec
from goldenpath.spec.serving import LogSpec

NOW = datetime.now(UTC)
PARTITION = partition_for("predictions", NOW, "1")
GOOD = 1000
KEY = b"test key"


def _schema() -> pa.Schema:
    spec = parse_spec(yaml.safe_dump(small_spec()))
    columns = dict(spec.data.contract.columns)
    columns["plan"] = columns["plan"].model_copy(update={"pii": True})
    return prediction_schema(columns, "hash")


def _values(request_id: str, **columns: Any) -> dict[str, list[Any]]:
    row = {
        "request_id": request_id,
        "row": 0,
        "timestamp": NOW,
        "model_version": "1",
        "route": "champion",
        "kind": "served",
        "prediction": "yes",
        "score": 0.75,
        "customer_id": 7,
        "age": 41,
        "spend": 12.5,
        "plan": "pro",
        "balance": None,
        **columns,
    }
    return {k: [v] for k, v in row.items()}


class Seen:
    """What the writer told its listeners."""

    def __init__(self) -> None:
        self.errors = 0
        self.states: list[str | None] = []

    def writer(self, root: Path, settings: LogSpec) -> LogWriter:
        def count(n: int) -> None:
            self.errors += n

        return LogWriter(
            root,
            _schema(),
            settings,
            pii_columns={"plan"},
            pii_key=KEY,
            on_error=count,
            on_health=self.states.append,
        )


def _logged(root: Path) -> list[dict[str, Any]]:
    files = sorted((root / "predictions").rglob("*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def _quarantined(root: Path) -> list[dict[str, Any]]:
    files = sorted((root / "quarantine").rglob("*.jsonl"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines()]


def _sha(text: str) -> str:
    return hmac.new(KEY, text.encode(), hashlib.sha256).hexdigest()


def _eventually(condition: Callable[[], bool]) -> bool:
    """Wait for the writer's thread to make ``condition`` true (a wait, not a measurement)."""
    deadline = time.monotonic() + 30
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


POISONS = {
    "big": ("customer_id", 2**63),  # the contract says int: int64 cannot hold 2^63
    "surrogate": ("prediction", "\ud800"),  # not valid text
    "object": ("spend", object()),
}


def test_poisoned_requests_are_set_aside_and_the_thousand_after_them_are_logged(
    tmp_path: Path,
) -> None:
    seen = Seen()
    writer = seen.writer(tmp_path, LogSpec(flush_rows=100_000, flush_seconds=60))
    for name, (column, value) in POISONS.items():
        writer.append(PARTITION, _values(f"poison-{name}", **{column: value}), 1)
    for i in range(GOOD):
        writer.append(PARTITION, _values(f"good-{i}", age=i % 100), 1)
    writer.close()  # graceful shutdown: one write of everything, poison and good alike

    logged = _logged(tmp_path)
    assert len(logged) == GOOD
    assert {r["request_id"] for r in logged} == {f"good-{i}" for i in range(GOOD)}
    assert [r["age"] for r in logged] == [i % 100 for i in range(GOOD)]
    assert {r["plan"] for r in logged} == {_sha("pro")}
    assert writer.written_rows == GOOD

    quarantined = {q["values"]["request_id"][0]: q for q in _quarantined(tmp_path)}
    assert set(quarantined) == {f"poison-{name}" for name in POISONS}
    for name, (column, _) in POISONS.items():
        record = quarantined[f"poison-{name}"]
        assert record["reason"].startswith(f"{column}: "), record["reason"]
        assert record["log"] == "prediction log"
        assert record["rows"] == 1
        assert record["partition"] == list(PARTITION)
        assert record["values"]["plan"] == [_sha("pro")]  # PII as the log holds it
    assert quarantined["poison-big"]["values"]["customer_id"] == [2**63]
    assert "OverflowError" in quarantined["poison-big"]["reason"]
    assert quarantined["poison-surrogate"]["values"]["prediction"] == ["'\\ud800'"]  # repr
    assert quarantined["poison-object"]["values"]["spend"][0].startswith("<object object")

    assert writer.errors == seen.errors == len(POISONS)
    assert writer.quarantined == len(POISONS)
    assert not writer.healthy  # degraded: the latest write set requests aside
    assert writer.problem is not None
    assert writer.problem.startswith(f"{len(POISONS)} request(s) set aside in ")
    assert seen.states == [None, writer.problem]


def test_degraded_after_a_poisoned_write_and_clear_after_a_good_one(tmp_path: Path) -> None:
    seen = Seen()
    writer = seen.writer(tmp_path, LogSpec(flush_rows=100_000, flush_seconds=60))
    writer.append(PARTITION, _values("poison", customer_id=2**63), 1)
    writer.append(PARTITION, _values("same-write"), 1)
    assert writer.flush() == 1  # the good row of the same write still lands
    assert not writer.healthy
    assert "customer_id: OverflowError" in (writer.problem or "")
    writer.append(PARTITION, _values("later"), 1)
    assert writer.flush() == 1
    assert writer.healthy
    assert writer.problem is None
    writer.close()
    assert [r["request_id"] for r in _logged(tmp_path)] == ["same-write", "later"]
    assert [q["values"]["request_id"] for q in _quarantined(tmp_path)] == [["poison"]]
    assert seen.states[1:] == [seen.states[1], None]
    assert seen.errors == 1


def test_an_entry_whose_columns_disagree_on_its_rows_is_set_aside_alone(tmp_path: Path) -> None:
    seen = Seen()
    writer = seen.writer(tmp_path, LogSpec(flush_rows=100_000, flush_seconds=60))
    short = _values("short") | {"age": []}  # would shift every later row's age by one
    writer.append(PARTITION, _values("before", age=1), 1)
    writer.append(PARTITION, short, 1)
    writer.append(PARTITION, _values("after", age=2), 1)
    writer.append(["not", "a", "tuple"], _values("unhashable"), 1)  # type: ignore[arg-type]
    writer.close()
    assert [(r["request_id"], r["age"]) for r in _logged(tmp_path)] == [("before", 1), ("after", 2)]
    reasons = {q["values"]["request_id"][0]: q["reason"] for q in _quarantined(tmp_path)}
    assert reasons == {
        "short": "age: 0 values for 1 rows",
        "unhashable": "partition ['not', 'a', 'tuple']",
    }
    assert seen.errors == 2


def test_the_thread_survives_exceptions_inside_flush_and_keeps_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = Seen()
    writer = seen.writer(tmp_path, LogSpec(flush_rows=1, flush_seconds=0.05))
    real_write = logs.pq.write_table
    failures = iter([ValueError("schema mismatch")])

    def write_table(table: pa.Table, where: Path) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        real_write(table, where)

    monkeypatch.setattr(logs.pq, "write_table", write_table)
    writer.append(PARTITION, _values("unlucky"), 1)  # its file fails: set aside, not lost
    assert _eventually(lambda: writer.quarantined == 1)
    assert "schema mismatch" in (writer.problem or "")

    # a fault outside any one write (here a listener) reaches the thread's loop: counted,
    # reported, and the thread goes on
    def broken(rows: int) -> None:
        raise RuntimeError("listener down")

    writer.on_written = broken
    writer.append(PARTITION, _values("during"), 1)
    assert _eventually(lambda: "listener down" in (writer.problem or ""))
    assert writer._thread.is_alive()

    writer.on_written = lambda rows: None
    writer.append(PARTITION, _values("later"), 1)
    assert _eventually(lambda: writer.written_rows == 2 and writer.healthy)
    assert writer._thread.is_alive()
    writer.close()
    assert [r["request_id"] for r in _logged(tmp_path)] == ["during", "later"]
    (record,) = _quarantined(tmp_path)
    assert record["values"]["request_id"] == ["unlucky"]
    assert record["reason"].startswith("could not write a file in ")
    assert record["reason"].endswith("ValueError: schema mismatch")
    assert seen.errors == 2  # the request set aside, and the writer's failure


def test_a_quarantine_that_cannot_be_written_is_counted_and_logged_at_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "quarantine").write_text("a file where the folder should be")
    seen = Seen()
    writer = seen.writer(tmp_path, LogSpec(flush_rows=100_000, flush_seconds=60))
    writer.append(PARTITION, _values("poison", customer_id=2**63), 1)
    writer.append(PARTITION, _values("good"), 1)
    with caplog.at_level(logging.WARNING, logger="goldenpath.serving"):
        writer.close()
    assert [r["request_id"] for r in _logged(tmp_path)] == ["good"]
    assert seen.errors == writer.errors == 2  # the request, and the quarantine file
    assert "nor set aside in the quarantine" in (writer.problem or "")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "they are lost" in errors[0].getMessage()
