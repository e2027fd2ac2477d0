"""The HTTP service: FastAPI for the whole API (and its OpenAPI document), with a fast path.

Scoring requests (``POST /predict``, ``/invocations``, ``/v2/models/{name}/infer``) are answered
by :meth:`Server.score`. FastAPI's routes call it, and so does a thin ASGI layer in front of
FastAPI that recognises those three paths and skips FastAPI's request machinery (routing, the
Request object, middleware), which costs more than the rest of the request on a single row;
every other path goes to FastAPI. Bodies are read raw and parsed with orjson. Every error is an
answer: 400 for malformed JSON, 422 naming each offending row and field, 503 with Retry-After
when the queue is full or no model can answer, 504 past the request timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from goldenpath._version import __version__
from goldenpath.project import Project
from goldenpath.serving.logs import FEEDBACK_SCHEMA, partition_for
from goldenpath.serving.protocols import RECORDS_SCHEMA, parse_json
from goldenpath.serving.server import Server, error_body
from goldenpath.serving.validation import RequestInvalid

__all__ = ["app_from_environment", "asgi_app", "create_app"]

_JSON = "application/json"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {_JSON: {"schema": schema}}}}


def _reply(reply: tuple[int, bytes, dict[str, str]]) -> Response:
    status, body, headers = reply
    return Response(body, status_code=status, media_type=_JSON, headers=headers)


def _error(status: int, code: str, message: str) -> Response:
    return _reply(error_body(status, code, message))


def _json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=_JSON)


class FastPath:
    """ASGI: scoring requests straight to :meth:`Server.score`, the rest to FastAPI."""

    def __init__(self, app: FastAPI, server: Server) -> None:
        self.app = app
        self.server = server
        name = server.project.name
        self.paths = {
            "/predict": "predict",
            "/invocations": "invocations",
            f"/v2/models/{name}/infer": "infer",
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        protocol = (
            self.paths.get(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        if protocol is None:
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        status, body, extra = await self.server.score(protocol, b"".join(chunks), headers)
        raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in extra.items()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})


def create_app(project: Project) -> FastAPI:
    """The service for ``project`` (its champion, challenger and fallback). The returned app
    is FastAPI's, with the fast path installed in front of it (``app.state.asgi``); serve
    :func:`asgi_app` of it, or use it as is (slower, same answers)."""
    server = Server(project)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # The predict thread holds the GIL through scikit-learn's Python code; by default the
        # event loop would wait up to 5 ms for it at every switch. 0.5 ms keeps tails short.
        sys.setswitchinterval(0.0005)
        await server.deployment.refresh()
        if server.deployment.champion is None:
            logging.getLogger("goldenpath.serving").warning(
                "no champion of %s could be loaded (%s): /predict answers 503 until one is "
                "promoted",
                project.name,
                server.deployment.last_error or "none promoted yet",
            )
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
    app.state.asgi = FastPath(app, server)
    m = server.metrics
    scoring_errors: dict[int | str, dict[str, Any]] = {400: {}, 422: {}, 503: {}, 504: {}}

    @app.post(
        "/predict",
        summary="Predict one or many rows",
        openapi_extra=_body(RECORDS_SCHEMA),
        responses=scoring_errors,
    )
    async def predict(request: Request) -> Response:
        return _reply(await server.score("predict", await request.body(), request.headers))

    @app.post(
        "/invocations",
        summary="MLflow-compatible scoring",
        openapi_extra=_body({"type": "object"}),
        responses=scoring_errors,
    )
    async def invocations(request: Request) -> Response:
        return _reply(await server.score("invocations", await request.body(), request.headers))

    @app.post(
        "/v2/models/{name}/infer",
        summary="Open Inference Protocol v2 inference",
        openapi_extra=_body({"type": "object"}),
        responses={**scoring_errors, 404: {}},
    )
    async def infer(name: str, request: Request) -> Response:
        if name != project.name:
            return _error(404, "unknown_model", f"this server serves {project.name!r}")
        return _reply(await server.score("infer", await request.body(), request.headers))

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
            body = parse_json(await request.body())
        except RequestInvalid as exc:
            return _reply(server.failure(exc))
        items = body if isinstance(body, list) else [body]
        if not items:
            return _error(422, "invalid_feedback", "no feedback items")
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
        d = server.deployment
        for served in (d.champion, d.challenger, d.fallback):
            if served is not None:
                m.queue_depth.labels(served.version).set(served.batcher.depth)
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
        # a log that cannot write degrades the server but keeps it in rotation: answers still
        # flow, and the requests it cannot write are set aside (see logs.LogWriter)
        problems = server.log_problems()
        body = {"ready": ready(), "degraded": bool(problems), "problems": problems}
        return _json(body, 200 if ready() else 503)

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
                    {
                        "name": "predict",
                        "datatype": "FP64" if project.spec.task.type == "regression" else "BYTES",
                        "shape": [-1],
                    },
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


def asgi_app(app: FastAPI) -> Any:
    """What to hand to an ASGI server: the fast path in front of ``app``."""
    return app.state.asgi


def app_from_environment() -> Any:
    """The ASGI app of the project ``goldenpath serve`` named (uvicorn's factory for workers)."""
    from goldenpath.project import open_project
    from goldenpath.settings import served_project

    return asgi_app(create_app(open_project(served_project())))
