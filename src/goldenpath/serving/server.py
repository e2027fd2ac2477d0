"""The state behind the routes: the deployment, the logs, the metrics, and :meth:`Server.score`,
the one function every scoring endpoint (and the fast path) calls."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from goldenpath.project import Project
from goldenpath.serving.batcher import Overloaded
from goldenpath.serving.deployment import Answer, Deployment, NoModel
from goldenpath.serving.logs import FEEDBACK_SCHEMA, LogWriter, partition_for, prediction_schema
from goldenpath.serving.metrics import ServerMetrics
from goldenpath.serving.protocols import (
    Failure,
    Protocol,
    Reply,
    error_reply,
    parse_json,
    request_rows,
    response_body,
)
from goldenpath.serving.validation import RequestInvalid

__all__ = ["Server", "error_body"]


def error_body(status: int, code: str, message: str, **extra: Any) -> Reply:
    """goldenpath's own error answer (``/predict`` and the non-scoring routes)."""
    return error_reply("predict", Failure(status, code, message, extra.get("errors")))


class Server:
    """The state behind the routes (one per app)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.metrics = ServerMetrics(project.spec.serving.slo)
        self.deployment = Deployment(project, self.metrics)
        settings = project.spec.serving.log
        columns = self.deployment.validator.specs
        logs = project.state_dir / "logs"
        self.predictions = LogWriter(
            logs,
            prediction_schema(columns, settings.pii),
            settings,
            pii_columns={c for c, s in columns.items() if s.pii},
            on_written=self.metrics.log_rows.inc,
            on_error=self.metrics.log_errors.inc,
            on_health=self._health_of("predictions"),
            name="prediction log",
        )
        self.feedback = LogWriter(
            logs,
            FEEDBACK_SCHEMA,
            settings,
            on_error=self.metrics.log_errors.inc,
            on_health=self._health_of("feedback"),
            name="feedback log",
        )
        self._tasks: set[asyncio.Task[Any]] = set()

    def _health_of(self, log: str) -> Callable[[str | None], None]:
        gauge = self.metrics.log_healthy.labels(log)
        return lambda problem: gauge.set(problem is None)

    def log_problems(self) -> list[str]:
        """What went wrong at the latest write of each log that failed (empty: all is well)."""
        writers = (self.predictions, self.feedback)
        return [f"{w.name}: {w.problem}" for w in writers if w.problem is not None]

    def log(
        self,
        request_id: str,
        columns: dict[str, list[Any]],
        answer: Answer,
        *,
        kind: str,
        latency_ms: float,
        when: datetime,
    ) -> None:
        n = len(answer.outputs.predictions)
        predictions = answer.outputs.predictions
        values = {
            **columns,
            "request_id": [request_id] * n,
            "row": list(range(n)),
            "timestamp": [when] * n,
            "model_name": [self.project.name] * n,
            "model_version": [answer.version] * n,
            "route": [answer.route] * n,
            "kind": [kind] * n,
            "latency_ms": [latency_ms] * n,
            "degraded": [answer.degraded] * n,
            "prediction": [None if p is None else str(p) for p in predictions],
            "prediction_value": [
                float(p) if isinstance(p, int | float) and not isinstance(p, bool) else None
                for p in predictions
            ],
            "score": answer.outputs.scores,
        }
        self.predictions.append(partition_for("predictions", when, answer.version), values, n)

    async def predict(
        self, records: list[Any], key: str | None, endpoint: str, request_id: str
    ) -> tuple[Answer, dict[str, list[Any]]]:
        """Validate, route, answer, log; RequestInvalid / Overloaded / NoModel / TimeoutError
        are the caller's to turn into responses."""
        started = time.perf_counter()
        when = datetime.now(UTC)
        validator = self.deployment.validator
        columns = validator.rows(records)
        answer = await self.deployment.answer(columns, self.deployment.route(key))
        latency_ms = (time.perf_counter() - started) * 1000
        self.log(request_id, columns, answer, kind="served", latency_ms=latency_ms, when=when)
        if self.project.spec.serving.challenger == "shadow":
            task = asyncio.get_running_loop().create_task(self._shadow(columns, request_id, when))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return answer, columns

    async def _shadow(self, columns: dict[str, list[Any]], rid: str, when: datetime) -> None:
        started = time.perf_counter()
        result = await self.deployment.shadow(columns)
        if result is not None:
            outputs, version = result
            latency = (time.perf_counter() - started) * 1000
            self.log(
                rid,
                columns,
                Answer(outputs, version, "shadow", False),
                kind="shadow",
                latency_ms=latency,
                when=when,
            )

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.deployment.close()
        self.predictions.close()
        self.feedback.close()

    def failure(self, exc: BaseException, protocol: Protocol = "predict") -> Reply:
        """The answer to a request that could not be scored (never a 500 for bad input), in
        the error format of ``protocol``."""
        return error_reply(protocol, self.failure_of(exc))

    def failure_of(self, exc: BaseException) -> Failure:
        """What went wrong, independent of the protocol that will say it."""
        if isinstance(exc, RequestInvalid):
            errors = [e.to_dict() for e in exc.errors]
            if exc.status == 400:
                return Failure(400, "malformed_request", str(errors[0]["problem"]), errors)
            return Failure(
                422,
                "contract_violation",
                f"{len(errors)} field(s) break the data contract",
                errors,
            )
        if isinstance(exc, Overloaded):
            self.metrics.shed.inc()
            return Failure(503, "overloaded", "the server is at capacity; retry shortly")
        if isinstance(exc, NoModel):
            return Failure(503, "no_model", str(exc))
        if isinstance(exc, TimeoutError):
            return Failure(504, "timeout", "the model did not answer in time")
        raise exc

    async def score(self, protocol: Protocol, raw: bytes, headers: Mapping[str, str]) -> Reply:
        """Parse, validate, route, predict, log and measure one scoring request."""
        started = time.perf_counter()
        request_id = headers.get("x-request-id") or uuid.uuid4().hex
        route, version, status = "-", "-", 200
        try:
            records, key, given_id = request_rows(protocol, parse_json(raw))
            request_id = given_id or request_id
            answer, _ = await self.predict(
                records, key or headers.get("x-routing-key"), protocol, request_id
            )
            route, version = answer.route, answer.version
            body = response_body(protocol, answer, self.project.name, request_id)
            return 200, body, {"X-Request-ID": request_id}
        except Exception as exc:
            reply = self.failure(exc, protocol)
            status = reply[0]
            return reply
        finally:
            self.metrics.observe_request(
                protocol, route, version, status, time.perf_counter() - started
            )
