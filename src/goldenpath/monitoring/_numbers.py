"""Numbers in messages: a value and the threshold it is compared with never print equal when
they differ ("psi is 0.10001, above 0.1", never "psi is 0.1, above 0.1")."""

from __future__ import annotations

import math

__all__ = ["compared"]

_MAX_DIGITS = 17  # enough for any float to print as itself


def _exact_digits(number: float) -> int:
    """The fewest significant digits that print ``number`` as itself (a threshold from the
    spec, such as 0.25, is shown as written)."""
    for digits in range(1, _MAX_DIGITS + 1):
        if float(f"{number:.{digits}g}") == number:
            return digits
    return _MAX_DIGITS


def compared(value: float, threshold: float, digits: int = 4) -> tuple[str, str]:
    """``value`` and ``threshold`` as text. The threshold is shown exactly (as the spec wrote
    it) to at least ``digits`` significant digits; the value to as many digits, and more until
    its text differs from the threshold's wherever the numbers differ. Equal numbers print
    equal; non-finite ones as Python prints them."""
    if not (math.isfinite(value) and math.isfinite(threshold)):
        return f"{value:g}", f"{threshold:g}"
    shown = max(digits, _exact_digits(threshold))
    bound = f"{threshold:.{shown}g}"
    while True:
        text = f"{value:.{shown}g}"
        if value == threshold or text != bound or shown >= _MAX_DIGITS:
            return text, bound
        shown += 1
