"""The guardrail evaluator on generated prediction logs: each metric breaches, passes or asks
for more evidence as its rule says, and the spec refuses rules it could not judge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

import goldenpath
from conftest import MakeProject
from goldenpath.monitoring.guardrails import evaluate_guardrails, psi
from goldenpath.spec.serving import GuardrailRule

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _write(root: Path, kind: str, name: str, rows: dict[str, list[Any]]) -> None:
    folder = root / ".goldenpath" / "logs" / kind / f"date={NOW.date().isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(rows), folder / f"{name}.parquet")


def _served(
    root: Path,
    name: str,
    route: str,
    version: str,
    n: int,
    *,
    latency: float = 5.0,
    degraded: float = 0.0,
    score_shift: float = 0.0,
    right: float = 0.8,
    seed: int = 0,
    minutes_ago: float = 1.0,
) -> None:
    """``n`` one-row requests of ``route`` with labels, ``right`` of them predicted right."""
    rng = np.random.default_rng(seed)
    ids = [f"{name}-{i}" for i in range(n)]
    labels = rng.choice(["yes", "no"], n)
    correct = rng.random(n) < right
    predicted = np.where(correct, labels, np.where(labels == "yes", "no", "yes"))
    at = NOW - timedelta(minutes=minutes_ago)
    _write(
        root,
        "predictions",
        name,
        {
            "request_id": ids,
            "row": [0] * n,
            "timestamp": pa.array([at] * n, pa.timestamp("us", tz="UTC")),
            "kind": ["served"] * n,
            "route": [route] * n,
            "model_version": [version] * n,
            "latency_ms": (latency * rng.lognormal(0, 0.1, n)).tolist(),
            "degraded": (rng.random(n) < degraded).tolist(),
            "prediction": predicted.tolist(),
            "prediction_value": [None] * n,
            "score": np.clip(rng.beta(2, 5, n) + score_shift, 0, 1).tolist(),
        },
    )
    _write(
        root,
        "feedback",
        name,
        {
            "request_id": ids,
            "row": pa.array([0] * n, pa.int32()),
            "timestamp": pa.array([at] * n, pa.timestamp("us", tz="UTC")),
            "label": labels.tolist(),
        },
    )


@pytest.fixture
def project(make_project: MakeProject) -> goldenpath.Project:
    return goldenpath.open_project(make_project())


def _judge(project: goldenpath.Project, **rule: Any) -> Any:
    (verdict,) = evaluate_guardrails(project, "2", rules=[GuardrailRule(**rule)], now=NOW)
    return verdict


def test_a_slow_challenger_breaches_its_latency_rule_with_the_evidence(
    project: goldenpath.Project,
) -> None:
    _served(project.root, "a", "champion", "1", 200, latency=5.0)
    _served(project.root, "b", "challenger", "2", 200, latency=20.0, seed=1)
    _served(project.root, "c", "challenger", "3", 200, latency=1.0, seed=2)  # another version
    verdict = _judge(project, metric="p95_latency_ms", max_relative_increase=1.0, min_rows=100)
    assert verdict.status == "breached"
    assert verdict.challenger_rows == 200
    assert verdict.champion_rows == 200
    assert verdict.challenger_value > 3 * verdict.champion_value
    assert verdict.observed > 1.0
    assert "challenger v2" in verdict.message


def test_too_few_rows_is_never_a_breach(project: goldenpath.Project) -> None:
    _served(project.root, "a", "champion", "1", 200)
    _served(project.root, "b", "challenger", "2", 40, latency=50.0)
    verdict = _judge(project, metric="p95_latency_ms", max_relative_increase=1.0, min_rows=100)
    assert verdict.status == "insufficient"
    assert verdict.observed is None
    assert "needs 100 on each" in verdict.message


def test_rows_outside_the_window_are_not_read(project: goldenpath.Project) -> None:
    _served(project.root, "a", "champion", "1", 200)
    _served(project.root, "b", "challenger", "2", 200, latency=50.0, minutes_ago=30)
    verdict = _judge(
        project, metric="p95_latency_ms", max_relative_increase=1.0, min_rows=100, window="10m"
    )
    assert verdict.status == "insufficient"
    assert verdict.challenger_rows == 0


def test_readmission_restarts_the_evidence(project: goldenpath.Project) -> None:
    _served(project.root, "a", "champion", "1", 200)
    _served(project.root, "b", "challenger", "2", 200, latency=50.0, minutes_ago=3)
    rule = GuardrailRule(metric="p95_latency_ms", max_relative_increase=1.0, min_rows=100)
    since = NOW - timedelta(minutes=2)
    (verdict,) = evaluate_guardrails(project, "2", rules=[rule], now=NOW, since=since)
    assert verdict.status == "insufficient"


def test_degraded_rate_against_a_champion_without_any(project: goldenpath.Project) -> None:
    _served(project.root, "a", "champion", "1", 300)
    _served(project.root, "b", "challenger", "2", 300, degraded=0.2)
    relative = _judge(project, metric="degraded_rate", max_relative_increase=0.5, min_rows=100)
    assert relative.status == "breached"
    assert relative.observed == float("inf")
    absolute = _judge(project, metric="degraded_rate", max=0.5, min_rows=100)
    assert absolute.status == "ok"
    assert 0.1 < absolute.challenger_value < 0.3


def test_score_psi_sees_shifted_scores_only(project: goldenpath.Project) -> None:
    _served(project.root, "a", "champion", "1", 1000)
    _served(project.root, "b", "challenger", "2", 1000, seed=5)
    same = _judge(project, metric="score_psi", max=0.2, min_rows=500)
    assert same.status == "ok"
    _served(project.root, "c", "challenger", "2", 3000, score_shift=0.4, seed=6)
    shifted = _judge(project, metric="score_psi", max=0.2, min_rows=500)
    assert shifted.status == "breached"
    assert shifted.observed > 0.2


def test_realised_accuracy_bounds_the_drop(project: goldenpath.Project) -> None:
    _served(project.root, "a", "champion", "1", 400, right=0.9)
    _served(project.root, "b", "challenger", "2", 400, right=0.6, seed=3)
    verdict = _judge(project, metric="realised_accuracy", max=0.1, min_rows=200)
    assert verdict.status == "breached"
    assert verdict.challenger_rows == 400
    assert verdict.observed == pytest.approx(verdict.champion_value - verdict.challenger_value)
    assert 0.2 < verdict.observed < 0.4


def test_psi_of_one_distribution_is_near_zero() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 20_000), rng.normal(0, 1, 20_000)
    assert psi(a, b) < 0.01
    assert psi(a, rng.normal(1, 1, 20_000)) > 0.5


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ({"metric": "p95_latency_ms"}, "not both or neither"),
        ({"metric": "p95_latency_ms", "max": 50, "max_relative_increase": 1}, "not both"),
        ({"metric": "error_budget", "max": 1}, "not a guardrail metric"),
        ({"metric": "score_psi", "max_relative_increase": 1}, "give it max"),
        ({"metric": "degraded_rate", "max": 0.1, "window": "soon"}, "not a positive duration"),
    ],
)
def test_the_spec_refuses_rules_it_cannot_judge(rule: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        GuardrailRule(**rule)


def test_a_drop_needs_the_champions_evidence_too(project: goldenpath.Project) -> None:
    _served(project.root, "a", "champion", "1", 20, right=0.95)
    _served(project.root, "b", "challenger", "2", 400, right=0.5, seed=3)
    verdict = _judge(project, metric="realised_accuracy", max=0.1, min_rows=200)
    assert verdict.status == "insufficient"
    assert verdict.champion_rows == 20
    alone = _judge(project, metric="degraded_rate", max=0.5, min_rows=200)  # needs no champion
    assert alone.status == "ok"
