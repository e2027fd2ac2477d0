"""The base of monitoring's typed documents: frozen pydantic models that refuse unknown fields
and write non-finite floats as JSON's ``NaN``/``Infinity`` (as ``json.dumps`` does), so a
document read back from its JSON equals the one written."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Document", "Severity"]

Severity = Literal["ok", "warning", "critical"]
"""A window's, a feature's or the domain classifier's verdict."""


class Document(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        ser_json_inf_nan="constants",
        populate_by_name=True,
        serialize_by_alias=True,
    )
