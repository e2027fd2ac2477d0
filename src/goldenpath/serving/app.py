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
import copy
import gc
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from goldenpath._version import __version__
from goldenpath.project import Project
from goldenpath.serving._openapi import (
    Schemas,
    infer_schema,
    invocations_schema,
    predict_schema,
)
from goldenpath.serving.access import (
    CALLER,
    AccessRefused,
    Caller,
    Guard,
    effective_mode,
    is_loopback,
    store_verifier,
)
from goldenpath.serving.deployment import VersionNotServed
from goldenpath.serving.feedback import UnknownRequestId, feedback_rows
from goldenpath.serving.logs import partition_for
from goldenpath.serving.protocols import Failure, error_reply, parse_json
from goldenpath.serving.server import OFF_LOOP_BYTES, Server
from goldenpath.serving.validation import RequestInvalid, RequestRefused
from goldenpath.settings import served_host
from goldenpath.store.credentials import Scope as CredentialScope
from goldenpath.store.engine import open_store

__all__ = ["app_from_environment", "asgi_app", "create_app"]

_JSON = "application/json"
_ASSETS = "/docs-assets"  # swagger-ui and ReDoc, from the fastapi-offline package
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {_JSON: {"schema": schema}}}}


def _reply(reply: tuple[int, bytes, dict[str, str]]) -> Response:
    status, body, headers = reply
    return Response(body, status_code=status, media_type=_JSON, headers=headers)


def datatype(dtype: str) -> str:
    """The Open Inference Protocol datatype of a contract dtype."""
    return {"int": "INT64", "float": "FP64", "str": "BYTES", "bool": "BOOL"}.get(dtype, "BYTES")


def _offline_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc from assets shipped in a package, not from a CDN."""
    import fastapi_offline
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount(_ASSETS, StaticFiles(directory=assets), name="docs-assets")
    title = app.title

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{title}: API",
            swagger_js_url=f"{_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{_ASSETS}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> Response:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{title}: API",
            redoc_js_url=f"{_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{_ASSETS}/favicon.png",
            with_google_fonts=False,
        )


def _json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=_JSON)


def _content_length(headers: dict[str, str]) -> int | None:
    try:
        return int(headers["content-length"])
    except (KeyError, ValueError):
        return None


async def _read_body(receive: Receive, limit: int, timeout: float) -> bytes | None:
    """The whole body, read until ``limit`` bytes are passed (RequestRefused 413: nothing more
    is read) or ``timeout`` seconds have gone by (408); None when the client left."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise RequestRefused(
                        413, "body_too_large", f"the body has more than {limit} bytes"
                    )
                chunks.append(chunk)
                if not message.get("more_body"):
                    break
    except TimeoutError:
        raise RequestRefused(
            408, "body_timeout", f"the body was not received within {timeout:g} s"
        ) from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _replayed(body: bytes, receive: Receive) -> Receive:
    """``receive`` for an app downstream of a body already read: the body, then the rest."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _send_reply(send: Send, reply: tuple[int, bytes, dict[str, str]], close: bool) -> None:
    status, body, extra = reply
    media = extra.pop("Content-Type", _JSON)  # binary tensors are application/octet-stream
    raw_headers = [
        (b"content-type", media.encode()),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in extra.items()),
    ]
    if close:  # the body was not read (all of it): do not read the rest as the next request
        raw_headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class FastPath:
    """ASGI: every request first through the :class:`~goldenpath.serving.access.Guard` (401,
    403, 429: the caller is put in the scope under :data:`CALLER`), then scoring requests
    straight to :meth:`Server.score`, the rest to FastAPI. Every request body (scoring or not)
    is read here, within ``serving.limits``: its Content-Type (scoring paths) and
    Content-Length are checked before reading (415, 413), its size while reading (413, nothing
    more is read), and its arrival against ``body_timeout_seconds`` (408)."""

    def __init__(self, app: FastAPI, server: Server, guard: Guard) -> None:
        self.app = app
        self.server = server
        self.guard = guard
        name = server.project.name
        self.paths = {
            "/predict": "predict",
            "/invocations": "invocations",
            f"/v2/models/{name}/infer": "infer",
        }
        self.versioned = f"/v2/models/{name}/versions/"

    def needs(self, method: str, path: str) -> CredentialScope | None:
        """The scope a request needs (None: an open path)."""
        if path == "/metrics":
            return "metrics"
        if method in ("POST", "PUT", "PATCH"):
            if path == "/feedback":
                return "feedback"
            if self.scoring(path)[0] is not None:
                return "predict"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        protocol, version = self.scoring(path)
        client = scope.get("client")
        try:
            scope[CALLER] = await self.guard.admit(
                self.needs(method, path), headers, None if client is None else str(client[0])
            )
        except AccessRefused as refused:
            self.server.metrics.access_refused.labels(refused.code).inc()
            status, body, extra = self.server.failure(refused, protocol or "predict")
            await _send_reply(send, (status, body, {**extra, **refused.headers}), close=False)
            return
        if method not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        limits = self.server.project.spec.serving.limits
        try:
            length = _content_length(headers)
            if protocol is not None:
                self.server.admit(protocol, headers, length)
            else:
                self.server.check_length(length)
            raw = await _read_body(receive, limits.max_body_bytes, limits.body_timeout_seconds)
        except RequestRefused as exc:
            await _send_reply(send, self.server.failure(exc, protocol or "predict"), close=True)
            return
        if raw is None:  # the client left
            return
        if protocol is None:
            await self.app(scope, _replayed(raw, receive), send)
            return
        reply = await self.server.score(protocol, raw, headers, version=version)
        await _send_reply(send, reply, close=False)

    def scoring(self, path: str) -> tuple[str | None, str | None]:
        """(protocol, version) of a scoring path, (None, None) for any other path; the version
        of ``/v2/models/{name}/versions/{version}/infer``."""
        protocol = self.paths.get(path)
        if protocol is not None:
            return protocol, None
        if path.startswith(self.versioned) and path.endswith("/infer"):
            version = path[len(self.versioned) : -len("/infer")]
            if version and "/" not in version:
                return "infer", version
        return None, None


def create_app(project: Project, *, host: str | None = None) -> FastAPI:
    """The service for ``project`` (its champion, challenger and fallback), to be served on
    ``host`` (which decides ``serving.auth: auto``; None: the address ``goldenpath serve``
    handed its workers, else loopback). The returned app is FastAPI's, with the fast path and
    the access guard installed in front of it (``app.state.asgi``); serve :func:`asgi_app` of
    it (FastAPI's own app, used as is, skips both)."""
    server = Server(project)
    settings = project.spec.serving
    bound = host or served_host()
    mode = effective_mode(settings.auth, bound)
    logging.getLogger("goldenpath.serving").log(
        logging.WARNING
        if mode == "none" and bound is not None and not is_loopback(bound)
        else logging.INFO,
        "auth %s (serving.auth: %s, on %s)",
        mode,
        settings.auth,
        bound or "loopback",
    )
    guard = Guard(
        mode,
        store_verifier(lambda: open_store(project)),
        settings.rate_limit,
        revalidate_seconds=settings.auth_revalidate_seconds,
        on_store_failure=server.metrics.auth_store_failures.inc,
    )
    app = FastAPI(
        title=f"goldenpath: {project.name}",
        version=__version__,
        description="Predictions from the project's champion (and challenger), checked against "
        "the data contract, batched, logged and measured.",
        lifespan=_lifespan(server),
        docs_url=None,  # served below from local assets: /docs works offline
        redoc_url=None,
    )
    app.state.server = server
    app.state.guard = guard
    app.state.asgi = FastPath(app, server, guard)
    _offline_docs(app)
    _scoring_routes(app, server)
    _feedback_route(app, server)
    _operations_routes(app, server, guard)
    _model_routes(app, server)
    _served_values_in_openapi(app, server)
    return app


def _lifespan(server: Server) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """Start: load the deployment, freeze what is loaded, watch for promotions, and sign
    checkpoints when ``audit.checkpoints`` asks. Stop: stop both and close the server (every
    buffered log record written)."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # The predict thread holds the GIL through scikit-learn's Python code; by default the
        # event loop would wait up to 5 ms for it at every switch. 0.5 ms keeps tails short.
        sys.setswitchinterval(0.0005)
        await server.deployment.refresh()
        known = await asyncio.to_thread(server.answered.load)
        logging.getLogger("goldenpath.serving").info(
            "%d answered request id(s) of the last %d day(s) known to /feedback",
            known,
            server.project.spec.serving.feedback.known_days,
        )
        if server.deployment.champion is None:
            logging.getLogger("goldenpath.serving").warning(
                "no champion of %s could be loaded (%s): /predict answers 503 until one is "
                "promoted",
                server.project.name,
                server.deployment.last_error or "none promoted yet",
            )
        # Everything loaded so far (libraries, the models) lives as long as the server: keep it
        # out of the garbage collector's full passes, which otherwise scan it all and stalled
        # predictions by 80-230 ms each under load.
        gc.collect()
        gc.freeze()
        loop = asyncio.get_running_loop()
        background = [loop.create_task(server.deployment.watch())]
        if server.checkpoints.scheduled:  # audit.checkpoints: signed checkpoints on a schedule
            background.append(loop.create_task(server.checkpoints.run()))
        if server.guardrails.scheduled:  # serving.guardrails on a canary challenger
            background.append(loop.create_task(server.guardrails.run()))
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await server.close()

    return lifespan


_SCORING_ERRORS: dict[int | str, dict[str, Any]] = {400: {}, 422: {}, 503: {}, 504: {}}
_INFER_DOC = (
    "JSON tensors as below, or the binary tensor data extension (tritonclient's default): "
    "the JSON header is the first `Inference-Header-Content-Length` bytes of the body, and "
    "an input whose parameters hold `binary_data_size` takes that many bytes after it. "
    'Errors are `{"error": "<message>"}`.'
)


def _unknown_model(server: Server, name: str) -> Response | None:
    """404 in the Open Inference Protocol's form for a model name this server does not serve."""
    if name == server.project.name:
        return None
    message = f"unknown model {name!r}: this server serves {server.project.name!r}"
    return _reply(error_reply("infer", Failure(404, "unknown_model", message)))


def _unknown_version(server: Server, name: str, version: str) -> Response | None:
    """404 for another model's name, or for a version that is not served here now."""
    unknown = _unknown_model(server, name)
    if unknown is not None or version in server.deployment.served_versions():
        return unknown
    served = ", ".join(sorted(server.deployment.served_versions())) or "none"
    message = f"version {version!r} of {name!r} is not served here; served: {served}"
    return _reply(server.failure(VersionNotServed(message), "infer"))


def _scoring_routes(app: FastAPI, server: Server) -> None:
    """The scoring paths as FastAPI sees them (their OpenAPI documents, and the slow path when
    the app is served without :class:`FastPath`); each answers through :meth:`Server.score`."""
    schemas = Schemas(server.project.spec, server.deployment.validator)

    @app.post(
        "/predict",
        summary="Predict one or many rows",
        openapi_extra=_body(predict_schema(schemas)),
        responses=_SCORING_ERRORS,
    )
    async def predict(request: Request) -> Response:
        return _reply(await server.score("predict", await request.body(), request.headers))

    @app.post(
        "/invocations",
        summary="MLflow-compatible scoring",
        description="MLflow's scoring protocol: a JSON body in one of the four forms below, or "
        "`text/csv` (a header line of column names, then one line per row; an empty field is "
        "null). Errors are MLflow's `{error_code, message}`; a contract violation is 400 "
        "`BAD_REQUEST` with the field problems under `errors`.",
        openapi_extra=_body(invocations_schema(schemas)),
        responses={**_SCORING_ERRORS, 422: {"description": "never: MLflow's 400 instead"}},
    )
    async def invocations(request: Request) -> Response:
        return _reply(await server.score("invocations", await request.body(), request.headers))

    @app.post(
        "/v2/models/{name}/infer",
        summary="Open Inference Protocol v2 inference",
        description=_INFER_DOC,
        openapi_extra=_body(infer_schema(schemas)),
        responses={**_SCORING_ERRORS, 404: {}},
    )
    async def infer(name: str, request: Request) -> Response:
        unknown = _unknown_model(server, name)
        if unknown is not None:
            return unknown
        return _reply(await server.score("infer", await request.body(), request.headers))

    @app.post(
        "/v2/models/{name}/versions/{version}/infer",
        summary="Open Inference Protocol v2 inference by exactly one version",
        description=_INFER_DOC + " Answered by that version (the champion's or the "
        "challenger's), with no routing and no fallback; 404 for a version not served.",
        openapi_extra=_body(infer_schema(schemas)),
        responses={**_SCORING_ERRORS, 404: {}},
    )
    async def infer_version(name: str, version: str, request: Request) -> Response:
        unknown = _unknown_model(server, name)
        if unknown is not None:
            return unknown
        body = await request.body()
        return _reply(await server.score("infer", body, request.headers, version=version))


_FEEDBACK_ITEM = {
    "type": "object",
    "properties": {
        "request_id": {
            "type": "string",
            "pattern": "^[A-Za-z0-9._:+=/-]{1,128}$",
            "description": "The id of a request this server answered (its `request_id`).",
        },
        "labels": {
            "type": "array",
            "minItems": 1,
            "description": "The true label of each row of that request, in row order (at most "
            "as many as it had rows); `null`: no label for that row.",
        },
        "values": {
            "type": "array",
            "minItems": 1,
            "items": {"type": ["number", "null"]},
            "description": "A number per row (e.g. the revenue the answer brought), in row "
            "order, for experiments' value metrics; `null`: none for that row.",
        },
    },
    "required": ["request_id"],
    "anyOf": [{"required": ["labels"]}, {"required": ["values"]}],
}
_FEEDBACK_DOC = (
    "Labels for requests this server answered, one `{request_id, labels}` object or a list of "
    "them, accepted whole or not at all. A request id the server did not answer (or no longer "
    "remembers: `serving.feedback`) gets 422 `unknown_request_id`; a label the contract's target "
    "column does not allow gets 422 `invalid_label`; more labels than the request had rows, 422 "
    "`invalid_feedback`. Only `application/json` is read (415 otherwise), and a request with an "
    "`Origin` header not in `serving.feedback.allowed_origins` gets 403 `forbidden_origin`. A "
    "second label for a row is kept as a correction; monitoring uses the latest. An item may "
    "carry `values` (a number per row, e.g. revenue) with or instead of labels; a value that is "
    "not a finite number gets 422 `invalid_value`."
)


def _foreign_origin(origin: str) -> RequestRefused:
    return RequestRefused(
        403,
        "forbidden_origin",
        f"feedback is not accepted from pages of origin {origin[:100]!r} "
        "(serving.feedback.allowed_origins)",
    )


def _feedback_route(app: FastAPI, server: Server) -> None:
    """POST /feedback, and the CORS preflight of the browser origins it accepts (OPTIONS)."""
    settings = server.project.spec.serving.feedback
    origins = frozenset(settings.allowed_origins)

    def cors(origin: str | None) -> dict[str, str]:
        """The headers that let a page of an allowed origin read the answer."""
        if origin is None or origin not in origins:
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def rows(body: Any, now: datetime, credential: str | None) -> dict[str, list[Any]]:
        return feedback_rows(
            body,
            server.project.spec.serving.limits,
            now,
            answered=server.answered,
            check=server.label_check,
            credential=credential,
        )

    @app.post(
        "/feedback",
        summary="Ground-truth labels for answered requests",
        description=_FEEDBACK_DOC,
        openapi_extra=_body(
            {"oneOf": [_FEEDBACK_ITEM, {"type": "array", "items": _FEEDBACK_ITEM}]}
        ),
        responses={400: {}, 403: {}, 413: {}, 415: {}, 422: {}},
    )
    async def feedback(request: Request) -> Response:
        caller = request.scope.get(CALLER)
        credential = (
            caller.credential.id
            if isinstance(caller, Caller) and caller.credential is not None
            else None
        )
        origin = request.headers.get("origin")
        try:
            if origin is not None and origin not in origins:
                raise _foreign_origin(origin)
            raw = await request.body()
            server.admit("feedback", request.headers, len(raw))
            body = (
                await asyncio.to_thread(parse_json, raw)
                if len(raw) > OFF_LOOP_BYTES
                else parse_json(raw)
            )
            now = datetime.now(UTC)
            try:
                accepted = rows(body, now, credential)
            except UnknownRequestId:
                if not server.answered.refresh_due():
                    raise
                # answered by another worker? read the prediction files written since
                await asyncio.to_thread(server.answered.refresh)
                accepted = rows(body, now, credential)
        except (RequestInvalid, RequestRefused) as exc:
            response = _reply(server.failure(exc))
        else:
            server.feedback.append(partition_for("feedback", now), accepted, len(accepted["row"]))
            response = _json({"accepted": len(accepted["row"])})
        response.headers.update(cors(origin))
        return response

    @app.options("/feedback", include_in_schema=False)
    async def preflight(request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is None or origin not in origins:
            return _reply(server.failure(_foreign_origin(str(origin))))
        headers = {
            **cors(origin),
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type, Authorization, X-Request-ID",
            "Access-Control-Max-Age": "600",
        }
        return Response(status_code=204, headers=headers)


def _ready(server: Server) -> bool:
    """A model can answer: the champion, or at least the fallback."""
    return server.deployment.champion is not None or server.deployment.fallback is not None


def _operations_routes(app: FastAPI, server: Server, guard: Guard) -> None:
    """What operators and load balancers read: metrics, version, liveness, readiness."""
    project = server.project

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        d = server.deployment
        for served in (d.champion, d.challenger, d.fallback):
            if served is not None:
                server.metrics.queue_depth.labels(served.version).set(served.batcher.depth)
        return Response(server.metrics.exposition(), media_type="text/plain; version=0.0.4")

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
                "auth": guard.mode,
            }
        )

    @app.get("/v2", summary="Open Inference Protocol: server metadata")
    async def v2() -> Response:
        return _json(
            {"name": "goldenpath", "version": __version__, "extensions": ["binary_tensor_data"]}
        )

    @app.get("/v2/health/live", summary="Liveness")
    async def live() -> Response:
        return _json({"live": True})

    @app.get("/v2/health/ready", summary="Readiness: a model can answer")
    async def health_ready() -> Response:
        # a log that cannot write degrades the server but keeps it in rotation: answers still
        # flow, and the requests it cannot write are set aside (see logs.LogWriter)
        # and so does a checkpoint that cannot be signed (audit.checkpoints)
        problems = server.log_problems() + server.checkpoints.problems()
        # a guardrail check or a read of the serving controls that failed (counted in metrics)
        problems += server.guardrails.problems()
        if server.deployment.controls_problem is not None:
            problems.append(server.deployment.controls_problem)
        if server.deployment.experiment_problem is not None:  # an experiment not routed
            problems.append(server.deployment.experiment_problem)
        controls = server.deployment.controls
        body: dict[str, Any] = {
            "ready": _ready(server),
            "degraded": bool(problems),
            "problems": problems,
        }
        if controls.active:  # goldenpath incident pin / safe-mode, a guardrail halt
            body["controls"] = {
                "pinned": controls.pinned,
                "safe_mode": controls.safe_mode,
                "halted": sorted(controls.halted),
            }
        routed = server.deployment.experiment
        if routed is not None:
            body["experiment"] = {
                "name": routed.name,
                "control": routed.control_version,
                "treatment": routed.treatment_version,
                "allocation": routed.allocation,
            }
        if server.checkpoints.scheduled:
            body["checkpoints"] = server.checkpoints.status()
        return _json(body, 200 if _ready(server) else 503)

    @app.get("/ping", summary="MLflow's health check: 200 when a model can answer, else 503")
    async def ping() -> Response:
        return Response("\n", status_code=200 if _ready(server) else 503, media_type=_JSON)

    app.get("/health", summary="MLflow's health check (the same as /ping)")(ping)


def _metadata(server: Server, versions: list[str]) -> Response:
    """Open Inference Protocol model metadata: the contract's features in, label and score out."""
    validator = server.deployment.validator
    regression = server.project.spec.task.type == "regression"
    return _json(
        {
            "name": server.project.name,
            "versions": versions,
            "platform": "goldenpath",
            "inputs": [
                {"name": c, "datatype": datatype(validator.specs[c].dtype), "shape": [-1]}
                for c in validator.features
            ],
            "outputs": [
                {"name": "predict", "datatype": "FP64" if regression else "BYTES", "shape": [-1]},
                {"name": "score", "datatype": "FP64", "shape": [-1]},
            ],
        }
    )


def _model_routes(app: FastAPI, server: Server) -> None:
    """Open Inference Protocol metadata and readiness of the model and of each served version."""

    @app.get("/v2/models/{name}", summary="Open Inference Protocol: model metadata")
    async def model_metadata(name: str) -> Response:
        unknown = _unknown_model(server, name)
        if unknown is not None:
            return unknown
        return _metadata(server, list(server.deployment.served_versions()))

    @app.get("/v2/models/{name}/ready", summary="Open Inference Protocol: model readiness")
    async def model_ready(name: str) -> Response:
        unknown = _unknown_model(server, name)
        if unknown is not None:
            return unknown
        ready = _ready(server)
        return _json({"name": name, "ready": ready}, 200 if ready else 503)

    @app.get(
        "/v2/models/{name}/versions/{version}",
        summary="Open Inference Protocol: metadata of one served version",
        responses={404: {}},
    )
    async def version_metadata(name: str, version: str) -> Response:
        unknown = _unknown_version(server, name, version)
        return unknown if unknown is not None else _metadata(server, [version])

    @app.get(
        "/v2/models/{name}/versions/{version}/ready",
        summary="Open Inference Protocol: readiness of one version",
        responses={404: {}},
    )
    async def version_ready(name: str, version: str) -> Response:
        unknown = _unknown_version(server, name, version)
        if unknown is not None:
            return unknown
        return _json({"name": name, "version": version, "ready": True})


def _served_values_in_openapi(app: FastAPI, server: Server) -> None:
    """FastAPI's OpenAPI document, with the path parameters this server answers: its model's
    name and the versions it serves now."""
    fastapi_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        document = copy.deepcopy(fastapi_openapi())
        versions = list(server.deployment.served_versions())
        allowed = {"name": [server.project.name], "version": versions}
        for item in document.get("paths", {}).values():
            for operation in item.values():
                for parameter in operation.get("parameters", []):
                    values = allowed.get(parameter["name"]) if parameter["in"] == "path" else None
                    if values:
                        parameter["schema"] = {"type": "string", "enum": values}
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def asgi_app(app: FastAPI) -> Any:
    """What to hand to an ASGI server: the fast path in front of ``app``."""
    return app.state.asgi


def app_from_environment() -> Any:
    """The ASGI app of the project ``goldenpath serve`` named (uvicorn's factory for workers)."""
    from goldenpath.project import open_project
    from goldenpath.settings import served_project

    return asgi_app(create_app(open_project(served_project())))
