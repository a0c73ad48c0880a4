"""The exceptions of labkit's KServe model, and the server's log.

:class:`ModelLoadError` is raised while a model loads; :class:`InvalidRequest` (HTTP 400 or
413) and :class:`ModelFailed` (HTTP 500) while it answers a request. They subclass KServe's own
errors, so KServe's server maps them to those statuses; :mod:`labkit.serving.errors` answers
them without internals, under an id (:func:`new_error_id`) that is also in :data:`log`.
Importing this module imports KServe (:mod:`labkit.serving.kserve_shim`).
"""

from __future__ import annotations

import logging
import uuid

from labkit.serving.kserve_shim import InferenceError, InvalidInput
from labkit.serving.protocol import BadRequest

__all__ = ["ModelLoadError", "InvalidRequest", "ModelFailed", "new_error_id", "log"]

#: the server's log: request errors (with their id) and the tracebacks of model failures
log = logging.getLogger("labkit.serving")


class ModelLoadError(RuntimeError):
    """The model file cannot be served (missing, unreadable, or an unsupported signature)."""


class InvalidRequest(InvalidInput):
    """KServe's ``InvalidInput`` (HTTP 400) with the status of the
    :class:`~labkit.serving.protocol.BadRequest` behind it (413 for
    :class:`~labkit.serving.protocol.RequestTooLarge`)."""

    def __init__(self, error: BadRequest):
        super().__init__(str(error))
        self.status = error.status


def new_error_id() -> str:
    """A short random id that ties an error answer to its line in the server's log."""
    return uuid.uuid4().hex[:12]


class ModelFailed(InferenceError):
    """The model raised on a request (HTTP 500). The message says so and gives ``error_id``; the
    exception and its traceback are in the server's log under that id, never in the answer."""

    def __init__(self, error_id: str):
        super().__init__(
            f"The model failed on this request (error id {error_id}); the server's log has "
            "the details under that id."
        )
        self.error_id = error_id
