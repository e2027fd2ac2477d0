"""``POST /feedback``: ground-truth labels for answered requests, checked and turned into rows
of the feedback log (one per label, joined to the prediction log by request id and row)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from goldenpath.serving.logs import FEEDBACK_SCHEMA
from goldenpath.serving.server import request_id_of
from goldenpath.serving.validation import RequestRefused
from goldenpath.spec.serving import LimitsSpec

__all__ = ["feedback_rows"]


def _refused(message: str) -> RequestRefused:
    return RequestRefused(422, "invalid_feedback", message)


def _label_count(items: list[Any]) -> int:
    return sum(
        len(item["labels"])
        for item in items
        if isinstance(item, dict) and isinstance(item.get("labels"), list)
    )


def _check_label(i: int, label: object, limits: LimitsSpec) -> None:
    if isinstance(label, dict | list):
        raise _refused(f"item {i}: a label must be a value")
    if isinstance(label, str) and len(label) > limits.max_string_chars:
        raise _refused(
            f"item {i}: a label of {len(label)} characters (at most {limits.max_string_chars})"
        )


def feedback_rows(body: Any, limits: LimitsSpec, at: datetime) -> dict[str, list[Any]]:
    """The feedback log's columns for ``body`` (one ``{request_id, labels}`` object or a list
    of them), received ``at``; :class:`RequestRefused` (413 past ``max_rows`` labels or items,
    422 for anything malformed) before any row is kept."""
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
    rows: dict[str, list[Any]] = {n: [] for n in FEEDBACK_SCHEMA.names}
    for i, item in enumerate(items):
        rid = item.get("request_id") if isinstance(item, dict) else None
        labels = item.get("labels") if isinstance(item, dict) else None
        if not isinstance(rid, str) or not isinstance(labels, list) or not labels:
            raise _refused(f"item {i}: needs request_id and labels")
        if request_id_of(rid) is None:
            raise _refused(
                f"item {i}: request_id is not one this server gives (at most 128 letters, "
                "digits or . _ : + = / -)"
            )
        for row, label in enumerate(labels):
            _check_label(i, label, limits)
            rows["request_id"].append(rid)
            rows["row"].append(row)
            rows["timestamp"].append(at)
            rows["label"].append(None if label is None else str(label))
            rows["label_value"].append(
                float(label)
                if isinstance(label, int | float) and not isinstance(label, bool)
                else None
            )
    return rows
