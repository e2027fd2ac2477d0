"""The server's background guardrail watch and its read of the serving controls never fail
silently: each failure is counted, shown as a readiness problem, and cleared once a pass
succeeds; the last controls read stay in force meanwhile."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import goldenpath
from conftest import MakeProject
from goldenpath.monitoring.guardrails import Enforced
from goldenpath.registry.controls import Halt, ServingControls
from goldenpath.serving import deployment as deployment_module
from goldenpath.serving import guardrails as watch_module
from goldenpath.serving.deployment import Deployment
from goldenpath.serving.guardrails import GuardrailWatch
from goldenpath.serving.metrics import ServerMetrics
from goldenpath.serving.models import ServedModel


def _deployment(make_project: MakeProject, **serving: Any) -> Deployment:
    root = make_project(serving={"challenger": "canary", **serving})
    project = goldenpath.open_project(root)
    return Deployment(project, ServerMetrics(project.spec.serving.slo))


def _count(deployment: Deployment, name: str, labels: dict[str, str] | None = None) -> float:
    value = deployment.metrics.registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


def test_a_failing_guardrail_check_is_counted_and_shown_until_one_succeeds(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    guardrails = [{"metric": "degraded_rate", "max": 0.1}]
    deployment = _deployment(make_project, guardrails=guardrails)
    deployment.challenger = ServedModel("2", None, 0.0)  # type: ignore[arg-type]
    watch = GuardrailWatch(deployment)
    assert watch.scheduled

    def broken(*_: object, **__: object) -> Any:
        raise OSError("the log folder is gone")

    monkeypatch.setattr(watch_module, "enforce", broken)
    asyncio.run(watch.check())
    asyncio.run(watch.check())
    assert _count(deployment, "goldenpath_guardrail_failures_total") == 2
    assert watch.problems() == ["guardrails: OSError: the log folder is gone"]

    monkeypatch.setattr(watch_module, "enforce", lambda *_, **__: Enforced([]))
    asyncio.run(watch.check())
    assert watch.problems() == []
    assert _count(deployment, "goldenpath_guardrail_failures_total") == 2


def test_a_halted_challenger_is_not_judged_again(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = _deployment(make_project, guardrails=[{"metric": "degraded_rate", "max": 0.1}])
    deployment.challenger = ServedModel("2", None, 0.0)  # type: ignore[arg-type]
    halt = Halt(version="2", at="2026-12-03T00:00:00+00:00", actor="x", reason="slow")
    deployment.controls = ServingControls(project="small", halted={"2": halt})
    calls: list[str] = []
    monkeypatch.setattr(watch_module, "enforce", lambda _, version: calls.append(version))
    asyncio.run(GuardrailWatch(deployment).check())
    assert calls == []


def test_unreadable_controls_keep_the_last_ones_and_are_counted(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = _deployment(make_project)
    pinned = ServingControls(project="small", pinned="1", pinned_at="2026-12-03T00:00:00+00:00")
    monkeypatch.setattr(deployment_module, "serving_controls", lambda _: pinned)
    assert asyncio.run(deployment._read_controls()).pinned == "1"
    assert deployment.controls_problem is None

    def down(_: object) -> ServingControls:
        raise ConnectionError("the store does not answer")

    monkeypatch.setattr(deployment_module, "serving_controls", down)
    assert asyncio.run(deployment._read_controls()).pinned == "1"  # still in force
    assert deployment.controls_problem == (
        "serving controls: ConnectionError: the store does not answer"
    )
    assert _count(deployment, "goldenpath_serving_controls_failures_total") == 1
    assert _count(deployment, "goldenpath_serving_control", {"control": "pinned"}) == 1


def test_an_alert_no_sink_heard_is_counted_and_shown(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = _deployment(make_project, guardrails=[{"metric": "degraded_rate", "max": 0.1}])
    deployment.challenger = ServedModel("2", None, 0.0)  # type: ignore[arg-type]
    failed = Enforced([], None, ["webhook http://127.0.0.1:9/: 4 attempts failed"])
    monkeypatch.setattr(watch_module, "enforce", lambda *_, **__: failed)
    watch = GuardrailWatch(deployment)
    asyncio.run(watch.check())
    assert _count(deployment, "goldenpath_guardrail_failures_total") == 1
    assert watch.problems() == [
        "guardrails: alert not delivered: webhook http://127.0.0.1:9/: 4 attempts failed"
    ]
