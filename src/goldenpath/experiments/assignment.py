"""Deterministic assignment of units to an experiment's arms.

A unit (the value of the experiment's unit column in a request: a user, an account) is hashed
with the experiment's salt: BLAKE2b (8 bytes) of ``salt``, a separator and the unit's text, under
a personalisation string of its own, read as a number in [0, 1). Below ``allocation`` it is in
the treatment, otherwise in the control. So:

- the same unit always gets the same arm, on every server and every worker (no state);
- arms are uniform: a share ``allocation`` of units, whatever the units look like;
- a new salt reshuffles every unit (a new experiment does not inherit the last one's split);
- the canary's bucket (:func:`goldenpath.serving.deployment` hashes the routing key alone, with
  no personalisation) is independent of it: being in a canary says nothing of the arm.

A unit's text is :func:`unit_text` of the value the request's row holds once checked against the
contract: an integer as its decimal digits, a string as itself, so ``42`` and ``"42"`` share an
arm.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["ARMS", "Arm", "Assignment", "arm_of", "assign_request", "bucket", "unit_text"]

Arm = Literal["control", "treatment"]
ARMS: tuple[Arm, ...] = ("control", "treatment")
_PERSON = b"goldenpath-exp"  # BLAKE2b personalisation: a hash domain of its own
_SEPARATOR = b"\x1f"


def unit_text(value: object) -> str | None:
    """The unit's text (None: the row has no unit): an integral number as its digits, a
    boolean as true/false, anything else as ``str``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    return str(value)


def bucket(unit: str, salt: str) -> float:
    """The unit's place in [0, 1) under ``salt``."""
    digest = hashlib.blake2b(
        salt.encode("utf-8", "surrogatepass") + _SEPARATOR + unit.encode("utf-8", "surrogatepass"),
        digest_size=8,
        person=_PERSON,
    ).digest()
    return int.from_bytes(digest, "big") / 2**64


def arm_of(unit: str, *, salt: str, allocation: float) -> Arm:
    """The arm of ``unit``: treatment below ``allocation``, control otherwise."""
    return "treatment" if bucket(unit, salt) < allocation else "control"


@dataclass(frozen=True)
class Assignment:
    """What an experiment does with one request: its arm and unit (both None: not exposed,
    answered by the control), or why it was not exposed."""

    experiment: str
    arm: Arm | None
    unit: str | None
    reason: str | None = None  # no_unit, mixed_units (not exposed)

    @property
    def exposed(self) -> bool:
        return self.arm is not None


def assign_request(
    units: Sequence[object], *, experiment: str, salt: str, allocation: float
) -> Assignment:
    """The assignment of one request whose rows carry ``units``: exposed when every row names
    the same unit; a request with no unit (``no_unit``) or rows of several units
    (``mixed_units``) is answered by the control and not exposed, since one request is answered
    by one model."""
    texts = {unit_text(u) for u in units}
    if not texts or texts == {None}:
        return Assignment(experiment, None, None, "no_unit")
    if len(texts) > 1:
        return Assignment(experiment, None, None, "mixed_units" if None not in texts else "no_unit")
    (unit,) = texts
    assert unit is not None
    return Assignment(experiment, arm_of(unit, salt=salt, allocation=allocation), unit)
