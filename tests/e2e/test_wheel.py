"""The wheel is the product: built from this checkout, installed into a new virtual environment
(no system site-packages, no source tree on ``sys.path``), it scaffolds, validates and trains.

Its dependencies come from pip's configured package index; on this project's 2-core machine
with pip's cache warm the install takes about a minute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _run(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done


def _clean_environment(venv: Path) -> dict[str, str]:
    """The caller's environment without anything that points back at this checkout."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "PYTHONPATH",
            "PYTHONHOME",
            "VIRTUAL_ENV",
            "MLFLOW_TRACKING_URI",
            "GOLDENPATH_STORE_URI",
            "GOLDENPATH_USER",
            "GOLDENPATH_TOKEN",
        )
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    for threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[threads] = "1"
    return env


def test_the_wheel_installs_and_runs_without_the_source_tree(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, ROOT, cwd=tmp_path)
    (wheel,) = dist.glob("goldenpath-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
    assert "goldenpath/py.typed" in names
    assert "goldenpath/examples/telco-churn/goldenpath.yaml" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert b"License-Expression: Apache-2.0" in metadata
    assert b"Requires-Dist: scipy" in metadata

    venv = tmp_path / "venv"  # a new environment: no --system-site-packages
    base_python = getattr(sys, "_base_executable", sys.executable)
    _run(base_python, "-m", "venv", venv, cwd=tmp_path)
    env = _clean_environment(venv)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", wheel, cwd=tmp_path, env=env)

    work = tmp_path / "work"
    work.mkdir()
    where = _run(
        python,
        "-c",
        "import json, sys, goldenpath; "
        "print(json.dumps({'file': goldenpath.__file__, 'path': sys.path, "
        "'venv': sys.base_prefix != sys.prefix}))",
        cwd=work,
        env=env,
    )
    found = json.loads(where.stdout)
    assert Path(found["file"]).is_relative_to(venv)
    assert found["venv"]
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    assert not any(str(ROOT) in entry for entry in found["path"])  # ... that never sees this tree
    assert (Path(found["file"]).parent / "py.typed").is_file()

    goldenpath = venv / "bin" / "goldenpath"
    _run(goldenpath, "init", "churn", "--example", "telco-churn", cwd=work, env=env)
    project = work / "churn"
    _run(goldenpath, "validate", cwd=project, env=env)
    trained = json.loads(_run(goldenpath, "train", "--json", cwd=project, env=env).stdout)
    assert trained["model_version"] == "1"
    runs = json.loads(_run(goldenpath, "runs", "--json", cwd=project, env=env).stdout)
    assert [r["run_id"] for r in runs] == [trained["run_id"]]
