"""Talk to a model server, and start one from a notebook: :class:`Client`, :func:`start_server`.

This module imports neither TensorFlow nor KServe (only ``requests``), so a notebook that only
sends requests stays light. Example::

    from labkit.serving import start_server

    with start_server("build/models/sentiment_lstm.keras", "sentiment") as server:
        print(server.url)                                   # http://127.0.0.1:<free port>
        server.client.predict(["A wonderful film.", "Dull and far too long."])
        # [{'label': 'positive', 'probability': 0.97, 'probabilities': {...}}, {...}]
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import requests

__all__ = ["Client", "ServingError", "ServerStartError", "ServerHandle", "start_server"]


class ServingError(RuntimeError):
    """The server answered with an HTTP error (4xx: the request was wrong; 5xx: the server failed).

    Attributes:
        status: the HTTP status code (e.g. 400, 413, 503).
        message: the server's explanation (the ``error`` or ``detail`` field of its JSON reply).
        url: the URL that was requested.
        error_id: the id labkit.serving gives every error answer, which also starts the error's
            line in the server's log (None from servers that give none).
    """

    def __init__(self, status: int, message: str, url: str, error_id: str | None = None):
        self.status = status
        self.message = message
        self.url = url
        self.error_id = error_id
        kind = "bad request" if 400 <= status < 500 else "server error"
        super().__init__(f"HTTP {status} ({kind}) from {url}: {message}")


class ServerStartError(RuntimeError):
    """The server process exited or did not become ready in time; the message holds its log."""


class Client:
    """A small client for a model served by ``labkit.serving`` (or any KServe model server).

    Args:
        url: the server's base URL, e.g. ``"http://127.0.0.1:8080"``.
        name: the model name (the ``--name`` the server was started with).
        timeout: seconds to wait for an answer.

    Every method raises :class:`ServingError` when the server answers 4xx/5xx, and
    ``requests.ConnectionError`` when nothing listens at ``url``.
    """

    def __init__(self, url: str, name: str, *, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.name = name
        self.timeout = timeout
        self.session = requests.Session()
        self._metadata: dict | None = None

    def __repr__(self) -> str:
        return f"Client({self.url!r}, {self.name!r})"

    def _request(self, method: str, path: str, **kwargs) -> requests.Response:
        url = self.url + path
        response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        if response.status_code >= 400:
            raise ServingError(
                response.status_code, _error_message(response), url, _error_id(response)
            )
        return response

    def predict(self, instances: Sequence[Any]) -> list:
        """REST v1 (TensorFlow Serving format): ``POST /v1/models/<name>:predict``.

        Args:
            instances: one entry per example, e.g. a list of review strings for the sentiment
                model, or lists of numbers for a numeric model.

        Returns:
            The ``predictions`` list, one entry per instance (for a classifier
            ``{"label", "probability", "probabilities"}``, see
            :func:`labkit.serving.protocol.predictions`).

        Raises:
            ServingError: e.g. 400 with the reason when an instance does not fit the model.
        """
        body = {"instances": list(instances)}
        response = self._request("POST", f"/v1/models/{self.name}:predict", json=body)
        return response.json()["predictions"]

    def infer_v2(
        self,
        data: Any,
        *,
        input_name: str | None = None,
        datatype: str | None = None,
        shape: Sequence[int] | None = None,
        request_id: str | None = None,
    ) -> dict:
        """Open Inference Protocol: ``POST /v2/models/<name>/infer`` with one input tensor.

        Args:
            data: a list of strings (sent as ``BYTES``), a NumPy array, or nested lists of
                numbers; sent flattened in row-major order.
            input_name: the model's input name (default: asked from ``GET /v2/models/<name>``).
            datatype: e.g. ``"BYTES"``, ``"FP32"`` (default: from the data).
            shape: the tensor's shape (default: from the data, e.g. ``[N]`` for N strings).
            request_id: an ``id`` echoed in the response.

        Returns:
            The response JSON: ``{"model_name", "id", "outputs": [{"name", "shape",
            "datatype", "data"}, ...]}``.
        """
        import numpy as np

        array = np.asarray(data, dtype=object if _is_text(data) else None)
        if datatype is None:
            datatype = "BYTES" if array.dtype == object or array.dtype.kind in "US" else None
            datatype = datatype or {
                "f": "FP32",
                "i": "INT64",
                "u": "UINT64",
                "b": "BOOL",
            }.get(array.dtype.kind, "FP32")
        if input_name is None:
            inputs = self.metadata().get("inputs") or [{"name": "input"}]
            input_name = inputs[0]["name"]
        tensor = {
            "name": input_name,
            "shape": list(shape) if shape is not None else list(array.shape),
            "datatype": datatype,
            "data": array.reshape(-1).tolist(),
        }
        body: dict[str, Any] = {"inputs": [tensor]}
        if request_id is not None:
            body["id"] = request_id
        return self._request("POST", f"/v2/models/{self.name}/infer", json=body).json()

    def metadata(self) -> dict:
        """``GET /v2/models/<name>``: the model's inputs and outputs (name, datatype, shape)."""
        if self._metadata is None:
            self._metadata = self._request("GET", f"/v2/models/{self.name}").json()
        return self._metadata

    def live(self) -> bool:
        """True when the server process answers ``GET /v2/health/live``."""
        return self._ok("/v2/health/live")

    def ready(self) -> bool:
        """True when the model is loaded and answers (``GET /v1/models/<name>`` is 200)."""
        return self._ok(f"/v1/models/{self.name}")

    def _ok(self, path: str) -> bool:
        try:
            return self.session.get(self.url + path, timeout=min(self.timeout, 5)).ok
        except requests.RequestException:
            return False

    def metrics(self) -> str:
        """``GET /metrics``: Prometheus text (KServe's ``request_*_seconds`` histograms, labkit's
        ``labkit_batch_*``, and the Python process collectors)."""
        return self._request("GET", "/metrics").text


def _is_text(data: Any) -> bool:
    while isinstance(data, list | tuple) and data:
        data = data[0]
    return isinstance(data, str | bytes)


def _error_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:2000] or response.reason
    if isinstance(body, dict):
        for key in ("error", "detail", "message"):
            if key in body:
                return body[key] if isinstance(body[key], str) else str(body[key])
    return str(body)[:2000]


def _error_id(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("id") if isinstance(body, dict) and isinstance(body.get("id"), str) else None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ServerHandle:
    """A model server running in a child process (see :func:`start_server`).

    Attributes:
        url: e.g. ``"http://127.0.0.1:40123"``.
        name: the model name.
        client: a :class:`Client` for it.
        process: the ``subprocess.Popen`` of ``python -m labkit.serving``.
        log_path: the file receiving the server's stdout and stderr (one start_server made for
            itself is removed by :meth:`stop`).

    Use it as a context manager, or call :meth:`stop` (it is also stopped when Python exits).
    """

    def __init__(
        self,
        process: subprocess.Popen,
        url: str,
        name: str,
        log_path: Path,
        *,
        temporary_log: bool = False,
    ):
        self.process = process
        self.url = url
        self.name = name
        self.log_path = log_path
        self.client = Client(url, name)
        # a log start_server made for itself goes when the server is stopped or collected
        self._temporary_log = log_path if temporary_log else None
        self._finalizer = weakref.finalize(self, _terminate, process, 10.0, self._temporary_log)

    def __repr__(self) -> str:
        state = "running" if self.alive else f"exited ({self.process.returncode})"
        return f"<ServerHandle {self.name!r} at {self.url}, pid {self.process.pid}, {state}>"

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def alive(self) -> bool:
        """True while the server process runs."""
        return self.process.poll() is None

    def logs(self, tail: int | None = 40) -> str:
        """The server's output so far (the last ``tail`` lines; None for all)."""
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines if tail is None else lines[-tail:])

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout`` s); return its exit code.

        A log file :func:`start_server` made for itself (no ``log_path`` given) is removed
        then: read :meth:`logs` before stopping.
        """
        self._finalizer.detach()
        _terminate(self.process, timeout, self._temporary_log)
        self.client.session.close()
        return self.process.returncode


def _terminate(process: subprocess.Popen, timeout: float, remove: Path | None = None) -> None:
    try:
        if process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    finally:
        if remove is not None:
            remove.unlink(missing_ok=True)


def start_server(
    model_path: str | os.PathLike,
    name: str,
    port: int | None = None,
    host: str = "127.0.0.1",
    *,
    labels: Sequence[str] | None = None,
    workers: int = 1,
    max_payload_bytes: int | None = None,
    extra_args: Sequence[str] = (),
    launcher: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 180.0,
    log_path: str | os.PathLike | None = None,
) -> ServerHandle:
    """Start ``python -m labkit.serving`` in a child process and wait until the model is ready.

    Args:
        model_path: the saved Keras model (``.keras``), or an MLflow model URI such as
            ``models:/sentiment@champion`` that the server resolves in the tracking store
            (:func:`labkit.tracking.local_model_path`).
        name: the model name in the URLs.
        port: the HTTP port; None picks a free one.
        host: the address to bind (127.0.0.1: only this machine can connect).
        labels: class names (see ``--labels``).
        workers: server processes (see ``--workers``).
        max_payload_bytes: request-size limit (default 1 MiB).
        extra_args: more command-line flags, e.g. ``["--max-batch-size", "32"]``.
        launcher: a command that runs the server command it is given, e.g. ``["taskset",
            "-c", "0"]`` (one CPU core) or ``["nice"]``; it must ``exec`` it, so that ``stop()``
            reaches the server.
        env: extra environment variables for the server.
        timeout: seconds to wait for readiness (loading TensorFlow and the model takes 10-30 s).
        log_path: where the server's output goes (default: a temporary file, removed when
            the server is stopped).

    Returns:
        A :class:`ServerHandle` (a context manager) with ``.url``, ``.client`` and ``.stop()``.

    Raises:
        FileNotFoundError: ``model_path`` does not exist.
        ServerStartError: the server exited (e.g. the port is taken, the model does not load)
            or was not ready within ``timeout``; the message ends with its last log lines.
    """
    from labkit import tracking

    if not tracking.is_model_uri(str(model_path)) and not Path(model_path).is_file():
        raise FileNotFoundError(
            f"No model file at {model_path}: export one with model.save(...) first "
            "(lesson 09 writes build/models/sentiment_lstm.keras)."
        )
    port = port or free_port(host)
    command = [
        sys.executable,
        "-m",
        "labkit.serving",
        "--model",
        str(model_path),
        "--name",
        name,
        "--port",
        str(port),
        "--host",
        host,
        "--workers",
        str(workers),
    ]
    if labels:
        command += ["--labels", ",".join(labels)]
    if max_payload_bytes is not None:
        command += ["--max-payload-bytes", str(max_payload_bytes)]
    command = [*launcher, *command, *extra_args]
    temporary_log = log_path is None
    if temporary_log:
        handle, log_name = tempfile.mkstemp(prefix=f"labkit-serving-{name}-", suffix=".log")
        os.close(handle)
        log_path = Path(log_name)
    log_path = Path(log_path)
    child_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=child_env, stdin=subprocess.DEVNULL
        )
    url_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    server = ServerHandle(
        process, f"http://{url_host}:{port}", name, log_path, temporary_log=temporary_log
    )
    deadline = time.monotonic() + timeout
    while not server.client.ready():
        if not server.alive:
            raise ServerStartError(
                f"The model server exited with code {process.returncode} before it was ready.\n"
                f"command: {' '.join(command)}\nlast lines of {log_path}:\n{server.logs()}"
            )
        if time.monotonic() > deadline:
            last_lines = server.logs()
            server.stop()
            raise ServerStartError(
                f"The model server was not ready after {timeout:.0f} s (stopped it).\n"
                f"command: {' '.join(command)}\nlast lines of {log_path}:\n{last_lines}"
            )
        time.sleep(0.25)
    return server
