"""Durations as the spec writes them: a positive whole number and a unit (``30s``, ``15m``,
``1h``, ``7d``), read by every key that takes one."""

from __future__ import annotations

import re

__all__ = ["UNIT_SECONDS", "parse_duration"]

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^(\d+)([smhd])$")


def parse_duration(text: str, *, units: str = "smhd") -> int:
    """The seconds of ``text`` (``30s``, ``15m``, ``1h``, ``7d``; only the ``units`` given);
    ValueError for anything else, zero included."""
    match = _DURATION.match(text.strip())
    if not match or match.group(2) not in units or int(match.group(1)) <= 0:
        raise ValueError(
            f"{text!r} is not a positive duration: a whole number and one of the units "
            f"{', '.join(units)} (such as 15m or 1h)"
        )
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)]
