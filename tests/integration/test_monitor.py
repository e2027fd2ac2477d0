"""``goldenpath monitor`` over a real prediction log: quiet on traffic like the training data,
alerting on a shifted window; the reference profile is computed once and cached."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import goldenpath
from conftest import MakeProject, recorded_evaluation, small_frame
from goldenpath.gates import gate
from goldenpath.monitoring import monitor
from goldenpath.registry import promote
from goldenpath.serving.logs import LogWriter, partition_for, prediction_schema
from goldenpath.spec.serving import LogSpec

PHASE_ONE = datetime(2026, 1, 1, tzinfo=UTC)
PHASE_TWO = datetime(2026, 1, 2, tzinfo=UTC)


def _log(project: goldenpath.Project, frame: pd.DataFrame, when: datetime) -> None:
    columns = project.spec.data.contract.columns
    writer = LogWriter(
        project.state_dir / "logs", prediction_schema(columns, "hash"), LogSpec(flush_rows=10**6)
    )
    n = len(frame)
    values = {c: frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in frame}
    values |= {
        "request_id": [f"r{i}" for i in range(n)],
        "row": [0] * n,
        "timestamp": [when + timedelta(seconds=i) for i in range(n)],
        "model_version": ["1"] * n,
        "kind": ["served"] * n,
    }
    writer.append(partition_for("predictions", when, "1"), values, n)
    writer.close()


@pytest.fixture
def served(make_project: MakeProject) -> goldenpath.Project:
    spec_overrides = {"evaluation": {"resamples": 0}}
    project = goldenpath.open_project(make_project(frame=small_frame(n=4000), **spec_overrides))
    goldenpath.train(project)
    gate(project, "small/1", evaluation_id=recorded_evaluation(project, "small/1"))
    promote(project, "small/1")
    features = project.spec.feature_columns
    like_training = small_frame(n=3000, seed=11)[features]
    shifted = small_frame(n=3000, seed=12)[features]
    shifted["age"] = shifted["age"] + 15
    shifted.loc[shifted.sample(frac=0.3, random_state=1).index, "plan"] = "pro"
    _log(project, like_training, PHASE_ONE)
    _log(project, shifted, PHASE_TWO)
    return project


def test_quiet_on_familiar_traffic_and_alerting_on_a_shift(served: goldenpath.Project) -> None:
    calm = monitor(served, since=PHASE_ONE, until=PHASE_TWO)
    assert calm.rows == 3000
    assert calm.alerts == []
    assert {f.feature for f in calm.features} == set(served.spec.feature_columns)

    shifted = monitor(served, since=PHASE_TWO)
    assert shifted.rows == 3000
    alerting = {f.feature: f for f in shifted.alerts}
    assert set(alerting) == {"age", "plan"}
    assert alerting["age"].severity == "critical"
    assert alerting["age"].wasserstein is not None
    assert alerting["age"].wasserstein > 0.5
    cached = list((served.state_dir / "monitoring").glob("reference-*.json"))
    assert len(cached) == 1  # the training rows were profiled once


def test_an_empty_window_is_a_clear_error(served: goldenpath.Project) -> None:
    with pytest.raises(goldenpath.GoldenpathError, match="no served predictions"):
        monitor(served, since=datetime(2030, 1, 1, tzinfo=UTC))


def test_cli_prints_alerts_as_json(served: goldenpath.Project) -> None:
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "goldenpath"),
            "monitor",
            "--since",
            "2026-01-02",
            "--json",
        ],
        cwd=served.root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert {a["feature"] for a in document["alerts"]} == {"age", "plan"}
    assert np.isfinite(document["features"][0]["psi"])


def test_the_spec_sets_the_thresholds(served: goldenpath.Project) -> None:
    import yaml

    spec = yaml.safe_load(served.spec_path.read_text())
    spec["monitoring"] = {"psi_warning": 5.0, "psi_critical": 9.0, "js_critical": 0.99}
    served.spec_path.write_text(yaml.safe_dump(spec))
    lenient = goldenpath.open_project(served.root)
    assert monitor(lenient, since=PHASE_TWO).alerts == []  # the same shift, judged leniently
    spec["monitoring"] = {"psi_warning": 0.3, "psi_critical": 0.2}
    served.spec_path.write_text(yaml.safe_dump(spec))
    with pytest.raises(goldenpath.GoldenpathError, match="psi_warning"):
        goldenpath.open_project(served.root)
