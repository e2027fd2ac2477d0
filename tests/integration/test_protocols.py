"""The protocols as their own clients use them, against ``goldenpath serve`` as a real process:
tritonclient (Open Inference Protocol v2, JSON and binary tensors), MLflow's scoring client
and bodies (JSON and CSV), the OpenAPI document's positive cases, and the offline /docs."""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest
from test_serving import ROW, _logged, call, root, serving

__all__ = ["root"]  # the module-scoped project fixture, shared with test_serving

ROWS = [
    ROW,
    {**ROW, "customer_id": 2, "age": 70, "plan": "basic", "balance": None},
    {**ROW, "customer_id": 3, "age": 18, "spend": 3.25, "plan": "plus", "balance": -4.5},
]
TYPES = {
    "customer_id": "INT64",
    "age": "INT64",
    "spend": "FP64",
    "plan": "BYTES",
    "balance": "FP64",
}


def _inputs(rows: list[dict[str, Any]], binary: bool) -> list[Any]:
    import tritonclient.http as triton

    inputs = []
    for column, datatype in TYPES.items():
        values = [r[column] for r in rows]
        if datatype == "BYTES":
            array = np.array(values, dtype=np.object_)
        elif datatype == "FP64":
            array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        else:
            array = np.array(values, dtype=np.int64)
        tensor = triton.InferInput(column, [len(rows)], datatype)
        tensor.set_data_from_numpy(array, binary_data=binary)  # a null: NaN, binary only
        inputs.append(tensor)
    return inputs


def _text(values: Any) -> list[Any]:
    return [v.decode() if isinstance(v, bytes) else v for v in values.tolist()]


def test_tritonclient_in_json_and_binary_modes_answers_as_predict(root: Path) -> None:
    triton = pytest.importorskip("tritonclient.http")
    from tritonclient.utils import InferenceServerException

    started = time.time()
    with serving(root, challenger="shadow") as (base, _):
        expected = call(base, "/predict", ROWS)[1]
        client = triton.InferenceServerClient(urlsplit(base).netloc)
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("small")
        assert client.is_model_ready("small", "2")
        assert client.is_model_ready("small", "1")  # the challenger (shadow) is served too
        assert not client.is_model_ready("small", "9")
        assert not client.is_model_ready("other")
        assert set(client.get_model_metadata("small")["versions"]) == {"1", "2"}
        assert client.get_model_metadata("small", "1")["versions"] == ["1"]
        assert "binary_tensor_data" in client.get_server_metadata()["extensions"]

        for binary_in in (True, False):
            rows = ROWS if binary_in else ROWS[::2]  # JSON has no NaN: no null there
            answers = call(base, "/predict", rows)[1]
            for binary_out in (True, False):
                outputs = [
                    triton.InferRequestedOutput("predict", binary_data=binary_out),
                    triton.InferRequestedOutput("score", binary_data=binary_out),
                ]
                result = client.infer(
                    "small", _inputs(rows, binary_in), outputs=outputs, request_id="t-1"
                )
                answer = result.get_response()
                assert (answer["id"], answer["model_version"]) == ("t-1", "2")
                assert _text(result.as_numpy("predict")) == answers["predictions"]
                assert result.as_numpy("score").tolist() == answers["scores"]
                assert all(("data" in o) != binary_out for o in answer["outputs"])
        # tritonclient's default: binary inputs, every output binary (binary_data_output)
        result = client.infer("small", _inputs(ROWS, True))
        assert _text(result.as_numpy("predict")) == expected["predictions"]
        only = client.infer(
            "small", _inputs(ROWS, True), outputs=[triton.InferRequestedOutput("score")]
        )
        assert [o["name"] for o in only.get_response()["outputs"]] == ["score"]

        # one version, exactly: the challenger answers, and is logged as such
        pinned = client.infer("small", _inputs(ROWS, True), model_version="1", request_id="v-1")
        assert pinned.get_response()["model_version"] == "1"
        v2 = client.infer("small", _inputs(ROWS, True), model_version="2")
        assert _text(v2.as_numpy("predict")) == expected["predictions"]
        with pytest.raises(InferenceServerException) as missing:
            client.infer("small", _inputs(ROWS, True), model_version="9")
        assert missing.value.status() == "404"
        assert "'9'" in missing.value.message()

        for binary_in in (True, False):
            bad = [{**ROWS[0], "age": 130}, ROWS[2]]
            with pytest.raises(InferenceServerException) as refused:
                client.infer("small", _inputs(bad, binary_in))
            assert refused.value.status() == "422"
            assert "'age'" in refused.value.message()
            assert "130 is above the maximum 120" in refused.value.message()
        with pytest.raises(InferenceServerException) as unknown:
            client.infer("other", _inputs(ROWS, True))
        assert unknown.value.status() == "404"
        assert "'other'" in unknown.value.message()

        status, body, _ = call(base, "/v2/models/small/infer", {"inputs": "nope"})
        assert (status, body) == (400, {"error": "expected a list of input tensors"})
    pinned_rows = [r for r in _logged(root, started) if r["request_id"] == "v-1"]
    assert {(r["model_version"], r["route"], r["kind"]) for r in pinned_rows} == {
        ("1", "challenger", "served")
    }
    assert len(pinned_rows) == len(ROWS)  # answered once, not shadowed again


def _post(base: str, path: str, body: bytes, content_type: str) -> tuple[int, Any, str]:
    status, answer, headers = call(base, path, raw=body, headers={"Content-Type": content_type})
    return status, answer, headers.get("content-type", "")


def test_mlflow_clients_switch_without_changes(root: Path) -> None:
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    with serving(root) as (base, _):
        expected = call(base, "/predict", ROWS)[1]["predictions"]
        url = urlsplit(base)
        client = ScoringServerClient(url.hostname, url.port)
        client.wait_server_ready(timeout=10)  # GET /ping
        for path in ("/ping", "/health"):
            with urllib.request.urlopen(base + path, timeout=10) as response:
                assert (response.status, response.read()) == (200, b"\n")
        frame = pd.DataFrame(ROWS)
        assert client.invoke(frame).get_predictions(predictions_format="ndarray").tolist() == (
            expected
        )

        csv = frame.to_csv(index=False).encode()  # the balance of row 1 is an empty field
        assert _post(base, "/invocations", csv, "text/csv")[:2] == (200, {"predictions": expected})
        charset = _post(base, "/invocations", csv, "text/csv; charset=utf-8")
        assert charset[:2] == (200, {"predictions": expected})

        bad = frame.assign(age=["old", 70, 18]).to_csv(index=False).encode()
        status, error, media = _post(base, "/invocations", bad, "text/csv")
        assert (status, error["error_code"], media) == (400, "BAD_REQUEST", "application/json")
        assert "'age'" in error["message"]
        assert [(e["row"], e["field"]) for e in error["errors"]] == [(0, "age")]
        status, error, _ = call(base, "/invocations", {"dataframe_records": [{**ROW, "age": -1}]})
        assert (status, error["error_code"]) == (400, "BAD_REQUEST")
        assert error["errors"][0]["field"] == "age"
        with pytest.raises(Exception, match="BAD_REQUEST"):
            client.invoke(frame.assign(plan="gold"))
        status, error, _ = call(base, "/invocations", {"nothing": 1})
        assert (status, error["error_code"]) == (400, "BAD_REQUEST")
        ragged = b"age,spend\n1,2,3\n"
        assert _post(base, "/invocations", ragged, "text/csv")[0] == 400

        # /docs works offline: every script and style it loads is served here
        for page in ("/docs", "/redoc"):
            status, html, _ = call(base, page)
            assert status == 200
            assets = re.findall(r'(?:src|href)="([^"]+)"', html)
            assert assets
            assert not [a for a in assets if re.match(r"(https?:)?//", a)]
            for asset in assets:
                with urllib.request.urlopen(base + asset, timeout=10) as response:
                    assert response.status == 200
                    assert len(response.read()) > 1000


def test_data_generated_from_the_openapi_schemas_is_accepted(root: Path) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from schemathesis.generation.modes import GenerationMode

    with serving(root) as (base, _):
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        scoring = {
            "POST /predict",
            "POST /invocations",
            "POST /v2/models/{name}/infer",
            "POST /v2/models/{name}/versions/{version}/infer",
        }
        operations = [result.ok() for result in schema.get_all_operations()]
        assert scoring <= {o.label for o in operations}
        refused: list[tuple[str, int, str]] = []
        answered: list[str] = []
        for operation in [o for o in operations if o.label in scoring]:

            @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
            @given(operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
            def check(case: Any) -> None:
                response = case.call(base_url=base)
                label = case.operation.label
                if response.status_code != 200:
                    refused.append((label, response.status_code, response.text[:300]))
                else:
                    answered.append(label)

            check()
        assert refused == []
        assert set(answered) == scoring
