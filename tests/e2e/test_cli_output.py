"""What the CLI prints when its output goes to a pipe or a file rather than a terminal."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from test_cli import run

from conftest import MakeProject
from goldenpath.cli._output import PIPE_WIDTH, console_for

FINGERPRINT = re.compile(r"sha256:[0-9a-f]{64}")


def piped(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the console script with stdout and stderr as pipes, as `goldenpath ... | grep` does."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return run(*args, cwd=cwd, env=env)


def test_piped_output_keeps_each_fingerprint_on_one_line(make_project: MakeProject) -> None:
    root = make_project()
    done = piped("validate", cwd=root)
    assert done.returncode == 0, done.stderr
    as_json = json.loads(piped("validate", "--json", cwd=root).stdout)

    lines = done.stdout.splitlines()
    for key in ("dataset_fingerprint", "schema_hash"):
        (line,) = [line for line in lines if line.startswith(key)]
        # the whole fingerprint, on the line of its key (an 80-column console folded it)
        assert FINGERPRINT.findall(line) == [as_json[key]]
    assert str(root / "data.csv") in done.stdout.splitlines()[0]


def test_consoles_off_a_terminal_never_fold_lines() -> None:
    for stderr in (False, True):
        console = console_for(stderr=stderr)
        if console.is_terminal:  # pytest -s on a terminal
            pytest.skip("stdout is a terminal")
        assert console.width == PIPE_WIDTH
        with console.capture() as captured:
            console.print("x" * 500)
        assert captured.get().splitlines() == ["x" * 500]


def test_a_terminal_keeps_its_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # Rich takes stdout for a terminal
    monkeypatch.setenv("COLUMNS", "60")
    console = console_for(stderr=False)
    assert console.is_terminal
    assert console.width == 60
