"""``POST /feedback``: ground-truth labels for answered requests, checked and turned into rows
of the feedback log (one per label, joined to the prediction log by request id and row).

A body is accepted whole or not at all. Every item must name a request this server answered
(:class:`~goldenpath.serving.answered.AnsweredRequests`; otherwise 422 ``unknown_request_id``),
hold no more labels than that request had rows, and each label must satisfy the contract's
target column (dtype, allowed values, min/max; ``null`` is "no label"; otherwise 422
``invalid_label``). A label for a row that was labelled before is written as a correction.

An item may also carry ``values``: one number per row (e.g. the revenue the answer brought;
``null``: none), written to the feedback log's ``value`` column for experiments' ``value``
metrics. An item needs ``labels`` or ``values`` or both; each at most as many as the request
had rows, and a row is written for each position either of them reaches.
"""

from __future__ import annotations

import contextlib
import math
from datetime import datetime
from typing import Any

from goldenpath.serving.answered import AnsweredRequests
from goldenpath.serving.logs import FEEDBACK_SCHEMA
from goldenpath.serving.server import request_id_of
from goldenpath.serving.validation import Check, RequestRefused
from goldenpath.spec.serving import LimitsSpec

__all__ = ["UnknownRequestId", "feedback_rows"]


class UnknownRequestId(RequestRefused):
    """Feedback for a request id this server did not answer (or no longer remembers)."""

    def __init__(self, message: str) -> None:
        super().__init__(422, "unknown_request_id", message)


def _refused(message: str) -> RequestRefused:
    return RequestRefused(422, "invalid_feedback", message)


def _label_count(items: list[Any]) -> int:
    """Rows the body's items would write (the longer of each item's labels and values)."""

    def width(item: dict[str, Any]) -> int:
        found = [item[k] for k in ("labels", "values") if isinstance(item.get(k), list)]
        return max((len(f) for f in found), default=0)

    return sum(width(item) for item in items if isinstance(item, dict))


def _value(i: int, row: int, value: object) -> float | None:
    """A row's value as a finite float; RequestRefused (422 invalid_value) otherwise."""
    if value is None:
        return None
    number = float("nan")
    if isinstance(value, int | float) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):  # an integer past the float range
            number = float(value)
    if not math.isfinite(number):
        raise RequestRefused(
            422, "invalid_value", f"item {i}, value {row}: expected a finite number or null"
        )
    return number


def _label(i: int, row: int, label: object, check: Check | None, limits: LimitsSpec) -> Any:
    """The label as the target column holds it; RequestRefused (422 invalid_label) otherwise."""
    if isinstance(label, dict | list):
        problem: str | None = "a label must be a value, not an object or a list"
    elif check is not None:
        label, problem = check(label)
    elif isinstance(label, str) and len(label) > limits.max_string_chars:
        problem = f"a string of {len(label)} characters (at most {limits.max_string_chars})"
    else:
        problem = None
    if problem is not None:
        raise RequestRefused(422, "invalid_label", f"item {i}, label {row}: {problem}")
    return label


def feedback_rows(
    body: Any,
    limits: LimitsSpec,
    at: datetime,
    *,
    answered: AnsweredRequests,
    check: Check | None = None,
    credential: str | None = None,
) -> dict[str, list[Any]]:
    """The feedback log's columns for ``body`` (one ``{request_id, labels}`` object or a list
    of them), received ``at`` from ``credential`` (None: anonymous); labels checked by ``check``
    (the target column's; None: any value). RequestRefused (413 past ``max_rows`` labels or
    items; 422 ``invalid_feedback``, ``invalid_label``, :class:`UnknownRequestId`) before any
    row is kept or any row is marked labelled."""
    items = body if isinstance(body, list) else [body]
    if not items:
        raise _refused("no feedback items")
    most = max(len(items), _label_count(items))
    if most > limits.max_rows:
        raise RequestRefused(
            413,
            "too_many_rows",
            f"{most} labels in one request; at most {limits.max_rows} are accepted",
        )
    accepted: list[tuple[str, list[Any], list[float | None]]] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        rid = item.get("request_id") if isinstance(item, dict) else None
        labels = item.get("labels", []) if isinstance(item, dict) else None
        values = item.get("values", []) if isinstance(item, dict) else None
        if (
            not isinstance(rid, str)
            or not isinstance(labels, list)
            or not isinstance(values, list)
            or not (labels or values)
        ):
            raise _refused(f"item {i}: needs request_id and labels (or values)")
        if request_id_of(rid) is None:
            raise _refused(
                f"item {i}: request_id is not one this server gives (at most 128 letters, "
                "digits or . _ : + = / -)"
            )
        if rid in seen:
            raise _refused(f"item {i}: request_id {rid!r} is already in item {seen[rid]}")
        seen[rid] = i
        rows = answered.rows_of(rid)
        if rows is None:
            raise UnknownRequestId(
                f"item {i}: request_id {rid!r} was not answered by this server (or is older "
                "than it remembers)"
            )
        for what, given in (("labels", labels), ("values", values)):
            if len(given) > rows:
                raise _refused(
                    f"item {i}: {len(given)} {what} for request {rid!r}, which had {rows} row(s)"
                )
        checked = [_label(i, r, v, check, limits) for r, v in enumerate(labels)]
        numbers = [_value(i, r, v) for r, v in enumerate(values)]
        width = max(len(checked), len(numbers))
        checked += [None] * (width - len(checked))
        numbers += [None] * (width - len(numbers))
        accepted.append((rid, checked, numbers))
    out: dict[str, list[Any]] = {n: [] for n in FEEDBACK_SCHEMA.names}
    for rid, labels, numbers in accepted:
        given = [r for r, v in enumerate(labels) if v is not None]
        before = dict(zip(given, answered.label(rid, given), strict=True))
        for row, label in enumerate(labels):
            out["request_id"].append(rid)
            out["row"].append(row)
            out["timestamp"].append(at)
            out["label"].append(None if label is None else str(label))
            out["label_value"].append(
                float(label)
                if isinstance(label, int | float) and not isinstance(label, bool)
                else None
            )
            out["correction"].append(before.get(row, False))
            out["credential"].append(credential)
            out["value"].append(numbers[row])
    return out
