"""Serve a saved Keras model over HTTP with KServe, and talk to it.

Start a server from a notebook (a child process; stopped on ``stop()``, at the end of the
``with`` block, or when Python exits)::

    from labkit.serving import start_server

    with start_server("build/models/sentiment_lstm.keras", "sentiment") as server:
        server.client.predict(["A wonderful film."])
        # [{'label': 'positive', 'probability': 0.97,
        #   'probabilities': {'negative': 0.03, 'positive': 0.97}}]

or from a shell: ``labkit serve --model PATH --name NAME --port 8080`` (the same as
``python -m labkit.serving ...``). The server speaks KServe's REST v1 (TensorFlow Serving's
``{"instances": [...]}``) and v2 (Open Inference Protocol), answers health checks and exposes
Prometheus ``/metrics``; see :mod:`labkit.serving.server`.

Public names: :class:`Client`, :class:`ServingError`, :func:`start_server`,
:class:`ServerHandle`, :class:`ServerStartError` (light: only ``requests``), and
:class:`KerasModel`, :class:`ModelLoadError` (import KServe on first use) and
:class:`MicroBatcher` (NumPy and ``prometheus_client``).
"""

from __future__ import annotations

import importlib
from typing import Any

from labkit.serving.client import (
    Client,
    ServerHandle,
    ServerStartError,
    ServingError,
    free_port,
    start_server,
)

__all__ = [
    "Client",
    "ServingError",
    "ServerHandle",
    "ServerStartError",
    "start_server",
    "free_port",
    "KerasModel",
    "MicroBatcher",
    "ModelLoadError",
]

_HEAVY = {"KerasModel": "model", "MicroBatcher": "batching", "ModelLoadError": "exceptions"}


def __getattr__(name: str) -> Any:  # PEP 562: KServe and TensorFlow only when asked for
    if name in _HEAVY:
        return getattr(importlib.import_module(f"labkit.serving.{_HEAVY[name]}"), name)
    raise AttributeError(f"module 'labkit.serving' has no attribute {name!r}")
