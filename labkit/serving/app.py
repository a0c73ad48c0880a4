"""KServe's ``ModelServer`` with a bind address, request limits, safe errors and labkit's model.

KServe 0.21's REST server always binds ``0.0.0.0`` and has no limit on request bodies; the two
subclasses here add both and otherwise run KServe's own code (routes, metrics). Three more
changes make the server safe to expose:

* **Errors without internals**: a short message and an id that is also in the log, with the
  traceback (:mod:`labkit.serving.errors`).
* **Only the routes it serves.** KServe's model repository routes (``/v2/repository/...``:
  anyone could unload the model) and the v1 ``:explain`` route (no explainer) answer 404.
* **Its own OpenAPI document** at ``/openapi.json`` (:mod:`labkit.serving.openapi`), with the
  v1 request body, the model name, the limits and the error answers written in.

Performance details, each measured by ``make bench`` (bench/README.md): REST v1 predict requests
go from the middleware stack straight to KServe's ``Model.__call__`` (:class:`V1PredictMiddleware`:
FastAPI's routing and KServe's data plane cost about as much CPU as the rest of a one-review
request); the server runs on uvloop where it is installed (:func:`new_event_loop`; KServe 0.21
runs asyncio's loop whatever ``--event_loop`` says); with ``access_log=False`` uvicorn's access log
and KServe's per-request timing middleware (whose only output is a log line) are left out; and
the objects alive at start-up are frozen out of the garbage collector's reach (``gc.freeze``),
so a full collection does not stall requests.
Importing this module imports KServe; :func:`labkit.serving.server.serve` does it for you. It
relies on KServe 0.21's ``ModelServer``/``RESTServer`` internals (tested with 0.21.0).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings

import grpc
import orjson

from labkit.serving.errors import error_body, install_error_handlers, json_response, send_json
from labkit.serving.exceptions import InvalidRequest, ModelFailed
from labkit.serving.kserve_shim import kserve  # imported with sys.argv hidden from its parser
from labkit.serving.limits import DEFAULT_MAX_PAYLOAD_BYTES
from labkit.serving.model import KerasModel
from labkit.serving.openapi import install_openapi, is_removed

# (attributes, not `from kserve... import`: kserve must be imported through its shim)
_FASTAPI_APP = kserve.constants.FASTAPI_APP_IMPORT_STRING
_KSERVE_ARGS = kserve.model_server.args
_GRPCServer = kserve.protocol.grpc.server.GRPCServer
_RESTServer = kserve.protocol.rest.server.RESTServer
_RESTServerMultiProcess = kserve.protocol.rest.multiprocess.server.RESTServerMultiProcess

# KServe 0.21 uses FastAPI's ORJSONResponse, which recent FastAPI deprecates: not ours to fix.
# (Here, not in serve(): --workers processes import this module too.)
warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated")

__all__ = [
    "ModelServer",
    "new_event_loop",
    "RESTServerWithLimits",
    "PayloadLimitMiddleware",
    "RemovedRoutesMiddleware",
    "V1PredictMiddleware",
]


class PayloadLimitMiddleware:
    """ASGI middleware: HTTP 413 for request bodies over ``max_bytes``, 400 for JSON that is not
    UTF-8.

    It checks ``Content-Length`` and also counts chunked bodies, reading at most ``max_bytes``
    into memory before the app sees the request. An over-long body is read and discarded (up to
    64 MiB more) before the 413 goes out, so the client receives the answer instead of a reset
    connection. A JSON body (content type ``application/json``, ``*+json`` or none) must be
    UTF-8 (RFC 8259); without this check FastAPI answers v2 requests with a bare "There was an
    error parsing the body".
    """

    DRAIN_LIMIT = 64 << 20

    def __init__(self, app, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        where = f"{scope['method']} {scope['path']}"
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await json_response(
                    send, 400, f"Bad Content-Length header: {declared[:40]!r}.", where
                )
                return
            if size > self.max_bytes:
                await self._drain(receive)
                await self._too_large(send, size, where)
                return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                if more:
                    await self._drain(receive)
                await self._too_large(send, None, where)
                return
        if _is_json(headers):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as error:
                await json_response(
                    send,
                    400,
                    f"The request body is not valid UTF-8 (byte {body[error.start]:#04x} at "
                    f"position {error.start}): JSON must be UTF-8 encoded text.",
                    where,
                )
                return
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _drain(self, receive) -> None:
        drained = 0
        while drained < self.DRAIN_LIMIT:
            message = await receive()
            if message["type"] != "http.request":
                return
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _too_large(self, send, size: int | None, where: str) -> None:
        got = f"{size:,} bytes" if size is not None else "more than that"
        await json_response(
            send,
            413,
            f"Request body too large: the limit is {self.max_bytes:,} bytes, got {got}. "
            "Send fewer instances per request (or start the server with a larger "
            "--max-payload-bytes).",
            where,
        )


def _is_json(headers: dict[bytes, bytes]) -> bool:
    if b"inference-header-content-length" in headers:  # v2 binary tensor extension
        return False
    content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    return content_type in (b"", b"application/json") or content_type.endswith(b"+json")


class V1PredictMiddleware:
    """ASGI middleware: REST v1 ``POST /v1/models/<name>:predict`` for labkit's models, straight to
    KServe's ``Model.__call__`` (preprocess, predict, postprocess, with KServe's Prometheus
    latency histograms), without FastAPI's routing and KServe's data plane around it.

    The routing, dependency solving, request and response objects of FastAPI and KServe's data
    plane cost about as much CPU as the rest of a one-review request; on 2 cores that CPU is
    taken from the model. Only the plain case is answered here: a model of ``models`` that is
    ready, a JSON object body (content type ``application/json`` or none), no CloudEvent. Every
    other request, and one whose answer is an error other than a bad request or a model failure
    (which are answered as :mod:`labkit.serving.errors` answers them), goes to the app as before.
    """

    PREFIX, SUFFIX = "/v1/models/", ":predict"

    def __init__(self, app, models: dict):
        self.app = app
        self.models = models

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not path.startswith(self.PREFIX)
            or not path.endswith(self.SUFFIX)
        ):
            await self.app(scope, receive, send)
            return
        model = self.models.get(path[len(self.PREFIX) : -len(self.SUFFIX)])
        headers = {
            key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]
        }
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if (
            model is None
            or not model.ready
            or content_type not in ("", "application/json")
            or any(key.startswith("ce-") for key in headers)
        ):
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:  # PayloadLimitMiddleware, outside this one, has bounded the body
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict) or "specversion" in payload:  # KServe says what is wrong
            await self.app(scope, _replay(bytes(body), receive), send)
            return
        where = f"POST {path}"
        try:
            response, response_headers = await model(payload, headers=headers)
        except InvalidRequest as error:
            status = error.status  # 400 or 413: labkit.serving.exceptions.InvalidRequest
            await _send_json(send, status, error_body(status, str(error)[:2000], where=where))
            return
        except ModelFailed as error:
            body_ = error_body(500, str(error), error_id=error.error_id, where=where)
            await _send_json(send, 500, body_)
            return
        except Exception:  # noqa: BLE001 - anything else: KServe's route and our handlers
            await self.app(scope, _replay(bytes(body), receive), send)
            return
        await _send_json(send, 200, response, response_headers)


def _replay(body: bytes, receive):
    """An ASGI ``receive`` that gives ``body`` once, then the client's own messages."""
    replayed = False

    async def replay():
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_json(send, status: int, content, headers: dict | None = None) -> None:
    # the options of FastAPI's ORJSONResponse, which KServe's route answers with
    body = orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    extra = [
        (key.lower().encode("latin-1"), str(value).encode("latin-1"))
        for key, value in (headers or {}).items()
        if key.lower() not in ("content-length", "content-type")
    ]
    await send_json(send, status, body, extra)


class RemovedRoutesMiddleware:
    """ASGI middleware: HTTP 404 for :data:`REMOVED_ROUTES`, before KServe's routes see them.

    (A middleware, not a change to the app's routes: FastAPI 0.165 includes routers lazily.)
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and is_removed(scope["path"]):
            where = f"{scope['method']} {scope['path']}"
            await json_response(send, 404, "Not Found: this server has no such route.", where)
            return
        await self.app(scope, receive, send)


class RESTServerWithLimits(_RESTServer):
    """KServe's REST server bound to ``host``, with :class:`PayloadLimitMiddleware`, an
    optional access log (uvicorn's), error answers without internals
    (:func:`install_error_handlers`), only the routes it serves
    (:class:`RemovedRoutesMiddleware`) and its own OpenAPI document (:func:`install_openapi`)."""

    def __init__(self, *args, host: str, max_payload_bytes: int, access_log: bool, **kw):
        super().__init__(*args, **kw)
        self.config.host = host  # KServe 0.21 hard-codes 0.0.0.0
        self.config.access_log = access_log
        self.max_payload_bytes = max_payload_bytes

    def create_application(self):
        # --workers processes get the models unpickled, not loaded (see KerasModel.__getstate__)
        for model in self.dataplane.model_registry.get_models().values():
            if not model.ready:
                model.load()
        super().create_application()
        app = kserve.model_server.app  # the app KServe's create_application built on
        install_error_handlers(app)
        models = list(self.dataplane.model_registry.get_models().values())
        install_openapi(app, models, self.max_payload_bytes)
        if not self.config.access_log:  # also KServe's two timing lines per request
            logging.getLogger("kserve.trace").setLevel(logging.WARNING)
            # uvicorn reads config.access_log only in Config.__init__ (where KServe left it on):
            # its protocol logs a request where the uvicorn.access logger has a handler.
            access = logging.getLogger("uvicorn.access")
            access.handlers = []
            access.propagate = False
        # TensorFlow, Keras and KServe leave ~600k long-lived objects; a full garbage collection
        # walks them all (0.2-0.7 s on 2 cores) and would stall the requests in flight. Freeze
        # them: Python's collector skips frozen objects (runs in every --workers process).
        gc.collect()
        gc.freeze()

    def _add_middlewares(self, app):
        # added first, so it runs last: after the limits, and inside KServe's timing middleware
        models = {
            name: model
            for name, model in self.dataplane.model_registry.get_models().items()
            if isinstance(model, KerasModel)
        }
        app.add_middleware(V1PredictMiddleware, models=models)
        # KServe's middlewares time every request (two getrusage calls) for its trace log; without
        # the per-request logs they only cost CPU.
        if self.config.access_log:
            super()._add_middlewares(app)
        app.add_middleware(PayloadLimitMiddleware, max_bytes=self.max_payload_bytes)
        app.add_middleware(RemovedRoutesMiddleware)  # added last: runs first


#: seconds a new --workers process has to answer its first liveness ping
WORKER_START_S = 60.0


class MultiProcessServer(_RESTServerMultiProcess):
    """KServe's ``--workers`` supervisor, with time for a worker to start.

    KServe pings every worker twice a second and kills one that does not answer within 5 s, also
    while it is still starting: a fresh interpreter that imports KServe and unpickles the model
    server takes about that long on a busy 2-core node, so workers were killed and restarted
    over and over. Here a worker gets :data:`WORKER_START_S` to answer its first ping; after
    that KServe's own check (5 s) applies.
    """

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._started: set[int | None] = set()

    async def keep_subprocess_alive(self, sockets) -> None:
        for process in self._processes:
            if process.pid not in self._started:
                # blocks like KServe's own ping; a worker that never answers is restarted below
                if await asyncio.to_thread(process.is_alive, WORKER_START_S):
                    self._started.add(process.pid)
        await super().keep_subprocess_alive(sockets)


class NoRepositoryServicer(kserve.protocol.grpc.servicer.InferenceServicer):
    """KServe's gRPC servicer without the model repository: load and unload answer NOT_FOUND
    (anyone could unload the model), as the REST routes do."""

    async def RepositoryModelLoad(self, request, context):  # noqa: N802 - gRPC method names
        await context.abort(grpc.StatusCode.NOT_FOUND, "This server has no model repository.")

    async def RepositoryModelUnload(self, request, context):  # noqa: N802
        await context.abort(grpc.StatusCode.NOT_FOUND, "This server has no model repository.")


class GRPCServerWithLimits(_GRPCServer):
    """KServe's gRPC v2 server bound to ``host`` (KServe binds ``[::]``, every interface), with
    messages limited to ``max_payload_bytes`` (RESOURCE_EXHAUSTED above; KServe's default is
    8 MiB) and without the model repository (:class:`NoRepositoryServicer`)."""

    def __init__(self, *args, host: str, max_payload_bytes: int, **kw):
        super().__init__(*args, **kw)
        self.host = host
        self.max_payload_bytes = max_payload_bytes

    async def start(self, max_workers):
        # kserve.protocol.grpc.server.GRPCServer.start (0.21), with the three changes above
        import concurrent.futures

        from grpc import aio

        grpc_module = kserve.protocol.grpc
        self._server = aio.server(
            concurrent.futures.ThreadPoolExecutor(max_workers=max_workers),
            interceptors=(
                grpc_module.interceptors.LoggingInterceptor(),
                grpc_module.interceptors.ExceptionToStatusInterceptor(),
            ),
            options=[
                ("grpc.max_receive_message_length", self.max_payload_bytes),
                ("grpc.max_send_message_length", self._kwargs.get("grpc_max_send_message_length")),
            ],
        )
        grpc_module.grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
            NoRepositoryServicer(self._data_plane, None), self._server
        )
        address = f"[{self.host}]:{self._port}" if ":" in self.host else f"{self.host}:{self._port}"
        self._server.add_insecure_port(address)
        kserve.logging.logger.info("Starting gRPC server on %s", address)
        await self._server.start()
        await self._server.wait_for_termination()


class ModelServer(kserve.ModelServer):
    """``kserve.ModelServer`` that runs :class:`RESTServerWithLimits`.

    Args:
        host: the address to bind (KServe itself always binds 0.0.0.0).
        max_payload_bytes: request bodies above this get HTTP 413.
        access_log: log one line per request.
        **kw: ``kserve.ModelServer`` arguments (``http_port``, ``workers``, ``enable_grpc``...).
    """

    def __init__(self, *, host: str, max_payload_bytes: int, access_log: bool, **kw):
        super().__init__(**kw)
        self.host = host
        self.max_payload_bytes = max_payload_bytes
        self.access_log = access_log

    def start(self, models) -> None:
        # kserve.ModelServer.start, with our REST server (bind address, payload limit).
        self._register_and_check_atleast_one_model_is_ready(models)
        rest = RESTServerWithLimits(
            _FASTAPI_APP,
            self.dataplane,
            self.model_repository_extension,
            self.http_port,
            access_log_format=self.access_log_format,
            workers=self.workers,
            grace_period=self.grace_period,
            event_loop=self.event_loop,
            timeout_keep_alive=self.timeout_keep_alive,
            host=self.host,
            max_payload_bytes=self.max_payload_bytes,
            access_log=self.access_log,
        )
        if self.workers > 1:
            self._rest_multiprocess_server = MultiProcessServer(
                _FASTAPI_APP,
                self.dataplane,
                self.model_repository_extension,
                self.http_port,
                workers=self.workers,
                grace_period=self.grace_period,
                log_config_file=_KSERVE_ARGS.log_config_file,
            )
            self._rest_multiprocess_server._rest_server = rest
            self.servers.append(self._rest_multiprocess_server.start())
        else:
            self._rest_server = rest
            self.servers.append(rest.start())
        if self.enable_grpc:
            self._grpc_server = GRPCServerWithLimits(
                self.grpc_port,
                self.dataplane,
                self.model_repository_extension,
                kwargs=vars(_KSERVE_ARGS),
                grace_period=self.grace_period,
                host=self.host,
                max_payload_bytes=self.max_payload_bytes,
            )
            self.servers.append(self._grpc_server.start(self.max_threads))
        # KServe 0.21 runs its servers with asyncio.run (the stock event loop, whatever
        # --event_loop says) after setting an executor on another loop; here the loop that
        # serves is the one --event_loop names and the one configured.
        loop = new_event_loop(self.event_loop)
        kserve.logging.logger.info("Event loop: %s", type(loop).__module__.split(".")[0])
        asyncio.set_event_loop(loop)
        try:
            self.setup_event_loop()
            self.register_signal_handler()
            loop.run_until_complete(self._serve())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def new_event_loop(kind: str = "auto") -> asyncio.AbstractEventLoop:
    """A new event loop of ``kind``, as uvicorn's ``--loop`` chooses: ``"uvloop"``, ``"asyncio"``,
    or ``"auto"`` (uvloop where it is installed, as it is with KServe on Linux and macOS, else
    asyncio's).

    uvloop (libuv) answers small HTTP requests with less CPU per request than asyncio's
    selector loop: with a stand-in model and one client on 2 cores, 591 vs 397 requests/s.

    Raises:
        ModuleNotFoundError: ``kind="uvloop"`` and uvloop is not installed.
        ValueError: another ``kind``.
    """
    if kind not in ("auto", "asyncio", "uvloop"):
        raise ValueError(f"event loop must be auto, asyncio or uvloop, not {kind!r}")
    if kind != "asyncio":
        try:
            import uvloop
        except ModuleNotFoundError:
            if kind == "uvloop":
                raise
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()
