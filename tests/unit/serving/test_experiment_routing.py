"""A running experiment in the server, without HTTP: requests routed by arm, exposures logged
with the unit (hashed when its column is PII, left out when PII is dropped), requests that
cannot be assigned answered by the champion unexposed, and an experiment whose arms are not
the models served not routed by (with the reason)."""

from __future__ import annotations

import asyncio
from typing import Any

import pyarrow.parquet as pq
import pytest

from conftest import MakeProject, small_spec
from goldenpath import open_project
from goldenpath.experiments.assignment import arm_of
from goldenpath.serving.batcher import Batcher
from goldenpath.serving.models import ServedModel, constant_predictor
from goldenpath.serving.pii import hash_pii
from goldenpath.serving.server import Server
from goldenpath.settings import PII_KEY_VAR
from goldenpath.store.experiments import Experiment

KEY = "a test key"
ROW = {"age": 41, "spend": 80.5, "plan": "pro", "balance": 101.0}


def _experiment(**changes: Any) -> Experiment:
    values: dict[str, Any] = {
        "experiment_id": "e1",
        "project": "small",
        "name": "new-model",
        "spec_sha256": "0" * 64,
        "spec": "{}",
        "control_version": "1",
        "treatment_version": "2",
        "unit": "customer_id",
        "allocation": 0.5,
        "salt": "new-model",
        "status": "running",
        "started_at": "2026-12-03T00:00:00+00:00",
        "started_by": "me",
    }
    values.update(changes)
    return Experiment(**values)


def _server(make_project: MakeProject, pii: str) -> Server:
    spec = small_spec()
    spec["data"]["contract"]["columns"]["customer_id"]["pii"] = True
    spec["serving"] = {"log": {"pii": pii}}
    return Server(open_project(make_project(spec=spec)))


def _columns(customers: list[int | None]) -> dict[str, list[Any]]:
    return {
        **{k: [v] * len(customers) for k, v in ROW.items()},
        "customer_id": list(customers),
    }


async def _serve(server: Server, requests: list[list[int | None]]) -> list[tuple[str, str]]:
    deployment = server.deployment
    kwargs: dict[str, Any] = {"max_batch_size": 8, "max_wait_ms": 0, "max_queue": 64}
    deployment.champion = ServedModel("1", Batcher(constant_predictor("no"), **kwargs), 0.0)
    deployment.challenger = ServedModel("2", Batcher(constant_predictor("yes"), **kwargs), 0.0)
    deployment._route_experiment(_experiment(), None)
    answers = []
    for i, customers in enumerate(requests):
        answer, _ = await server.predict(_columns(customers), None, "predict", f"r{i}")
        answers.append((answer.version, answer.route))
    await server.close()
    return answers


def _logged(server: Server) -> dict[str, dict[str, Any]]:
    rows = pq.read_table(server.project.state_dir / "logs" / "predictions").to_pylist()
    return {r["request_id"]: r for r in rows if r["row"] == 0}


@pytest.mark.parametrize("pii", ["hash", "drop"])
def test_requests_are_routed_and_logged_by_arm(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch, pii: str
) -> None:
    monkeypatch.setenv(PII_KEY_VAR, KEY)
    server = _server(make_project, pii)
    customers = list(range(1, 41))
    requests: list[list[int | None]] = [[c] for c in customers]
    requests += [[None], [3, 4], [5, 5]]  # no unit, two units, one unit in two rows
    answers = asyncio.run(_serve(server, requests))
    arms = [arm_of(str(c), salt="new-model", allocation=0.5) for c in customers]
    version = {"control": ("1", "champion"), "treatment": ("2", "challenger")}
    assert answers[:40] == [version[a] for a in arms]
    assert answers[40:42] == [("1", "champion"), ("1", "champion")]  # not exposed
    assert answers[42] == version[arm_of("5", salt="new-model", allocation=0.5)]
    logged = _logged(server)
    for i, (customer, arm) in enumerate(zip(customers, arms, strict=True)):
        row = logged[f"r{i}"]
        unit = hash_pii(str(customer), KEY.encode()) if pii == "hash" else None
        assert (row["experiment"], row["arm"], row["unit"]) == ("new-model", arm, unit)
    for rid in ("r40", "r41"):
        assert (logged[rid]["experiment"], logged[rid]["arm"], logged[rid]["unit"]) == (
            None,
            None,
            None,
        )
    metrics = server.metrics.registry
    exposed = {
        arm: metrics.get_sample_value(
            "goldenpath_experiment_exposures_total", {"experiment": "new-model", "arm": arm}
        )
        for arm in ("control", "treatment")
    }
    assert exposed == {
        "control": float(arms.count("control") + (answers[42][0] == "1")),
        "treatment": float(arms.count("treatment") + (answers[42][0] == "2")),
    }
    for reason in ("no_unit", "mixed_units"):
        labels = {"experiment": "new-model", "reason": reason}
        assert metrics.get_sample_value("goldenpath_experiment_unassigned_total", labels) == 1.0


def test_an_experiment_whose_arms_are_not_served_is_not_routed(make_project: MakeProject) -> None:
    server = Server(open_project(make_project()))
    deployment = server.deployment

    async def main() -> list[str | None]:
        kwargs: dict[str, Any] = {"max_batch_size": 8, "max_wait_ms": 0, "max_queue": 64}
        deployment.champion = ServedModel("3", Batcher(constant_predictor("no"), **kwargs), 0.0)
        deployment._route_experiment(_experiment(), None)  # control v1, but v3 is the champion
        problems = [deployment.experiment_problem]
        assert deployment.experiment is None
        assert deployment.assign(_columns([1])) is None
        deployment.experiment_problem = None
        deployment._route_experiment(_experiment(), "3")
        problems.append(deployment.experiment_problem)
        await server.close()
        return problems

    unrouted, pinned = asyncio.run(main())
    assert unrouted is not None
    assert "its control is v1 and the champion serves v3" in unrouted
    assert pinned is not None
    assert "the champion is pinned to v3" in pinned
