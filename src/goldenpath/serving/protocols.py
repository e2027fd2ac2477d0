"""The request and response formats the service speaks, as plain functions over parsed JSON:
goldenpath's own ``/predict``, MLflow's ``/invocations`` and the Open Inference Protocol v2."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from goldenpath.serving.deployment import Answer
from goldenpath.serving.validation import FieldError, RequestInvalid

__all__ = [
    "RECORDS_SCHEMA",
    "Failure",
    "Protocol",
    "Reply",
    "error_reply",
    "parse_json",
    "request_rows",
    "response_body",
]

RECORDS_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "object", "description": "one row: contract column -> value"},
        {"type": "array", "items": {"type": "object"}, "minItems": 1},
        {
            "type": "object",
            "properties": {
                "records": {"type": "array", "items": {"type": "object"}, "minItems": 1},
                "key": {"type": "string", "description": "sticky routing key (canary)"},
            },
            "required": ["records"],
        },
    ]
}

Protocol = str  # "predict" (goldenpath), "invocations" (MLflow) or "infer" (OIP v2)
Reply = tuple[int, bytes, dict[str, str]]  # status, body, extra headers


@dataclass(frozen=True)
class Failure:
    """Why a request was not scored, before any protocol puts it into words: the HTTP status,
    goldenpath's stable error code, a one-line message and (for bad rows) every problem."""

    status: int
    code: str
    message: str
    errors: list[dict[str, object]] | None = None


def error_reply(protocol: Protocol, failure: Failure) -> Reply:
    """``failure`` in the error format of ``protocol``."""
    headers = {"Retry-After": "1"} if failure.status == 503 else {}
    detail: dict[str, Any] = {"code": failure.code, "message": failure.message}
    if failure.errors is not None:
        detail["errors"] = failure.errors
    return failure.status, orjson.dumps({"error": detail}), headers


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestInvalid([FieldError(0, "", f"malformed JSON: {exc}")], status=400) from None


def _records_of(body: Any) -> tuple[list[Any], str | None]:
    if isinstance(body, dict) and "records" in body:
        key = body.get("key")
        return body["records"], key if isinstance(key, str) else None
    if isinstance(body, dict):
        return [body], None
    return body, None


def _mlflow_records(body: Any) -> list[Any]:
    """MLflow's scoring formats: dataframe_split, dataframe_records, instances, inputs."""
    if not isinstance(body, dict):
        raise RequestInvalid(
            [
                FieldError(
                    0,
                    "",
                    "expected a JSON object with dataframe_split, "
                    "dataframe_records, instances or inputs",
                )
            ],
            status=400,
        )
    if "dataframe_split" in body:
        split = body["dataframe_split"]
        if not isinstance(split, dict) or not isinstance(split.get("columns"), list):
            raise RequestInvalid(
                [FieldError(0, "dataframe_split", "needs columns and data")], status=400
            )
        columns, data = split["columns"], split.get("data")
        if not isinstance(data, list) or not all(isinstance(r, list) for r in data):
            raise RequestInvalid(
                [FieldError(0, "dataframe_split.data", "expected rows")], status=400
            )
        return [dict(zip(columns, row, strict=False)) for row in data]
    for key in ("dataframe_records", "instances", "inputs"):
        if key in body:
            value = body[key]
            if isinstance(value, dict):  # column -> values
                lists = [v if isinstance(v, list) else [v] for v in value.values()]
                n = max((len(v) for v in lists), default=0)
                return [
                    {c: (v[i] if i < len(v) else None) for c, v in zip(value, lists, strict=True)}
                    for i in range(n)
                ]
            return value if isinstance(value, list) else [value]
    raise RequestInvalid(
        [
            FieldError(
                0, "", "no dataframe_split, dataframe_records, instances or inputs in the body"
            )
        ],
        status=400,
    )


def _oip_records(body: Any) -> tuple[list[dict[str, Any]], str | None]:
    """Open Inference Protocol v2 ``inputs``: one tensor per column, each ``data`` a list."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise RequestInvalid(
            [FieldError(0, "inputs", "expected a list of input tensors")], status=400
        )
    columns: dict[str, list[Any]] = {}
    for i, tensor in enumerate(body["inputs"]):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise RequestInvalid(
                [FieldError(i, "inputs", "each input needs a name and data")], status=400
            )
        data = tensor.get("data")
        columns[tensor["name"]] = data if isinstance(data, list) else [data]
    n = max((len(v) for v in columns.values()), default=0)
    if n == 0:
        raise RequestInvalid([FieldError(0, "inputs", "no rows")], status=400)
    rows = [{c: (v[i] if i < len(v) else None) for c, v in columns.items()} for i in range(n)]
    request_id = body.get("id")
    return rows, request_id if isinstance(request_id, str) else None


def request_rows(protocol: Protocol, body: Any) -> tuple[list[Any], str | None, str | None]:
    """(records, routing key, request id) of a parsed body in ``protocol``."""
    if protocol == "invocations":
        return _mlflow_records(body), None, None
    if protocol == "infer":
        records, request_id = _oip_records(body)
        return records, None, request_id
    records, key = _records_of(body)
    return records, key, None


def response_body(protocol: Protocol, answer: Answer, model: str, request_id: str) -> bytes:
    predictions, scores = answer.outputs.predictions, answer.outputs.scores
    if protocol == "invocations":
        payload: dict[str, Any] = {"predictions": predictions}
    elif protocol == "infer":
        numeric = all(isinstance(p, int | float) and not isinstance(p, bool) for p in predictions)
        outputs = [
            {
                "name": "predict",
                "shape": [len(predictions)],
                "datatype": "FP64" if numeric else "BYTES",
                "data": predictions,
            }
        ]
        if any(s is not None for s in scores):
            outputs.append(
                {"name": "score", "shape": [len(scores)], "datatype": "FP64", "data": scores}
            )
        payload = {
            "model_name": model,
            "model_version": answer.version,
            "id": request_id,
            "outputs": outputs,
        }
    else:
        payload = {
            "request_id": request_id,
            "model": model,
            "model_version": answer.version,
            "route": answer.route,
            "degraded": answer.degraded,
            "predictions": predictions,
            "scores": scores,
        }
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
