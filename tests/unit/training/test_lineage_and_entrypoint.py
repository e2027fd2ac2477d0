"""Lineage records and entrypoint resolution without MLflow."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from goldenpath.errors import EntrypointFailed, EntrypointNotFound
from goldenpath.training._memory import track_peak_memory
from goldenpath.training.entrypoint import load_entrypoint
from goldenpath.training.lineage import code_version, environment, source_hash


def test_environment_lists_key_packages_and_what_the_entrypoint_imported() -> None:
    env = environment(["yaml"])
    assert env.python == sys.version.split()[0]
    assert {"scikit-learn", "pandas", "mlflow", "goldenpath"} <= set(env.packages)
    assert "PyYAML" in env.packages or "pyyaml" in {p.lower() for p in env.packages}


def test_code_version_outside_git(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("x = 1\n")
    version = code_version(tmp_path, module)
    assert version.git_commit == "not a git repo"
    assert version.git_dirty is None
    assert version.source_hash == source_hash(module)
    module.write_text("x = 2\n")
    assert source_hash(module) != version.source_hash


def test_entrypoint_is_imported_afresh_and_writes_no_bytecode(tmp_path: Path) -> None:
    module = tmp_path / "fresh_model.py"
    module.write_text("def train(frame, params):\n    return 1\n")
    first = load_entrypoint("fresh_model:train", tmp_path)
    module.write_text("def train(frame, params):\n    return 2\n")
    second = load_entrypoint("fresh_model:train", tmp_path)
    assert first.function(pd.DataFrame(), {}) == 1
    assert second.function(pd.DataFrame(), {}) == 2
    assert not (tmp_path / "__pycache__").exists()
    assert str(tmp_path) not in sys.path


def test_entrypoint_errors_name_the_problem(tmp_path: Path) -> None:
    (tmp_path / "broken_model.py").write_text("import not_installed_anywhere\n")
    (tmp_path / "ok_model.py").write_text("def fit(frame, params):\n    return None\n")
    with pytest.raises(EntrypointFailed, match="not_installed_anywhere"):
        load_entrypoint("broken_model:train", tmp_path)
    with pytest.raises(EntrypointNotFound, match=r"no function 'train' \(callables there: fit\)"):
        load_entrypoint("ok_model:train", tmp_path)


def test_peak_memory_sees_a_large_allocation() -> None:
    with track_peak_memory() as peak:
        block = bytearray(200 * 1024 * 1024)
        block[::4096] = b"x" * len(block[::4096])
        time.sleep(0.1)  # the sampler looks every 5 ms; a shorter spike may be missed
        del block
    assert peak.increase_mb > 150
