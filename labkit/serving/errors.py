"""Error answers of ``labkit.serving`` without internals, each with an id found in the log.

Every error answer is ``{"error": "<what was wrong>", "id": "<12 hex digits>"}``; the same id
starts a line of the server's log (logger ``labkit.serving``, KServe's format, stderr), which for
a server error (HTTP 5xx) also holds the traceback. KServe's own handlers put exception texts in
the answer, and a TensorFlow error's text is its graph's stack: file paths of the server's
environment, module names and line numbers.
"""

from __future__ import annotations

import json
import logging
import sys

from labkit.serving.exceptions import InvalidRequest, ModelFailed, log, new_error_id
from labkit.serving.kserve_shim import kserve  # imported with sys.argv hidden from its parser

__all__ = ["error_body", "json_response", "send_json", "install_error_handlers"]

if not log.handlers:  # KServe's log format, on stderr like KServe's (also in --workers processes)
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(
        logging.Formatter(
            kserve.logging.KSERVE_LOGGER_FORMAT, kserve.logging.KSERVE_LOGGER_DATE_FORMAT
        )
    )
    log.addHandler(_handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def error_body(
    status: int,
    message: str,
    *,
    error_id: str | None = None,
    where: str = "",
    exc: BaseException | None = None,
) -> dict:
    """The body of an error answer, ``{"error": message, "id": error_id}``, and its log line.

    Args:
        status: the HTTP status (5xx are logged as errors, with ``exc``'s traceback).
        message: what was wrong, for the client: never an exception's text from inside the
            server.
        error_id: the id to use (default: a new one,
            :func:`~labkit.serving.exceptions.new_error_id`).
        where: the request, e.g. ``"POST /v1/models/sentiment:predict"``, for the log.
        exc: the exception behind a server error; its traceback goes to the log only.
    """
    error_id = error_id or new_error_id()
    if status >= 500:
        log.error("error %s: HTTP %d %s: %s", error_id, status, where, message, exc_info=exc)
    else:
        log.info("error %s: HTTP %d %s: %s", error_id, status, where, message)
    return {"error": message, "id": error_id}


async def send_json(send, status: int, body: bytes, headers=()) -> None:
    """Send an ASGI answer: ``status``, the JSON ``body`` (bytes), its content type and length,
    then ``headers`` (pairs of bytes)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def json_response(send, status: int, message: str, where: str = "") -> None:
    """Send the error answer ``message`` (:func:`error_body`) and close the connection."""
    body = json.dumps(error_body(status, message, where=where)).encode()
    await send_json(send, status, body, [(b"connection", b"close")])


def _where(request) -> str:
    return f"{request.method} {request.url.path}"


def _validation_message(exc) -> str:
    """FastAPI's 422 (a v2 body that does not fit the protocol's schema), in one sentence."""
    problems = []
    for error in exc.errors()[:3]:
        place = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append(f"{place or 'body'}: {error.get('msg', 'invalid')}"[:200])
    return (
        "The request body does not fit the Open Inference Protocol's inference request "
        f"(GET /openapi.json has its schema): {'; '.join(problems) or 'invalid'}."
    )


def install_error_handlers(app) -> None:
    """Answer every error with :func:`error_body` instead of KServe's and FastAPI's handlers,
    which return exception texts (a model failure's includes TensorFlow's stack)."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    errors = kserve.errors

    def answer(request, status, message, *, error_id=None, exc=None, headers=None):
        body = error_body(status, message, error_id=error_id, where=_where(request), exc=exc)
        return JSONResponse(body, status_code=status, headers=headers)

    async def invalid_request(request, exc):  # our BadRequest, or KServe's own InvalidInput
        return answer(request, getattr(exc, "status", 400), str(exc)[:2000])

    async def model_failed(request, exc):
        return answer(request, 500, str(exc), error_id=exc.error_id)

    async def inference_error(request, exc):  # raised by KServe itself, not by the model
        return answer(request, 500, "The server failed to answer this request.", exc=exc)

    async def not_found(request, exc):
        return answer(request, 404, str(exc)[:500])

    async def unavailable(request, exc):
        return answer(request, 503, str(exc)[:500])

    async def not_implemented(request, exc):
        if "version" in str(exc):  # KServe 0.21: "Model versioning not supported yet."
            message = "This server has one version of each model: leave out model_version."
            return answer(request, 404, message)
        return answer(request, 501, "This server does not implement that operation.")

    async def http_error(request, exc):  # Starlette: unknown route (404), wrong method (405)
        return answer(request, exc.status_code, str(exc.detail)[:500], headers=exc.headers)

    async def validation_error(request, exc):
        return answer(request, 422, _validation_message(exc))

    async def internal_error(request, exc):
        return answer(
            request, 500, "The server failed on this request (an internal error).", exc=exc
        )

    for exception, handler in (
        (InvalidRequest, invalid_request),
        (errors.InvalidInput, invalid_request),
        (ModelFailed, model_failed),
        (errors.InferenceError, inference_error),
        (errors.ModelNotFound, not_found),
        (errors.ModelNotReady, unavailable),
        (errors.ServerNotReady, unavailable),
        (errors.ServerNotLive, unavailable),
        (errors.UnsupportedProtocol, not_implemented),
        (NotImplementedError, not_implemented),
        (HTTPException, http_error),
        (RequestValidationError, validation_error),
        (Exception, internal_error),
    ):
        app.add_exception_handler(exception, handler)
