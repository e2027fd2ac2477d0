"""Commands that need only goldenpath's own store start without MLflow, scikit-learn or pandas.

MLflow's import alone takes seconds; ``history``, ``users``, ``audit`` and ``alerts`` read the
store, so they must not pay for it. Each runs in a fresh interpreter with ``-X importtime``,
which names every module the process imported.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from conftest import SMALL_MODEL, small_frame, small_spec

GOLDENPATH = str(Path(sys.executable).parent / "goldenpath")
STORE_ONLY = [
    ("history",),
    ("users", "list"),
    ("audit", "verify"),
    ("audit", "list"),
    ("alerts",),
    ("incident", "status"),  # on-call reads it first: it must start fast
]
NOT_NEEDED = ("mlflow", "sklearn", "pandas")


def imported_modules(*args: str, cwd: Path) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "goldenpath", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # "import time: self [us] | cumulative | imported package", one line per module
    return {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small project trained once: an MLflow store, a goldenpath store, users and audit."""
    root = tmp_path_factory.mktemp("store-commands")
    (root / "goldenpath.yaml").write_text(yaml.safe_dump(small_spec()))
    small_frame().to_csv(root / "data.csv", index=False)
    (root / "small_model.py").write_text(textwrap.dedent(SMALL_MODEL))
    done = subprocess.run(
        [GOLDENPATH, "train"], cwd=root, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (root / ".goldenpath" / "mlflow.db").is_file()
    return root


@pytest.mark.e2e
@pytest.mark.parametrize("command", STORE_ONLY, ids=" ".join)
def test_store_only_commands_do_not_import_mlflow(command: tuple[str, ...], trained: Path) -> None:
    modules = imported_modules(*command, cwd=trained)
    assert "goldenpath.cli.app" in modules  # the probe sees the command's imports
    for package in NOT_NEEDED:
        found = sorted(m for m in modules if m == package or m.startswith(f"{package}."))
        assert not found, f"`goldenpath {' '.join(command)}` imported {found[:5]}"


@pytest.mark.e2e
def test_the_probe_sees_mlflow_where_it_is_needed(trained: Path) -> None:
    # `runs` lists MLflow's runs: the probe must find MLflow there, or it proves nothing
    assert "mlflow" in imported_modules("runs", cwd=trained)
