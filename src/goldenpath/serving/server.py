"""The state behind the routes: the deployment, the logs, the metrics, and :meth:`Server.score`,
the one function every scoring endpoint (and the fast path) calls."""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from goldenpath.experiments.assignment import Assignment
from goldenpath.project import Project
from goldenpath.registry.checkpoints import ScheduledCheckpoint, scheduled_checkpoint
from goldenpath.serving.answered import AnsweredRequests
from goldenpath.serving.batcher import Overloaded
from goldenpath.serving.deployment import Answer, Deployment, NoModel, VersionNotServed
from goldenpath.serving.guardrails import GuardrailWatch
from goldenpath.serving.logs import FEEDBACK_SCHEMA, LogWriter, partition_for, prediction_schema
from goldenpath.serving.metrics import ServerMetrics
from goldenpath.serving.pii import hash_pii, pii_key
from goldenpath.serving.protocols import (
    ACCEPTED_TYPES,
    Failure,
    Protocol,
    Reply,
    ScoringRequest,
    accepts,
    error_reply,
    read_request,
    response,
)
from goldenpath.serving.validation import Check, RequestInvalid, RequestRefused, value_check

__all__ = ["Checkpoints", "Server"]

_logger = logging.getLogger("goldenpath.serving")


def _utc(text: str | None) -> datetime | None:
    """An ISO-8601 time (checked by the validator) as an aware UTC datetime; naive is UTC."""
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# A request id as given (X-Request-ID, an OIP body's "id") is kept only when it is at most 128
# of these characters; otherwise the request gets a generated id, and the given one is neither
# echoed nor logged.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:+=/-]{1,128}")
# Bodies larger than this are parsed and checked on a thread, not on the event loop, so that
# health probes and other requests are answered meanwhile; smaller ones stay on the loop (cheaper).
OFF_LOOP_BYTES = 64 * 1024


def request_id_of(given: str | None) -> str | None:
    """``given`` if it is a safe request id, else None."""
    return given if given is not None and _REQUEST_ID.fullmatch(given) else None


_CHECKPOINT_RETRY_SECONDS = 60.0


class Checkpoints:
    """The spec's ``audit.checkpoints`` as the server runs them: a check at start, then
    whenever the next checkpoint is due, each on a thread
    (:func:`~goldenpath.registry.checkpoints.scheduled_checkpoint`: it reads the key, the store
    and writes a file). A failure is counted in ``goldenpath_checkpoint_failures_total`` by
    reason, logged when its reason is new, shown by readiness, and tried again within a
    minute; nothing stops the schedule but the server's shutdown. Several workers (or servers,
    or ``goldenpath monitor``) share one schedule through the store: a checkpoint is written
    only while, under the chain's lock, the newest is older than ``every``."""

    def __init__(self, project: Project, metrics: ServerMetrics) -> None:
        self.project = project
        self.metrics = metrics
        self.latest: ScheduledCheckpoint | None = None
        self._failing: str | None = None

    @property
    def scheduled(self) -> bool:
        return self.project.spec.audit.checkpoints is not None

    async def run(self) -> None:
        """Check now, then when the next checkpoint is due, until cancelled."""
        while True:
            try:
                delay = await self.check()
            except Exception:  # never let the schedule die unseen
                _logger.exception("the checkpoint schedule failed unexpectedly")
                self.metrics.checkpoint_failures.labels("unexpected").inc()
                delay = _CHECKPOINT_RETRY_SECONDS
            await asyncio.sleep(delay)

    async def check(self) -> float:
        """One attempt; the seconds to wait before the next."""
        schedule = self.project.spec.audit.checkpoints
        if schedule is None:
            return _CHECKPOINT_RETRY_SECONDS
        every = float(schedule.every_seconds)
        try:
            outcome = await asyncio.to_thread(scheduled_checkpoint, self.project)
        except Exception as exc:  # scheduled_checkpoint reports failures: this is a bug
            _logger.exception("the checkpoint schedule failed unexpectedly")
            outcome = ScheduledCheckpoint(
                status="failed",
                every_seconds=schedule.every_seconds,
                reason="unexpected",
                message=f"{type(exc).__name__}: {exc}",
            )
        if outcome is None:  # the spec changed under us: nothing scheduled
            return _CHECKPOINT_RETRY_SECONDS
        try:
            self.observe(outcome)
        except Exception:  # never let the schedule die
            _logger.exception("recording a checkpoint's outcome failed")
        if not outcome.ok:
            return min(every, _CHECKPOINT_RETRY_SECONDS)
        return max(min(1.0, every), outcome.seconds_until_due(datetime.now(UTC)))

    def observe(self, outcome: ScheduledCheckpoint) -> None:
        """Count, log and expose one outcome."""
        self.latest = outcome
        if outcome.last_at is not None:
            last = datetime.fromisoformat(outcome.last_at).timestamp()
            self.metrics.checkpoint_last_success.set(last)
        if outcome.head_seq is not None:
            self.metrics.checkpoint_head_seq.set(outcome.head_seq)
        if outcome.status == "written":
            self.metrics.checkpoints_written.inc()
            _logger.info(
                "checkpoint of the audit chain at event %s written to %s",
                outcome.head_seq,
                outcome.path,
            )
        if outcome.status == "failed":
            reason = outcome.reason or "unexpected"
            self.metrics.checkpoint_failures.labels(reason).inc()
            if reason != self._failing:  # once per new reason, not at every retry
                _logger.warning(
                    "no checkpoint of the audit chain (%s): %s", reason, outcome.message
                )
            self._failing = reason
        elif self._failing is not None:
            _logger.info("checkpoints of the audit chain are written again")
            self._failing = None

    def problems(self) -> list[str]:
        """Why the latest attempt failed (empty: it did not, or there was none)."""
        latest = self.latest
        if latest is None or latest.ok:
            return []
        return [f"checkpoints: {latest.reason}: {latest.message}"]

    def status(self) -> dict[str, Any] | None:
        """The latest outcome as JSON (None: nothing scheduled or not checked yet)."""
        return None if self.latest is None else self.latest.model_dump(mode="json")


class Server:
    """The state behind the routes (one per app)."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.metrics = ServerMetrics(project.spec.serving.slo)
        self.checkpoints = Checkpoints(project, self.metrics)
        self.deployment = Deployment(project, self.metrics)
        self.guardrails = GuardrailWatch(self.deployment)
        settings = project.spec.serving.log
        columns = self.deployment.validator.specs
        logs = project.state_dir / "logs"
        pii_columns = {c for c, s in columns.items() if s.pii} if settings.pii == "hash" else set()
        key = None
        if pii_columns:
            resolved = pii_key(project.state_dir)
            key = resolved.key
            _logger.warning(
                "PII columns (%s) are logged as HMAC-SHA256 digests, keyed by %s",
                ", ".join(sorted(pii_columns)),
                resolved.source,
            )
        self._pii_columns, self._pii_key = pii_columns, key  # an experiment's unit, if PII
        self.predictions = LogWriter(
            logs,
            prediction_schema(columns, settings.pii),
            settings,
            pii_columns=pii_columns,
            pii_key=key,
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
        feedback = project.spec.serving.feedback
        self.answered = AnsweredRequests(
            logs, capacity=feedback.remember_ids, days=feedback.known_days
        )
        target = project.spec.data.contract.columns.get(project.spec.task.target)
        # null is "no label": allowed whatever the target's nullability
        self.label_check: Check | None = (
            None
            if target is None
            else value_check(
                target.model_copy(update={"nullable": True}), project.spec.serving.limits
            )
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
        assignment: Assignment | None = None,
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
        time_column = self.deployment.validator.time_column
        if time_column is not None:
            values["event_time"] = [_utc(v) for v in columns[time_column]]
        if assignment is not None and assignment.exposed:
            values["experiment"] = [assignment.experiment] * n
            values["arm"] = [assignment.arm] * n
            values["unit"] = [self._unit(assignment)] * n
        self.predictions.append(partition_for("predictions", when, answer.version), values, n)
        if kind == "served":
            self.answered.add(request_id, n)

    def _unit(self, assignment: Assignment) -> str | None:
        """The unit as the log holds it: hashed like its column when that is PII (dropped when
        PII is dropped from the log)."""
        experiment = self.deployment.experiment
        column = None if experiment is None else experiment.unit
        spec = self.deployment.validator.specs.get(column or "")
        if spec is None or not spec.pii:
            return assignment.unit
        if column in self._pii_columns and self._pii_key is not None:
            return hash_pii(assignment.unit, self._pii_key)
        return None

    async def predict(
        self,
        columns: dict[str, list[Any]],
        key: str | None,
        endpoint: str,
        request_id: str,
        *,
        started: float | None = None,
        version: str | None = None,
    ) -> tuple[Answer, dict[str, list[Any]]]:
        """Route, answer, log already checked ``columns`` (see :meth:`checked`); Overloaded /
        NoModel / TimeoutError / VersionNotServed are the caller's to turn into responses.
        ``version``: answered by exactly that served version (champion or challenger), no
        routing and no fallback; a challenger asked for by version is not shadowed again."""
        started = time.perf_counter() if started is None else started
        when = datetime.now(UTC)
        assignment = None
        if version is None:
            # a running experiment replaces the canary: the treatment arm takes the challenger
            assignment = self.deployment.assign(columns)
            route = (
                self.deployment.route(key)
                if assignment is None
                else "challenger"
                if assignment.arm == "treatment"
                else "champion"
            )
            answer = await self.deployment.answer(columns, route)
        else:
            answer = await self.deployment.answer_version(columns, version)
        latency_ms = (time.perf_counter() - started) * 1000
        self.log(
            request_id,
            columns,
            answer,
            kind="served",
            latency_ms=latency_ms,
            when=when,
            assignment=assignment,
        )
        if (
            self.project.spec.serving.challenger == "shadow"
            and answer.route != "challenger"
            and assignment is None
        ):
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
        if isinstance(exc, RequestRefused):
            return Failure(exc.status, exc.code, exc.message)
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
        if isinstance(exc, VersionNotServed):
            return Failure(404, "unknown_version", str(exc))
        if isinstance(exc, NoModel):
            return Failure(503, "no_model", str(exc))
        if isinstance(exc, TimeoutError):
            return Failure(504, "timeout", "the model did not answer in time")
        raise exc

    def admit(self, protocol: str, headers: Mapping[str, str], length: int | None) -> None:
        """RequestRefused unless a body of ``length`` bytes (None: not known yet) and of the
        request's Content-Type may be read for ``protocol``: 415, 413."""
        given = headers.get("content-type")
        if not accepts(protocol, given):
            types = ACCEPTED_TYPES.get(protocol, frozenset({"application/json"}))
            shown = "none" if not given else repr(given[:100])
            raise RequestRefused(
                415,
                "unsupported_media_type",
                f"this endpoint reads Content-Type {', '.join(sorted(t for t in types if t))}, "
                f"not {shown}",
            )
        self.check_length(length)

    def check_length(self, length: int | None) -> None:
        """RequestRefused (413) when a body of ``length`` bytes is past ``max_body_bytes``."""
        limit = self.project.spec.serving.limits.max_body_bytes
        if length is not None and length > limit:
            raise RequestRefused(
                413, "body_too_large", f"the body has {length} bytes; at most {limit} are accepted"
            )

    def checked(
        self, protocol: Protocol, raw: bytes, headers: Mapping[str, str]
    ) -> tuple[dict[str, list[Any]], ScoringRequest]:
        """(checked columns, the request: routing key, request id given in the body, outputs)
        of a scoring body: RequestInvalid (400/422) or RequestRefused (413) otherwise. Pure CPU:
        for a large body :meth:`score` runs it on a thread."""
        limits = self.project.spec.serving.limits
        validator = self.deployment.validator
        request = read_request(protocol, raw, headers, validator.specs, max_rows=limits.max_rows)
        return validator.rows(request.records), request

    async def score(
        self,
        protocol: Protocol,
        raw: bytes,
        headers: Mapping[str, str],
        *,
        version: str | None = None,
    ) -> Reply:
        """Parse, validate, route, predict, log and measure one scoring request (answered by
        exactly ``version`` when one is given: the Open Inference Protocol's versioned path)."""
        started = time.perf_counter()
        request_id = request_id_of(headers.get("x-request-id")) or uuid.uuid4().hex
        route, served, status = "-", "-", 200
        try:
            self.admit(protocol, headers, len(raw))
            if len(raw) > OFF_LOOP_BYTES:
                columns, request = await asyncio.to_thread(self.checked, protocol, raw, headers)
            else:
                columns, request = self.checked(protocol, raw, headers)
            request_id = request_id_of(request.request_id) or request_id
            answer, _ = await self.predict(
                columns,
                request.key or headers.get("x-routing-key"),
                protocol,
                request_id,
                started=started,
                version=version,
            )
            route, served = answer.route, answer.version
            body, extra = response(protocol, answer, self.project.name, request_id, request.outputs)
            return 200, body, {**extra, "X-Request-ID": request_id}
        except Exception as exc:
            reply = self.failure(exc, protocol)
            status = reply[0]
            return reply
        finally:
            self.metrics.observe_request(
                protocol, route, served, status, time.perf_counter() - started
            )
