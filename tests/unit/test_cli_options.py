"""The CLI's shared option parsing (``goldenpath.cli._options``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import typer

from goldenpath.cli._options import parse_moment


def test_a_moment_without_a_zone_is_utc_and_one_with_a_zone_keeps_it() -> None:
    assert parse_moment("2026-01-02", "--since") == datetime(2026, 1, 2, tzinfo=UTC)
    plus_two = parse_moment("2026-01-02T03:04:05+02:00", "--until")
    assert plus_two == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert parse_moment(None, "--since") is None


def test_a_bad_moment_is_a_usage_error_naming_the_option() -> None:
    with pytest.raises(typer.BadParameter) as error:
        parse_moment("yesterday", "--until")
    assert error.value.param_hint == "--until"
    assert "ISO-8601" in str(error.value)
