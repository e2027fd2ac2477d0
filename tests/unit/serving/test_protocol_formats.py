"""The protocols' own parts, without a server: MLflow's CSV typed by the contract, the Open
Inference Protocol's binary tensors (read and written as tritonclient does), and each
protocol's error format."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import orjson
import pytest
import yaml

from conftest import small_spec
from goldenpath.serving.protocols import Failure, error_reply, read_request
from goldenpath.serving.validation import RequestInvalid, RowValidator
from goldenpath.spec import parse_spec

SPECS = RowValidator(parse_spec(yaml.safe_dump(small_spec()))).specs
FAILURE = Failure(
    422,
    "contract_violation",
    "2 field(s) break the data contract",
    [
        {"row": 0, "field": "age", "problem": "130 is above the maximum 120"},
        {"row": 1, "field": "plan", "problem": "missing field"},
    ],
)


def _read(protocol: str, raw: bytes, **headers: str) -> Any:
    return read_request(protocol, raw, headers, SPECS)


def test_csv_fields_are_typed_by_the_contract_and_empty_is_null() -> None:
    raw = b"customer_id,age,spend,plan,balance\n1,41,80.5,pro,\n2,41.0,7,01,-3\n3,old,x,basic,1e3\n"
    records = _read("invocations", raw, **{"content-type": "text/csv; charset=utf-8"}).records
    assert records[0] == {
        "customer_id": 1,
        "age": 41,
        "spend": 80.5,
        "plan": "pro",
        "balance": None,
    }
    assert records[1] == {
        "customer_id": 2,
        "age": 41.0,
        "spend": 7.0,
        "plan": "01",
        "balance": -3.0,
    }
    assert records[2]["age"] == "old"  # left as text: the contract check names it
    assert records[2]["balance"] == 1000.0


@pytest.mark.parametrize("raw", [b"", b"age,spend\n", b"age,spend\n1,2,3\n", b"\xff\xfe,\n1\n"])
def test_csv_that_is_not_rows_is_a_400(raw: bytes) -> None:
    with pytest.raises(RequestInvalid) as caught:
        _read("invocations", raw, **{"content-type": "text/csv"})
    assert caught.value.status == 400


def test_mlflow_json_reads_nan_as_null() -> None:
    raw = b'{"dataframe_split": {"columns": ["balance"], "data": [[NaN], [1.5]], "index": [0, 1]}}'
    assert _read("invocations", raw).records == [{"balance": None}, {"balance": 1.5}]


def _binary(inputs: list[tuple[str, str, bytes]], **request: Any) -> tuple[bytes, dict[str, str]]:
    header = json.dumps(
        {
            **request,
            "inputs": [
                {
                    "name": n,
                    "shape": [-1],
                    "datatype": t,
                    "parameters": {"binary_data_size": len(b)},
                }
                for n, t, b in inputs
            ],
        }
    ).encode()
    body = header + b"".join(b for _, _, b in inputs)
    return body, {"inference-header-content-length": str(len(header))}


def test_binary_tensors_are_read_as_tritonclient_writes_them() -> None:
    from tritonclient.utils import serialize_byte_tensor

    plans = serialize_byte_tensor(np.array(["pro", "basic"], dtype=np.object_)).item()
    body, headers = _binary(
        [
            ("age", "INT64", np.array([41, 70], dtype="<i8").tobytes()),
            ("spend", "FP32", np.array([1.5, 2.0], dtype="<f4").tobytes()),
            ("balance", "FP64", np.array([np.nan, 3.0], dtype="<f8").tobytes()),
            ("plan", "BYTES", plans),
            ("flag", "BOOL", b"\x01\x00"),
        ],
        id="r-1",
        parameters={"binary_data_output": True},
    )
    request = _read("infer", body, **headers)
    assert request.request_id == "r-1"
    assert request.outputs == {"predict": True, "score": True}
    assert request.records == [
        {"age": 41, "spend": 1.5, "balance": None, "plan": "pro", "flag": True},
        {"age": 70, "spend": 2.0, "balance": 3.0, "plan": "basic", "flag": False},
    ]


@pytest.mark.parametrize(
    ("inputs", "extra", "problem"),
    [
        ([("age", "INT64", b"\x00" * 12)], b"", "not a whole number of INT64"),
        ([("age", "BF16", b"\x00" * 4)], b"", "'BF16' is not supported"),
        ([("plan", "BYTES", struct.pack("<I", 9) + b"abc")], b"", "longer than the data"),
        ([("age", "INT64", b"\x00" * 8)], b"\x00", "1 bytes after the last binary input"),
    ],
)
def test_binary_tensors_that_do_not_add_up_are_a_400(
    inputs: list[tuple[str, str, bytes]], extra: bytes, problem: str
) -> None:
    body, headers = _binary(inputs)
    with pytest.raises(RequestInvalid) as caught:
        _read("infer", body + extra, **headers)
    assert caught.value.status == 400
    assert problem in caught.value.errors[0].problem


def test_requested_outputs_choose_binary_each() -> None:
    body = {
        "inputs": [{"name": "age", "datatype": "INT64", "shape": [1], "data": [[41]]}],
        "outputs": [{"name": "score", "parameters": {"binary_data": True}}, {"name": "predict"}],
    }
    request = _read("infer", orjson.dumps(body))
    assert request.records == [{"age": 41}]
    assert request.outputs == {"score": True, "predict": False}
    with pytest.raises(RequestInvalid, match="problem"):
        _read("infer", orjson.dumps({**body, "outputs": [{"name": "proba"}]}))


def test_each_protocol_says_a_failure_in_its_own_format() -> None:
    status, body, _ = error_reply("predict", FAILURE)
    assert (status, orjson.loads(body)["error"]["code"]) == (422, "contract_violation")
    status, body, _ = error_reply("invocations", FAILURE)
    mlflow = orjson.loads(body)
    assert (status, mlflow["error_code"], mlflow["errors"]) == (400, "BAD_REQUEST", FAILURE.errors)
    assert "row 0 field 'age': 130 is above the maximum 120" in mlflow["message"]
    status, body, _ = error_reply("infer", FAILURE)
    oip = orjson.loads(body)
    assert status == 422
    assert oip == {
        "error": "2 field(s) break the data contract: row 0 field 'age': 130 is above the "
        "maximum 120; row 1 field 'plan': missing field"
    }
    busy = error_reply("invocations", Failure(503, "overloaded", "retry"))
    assert (busy[0], orjson.loads(busy[1])["error_code"], busy[2]) == (
        503,
        "TEMPORARILY_UNAVAILABLE",
        {"Retry-After": "1"},
    )
    late = error_reply("invocations", Failure(504, "timeout", "late"))
    assert orjson.loads(late[1])["error_code"] == "DEADLINE_EXCEEDED"
