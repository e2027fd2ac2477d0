"""The exception tree: stable codes, distinct exit codes, JSON form, documented in --help."""

from __future__ import annotations

from goldenpath import errors
from goldenpath.cli._output import exit_codes_help


def leaves() -> list[type[errors.GoldenpathError]]:
    return [c for c in errors.all_error_classes() if not c.__subclasses__()]


def test_every_error_is_in_the_tree_and_exported() -> None:
    classes = errors.all_error_classes()
    assert classes[0] is errors.GoldenpathError
    exported = {getattr(errors, n) for n in errors.__all__ if n[0].isupper()}
    assert set(classes) == exported


def test_leaf_errors_have_distinct_codes_and_exit_codes() -> None:
    found = leaves()
    assert len({c.code for c in found}) == len(found)
    assert len({c.exit_code for c in found}) == len(found)
    assert all(c.exit_code not in (0, 1, 2) for c in found)
    assert all(400 <= c.status < 600 for c in found)


def test_every_leaf_exit_code_is_in_the_help_text() -> None:
    text = exit_codes_help()
    for cls in leaves():
        assert f"{cls.exit_code} {cls.code}" in text


def test_error_renders_message_and_hint() -> None:
    error = errors.ContractViolation("bad rows", hint="fix them", details={"rows": [1]})
    assert str(error) == "bad rows\nHow to fix: fix them"
    assert error.to_dict() == {
        "code": "contract_violation",
        "exit_code": 22,
        "message": "bad rows",
        "hint": "fix them",
        "details": {"rows": [1]},
    }
    assert isinstance(error, errors.DataError)
