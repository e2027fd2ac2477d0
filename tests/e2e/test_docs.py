"""Docs as tests: every shell block that README.md and docs/*.md claim to run is run.

The convention, for every Markdown file of the project:

- A block fenced as `` ```bash `` runs. A file's bash blocks run in order, as one script, in a
  fresh empty folder (so the first of them starts the project it needs), with
  ``bash -e -o pipefail``: the first command that fails fails the test.
- Every other block only shows something and says what with its language: `` ```text `` for
  syntax, output or a command that cannot run here, `` ```json ``, `` ```yaml ``,
  `` ```python ``, `` ```http ``...
- A block with no language, or a shell language other than bash (``sh``, ``console``...), is
  refused, so that no block is ambiguous about whether it runs.

The blocks run verbatim: the test changes only the environment (the virtual environment's
``bin`` first on ``PATH``, one thread per numeric library, a git identity, no store URIs from
the caller's environment).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
RUNS = "bash"
REFUSED = {"", "sh", "shell", "console", "shell-session", "zsh", "bash-session"}
TIMEOUT_S = 1800


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str

    @property
    def where(self) -> str:
        shown = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{shown}:{self.line}"


def fenced_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file (backtick fences, possibly indented)."""
    blocks: list[Block] = []
    opened: tuple[int, str, int, str] | None = None  # line, fence, indent, language
    body: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if opened is None:
            if stripped.startswith("```"):
                fence = stripped[: len(stripped) - len(stripped.lstrip("`"))]
                info = stripped[len(fence) :].strip()
                opened = (number, fence, indent, info.split()[0] if info else "")
                body = []
        elif stripped.startswith(opened[1]) and not stripped.strip("`").strip():
            blocks.append(Block(path, opened[0], opened[3], "\n".join(body) + "\n"))
            opened = None
        else:
            body.append(line[opened[2] :] if line[: opened[2]].strip() == "" else line)
    assert opened is None, f"{path}:{opened[0]}: fence never closed"
    return blocks


def runnable(path: Path) -> list[Block]:
    return [b for b in fenced_blocks(path) if b.language == RUNS]


def _environment() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "MLFLOW_TRACKING_URI",
            "GOLDENPATH_STORE_URI",
            "GOLDENPATH_USER",
            "GOLDENPATH_TOKEN",
        )
        and not k.startswith("PYTEST_")
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[threads] = "1"
    env.update(
        GIT_AUTHOR_NAME="goldenpath docs",
        GIT_AUTHOR_EMAIL="docs@example.com",
        GIT_COMMITTER_NAME="goldenpath docs",
        GIT_COMMITTER_EMAIL="docs@example.com",
    )
    return env


def run_blocks(blocks: list[Block], folder: Path) -> subprocess.CompletedProcess[str]:
    """Run the blocks as one bash script in ``folder``; whatever they leave running (a server
    started with ``&``) is ended with the script's process group."""
    script = folder.parent / f"{folder.name}.sh"
    script.write_text(
        "".join(f"# --- {b.where}\n{b.text}" for b in blocks),
        encoding="utf-8",
    )
    process = subprocess.Popen(
        ["bash", "-e", "-o", "pipefail", "-x", str(script)],
        cwd=folder,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT_S)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


# ---------------------------------------------------------------------------- the convention


def test_every_block_says_whether_it_runs() -> None:
    ambiguous = [
        f"{b.where}: ```{b.language}"
        for doc in DOCS
        for b in fenced_blocks(doc)
        if b.language in REFUSED
    ]
    assert not ambiguous, (
        "fence these blocks as ```bash (it runs, in tests/e2e/test_docs.py) or as ```text "
        "(or json, yaml, python...: it only shows):\n" + "\n".join(ambiguous)
    )


def test_the_readme_tour_is_one_runnable_block() -> None:
    (tour,) = runnable(ROOT / "README.md")
    for step in ("goldenpath init", "git commit", "goldenpath train", "--against champion"):
        assert step in tour.text


def test_fences_are_parsed_as_markdown_does(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "text\n```bash\necho one\n```\n\n1. a step\n\n   ```text\n   shown\n   ```\n"
        "````markdown\n```bash\nnot a block of its own\n```\n````\n```\nbare\n```\n"
    )
    found = [(b.line, b.language, b.text) for b in fenced_blocks(doc)]
    assert found == [
        (2, "bash", "echo one\n"),
        (8, "text", "shown\n"),
        (11, "markdown", "```bash\nnot a block of its own\n```\n"),
        (16, "", "bare\n"),
    ]


def test_a_failing_block_fails_and_names_nothing_after_it(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("```bash\necho before\nfalse\necho after\n```\n")
    folder = tmp_path / "run"
    folder.mkdir()
    done = run_blocks(runnable(doc), folder)
    assert done.returncode != 0
    assert done.stdout == "before\n"


# ---------------------------------------------------------------------------- the docs, run


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize(
    "doc",
    [pytest.param(doc, id=str(doc.relative_to(ROOT))) for doc in DOCS if runnable(doc)],
)
def test_the_docs_run_as_written(doc: Path, tmp_path: Path) -> None:
    folder = tmp_path / "reader"
    folder.mkdir()
    done = run_blocks(runnable(doc), folder)
    assert done.returncode == 0, (
        f"a bash block of {doc.relative_to(ROOT)} failed (exit {done.returncode}); the last "
        f"commands and their output:\n--- stderr\n{_tail(done.stderr)}\n--- stdout\n"
        f"{_tail(done.stdout, 20)}"
    )


# ---------------------------------------------------------------------------- docs/cli.md


def _commands() -> list[tuple[tuple[str, ...], Any]]:
    """Every leaf command of the CLI as (path, click command), e.g. (("users", "add"), ...)."""
    import typer.main

    from goldenpath.cli.app import app

    found: list[tuple[tuple[str, ...], Any]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in sorted(subcommands.items()):
                walk(sub, (*path, name))
        else:
            found.append((path, command))

    walk(typer.main.get_command(app), ())
    return found


def _options(command: Any) -> set[str]:
    return {
        option
        for param in command.params
        if param.param_type_name == "option"
        for option in (*param.opts, *param.secondary_opts)
        if option.startswith("--")
    }


def _cli_sections() -> dict[str, str]:
    """docs/cli.md's text under each ``## `command` `` heading, up to the next ``## ``."""
    sections: dict[str, str] = {}
    name = ""
    for line in (ROOT / "docs" / "cli.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            name = line[3:].strip().strip("`")
        sections[name] = sections.get(name, "") + line + "\n"
    return sections


def test_every_command_but_serve_takes_json() -> None:
    without = sorted(
        " ".join(path) for path, command in _commands() if "--json" not in _options(command)
    )
    assert without == ["serve"]  # what README.md and docs/cli.md say


def test_docs_cli_documents_every_command_and_option() -> None:
    sections = _cli_sections()
    missing = []
    for path, command in _commands():
        section = sections.get(path[0], "")
        if not section:
            missing.append(f"goldenpath {' '.join(path)}: no section ## `{path[0]}`")
            continue
        if len(path) > 1 and f"{' '.join(path)}" not in section:
            missing.append(f"goldenpath {' '.join(path)}: not named in its section")
        missing.extend(
            f"goldenpath {' '.join(path)} {option}"
            for option in sorted(_options(command))
            if f"`{option}" not in section and f"[{option}" not in section
        )
    assert not missing, "docs/cli.md does not document:\n" + "\n".join(missing)
