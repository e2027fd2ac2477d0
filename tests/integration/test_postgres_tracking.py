"""A team's set-up: MLflow tracking in PostgreSQL (MLFLOW_TRACKING_URI), artefacts in the project.

Runs against the PostgreSQL at 127.0.0.1:5432 when it answers (CI machines have it), in a
database of its own that the test creates afresh.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import goldenpath
from conftest import MakeProject

DATABASE = "goldenpath_mlflow_test"
SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


def _fresh_database() -> None:
    psycopg = pytest.importorskip("psycopg")
    try:
        connection = psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres",
            autocommit=True,
            connect_timeout=3,
        )
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not answering at 127.0.0.1:5432: {exc}")
    with connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")


def test_train_runs_and_reproduce_on_postgresql(
    make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fresh_database()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"{SERVER}/{DATABASE}")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # artefacts must not land in the working directory
    root = make_project()
    project = goldenpath.open_project(root)

    trained = goldenpath.train(project)
    assert trained.tracking_uri.startswith("postgresql+psycopg://")
    assert trained.model_version == "1"
    assert not (root / ".goldenpath" / "mlflow.db").exists()
    assert any((root / ".goldenpath" / "artifacts").rglob("split.json"))
    assert list(elsewhere.iterdir()) == []

    runs = goldenpath.list_runs(project)
    assert [r.run_id for r in runs] == [trained.run_id]
    assert goldenpath.reproduce(project, trained.run_id).reproduced
