"""The HTTP service: ``POST /predict`` and its peers, over one :class:`Deployment`.

Bodies are read raw and parsed with orjson (pydantic models on the hot path would cost more
than the model itself on a single row); the OpenAPI document still describes every body. Every
error is an answer: 400 for malformed JSON, 422 naming each offending row and field, 503 with
``Retry-After`` when the queue is full or no model can answer, 504 past the request timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from goldenpath._version import __version__
from goldenpath.project import Project
from goldenpath.serving.batcher import Overloaded
from goldenpath.serving.deployment import Answer, Deployment, NoModel
from goldenpath.serving.logs import FEEDBACK_SCHEMA, LogWriter, partition_for, prediction_schema
from goldenpath.serving.metrics import ServerMetrics
from goldenpath.serving.validation import FieldError, RequestInvalid

__all__ = ["app_from_environment", "create_app"]

_JSON = "application/json"
_RECORDS_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "object", "description": "one row: contract column -> value"},
        {"type": "array", "items": {"type": "object"}, "minItems": 1},
        {
            "type": "object",
            "properties": {
                "records": {"type": "array", "items": {"type": "object"}, "minItems": 1},
                "key": {"type": "string", "description": "sticky routing key (canary)"},
            },
            "required": ["records"],
        },
    ]
}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {_JSON: {"schema": schema}}}}


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type=_JSON,
        headers=headers,
    )


def _error(status: int, code: str, message: str, **extra: Any) -> Response:
    headers = {"Retry-After": "1"} if status == 503 else None
    return _json({"error": {"code": code, "message": message, **extra}}, status, headers)


async def _parse(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestInvalid([FieldError(0, "", f"malformed JSON: {exc}")], status=400) from None


def _records_of(body: Any) -> tuple[list[Any], str | None]:
    if isinstance(body, dict) and "records" in body:
        key = body.get("key")
        return body["records"], key if isinstance(key, str) else None
    if isinstance(body, dict):
        return [body], None
    return body, None


def _mlflow_records(body: Any) -> list[Any]:
    """MLflow's scoring formats: dataframe_split, dataframe_records, instances, inputs."""
    if not isinstance(body, dict):
        raise RequestInvalid(
            [
                FieldError(
                    0,
                    "",
                    "expected a JSON object with dataframe_split, "
                    "dataframe_records, instances or inputs",
                )
            ],
            status=400,
        )
    if "dataframe_split" in body:
        split = body["dataframe_split"]
        if not isinstance(split, dict) or not isinstance(split.get("columns"), list):
            raise RequestInvalid([FieldError(0, "dataframe_split", "needs columns and data")])
        columns, data = split["columns"], split.get("data")
        if not isinstance(data, list) or not all(isinstance(r, list) for r in data):
            raise RequestInvalid([FieldError(0, "dataframe_split.data", "expected rows")])
        return [dict(zip(columns, row, strict=False)) for row in data]
    for key in ("dataframe_records", "instances", "inputs"):
        if key in body:
            value = body[key]
            if isinstance(value, dict):  # column -> values
                lists = [v if isinstance(v, list) else [v] for v in value.values()]
                n = max((len(v) for v in lists), default=0)
                return [
                    {c: (v[i] if i < len(v) else None) for c, v in zip(value, lists, strict=True)}
                    for i in range(n)
                ]
            return value if isinstance(value, list) else [value]
    raise RequestInvalid(
        [
            FieldError(
                0, "", "no dataframe_split, dataframe_records, instances or inputs in the body"
            )
        ],
        status=400,
    )


def _oip_records(body: Any) -> tuple[list[dict[str, Any]], str | None]:
    """Open Inference Protocol v2 ``inputs``: one tensor per column, each ``data`` a list."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise RequestInvalid(
            [FieldError(0, "inputs", "expected a list of input tensors")], status=400
        )
    columns: dict[str, list[Any]] = {}
    for i, tensor in enumerate(body["inputs"]):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise RequestInvalid([FieldError(i, "inputs", "each input needs a name and data")])
        data = tensor.get("data")
        columns[tensor["name"]] = data if isinstance(data, list) else [data]
    n = max((len(v) for v in columns.values()), default=0)
    if n == 0:
        raise RequestInvalid([FieldError(0, "inputs", "no rows")])
    rows = [{c: (v[i] if i < len(v) else None) for c, v in columns.items()} for i in range(n)]
    request_id = body.get("id")
    return rows, request_id if isinstance(request_id, str) else None


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
        )
        self.feedback = LogWriter(logs, FEEDBACK_SCHEMA, settings)
        self.answered = 0  # 2xx answers to prediction requests
        self._tasks: set[asyncio.Task[Any]] = set()

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
        self.answered += 1
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


def _failure(exc: BaseException, server: Server) -> Response:
    if isinstance(exc, RequestInvalid):
        errors = [e.to_dict() for e in exc.errors]
        code = "malformed_request" if exc.status == 400 else "contract_violation"
        message = (
            errors[0]["problem"]
            if exc.status == 400
            else (f"{len(errors)} field(s) break the data contract")
        )
        return _error(exc.status, code, str(message), errors=errors)
    if isinstance(exc, Overloaded):
        server.metrics.shed.inc()
        return _error(503, "overloaded", "the server is at capacity; retry shortly")
    if isinstance(exc, NoModel):
        return _error(503, "no_model", str(exc))
    if isinstance(exc, TimeoutError):
        return _error(504, "timeout", "the model did not answer in time")
    raise exc


def create_app(project: Project) -> FastAPI:
    """The service for ``project`` (its champion, challenger and fallback)."""
    server = Server(project)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # The predict thread holds the GIL through scikit-learn's Python code; by default the
        # event loop would wait up to 5 ms for it at every switch. 0.5 ms keeps tails short.
        sys.setswitchinterval(0.0005)
        await server.deployment.refresh()
        # Everything loaded so far (libraries, the models) lives as long as the server: keep it
        # out of the garbage collector's full passes, which otherwise scan it all and stalled
        # predictions by 80-230 ms each under load.
        gc.collect()
        gc.freeze()
        watcher = asyncio.get_running_loop().create_task(server.deployment.watch())
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await server.close()

    app = FastAPI(
        title=f"goldenpath: {project.name}",
        version=__version__,
        description="Predictions from the project's champion (and challenger), checked against "
        "the data contract, batched, logged and measured.",
        lifespan=lifespan,
    )
    app.state.server = server
    m = server.metrics

    async def serve(request: Request, endpoint: str, mode: str) -> tuple[Response, Any]:
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        route, version, status = "-", "-", 200
        try:
            body = await _parse(request)
            key = request.headers.get("x-routing-key")
            if mode == "mlflow":
                records = _mlflow_records(body)
            elif mode == "oip":
                records, given = _oip_records(body)
                request_id = given or request_id
            else:
                records, body_key = _records_of(body)
                key = body_key or key
            answer, _ = await server.predict(records, key, endpoint, request_id)
            route, version = answer.route, answer.version
            return Response(status_code=200), (answer, request_id)
        except Exception as exc:
            response = _failure(exc, server)
            status = response.status_code
            return response, None
        finally:
            m.observe_request(endpoint, route, version, status, time.perf_counter() - started)

    @app.post(
        "/predict",
        summary="Predict one or many rows",
        openapi_extra=_body(_RECORDS_SCHEMA),
        responses={400: {}, 422: {}, 503: {}, 504: {}},
    )
    async def predict(request: Request) -> Response:
        response, done = await serve(request, "predict", "records")
        if done is None:
            return response
        answer, request_id = done
        return _json(
            {
                "request_id": request_id,
                "model": project.name,
                "model_version": answer.version,
                "route": answer.route,
                "degraded": answer.degraded,
                "predictions": answer.outputs.predictions,
                "scores": answer.outputs.scores,
            },
            headers={"X-Request-ID": request_id},
        )

    @app.post(
        "/invocations",
        summary="MLflow-compatible scoring",
        openapi_extra=_body({"type": "object"}),
        responses={400: {}, 422: {}, 503: {}, 504: {}},
    )
    async def invocations(request: Request) -> Response:
        response, done = await serve(request, "invocations", "mlflow")
        if done is None:
            return response
        answer, request_id = done
        return _json(
            {"predictions": answer.outputs.predictions}, headers={"X-Request-ID": request_id}
        )

    @app.post(
        "/v2/models/{name}/infer",
        summary="Open Inference Protocol v2 inference",
        openapi_extra=_body({"type": "object"}),
        responses={400: {}, 404: {}, 422: {}, 503: {}, 504: {}},
    )
    async def infer(name: str, request: Request) -> Response:
        if name != project.name:
            return _error(404, "unknown_model", f"this server serves {project.name!r}")
        response, done = await serve(request, "infer", "oip")
        if done is None:
            return response
        answer, request_id = done
        predictions = answer.outputs.predictions
        numeric = all(isinstance(p, int | float) and not isinstance(p, bool) for p in predictions)
        outputs = [
            {
                "name": "predict",
                "shape": [len(predictions)],
                "datatype": "FP64" if numeric else "BYTES",
                "data": predictions,
            }
        ]
        if any(s is not None for s in answer.outputs.scores):
            outputs.append(
                {
                    "name": "score",
                    "shape": [len(predictions)],
                    "datatype": "FP64",
                    "data": answer.outputs.scores,
                }
            )
        return _json(
            {
                "model_name": project.name,
                "model_version": answer.version,
                "id": request_id,
                "outputs": outputs,
            }
        )

    @app.post(
        "/feedback",
        summary="Ground-truth labels for answered requests",
        openapi_extra=_body(
            {
                "type": "object",
                "properties": {
                    "request_id": {"type": "string"},
                    "labels": {"type": "array", "minItems": 1},
                },
                "required": ["request_id", "labels"],
            }
        ),
        responses={400: {}, 422: {}},
    )
    async def feedback(request: Request) -> Response:
        try:
            body = await _parse(request)
        except RequestInvalid as exc:
            return _failure(exc, server)
        items = body if isinstance(body, list) else [body]
        rows: dict[str, list[Any]] = {n: [] for n in FEEDBACK_SCHEMA.names}
        now = datetime.now(UTC)
        for i, item in enumerate(items):
            rid = item.get("request_id") if isinstance(item, dict) else None
            labels = item.get("labels") if isinstance(item, dict) else None
            if not isinstance(rid, str) or not isinstance(labels, list) or not labels:
                return _error(422, "invalid_feedback", f"item {i}: needs request_id and labels")
            for row, label in enumerate(labels):
                if isinstance(label, dict | list):
                    return _error(422, "invalid_feedback", f"item {i}: a label must be a value")
                rows["request_id"].append(rid)
                rows["row"].append(row)
                rows["timestamp"].append(now)
                rows["label"].append(None if label is None else str(label))
                rows["label_value"].append(
                    float(label)
                    if isinstance(label, int | float) and not isinstance(label, bool)
                    else None
                )
        server.feedback.append(partition_for("feedback", now), rows, len(rows["row"]))
        return _json({"accepted": len(rows["row"])})

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(m.exposition(), media_type="text/plain; version=0.0.4")

    @app.get("/version", summary="What this server serves")
    async def version() -> Response:
        d = server.deployment
        return _json(
            {
                "goldenpath": __version__,
                "model": project.name,
                "champion": None if d.champion is None else d.champion.version,
                "challenger": None if d.challenger is None else d.challenger.version,
                "challenger_mode": project.spec.serving.challenger,
                "fallback": None if d.fallback is None else d.fallback.version,
                "last_error": d.last_error,
            }
        )

    def ready() -> bool:
        return server.deployment.champion is not None or server.deployment.fallback is not None

    @app.get("/v2", summary="Open Inference Protocol: server metadata")
    async def v2() -> Response:
        return _json({"name": "goldenpath", "version": __version__, "extensions": []})

    @app.get("/v2/health/live", summary="Liveness")
    async def live() -> Response:
        return _json({"live": True})

    @app.get("/v2/health/ready", summary="Readiness: a model can answer")
    async def health_ready() -> Response:
        return _json({"ready": ready()}, 200 if ready() else 503)

    @app.get("/v2/models/{name}", summary="Open Inference Protocol: model metadata")
    async def model_metadata(name: str) -> Response:
        if name != project.name:
            return _error(404, "unknown_model", f"this server serves {project.name!r}")
        validator = server.deployment.validator
        champion = server.deployment.champion
        datatype = {"int": "INT64", "float": "FP64", "str": "BYTES", "bool": "BOOL"}
        return _json(
            {
                "name": project.name,
                "versions": [] if champion is None else [champion.version],
                "platform": "goldenpath-sklearn",
                "inputs": [
                    {
                        "name": c,
                        "datatype": datatype.get(validator.specs[c].dtype, "BYTES"),
                        "shape": [-1],
                    }
                    for c in validator.features
                ],
                "outputs": [
                    {"name": "predict", "datatype": "BYTES", "shape": [-1]},
                    {"name": "score", "datatype": "FP64", "shape": [-1]},
                ],
            }
        )

    @app.get("/v2/models/{name}/ready", summary="Open Inference Protocol: model readiness")
    async def model_ready(name: str) -> Response:
        if name != project.name:
            return _error(404, "unknown_model", f"this server serves {project.name!r}")
        return _json({"name": name, "ready": ready()}, 200 if ready() else 503)

    return app


def app_from_environment() -> FastAPI:
    """The app of the project ``goldenpath serve`` named (uvicorn's factory for workers)."""
    from goldenpath.project import open_project
    from goldenpath.settings import served_project

    return create_app(open_project(served_project()))
