"""The request and response formats the service speaks, as plain functions over parsed JSON:
goldenpath's own ``/predict``, MLflow's ``/invocations`` and the Open Inference Protocol v2."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from goldenpath.serving._oip import OUTPUTS, encode_answer, infer_request, read_infer
from goldenpath.serving.deployment import Answer
from goldenpath.serving.validation import FieldError, RequestInvalid, RequestRefused
from goldenpath.spec.models import ColumnSpec

__all__ = [
    "ACCEPTED_TYPES",
    "Failure",
    "Protocol",
    "Reply",
    "ScoringRequest",
    "accepts",
    "error_reply",
    "parse_json",
    "read_request",
    "request_rows",
    "response",
]

Protocol = str  # "predict" (goldenpath), "invocations" (MLflow) or "infer" (OIP v2)
Reply = tuple[int, bytes, dict[str, str]]  # status, body, extra headers

_JSON_TYPES = frozenset({"application/json"})
# The media types (without parameters) each endpoint reads; anything else gets 415. Where
# application/json is accepted, so is any application/*+json. A request without Content-Type
# is refused too: browsers send one without it cross-site, and curl -d sends a form type anyway.
ACCEPTED_TYPES: dict[str, frozenset[str]] = {
    "predict": _JSON_TYPES,
    # MLflow's scoring server reads CSV too (parsed by the contract's dtypes, not guessed)
    "invocations": _JSON_TYPES | {"text/csv"},
    # tritonclient sends no Content-Type at all, and binary tensors are octet-stream
    "infer": _JSON_TYPES | {"application/octet-stream", ""},
    "feedback": _JSON_TYPES,
}


def accepts(protocol: str, content_type: str | None) -> bool:
    """Whether ``protocol``'s endpoint reads a body of ``content_type`` (a header's value)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    types = ACCEPTED_TYPES.get(protocol, _JSON_TYPES)
    if media in types:
        return True
    return (
        "application/json" in types and media.startswith("application/") and media.endswith("+json")
    )


def _check_rows(n: int, max_rows: int | None) -> None:
    if max_rows is not None and n > max_rows:
        raise RequestRefused(
            413, "too_many_rows", f"{n} rows in one request; at most {max_rows} are accepted"
        )


@dataclass(frozen=True)
class Failure:
    """Why a request was not scored, before any protocol puts it into words: the HTTP status,
    goldenpath's stable error code, a one-line message and (for bad rows) every problem."""

    status: int
    code: str
    message: str
    errors: list[dict[str, object]] | None = None


# MLflow's error codes for the statuses its scoring server answers (mlflow.exceptions)
_MLFLOW_CODES = {
    400: "BAD_REQUEST",
    404: "ENDPOINT_NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_SHOWN_ERRORS = 5  # field problems spelled out in a one-string error message


def _with_problems(failure: Failure) -> str:
    """The message, followed by the first few field problems (for formats with one string)."""
    if not failure.errors or failure.code == "malformed_request":
        return failure.message
    shown = [
        f"row {e['row']}" + (f" field {e['field']!r}" if e["field"] else "") + f": {e['problem']}"
        for e in failure.errors[:_SHOWN_ERRORS]
    ]
    more = len(failure.errors) - len(shown)
    return f"{failure.message}: {'; '.join(shown)}" + (f"; and {more} more" if more else "")


def error_reply(protocol: Protocol, failure: Failure) -> Reply:
    """``failure`` in the error format of ``protocol``: goldenpath's ``{"error": {"code",
    "message", "errors"}}``; MLflow's ``{"error_code", "message"}`` (a contract violation is
    MLflow's 400 BAD_REQUEST, the field problems kept under ``errors``); the Open Inference
    Protocol's ``{"error": "<message>"}``, the first field problems in the message."""
    headers = {"Retry-After": "1"} if failure.status == 503 else {}
    if protocol == "infer":
        return failure.status, orjson.dumps({"error": _with_problems(failure)}), headers
    if protocol == "invocations":
        status = 400 if failure.status == 422 else failure.status
        code = _MLFLOW_CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR")
        mlflow: dict[str, Any] = {"error_code": code, "message": _with_problems(failure)}
        if failure.errors is not None:
            mlflow["errors"] = failure.errors
        return status, orjson.dumps(mlflow), headers
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


def _mlflow_records(body: Any, max_rows: int | None = None) -> list[Any]:
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
        if not all(isinstance(c, str) for c in columns):
            raise RequestInvalid(
                [FieldError(0, "dataframe_split.columns", "expected column names (strings)")],
                status=400,
            )
        if isinstance(data, list):
            _check_rows(len(data), max_rows)
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
                _check_rows(n, max_rows)
                return [
                    {c: (v[i] if i < len(v) else None) for c, v in zip(value, lists, strict=True)}
                    for i in range(n)
                ]
            if isinstance(value, list):
                _check_rows(len(value), max_rows)
            return value if isinstance(value, list) else [value]
    raise RequestInvalid(
        [
            FieldError(
                0, "", "no dataframe_split, dataframe_records, instances or inputs in the body"
            )
        ],
        status=400,
    )


def request_rows(
    protocol: Protocol, body: Any, *, max_rows: int | None = None
) -> tuple[list[Any], str | None, str | None]:
    """(records, routing key, request id) of a parsed body in ``protocol``; RequestRefused
    (413) past ``max_rows``, checked before any per-row work."""
    if protocol == "invocations":
        return _mlflow_records(body, max_rows), None, None
    if protocol == "infer":
        infer = infer_request(body, max_rows=max_rows)
        return infer.records, None, infer.request_id
    records, key = _records_of(body)
    if isinstance(records, list):
        _check_rows(len(records), max_rows)
    return records, key, None


def _csv_value(text: str, dtype: str | None) -> Any:
    """One CSV field as the contract column's type; text that is not one stays text, for the
    contract check to name."""
    if text == "":
        return None
    try:
        if dtype == "int":
            return int(text)
        if dtype == "float":
            return float(text)
    except ValueError:
        try:
            return float(text)  # 41.0 in an integer column: the check decides
        except ValueError:
            return text
    if dtype == "bool":
        return {"true": True, "false": False, "1": True, "0": False}.get(text.lower(), text)
    return text


def _csv_records(
    raw: bytes, specs: Mapping[str, ColumnSpec], max_rows: int | None = None
) -> list[Any]:
    """MLflow's ``text/csv`` body: a header of column names, then one line per row (as
    ``DataFrame.to_csv(index=False)`` writes it). Every field is read as text and converted by
    its contract column's dtype; an empty field is null."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RequestInvalid([FieldError(0, "", f"CSV is not UTF-8: {exc}")], status=400) from None
    try:
        lines = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise RequestInvalid([FieldError(0, "", f"malformed CSV: {exc}")], status=400) from None
    lines = [line for line in lines if line]
    if len(lines) < 2:
        raise RequestInvalid(
            [FieldError(0, "", "expected a header line and at least one row")], status=400
        )
    header, rows = lines[0], lines[1:]
    _check_rows(len(rows), max_rows)
    dtypes = [specs[c].dtype if c in specs else None for c in header]
    records = []
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise RequestInvalid(
                [FieldError(i, "", f"{len(row)} fields; the header has {len(header)}")],
                status=400,
            )
        records.append({c: _csv_value(v, d) for c, v, d in zip(header, row, dtypes, strict=True)})
    return records


@dataclass(frozen=True)
class ScoringRequest:
    """What a scoring request asks: its rows, routing key, request id and (for the Open
    Inference Protocol) which outputs it wants, each in binary or JSON."""

    records: list[Any]
    key: str | None = None
    request_id: str | None = None
    outputs: dict[str, bool] | None = None


def _mlflow_json(raw: bytes) -> Any:
    """JSON as MLflow's scoring server reads it: also with the NaN and Infinity that MLflow's
    client writes (``json.dumps`` of a DataFrame); NaN, a missing value there, is null."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw, parse_constant=lambda c: None if c == "NaN" else float(c))
    except (ValueError, RecursionError):
        return parse_json(raw)  # orjson's message


def _media(headers: Mapping[str, str]) -> str:
    return (headers.get("content-type") or "").split(";", 1)[0].strip().lower()


def read_request(
    protocol: Protocol,
    raw: bytes,
    headers: Mapping[str, str],
    specs: Mapping[str, ColumnSpec],
    *,
    max_rows: int | None = None,
) -> ScoringRequest:
    """The scoring request in ``raw``, read as ``protocol`` and its Content-Type say: JSON,
    MLflow's CSV, or Open Inference Protocol tensors (JSON or binary)."""
    if protocol == "infer":
        infer = read_infer(raw, headers, max_rows)
        return ScoringRequest(infer.records, None, infer.request_id, infer.outputs)
    if protocol == "invocations" and _media(headers) == "text/csv":
        return ScoringRequest(_csv_records(raw, specs, max_rows))
    body = _mlflow_json(raw) if protocol == "invocations" else parse_json(raw)
    records, key, request_id = request_rows(protocol, body, max_rows=max_rows)
    return ScoringRequest(records, key, request_id)


def response(
    protocol: Protocol,
    answer: Answer,
    model: str,
    request_id: str,
    outputs: dict[str, bool] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body of a 200 answer in ``protocol``, with the headers it needs (Content-Type and
    Inference-Header-Content-Length for binary tensors)."""
    predictions, scores = answer.outputs.predictions, answer.outputs.scores
    if protocol == "infer":
        numeric = all(isinstance(p, int | float) and not isinstance(p, bool) for p in predictions)
        tensors: dict[str, tuple[str, list[Any]]] = {
            "predict": ("FP64" if numeric else "BYTES", predictions)
        }
        if any(s is not None for s in scores):
            tensors["score"] = ("FP64", scores)
        head = {"model_name": model, "model_version": answer.version, "id": request_id}
        return encode_answer(head, tensors, outputs or dict.fromkeys(OUTPUTS, False))
    if protocol == "invocations":
        payload: dict[str, Any] = {"predictions": predictions}
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
        if answer.outputs.probabilities is not None:  # a multiclass classifier's
            payload["probabilities"] = answer.outputs.probabilities
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), {}
