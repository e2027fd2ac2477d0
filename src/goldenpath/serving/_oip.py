"""The Open Inference Protocol v2 (KServe v2, Triton) over HTTP: inference requests as JSON
tensors or with the binary tensor data extension, and answers in either form.

Binary tensor data (tritonclient's default): the request's JSON header is the first
``Inference-Header-Content-Length`` bytes of the body; an input whose ``parameters`` hold
``binary_data_size`` takes that many bytes from what follows, in the order of the inputs:
little-endian, row-major, BOOL one byte per element, BYTES each element a 4-byte little-endian
length and then its bytes; a NaN in a binary FP tensor is read as null (the binary form has no
null), for the contract to accept or refuse. An output is answered in binary when its request
entry says ``parameters.binary_data`` or, failing that, the request's
``parameters.binary_data_output``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from goldenpath.serving.validation import FieldError, RequestInvalid, RequestRefused

__all__ = ["OUTPUTS", "InferRequest", "encode_answer", "infer_request", "read_infer"]

OUTPUTS = ("predict", "score")

_NUMERIC: dict[str, str] = {
    "BOOL": "<?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}


@dataclass(frozen=True)
class InferRequest:
    """An inference request: its rows, its id, and the outputs it wants (name -> binary)."""

    records: list[dict[str, Any]]
    request_id: str | None
    outputs: dict[str, bool]


def _bad(problem: str, field: str = "inputs", row: int = 0) -> RequestInvalid:
    return RequestInvalid([FieldError(row, field, problem)], status=400)


def _flat(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    if not any(isinstance(v, list) for v in data):
        return data
    out: list[Any] = []
    for v in data:
        out.extend(_flat(v))
    return out


def _decode_bytes(raw: bytes, name: str) -> list[Any]:
    values: list[Any] = []
    at = 0
    while at < len(raw):
        if at + 4 > len(raw):
            raise _bad(f"input {name!r}: BYTES data ends inside a length prefix")
        (size,) = struct.unpack_from("<I", raw, at)
        at += 4
        if at + size > len(raw):
            raise _bad(f"input {name!r}: BYTES element longer than the data")
        chunk = raw[at : at + size]
        at += size
        try:
            values.append(chunk.decode("utf-8"))
        except UnicodeDecodeError:
            raise _bad(f"input {name!r}: BYTES element is not UTF-8 text") from None
    return values


def _decode(raw: bytes, datatype: str, name: str) -> list[Any]:
    if datatype == "BYTES":
        return _decode_bytes(raw, name)
    dtype = _NUMERIC.get(datatype)
    if dtype is None:
        raise _bad(f"input {name!r}: datatype {datatype!r} is not supported in binary form")
    width = np.dtype(dtype).itemsize
    if len(raw) % width:
        raise _bad(f"input {name!r}: {len(raw)} bytes is not a whole number of {datatype}")
    array = np.frombuffer(raw, dtype=dtype)
    values: list[Any] = array.tolist()
    if datatype.startswith("FP") and np.isnan(array).any():  # binary has no null: NaN is one
        values = [
            None if missing else v for v, missing in zip(values, np.isnan(array), strict=True)
        ]
    return values


def _header(raw: bytes, headers: Any) -> tuple[Any, bytes]:
    given = headers.get("inference-header-content-length")
    if given is None:
        return _json(raw), b""
    try:
        size = int(given)
    except ValueError:
        raise _bad("Inference-Header-Content-Length is not an integer", "") from None
    if not 0 < size <= len(raw):
        raise _bad(f"Inference-Header-Content-Length {size} is outside the body", "")
    return _json(raw[:size]), raw[size:]


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _bad(f"malformed JSON: {exc}", "") from None


def _requested_outputs(body: dict[str, Any]) -> dict[str, bool]:
    parameters = body.get("parameters")
    default = bool(isinstance(parameters, dict) and parameters.get("binary_data_output") is True)
    asked = body.get("outputs")
    if asked is None:
        return dict.fromkeys(OUTPUTS, default)
    if not isinstance(asked, list):
        raise _bad("expected a list of requested outputs", "outputs")
    wanted: dict[str, bool] = {}
    for i, output in enumerate(asked):
        name = output.get("name") if isinstance(output, dict) else None
        if name not in OUTPUTS:
            known = ", ".join(OUTPUTS)
            raise _bad(f"unknown output {name!r}; this model has {known}", "outputs", i)
        params = output.get("parameters")
        binary = params.get("binary_data") if isinstance(params, dict) else None
        wanted[name] = default if binary is None else binary is True
    return wanted


def read_infer(raw: bytes, headers: Any, max_rows: int | None = None) -> InferRequest:
    """The inference request in ``raw`` (JSON, or a JSON header and binary tensors when
    ``headers`` say ``Inference-Header-Content-Length``)."""
    body, binary = _header(raw, headers)
    return infer_request(body, binary, max_rows)


def infer_request(body: Any, binary: bytes = b"", max_rows: int | None = None) -> InferRequest:
    """The rows of an inference request: one input tensor per contract column, one element per
    row (nested ``data`` and a shape of [n, 1] count as [n]); RequestInvalid (400) when it is
    not one, RequestRefused (413) past ``max_rows``."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise _bad("expected a list of input tensors")
    columns: dict[str, list[Any]] = {}
    at = 0
    for i, tensor in enumerate(body["inputs"]):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise _bad("each input needs a name and data", row=i)
        name = tensor["name"]
        params = tensor.get("parameters")
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise _bad(f"input {name!r}: binary_data_size must be a byte count", row=i)
            if at + size > len(binary):
                raise _bad(f"input {name!r}: the body holds fewer bytes than binary_data_size")
            columns[name] = _decode(binary[at : at + size], str(tensor.get("datatype")), name)
            at += size
        else:
            columns[name] = _flat(tensor.get("data"))
    if at != len(binary):
        raise _bad(f"{len(binary) - at} bytes after the last binary input")
    n = max((len(v) for v in columns.values()), default=0)
    if n == 0:
        raise _bad("no rows")
    if max_rows is not None and n > max_rows:
        raise RequestRefused(
            413, "too_many_rows", f"{n} rows in one request; at most {max_rows} are accepted"
        )
    rows = [{c: (v[i] if i < len(v) else None) for c, v in columns.items()} for i in range(n)]
    request_id = body.get("id")
    return InferRequest(
        rows, request_id if isinstance(request_id, str) else None, _requested_outputs(body)
    )


def _bytes_tensor(values: list[Any]) -> bytes:
    parts = []
    for v in values:
        data = v if isinstance(v, bytes) else str(v).encode()
        parts.append(struct.pack("<I", len(data)))
        parts.append(data)
    return b"".join(parts)


def encode_answer(
    payload: dict[str, Any], tensors: dict[str, tuple[str, list[Any]]], wanted: dict[str, bool]
) -> tuple[bytes, dict[str, str]]:
    """The answer: ``payload`` (model_name, model_version, id) with the ``wanted`` outputs of
    ``tensors`` (name -> (datatype, values)), binary ones after the JSON header."""
    outputs: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, (datatype, values) in tensors.items():
        if name not in wanted:
            continue
        output: dict[str, Any] = {"name": name, "shape": [len(values)], "datatype": datatype}
        if wanted[name]:
            blob = (
                _bytes_tensor(values)
                if datatype == "BYTES"
                else np.array([np.nan if v is None else v for v in values], dtype="<f8").tobytes()
            )
            output["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            output["data"] = values
        outputs.append(output)
    header = orjson.dumps({**payload, "outputs": outputs}, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return header, {}
    return header + b"".join(blobs), {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(header)),
    }
