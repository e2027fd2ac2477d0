"""The README's Python example runs as written: in a fresh project made from the telco example
(committed to git, as its high risk tier's gates ask, and its gates approved by a second person,
as the README says), as the store's first admin, with nothing but the block itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_docs import ROOT, _environment, fenced_blocks

import goldenpath
from conftest import approve_gates


@pytest.mark.slow
@pytest.mark.e2e
def test_the_readme_python_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (example,) = [b for b in fenced_blocks(ROOT / "README.md") if b.language == "python"]
    goldenpath.init_project(tmp_path / "my-churn", "telco-churn")
    env = _environment()
    for command in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "x"]):
        subprocess.run(command, cwd=tmp_path / "my-churn", env=env, check=True)
    approve_gates(goldenpath.open_project(tmp_path / "my-churn"), monkeypatch)
    done = subprocess.run(
        [sys.executable, "-c", example.text],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"{example.where} failed:\n{done.stderr[-3000:]}"
    assert "pass" in done.stdout or "warn" in done.stdout, done.stdout
