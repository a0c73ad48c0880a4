"""Run a saved Keras model behind KServe's ``ModelServer``: ``python -m labkit.serving``.

Usage::

    python -m labkit.serving --model build/models/sentiment_lstm.keras --name sentiment
    labkit serve --model build/models/sentiment_lstm.keras --name sentiment --port 8080
    labkit serve --model models:/sentiment@champion --port 8080   # MLflow Model Registry

``--model`` takes a ``.keras`` file or an MLflow model URI (``models:/NAME@ALIAS``,
``models:/NAME/VERSION``, ``runs:/RUN_ID/model``): the URI is resolved in the tracking store
(``$MLFLOW_TRACKING_URI``, else the project's ``mlruns.db``; see :mod:`labkit.tracking`) and the
model's ``.keras`` file is downloaded to a temporary folder and served; the default name is the
registered model's name.

Routes (all from KServe): ``GET /`` (liveness), ``GET /v1/models/<name>`` (model ready, 503
until loaded), ``POST /v1/models/<name>:predict`` (TensorFlow Serving REST), ``GET
/v2/health/live``, ``GET /v2/health/ready``, ``GET /v2/models/<name>`` (metadata), ``POST
/v2/models/<name>/infer`` (Open Inference Protocol), ``GET /metrics`` (Prometheus).

labkit adds what KServe 0.21 lacks: a bind address (KServe always binds 0.0.0.0; the default
here is 127.0.0.1, pass ``--host 0.0.0.0`` in a container), bounded work per request (HTTP 413
above ``--max-payload-bytes`` or ``--max-instances``; an accepted request runs through the model
in batches of at most ``--max-batch-size``), request batching (:class:`~labkit.serving.batching.
MicroBatcher`), error answers without internals (a short message and an id; the traceback is in
the log under that id) and an OpenAPI document of its own routes and limits at
``/openapi.json`` (see :mod:`labkit.serving.app`). gRPC is off unless ``--grpc-port`` is given;
then it binds ``--host`` too, takes messages up to ``--max-payload-bytes`` and has no model
repository either.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from labkit.runtime import REQUIRE_GPU_ENV
from labkit.serving.limits import DEFAULT_MAX_INSTANCES, DEFAULT_MAX_PAYLOAD_BYTES


def check_devices(require_gpu: bool | None = None) -> list[str]:
    """Log the devices TensorFlow sees; refuse to serve on CPU when a GPU is required.

    A CPU image under the GPU overlay would otherwise hold a GPU (its node, its quota) and
    serve on the CPU without a word. The line goes to stderr, the pod's log.

    Args:
        require_gpu: default: ``$LABKIT_REQUIRE_GPU == "1"``.

    Returns:
        The names of the visible GPUs (``tf.config.list_physical_devices("GPU")``).

    Raises:
        labkit.serving.exceptions.ModelLoadError: a GPU is required and none is visible.
    """
    import tensorflow as tf

    from labkit.serving.exceptions import ModelLoadError

    if require_gpu is None:
        require_gpu = os.environ.get(REQUIRE_GPU_ENV) == "1"
    gpus = [device.name for device in tf.config.list_physical_devices("GPU")]
    seen = f"{len(gpus)} GPU(s): {', '.join(gpus)}" if gpus else "no GPU: the model runs on the CPU"
    print(f"labkit.serving: TensorFlow {tf.__version__} sees {seen}", file=sys.stderr, flush=True)
    if require_gpu and not gpus:
        raise ModelLoadError(
            f"{REQUIRE_GPU_ENV}=1 (the GPU manifests set it) but TensorFlow sees no GPU. Use "
            "the GPU image (docker/serving.Dockerfile built with "
            "--build-arg LOCK=requirements/serving-gpu.txt) and check that the pod got "
            "nvidia.com/gpu and the node's NVIDIA driver (nvidia-smi in the pod); a CPU image "
            "here would hold a GPU and serve on the CPU."
        )
    return gpus


DEFAULT_PORT = 8080


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the server's flags to ``parser`` (shared by ``labkit serve`` and ``python -m``)."""
    parser.add_argument(
        "--model",
        required=True,
        help="the saved Keras model (.keras file), or an MLflow model URI such as "
        "models:/sentiment@champion (resolved in $MLFLOW_TRACKING_URI or the project's mlruns.db)",
    )
    parser.add_argument(
        "--name", help="model name in the URLs, e.g. /v1/models/NAME:predict (default: file stem)"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="HTTP port (8080)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind: 127.0.0.1 (this machine only, default) or 0.0.0.0 (all "
        "interfaces: containers)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port, each with its own copy of the model (1)",
    )
    parser.add_argument(
        "--max-payload-bytes",
        type=int,
        default=DEFAULT_MAX_PAYLOAD_BYTES,
        help="larger request bodies get HTTP 413 (default 1 MiB)",
    )
    parser.add_argument(
        "--max-instances",
        type=int,
        default=DEFAULT_MAX_INSTANCES,
        help=f"requests with more instances get HTTP 413 (default {DEFAULT_MAX_INSTANCES:,}; an "
        "accepted request runs through the model in batches of --max-batch-size)",
    )
    parser.add_argument(
        "--labels",
        help="comma-separated class names in index order (default negative,positive for a "
        "sigmoid output, 0,1,... for softmax)",
    )
    parser.add_argument(
        "--output",
        choices=("auto", "sigmoid", "softmax", "raw"),
        default="auto",
        help="how to report predictions: labels for a sigmoid/softmax output (auto: from the "
        "last layer's activation) or the raw output",
    )
    parser.add_argument(
        "--threshold", type=float, default=0.5, help="sigmoid: p >= threshold is labels[1]"
    )
    parser.add_argument(
        "--max-batch-size",
        type=int,
        default=64,
        help="instances per model call at most, joined from concurrent requests or cut from a "
        "large one (64)",
    )
    parser.add_argument(
        "--max-wait-ms",
        type=float,
        default=0.0,
        help="wait this long for more requests before a model call (0: batch only what "
        "queued while the model was busy)",
    )
    parser.add_argument(
        "--no-jit",
        action="store_true",
        help="do not compile the model with XLA (by default it is, where the model allows)",
    )
    parser.add_argument(
        "--grpc-port",
        type=int,
        help="also serve KServe's gRPC v2 on this port (on --host, messages up to "
        "--max-payload-bytes)",
    )
    parser.add_argument(
        "--event-loop",
        choices=("auto", "uvloop", "asyncio"),
        default="auto",
        help="the server's event loop, as uvicorn's --loop: auto (uvloop where installed, as "
        "it is with KServe on Linux and macOS, else asyncio's), uvloop or asyncio",
    )
    parser.add_argument(
        "--no-access-log",
        action="store_true",
        help="no log lines per request (uvicorn's access log, KServe's timing trace)",
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m labkit.serving``."""
    parser = argparse.ArgumentParser(
        prog="python -m labkit.serving",
        description="Serve a saved Keras model with KServe (REST v1 and v2, health, /metrics).",
    )
    return add_arguments(parser)


def resolve_model(model: str, name: str | None = None) -> tuple[str, str | None]:
    """A ``.keras`` path and a model name for ``--model``: a path is returned as it is; an MLflow
    model URI is downloaded with :func:`labkit.tracking.local_model_path`, and its registered
    name (``models:/NAME@ALIAS`` -> ``NAME``) becomes the default name.

    Raises:
        RuntimeError, ValueError: the URI cannot be resolved (see ``local_model_path``).
    """
    from labkit import tracking

    if not tracking.is_model_uri(model):
        return model, name
    import tempfile

    path = tracking.local_model_path(model, tempfile.mkdtemp(prefix="labkit-serving-"))
    if name is None and model.startswith("models:/"):
        name = model[len("models:/") :].split("@")[0].split("/")[0] or None
    print(f"labkit.serving: {model} resolved to {path}", file=sys.stderr, flush=True)
    return str(path), name


def serve(
    model_path: str,
    name: str | None = None,
    *,
    port: int = DEFAULT_PORT,
    host: str = "127.0.0.1",
    workers: int = 1,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    max_instances: int = DEFAULT_MAX_INSTANCES,
    labels: Sequence[str] | None = None,
    output: str = "auto",
    threshold: float = 0.5,
    max_batch_size: int = 64,
    max_wait_ms: float = 0.0,
    grpc_port: int | None = None,
    access_log: bool = True,
    jit: bool = True,
    event_loop: str = "auto",
) -> None:
    """Load the model and serve it until SIGINT/SIGTERM. Blocks: from a notebook use
    :func:`labkit.serving.start_server`, which runs this in a child process.

    Args:
        model_path: the ``.keras`` file, or an MLflow model URI (see :func:`resolve_model`).
        name: the model name in the URLs (default: the registered model's name for a
            ``models:/`` URI, else the file name without ``.keras``).
        port, host: where to listen (``host="0.0.0.0"``: every interface, for containers).
        workers: server processes sharing the port (each loads its own copy of the model).
        max_payload_bytes: request bodies above this get HTTP 413.
        max_instances: requests with more instances get HTTP 413.
        labels, output, threshold, max_batch_size, max_wait_ms: see
            :class:`labkit.serving.model.KerasModel`.
        grpc_port: also serve KServe's gRPC v2 there (default: no gRPC).
        access_log: log one line per request.
        jit: compile the model with XLA where possible (see ``KerasModel``).
        event_loop: ``"auto"``, ``"uvloop"`` or ``"asyncio"`` (see
            :func:`labkit.serving.app.new_event_loop`).

    Raises:
        labkit.serving.exceptions.ModelLoadError: the model cannot be loaded or served, or
            ``$LABKIT_REQUIRE_GPU`` is ``1`` and TensorFlow sees no GPU (:func:`check_devices`).
    """
    from pathlib import Path

    from labkit.serving.app import ModelServer
    from labkit.serving.model import KerasModel

    check_devices()
    model_path, name = resolve_model(model_path, name)
    model = KerasModel(
        name or Path(model_path).stem,
        model_path,
        labels=labels,
        output=output,
        threshold=threshold,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        max_instances=max_instances,
        jit=jit,
    )
    model.load()
    print(
        f"labkit.serving: model {model.name!r} from {model_path}: {model.input_spec.describe()}; "
        f"predictions: {model.output_spec.kind}"
        + (f" {list(model.output_spec.labels)}" if model.output_spec.labels else "")
        + f"; XLA {model.xla or 'off (--no-jit)'}"
        + f"; at most {max_instances:,} instances and {max_payload_bytes:,} bytes per request, "
        f"{max_batch_size} instances per model call",
        file=sys.stderr,
        flush=True,
    )
    server = ModelServer(
        http_port=port,
        grpc_port=grpc_port or 8081,
        workers=workers,
        enable_grpc=grpc_port is not None,
        enable_latency_logging=False,
        host=host,
        max_payload_bytes=max_payload_bytes,
        access_log=access_log,
        event_loop=event_loop,
    )
    server.start([model])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m labkit.serving`` and ``labkit serve``; returns an exit code."""
    args = build_parser().parse_args(argv)
    return run(args)


def run(args: argparse.Namespace) -> int:
    """Serve with parsed arguments (see :func:`add_arguments`)."""
    from pathlib import Path

    for flag in ("max_instances", "max_batch_size", "max_payload_bytes"):
        if getattr(args, flag) < 1:
            print(
                f"labkit.serving: --{flag.replace('_', '-')} must be at least 1, got "
                f"{getattr(args, flag)}.",
                file=sys.stderr,
            )
            return 2
    try:  # an MLflow model URI becomes a local .keras file (and the default name)
        args.model, args.name = resolve_model(args.model, args.name)
    except (RuntimeError, ValueError) as error:
        print(f"labkit.serving: {error}", file=sys.stderr)
        return 2
    if not Path(args.model).is_file():  # say so before spending seconds importing TensorFlow
        print(
            f"labkit.serving: No model file at {args.model}. Export one with "
            "model.save('....keras') (lesson 09 writes build/models/sentiment_lstm.keras), "
            "or pass an MLflow model URI such as models:/sentiment@champion.",
            file=sys.stderr,
        )
        return 2
    try:
        from labkit.serving.model import ModelLoadError
    except ModuleNotFoundError as error:
        if error.name != "kserve":
            raise
        print(
            "labkit.serving needs KServe, from labkit's 'serve' extra: "
            "pip install -e '.[serve]' (make lab and make test install it).",
            file=sys.stderr,
        )
        return 2

    labels = [s.strip() for s in args.labels.split(",")] if args.labels else None
    try:
        serve(
            args.model,
            args.name,
            port=args.port,
            host=args.host,
            workers=args.workers,
            max_payload_bytes=args.max_payload_bytes,
            max_instances=args.max_instances,
            labels=labels,
            output=args.output,
            threshold=args.threshold,
            max_batch_size=args.max_batch_size,
            max_wait_ms=args.max_wait_ms,
            grpc_port=args.grpc_port,
            access_log=not args.no_access_log,
            jit=not args.no_jit,
            event_loop=args.event_loop,
        )
    except ModelLoadError as error:
        print(f"labkit.serving: {error}", file=sys.stderr)
        return 2
    return 0
