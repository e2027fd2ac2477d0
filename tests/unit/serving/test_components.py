"""Request validation, micro-batching, the prediction log and fallback, without HTTP."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from conftest import MakeProject, small_spec
from goldenpath.data import load_dataset
from goldenpath.project import open_project
from goldenpath.serving.batcher import Batcher, Columns, Outputs, Overloaded, Retired
from goldenpath.serving.deployment import Deployment, NoModel
from goldenpath.serving.logs import LogWriter, partition_for, prediction_schema
from goldenpath.serving.metrics import ServerMetrics
from goldenpath.serving.models import ServedModel, constant_predictor
from goldenpath.serving.validation import RequestInvalid, RowValidator
from goldenpath.spec import parse_spec
from goldenpath.spec.serving import LogSpec, SloSpec

ROW = {"customer_id": 7, "age": 41, "spend": 12.5, "plan": "pro", "balance": None}


def _validator(**serving: Any) -> RowValidator:
    spec = small_spec()
    spec["serving"] = serving
    return RowValidator(parse_spec(yaml.safe_dump(spec)))


def test_valid_rows_become_the_frame_training_used(make_project: MakeProject) -> None:
    project = open_project(make_project())
    trained = load_dataset(project.spec, project.root).frame[project.spec.feature_columns]
    validator = RowValidator(project.spec)
    records = trained.head(3).astype(object).where(trained.head(3).notna(), None)
    frame = validator.frame(validator.rows(records.to_dict(orient="records")))
    assert list(frame.columns) == list(trained.columns)
    assert dict(frame.dtypes.astype(str)) == dict(trained.dtypes.astype(str))
    assert frame["age"].tolist() == trained["age"].head(3).tolist()


def test_every_problem_is_named_with_its_row_and_field() -> None:
    validator = _validator()
    bad = [
        ROW,
        {**ROW, "age": 200, "plan": "gold", "spend": "12"},
        {"age": 30.5, "spend": True, "plan": "basic", "extra": 1},
        "not an object",
    ]
    with pytest.raises(RequestInvalid) as caught:
        validator.rows(bad)
    found = {(e.row, e.field): e.problem for e in caught.value.errors}
    assert caught.value.status == 422
    assert found[(1, "age")] == "200 is above the maximum 120"
    assert found[(1, "plan")].startswith("'gold' is not an allowed value")
    assert found[(1, "spend")] == "expected a number, got str"
    assert found[(2, "age")] == "expected an integer, got 30.5"
    assert found[(2, "spend")] == "expected a number, got bool"
    assert found[(2, "balance")] == "missing field"
    assert found[(2, "extra")] == "unknown field"
    assert found[(3, "")] == "expected a JSON object, got str"
    assert (0, "age") not in found  # the good row is fine; the id column is optional


@pytest.mark.parametrize("records", [[], {}, None, "x"])
def test_no_rows_is_a_malformed_request(records: Any) -> None:
    with pytest.raises(RequestInvalid) as caught:
        _validator().rows(records)
    assert caught.value.status == 400


def test_integral_floats_are_accepted_for_int_columns() -> None:
    columns = _validator().rows([{**ROW, "age": 41.0}])
    assert columns["age"] == [41]
    assert isinstance(columns["age"][0], int)


def _run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_concurrent_requests_are_coalesced_up_to_the_batch_size() -> None:
    seen: list[int] = []

    def predict(columns: Columns) -> Outputs:
        time.sleep(0.02)  # the model is busy: requests queue behind it
        return Outputs([v * 2 for v in columns["x"]], [None] * len(columns["x"]))

    async def main() -> list[Outputs]:
        batcher = Batcher(
            predict,
            max_batch_size=8,
            max_wait_ms=0,
            max_queue=100,
            observe=lambda rows, _: seen.append(rows),
        )
        alone = await batcher.submit({"x": [-1]}, 1)  # an idle model takes it at once
        results = await asyncio.gather(*(batcher.submit({"x": [i]}, 1) for i in range(20)))
        await batcher.close()
        return [alone, *results]

    alone, *results = _run(main())
    assert alone.predictions == [-2]
    assert seen[0] == 1
    assert [r.predictions for r in results] == [[2 * i] for i in range(20)]
    assert seen[1:] == [8, 8, 4]  # full batches while the model was busy


def test_a_full_queue_sheds_at_once_and_a_failing_model_fails_its_batch() -> None:
    release = threading.Event()

    def slow(columns: Columns) -> Outputs:
        release.wait(5)
        if "boom" in columns["x"]:
            raise RuntimeError("model failed")
        return Outputs(list(columns["x"]), [None] * len(columns["x"]))

    async def main() -> tuple[list[Any], Any]:
        batcher = Batcher(slow, max_batch_size=4, max_wait_ms=0, max_queue=3)
        first = asyncio.ensure_future(batcher.submit({"x": ["a"]}, 1))
        await asyncio.sleep(0.05)  # "a" is being predicted; the queue holds up to 3
        queued = [asyncio.ensure_future(batcher.submit({"x": [v]}, 1)) for v in ("b", "boom")]
        await asyncio.sleep(0)
        third = asyncio.ensure_future(batcher.submit({"x": ["c"]}, 1))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded):
            await batcher.submit({"x": ["d"]}, 1)
        queued.append(third)
        release.set()
        results = await asyncio.gather(first, *queued, return_exceptions=True)
        await batcher.close()
        return results, None

    results, _ = _run(main())
    assert results[0].predictions == ["a"]
    # "b" and "c" shared the batch with "boom": every caller of a failed batch hears the error
    assert [type(r) for r in results[1:]] == [RuntimeError] * 3


def test_log_writer_flushes_by_rows_and_on_close(tmp_path: Path) -> None:
    spec = parse_spec(yaml.safe_dump(small_spec()))
    columns = dict(spec.data.contract.columns)
    columns["plan"] = columns["plan"].model_copy(update={"pii": True})
    settings = LogSpec(flush_rows=4, flush_seconds=60, pii="hash")
    writer = LogWriter(
        tmp_path,
        prediction_schema(columns, "hash"),
        settings,
        pii_columns={"plan"},
        pii_key=b"test key",
    )
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    for i in range(3):
        values = {
            "request_id": [f"r{i}", f"r{i}"],
            "row": [0, 1],
            "timestamp": [now, now],
            "model_version": ["1", "1"],
            "plan": ["pro", None],
            "age": [30, 40],
        }
        writer.append(partition_for("predictions", now, "1"), values, 2)
    deadline = time.time() + 5
    while writer.written_rows < 4 and time.time() < deadline:  # 6 rows >= 4: flushed early
        time.sleep(0.01)
    assert writer.written_rows >= 4
    writer.close()
    assert writer.written_rows == 6
    files = sorted(tmp_path.rglob("*.parquet"))
    assert all(f"date={now.date().isoformat()}" in str(f) for f in files)
    table = pq.read_table(files[0].parent).to_pylist()
    assert len(table) == 6
    assert {r["plan"] for r in table} == {None, _sha("pro")}
    dropped = prediction_schema(columns, "drop")
    assert "plan" not in dropped.names


def _sha(text: str) -> str:
    import hashlib
    import hmac

    return hmac.new(b"test key", text.encode(), hashlib.sha256).hexdigest()


def test_a_failing_champion_falls_back_and_says_degraded(make_project: MakeProject) -> None:
    spec = small_spec()
    spec["serving"] = {"fallback": {"constant": "no"}, "timeout_ms": 200}
    project = open_project(make_project(spec=spec))

    def broken(columns: Columns) -> Outputs:
        raise ValueError("corrupt model")

    def stuck(columns: Columns) -> Outputs:
        time.sleep(1)
        return Outputs(["yes"], [0.9])

    async def main() -> list[Any]:
        deployment = Deployment(project, ServerMetrics(SloSpec()))
        await deployment.refresh()  # no champion in the registry; the constant fallback loads
        kwargs = {"max_batch_size": 4, "max_wait_ms": 0, "max_queue": 8}
        answers = []
        deployment.fallback, saved = None, deployment.fallback
        with pytest.raises(NoModel):
            await deployment.answer({"x": [1]}, "champion")
        deployment.fallback = saved
        for predict in (broken, stuck):
            deployment.champion = ServedModel("1", Batcher(predict, **kwargs), 0.0)
            answers.append(await deployment.answer({"x": [1]}, "champion"))
        deployment.champion = ServedModel("1", Batcher(constant_predictor("yes"), **kwargs), 0)
        answers.append(await deployment.answer({"x": [1]}, "champion"))
        await deployment.close()
        return answers

    failed, timed_out, healthy = _run(main())
    assert (failed.route, failed.degraded, failed.outputs.predictions) == ("fallback", True, ["no"])
    assert (timed_out.route, timed_out.degraded) == ("fallback", True)
    assert (healthy.route, healthy.degraded, healthy.version) == ("champion", False, "1")


def test_closing_answers_what_waits_and_retires_new_work() -> None:
    def predict(columns: Columns) -> Outputs:
        return Outputs(list(columns["x"]), [None] * len(columns["x"]))

    async def main() -> tuple[Any, Any]:
        batcher = Batcher(predict, max_batch_size=8, max_wait_ms=300, max_queue=8)
        waiting = asyncio.ensure_future(batcher.submit({"x": ["held"]}, 1))
        await asyncio.sleep(0.05)  # the worker holds it while it waits to fill the batch
        await batcher.close()
        with pytest.raises(Retired):
            await batcher.submit({"x": ["late"]}, 1)
        return await waiting, None

    answered, _ = _run(main())
    assert answered.predictions == ["held"]


def test_a_request_for_a_retired_model_is_answered_by_its_successor(
    make_project: MakeProject,
) -> None:
    project = open_project(make_project())
    kwargs = {"max_batch_size": 4, "max_wait_ms": 0, "max_queue": 8}

    async def main() -> Any:
        deployment = Deployment(project, ServerMetrics(SloSpec()))
        old = ServedModel("1", Batcher(constant_predictor("old"), **kwargs), 0.0)
        new = ServedModel("2", Batcher(constant_predictor("new"), **kwargs), 0.0)
        deployment.champion = old
        await old.batcher.close()  # a swap retired it just after this request picked it...
        deployment.champion = new  # ...and the successor took its place
        answer = await deployment.answer({"x": [1]}, "champion")
        await deployment.close()
        return answer

    answer = _run(main())
    assert (answer.version, answer.outputs.predictions) == ("2", ["new"])


def test_a_champion_timeout_without_fallback_is_a_timeout(make_project: MakeProject) -> None:
    spec = small_spec()
    spec["serving"] = {"timeout_ms": 50}
    project = open_project(make_project(spec=spec))

    def stuck(columns: Columns) -> Outputs:
        time.sleep(0.5)
        return Outputs(["yes"], [0.9])

    async def main() -> None:
        deployment = Deployment(project, ServerMetrics(SloSpec()))
        deployment.champion = ServedModel(
            "1", Batcher(stuck, max_batch_size=4, max_wait_ms=0, max_queue=8), 0.0
        )
        with pytest.raises(TimeoutError):
            await deployment.answer({"x": [1]}, "champion")
        await deployment.close()

    _run(main())
