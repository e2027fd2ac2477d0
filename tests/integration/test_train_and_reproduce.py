"""Training and reproduction against a real embedded MLflow store (SQLite + local artefacts)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import goldenpath
from conftest import MakeProject, small_frame, small_spec, tree
from goldenpath.errors import (
    EntrypointFailed,
    EntrypointNotFound,
    FingerprintMismatch,
    NotAModel,
    RunNotFound,
)
from goldenpath.training.tracking import TAG_PREFIX


def _client(root: Path) -> MlflowClient:
    uri = f"sqlite:///{root / '.goldenpath' / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_train_records_lineage_and_registers_a_loadable_model(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project()
    project = goldenpath.open_project(root)
    result = goldenpath.train(project)

    client = _client(root)
    run = client.get_run(result.run_id)
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    dataset = goldenpath.load_dataset(project.spec, project.root)
    assert tags[TAG_PREFIX + "dataset_fingerprint"] == dataset.fingerprint
    assert tags[TAG_PREFIX + "schema_hash"] == dataset.schema_hash
    assert tags[TAG_PREFIX + "train_fingerprint"] != tags[TAG_PREFIX + "test_fingerprint"]
    assert tags[TAG_PREFIX + "git_commit"] == "not a git repo"
    assert tags[TAG_PREFIX + "model_version"] == "1"
    assert params == {"C": "0.5", "seed": "1", "entrypoint": "small_model:train"}
    assert metrics["train_rows"] == 300
    assert metrics["test_rows"] == 100
    assert metrics["training_duration_s"] > 0
    assert metrics["peak_memory_mb"] >= metrics["peak_memory_increase_mb"] >= 0

    lineage = json.loads(
        Path(client.download_artifacts(run.info.run_id, "lineage.json")).read_text()
    )
    assert lineage["environment"]["packages"]["scikit-learn"]
    assert lineage["environment"]["python"].startswith("3.")
    assert lineage["training"]["seed"] == 1
    assert lineage["code"]["source_hash"].startswith("sha256:")
    split = json.loads(Path(client.download_artifacts(run.info.run_id, "split.json")).read_text())
    assert len(split["train_ids"]) == 300
    assert len(split["test_ids"]) == 100
    assert not set(split["train_ids"]) & set(split["test_ids"])

    # MLflow itself loads the registered version and predicts on the held-out rows.
    assert result.model_uri == "models:/small/1"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / '.goldenpath' / 'mlflow.db'}")
    model = mlflow.pyfunc.load_model(result.model_uri)
    test_rows = small_frame().set_index("customer_id").loc[split["test_ids"]]
    predicted = model.predict(test_rows[project.spec.feature_columns])
    assert set(np.asarray(predicted)) <= {"yes", "no"}
    assert len(predicted) == 100
    registered = client.get_model_version("small", "1")
    assert registered.run_id == result.run_id


def test_split_and_fingerprint_do_not_depend_on_row_order(make_project: MakeProject) -> None:
    shuffled = small_frame().sample(frac=1.0, random_state=9)
    first = goldenpath.train(goldenpath.open_project(make_project()))
    second = goldenpath.train(goldenpath.open_project(make_project(frame=shuffled)))
    assert first.dataset_fingerprint == second.dataset_fingerprint
    assert first.test_fingerprint == second.test_fingerprint


def test_reproduce_matches_a_deterministic_run(make_project: MakeProject) -> None:
    root = make_project()
    project = goldenpath.open_project(root)
    trained = goldenpath.train(project)
    result = goldenpath.reproduce(project, "latest")
    assert result.run_id == trained.run_id
    assert result.reproduced
    assert result.max_abs_score_diff == 0.0
    assert result.changed_label_share == 0.0
    assert result.split_matches
    assert result.code_changed is False
    tags = _client(root).get_run(trained.run_id).data.tags
    assert tags[TAG_PREFIX + "reproducible"] == "true"


def test_reproduce_detects_a_nondeterministic_entrypoint(make_project: MakeProject) -> None:
    root = make_project(**{"training.entrypoint": "small_model:nondeterministic"})
    project = goldenpath.open_project(root)
    goldenpath.train(project)
    result = goldenpath.reproduce(project, "latest")
    assert not result.reproduced
    assert result.max_abs_score_diff > 1e-6


def test_reproduce_reports_changed_code(make_project: MakeProject) -> None:
    root = make_project()
    project = goldenpath.open_project(root)
    goldenpath.train(project)
    module = root / "small_model.py"
    module.write_text(module.read_text().replace('C=params.get("C", 1.0)', "C=0.001"))
    result = goldenpath.reproduce(project, "latest")
    assert result.code_changed is True
    assert not result.reproduced


def test_reproduce_refuses_when_the_data_changed(make_project: MakeProject) -> None:
    root = make_project()
    project = goldenpath.open_project(root)
    goldenpath.train(project)
    frame = pd.read_csv(root / "data.csv")
    frame.loc[0, "spend"] += 1.0
    frame.to_csv(root / "data.csv", index=False)
    with pytest.raises(FingerprintMismatch, match="has changed") as error:
        goldenpath.reproduce(project, "latest")
    assert error.value.exit_code == 41


def test_reproduce_unknown_run(make_project: MakeProject) -> None:
    project = goldenpath.open_project(make_project())
    with pytest.raises(RunNotFound, match="no runs yet"):
        goldenpath.reproduce(project, "latest")
    goldenpath.train(project)
    with pytest.raises(RunNotFound, match="no run 'deadbeef'"):
        goldenpath.reproduce(project, "deadbeef")


@pytest.mark.parametrize(
    ("entrypoint", "error", "message"),
    [
        ("small_model:returns_nothing", NotAModel, "has no predict method"),
        ("small_model:raises", EntrypointFailed, "the feature store is down"),
        ("small_model:missing", EntrypointNotFound, "has no function 'missing'"),
        ("no_such_module:train", EntrypointNotFound, "no module 'no_such_module'"),
    ],
)
def test_bad_entrypoints_write_nothing(
    make_project: MakeProject, entrypoint: str, error: type[Exception], message: str
) -> None:
    root = make_project(**{"training.entrypoint": entrypoint})
    before = tree(root)
    with pytest.raises(error, match=message):
        goldenpath.train(goldenpath.open_project(root))
    assert tree(root) == before  # no .goldenpath, no MLflow store, no __pycache__


def test_list_runs_creates_nothing_and_lists_newest_first(make_project: MakeProject) -> None:
    root = make_project()
    project = goldenpath.open_project(root)
    assert goldenpath.list_runs(project) == []
    assert not (root / ".goldenpath").exists()
    first = goldenpath.train(project)
    second = goldenpath.train(project)
    runs = goldenpath.list_runs(project)
    assert [r.run_id for r in runs] == [second.run_id, first.run_id]
    assert runs[0].model_version == "2"
    assert runs[0].dataset_fingerprint == first.dataset_fingerprint


def test_tracking_uri_override_is_used_and_not_leaked(
    make_project: MakeProject, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{shared}")
    root = make_project()
    result = goldenpath.train(goldenpath.open_project(root))
    assert shared.exists()
    assert not (root / ".goldenpath" / "mlflow.db").exists()
    assert result.tracking_uri == f"sqlite:///{shared}"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    other = make_project(spec=small_spec(**{"project.name": "other"}))
    goldenpath.train(goldenpath.open_project(other))
    assert (other / ".goldenpath" / "mlflow.db").exists()


def test_git_commit_and_dirty_flag_are_recorded(make_project: MakeProject) -> None:
    root = make_project()
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
        "PATH": "/usr/bin:/bin",
    }
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "start"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, env=env)
    (root / ".gitignore").write_text(".goldenpath/\n")
    subprocess.run(["git", "-C", str(root), "add", ".gitignore"], check=True, env=env)
    subprocess.run(["git", "-C", str(root), "commit", "-qm", "ignore"], check=True, env=env)
    head = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    clean = goldenpath.train(goldenpath.open_project(root))
    (root / "small_model.py").write_text((root / "small_model.py").read_text() + "\n# edit\n")
    dirty = goldenpath.train(goldenpath.open_project(root))
    client = _client(root)
    assert client.get_run(clean.run_id).data.tags[TAG_PREFIX + "git_commit"] == head
    assert client.get_run(clean.run_id).data.tags[TAG_PREFIX + "git_dirty"] == "false"
    assert client.get_run(dirty.run_id).data.tags[TAG_PREFIX + "git_dirty"] == "true"
    # what train audits with the version, and gate's clean_git rule reads
    assert (clean.git_commit, clean.git_dirty, dirty.git_dirty) == (head, False, True)
    assert clean.audit_payload()["git_dirty"] is False


def test_pii_never_reaches_the_logged_input_example(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = small_frame()
    frame["email"] = [f"person{i}@example.com" for i in range(len(frame))]
    spec = small_spec()
    columns = spec["data"]["contract"]["columns"]
    columns["email"] = {"dtype": "str", "pii": True}
    columns["age"]["pii"] = True
    root = make_project(frame=frame, spec=spec)
    result = goldenpath.train(goldenpath.open_project(root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / '.goldenpath' / 'mlflow.db'}")
    example = mlflow.pyfunc.load_model(result.model_uri).input_example
    assert list(example["email"]) == ["<redacted>"] * 5
    assert list(example["age"]) == [0] * 5  # the contract's min
    assert example["spend"].nunique() > 1  # other columns keep their real values
