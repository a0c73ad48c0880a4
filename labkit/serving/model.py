"""A KServe ``Model`` around a saved Keras model, with request batching.

:class:`KerasModel` loads a ``.keras`` file, compiles one ``tf.function`` with a fixed input
signature (so a request never retraces the graph), and answers KServe's REST v1 (TensorFlow
Serving format) and v2 (Open Inference Protocol) requests. Concurrent requests are joined into one
model call by :class:`~labkit.serving.batching.MicroBatcher`: an LSTM costs almost the same for 1
review as for 32.

Importing this module imports TensorFlow and KServe (seconds); :mod:`labkit.serving.server` does
it for you. Sources: KServe's custom Python model guide
(https://kserve.github.io/website/latest/modelserving/v1beta1/custom/custom_model/), its
``kserve.Model`` hooks ``load``/``preprocess``/``predict``/``postprocess``.

Its parts, also importable from here: :mod:`labkit.serving.kserve_shim` (KServe, imported with
``sys.argv`` hidden), :mod:`labkit.serving.exceptions` (errors, the log),
:mod:`labkit.serving.batching` (the batcher, its histograms), :mod:`labkit.serving.xla`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# KServe first, so that without the serve extra the import fails on kserve (`labkit serve` says
# so). Re-exported: InferenceError, BATCH_INSTANCES, BATCH_REQUESTS (names of this module before).
from labkit.serving.kserve_shim import (  # noqa: F401
    InferenceError,
    InferOutput,
    InferRequest,
    InferResponse,
    InvalidInput,
    from_np_dtype,
    kserve,
)

# isort: split
from labkit.serving.batching import BATCH_INSTANCES, BATCH_REQUESTS, MicroBatcher  # noqa: F401
from labkit.serving.exceptions import InvalidRequest, ModelFailed, ModelLoadError, log, new_error_id
from labkit.serving.protocol import (
    DEFAULT_MAX_INSTANCES,
    V2_DATATYPES,
    BadRequest,
    InputSpec,
    OutputSpec,
    check_instance_count,
    check_v2_array,
    check_v2_shape,
    instances_to_array,
    parse_v1_body,
    predictions,
)
from labkit.serving.xla import NoXLA, split_for_xla

__all__ = ["KerasModel", "MicroBatcher", "ModelLoadError", "InvalidRequest", "ModelFailed"]


@dataclass
class _Request:
    batch: np.ndarray
    v2: InferRequest | None = None


@dataclass
class _Result:
    request: _Request
    outputs: dict[str, np.ndarray]


class KerasModel(kserve.Model):
    """Serve a saved Keras model (``.keras``) with KServe.

    The model must have one input; preprocessing such as ``TextVectorization`` belongs inside
    it, so a raw string is a valid instance. Requests:

    * ``POST /v1/models/<name>:predict`` ``{"instances": ["great film", "dull"]}`` ->
      ``{"predictions": [{"label": "positive", "probability": 0.93, "probabilities":
      {"negative": 0.07, "positive": 0.93}}, ...]}``;
    * ``POST /v2/models/<name>/infer`` with one ``BYTES`` (text) or numeric input -> the output
      tensor(s) and, for a classifier, a ``BYTES`` output ``"label"``.

    Args:
        name: the model's name in the URLs.
        model_path: the ``.keras`` file. ``labkit.text`` is imported first, so models using
            ``labkit>standardize_review`` load.
        labels: class names in index order. Default: ``("negative", "positive")`` for a single
            sigmoid output, ``("0", "1", ...)`` for a softmax output.
        output: ``"auto"`` (sigmoid -> binary labels, softmax -> arg-max label, anything else
            raw), or force ``"sigmoid"``, ``"softmax"`` or ``"raw"``.
        threshold: a sigmoid output >= threshold is ``labels[1]``.
        max_batch_size, max_wait_ms: see :class:`MicroBatcher`.
        max_instances: instances per request at most; more are refused with HTTP 413
            (:data:`labkit.serving.protocol.DEFAULT_MAX_INSTANCES`).
        jit: run the model XLA-compiled where possible (see :meth:`_with_xla`); ``self.xla``
            then says whether it is on.

    Raises:
        ModelLoadError: from :meth:`load`, with what to do (file missing, several inputs,
            labels that do not fit the output).
    """

    def __init__(
        self,
        name: str,
        model_path: str | os.PathLike,
        *,
        labels: Sequence[str] | None = None,
        output: str = "auto",
        threshold: float = 0.5,
        max_batch_size: int = 64,
        max_wait_ms: float = 0.0,
        max_instances: int = DEFAULT_MAX_INSTANCES,
        jit: bool = True,
    ):
        super().__init__(name)
        if max_batch_size < 1 or max_instances < 1:
            raise ValueError(
                f"max_batch_size and max_instances must be at least 1, got {max_batch_size} "
                f"and {max_instances}"
            )
        self.model_path = Path(model_path)
        self.labels = tuple(labels) if labels else None
        self.output = output
        self.threshold = threshold
        self.max_batch_size = max_batch_size
        self.max_wait_ms = max_wait_ms
        self.max_instances = max_instances
        self.jit = jit
        self.xla: str | None = None
        #: the batch sizes XLA compiled (calls are padded up to one of them); None without XLA
        self.xla_batch_sizes: list[int] | None = None
        self.keras_model = None
        self.input_spec: InputSpec | None = None
        self.output_spec: OutputSpec | None = None
        self.output_names: list[str] = []
        self._fn = None
        self._batcher: MicroBatcher | None = None

    # KServe pickles the model into each worker process when --workers > 1: send the settings,
    # not the TensorFlow graph. The worker loads it again (RESTServerWithLimits.create_application
    # calls load()), not while unpickling: KServe restarts a worker that does not answer its
    # pings within 5 s, and these only start after unpickling.
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for key in ("keras_model", "_fn", "_batcher"):
            state[key] = None
        state["ready"] = False
        return state

    def load(self) -> bool:
        """Load the model, compile its serving function, run one warm-up batch.

        Returns:
            True (``self.ready``).

        Raises:
            ModelLoadError: the file is missing or the model has an unsupported signature.
        """
        if not self.model_path.is_file():
            raise ModelLoadError(
                f"No model file at {self.model_path}. Export one with model.save('...keras') "
                "(lesson 09 writes build/models/sentiment_lstm.keras) and pass its path."
            )
        import keras
        import tensorflow as tf

        import labkit.text  # noqa: F401  (registers labkit>standardize_review)

        try:
            model = keras.saving.load_model(self.model_path, compile=False)
        except Exception as error:
            raise ModelLoadError(
                f"Keras could not load {self.model_path}: {type(error).__name__}: {error}. "
                "If the model uses a custom function, import the module that registers it."
            ) from error
        inputs = getattr(model, "inputs", None) or []
        if len(inputs) != 1:
            raise ModelLoadError(
                f"{self.model_path} has {len(inputs)} inputs; labkit.serving serves models "
                "with exactly one input (build them with keras.Input(...))."
            )
        tensor = inputs[0]
        dtype = "string" if "string" in str(tensor.dtype) else str(tensor.dtype)
        name = getattr(tensor, "name", None) or "input"
        self.input_spec = InputSpec(name=name, dtype=dtype, shape=tuple(tensor.shape[1:]))
        self.output_names = list(getattr(model, "output_names", None) or ["output"])
        self.output_spec = self._output_spec(model)
        signature = tf.TensorSpec(
            shape=(None, *tensor.shape[1:]), dtype=tf.string if dtype == "string" else dtype
        )

        @tf.function(input_signature=[signature])
        def serve(x):
            return model(x, training=False)

        def call(batch: np.ndarray) -> dict[str, np.ndarray]:
            return self._named(serve(tf.constant(batch, dtype=signature.dtype)))

        # three instances: traces the graph, and tests XLA's padding to a batch of 4
        warmup_shape = (3, *(1 if d is None else d for d in tensor.shape[1:]))
        if dtype != "string":
            warmup = np.zeros(warmup_shape, dtype=dtype)
        elif warmup_shape == (3, 1):
            warmup = np.array([["warm up"], ["a great film"], ["dull"]], dtype=object)
        else:
            warmup = np.full(warmup_shape, "warm up", dtype=object)
        outputs = call(warmup)
        if len(outputs) > 1 and self.output_spec.kind != "raw":
            self.output_spec = OutputSpec("raw")
        self.output_names = list(outputs)
        self.xla, self.xla_batch_sizes = None, None
        if self.jit:
            call, self.xla = self._with_xla(model, call, warmup, outputs)
        self.keras_model = model
        self._fn = call
        self._batcher = MicroBatcher(
            call,
            max_batch_size=self.max_batch_size,
            max_wait_ms=self.max_wait_ms,
            allowed_batch_sizes=self.xla_batch_sizes,
            name=self.name,
        )
        self.ready = True
        return self.ready

    def _named(self, out) -> dict[str, np.ndarray]:
        """The model's output(s) as ``{output name: NumPy array}``."""
        if isinstance(out, dict):
            return {key: value.numpy() for key, value in out.items()}
        if isinstance(out, list | tuple):
            return {key: value.numpy() for key, value in zip(self.output_names, out, strict=True)}
        return {self.output_names[0]: out.numpy()}

    def _with_xla(self, model, call, warmup: np.ndarray, expected: dict) -> tuple[Callable, str]:
        """Wrap ``call`` so batches up to ``max_batch_size`` run XLA-compiled code.

        XLA (``tf.function(jit_compile=True)``) fuses the many small operations of a recurrent
        network's time steps: an LSTM answers one review about 5x faster on a CPU. XLA cannot
        compile string operations, so a text model is split after the layer that turns the
        strings into numbers (TextVectorization): that layer runs as a plain graph, the rest
        under XLA. XLA compiles once per input shape, so batches are padded up to a power of two
        (1, 2, 4, ... max_batch_size), all compiled here. If the model does not fit this pattern,
        XLA fails, or its answers differ from the plain graph's by more than 1e-5, serving stays
        on the plain graph.

        Returns:
            (the call to use, a one-line description for the log).
        """
        import tensorflow as tf

        try:
            pre, core, shape, dtype = split_for_xla(model, self.input_spec)
        except NoXLA as reason:
            return call, f"off ({reason})"
        core_fn = tf.function(lambda x: core(x, training=False), jit_compile=True)
        pre_fn = (
            tf.function(lambda x: pre(x), input_signature=[tf.TensorSpec((None, 1), tf.string)])
            if pre is not None
            else None
        )
        buckets = sorted({2**k for k in range(12) if 2**k < self.max_batch_size})
        buckets.append(self.max_batch_size)
        spec_dtype = tf.string if self.input_spec.is_string else self.input_spec.dtype

        def xla_call(batch: np.ndarray) -> dict[str, np.ndarray]:
            n = len(batch)
            if n > self.max_batch_size:  # not from the MicroBatcher: no compiled shape for it
                return call(batch)
            x = tf.constant(batch, dtype=spec_dtype)
            if pre_fn is not None:
                x = pre_fn(x)
            size = next(b for b in buckets if b >= n)
            if size > n:
                x = tf.concat([x, tf.zeros((size - n, *shape), dtype=x.dtype)], axis=0)
            return {key: value[:n] for key, value in self._named(core_fn(x)).items()}

        try:
            for size in buckets:  # compile every shape now, not during the first requests
                core_fn(tf.zeros((size, *shape), dtype=dtype))
            got = xla_call(warmup)
        except Exception as error:  # noqa: BLE001 - any XLA failure: serve without it
            return call, f"off (XLA failed: {type(error).__name__}: {str(error)[:200]})"
        for key, value in expected.items():
            close = np.allclose(got[key], value, atol=1e-5, equal_nan=True)
            if got[key].shape != value.shape or not close:
                return call, "off (XLA answers differ from the plain graph's)"
        where = "after the text layer" if pre is not None else "whole model"
        self.xla_batch_sizes = buckets
        return xla_call, f"on ({where}; batch sizes {buckets})"

    def _output_spec(self, model) -> OutputSpec:
        outputs = getattr(model, "outputs", None) or []
        kind, width = "raw", None
        if len(outputs) == 1:
            width = outputs[0].shape[-1] if len(outputs[0].shape) == 2 else None
            history = getattr(outputs[0], "_keras_history", None)
            layer = history[0] if history else model.layers[-1]
            activation = getattr(getattr(layer, "activation", None), "__name__", "")
            if activation == "sigmoid" and width == 1:
                kind = "sigmoid"
            elif activation == "softmax" and width and width >= 2:
                kind = "softmax"
        if self.output != "auto":
            if self.output not in ("sigmoid", "softmax", "raw"):
                raise ModelLoadError(
                    f"output must be auto, sigmoid, softmax or raw, not {self.output!r}"
                )
            if self.output != "raw" and (len(outputs) != 1 or width is None):
                raise ModelLoadError(
                    f"output={self.output!r} needs one output of shape (N, classes); "
                    f"this model's outputs: {[tuple(o.shape) for o in outputs]}."
                )
            kind = self.output
        if kind == "raw":
            return OutputSpec("raw")
        n_labels = 2 if kind == "sigmoid" else width
        labels = self.labels or (
            ("negative", "positive") if kind == "sigmoid" else tuple(str(i) for i in range(width))
        )
        if len(labels) != n_labels:
            raise ModelLoadError(
                f"{len(labels)} labels {list(labels)} given, but the model's {kind} output has "
                f"{n_labels} classes: pass --labels with {n_labels} comma-separated names."
            )
        return OutputSpec(kind, tuple(labels), self.threshold)

    # --- KServe hooks -------------------------------------------------------------------------

    async def preprocess(self, payload: Any, headers: dict[str, str] | None = None) -> _Request:
        """Decode a v1 body (dict or raw bytes) or a v2 ``InferRequest`` into a checked batch.

        Raises:
            InvalidRequest: (HTTP 400, or 413 for more than ``max_instances`` instances) with
                what was wrong with the request.
        """
        try:
            if isinstance(payload, InferRequest):
                return _Request(self._v2_batch(payload), payload)
            instances = parse_v1_body(payload)
            check_instance_count(len(instances), self.max_instances)  # before decoding them
            return _Request(instances_to_array(instances, self.input_spec))
        except BadRequest as error:
            raise InvalidRequest(error) from None

    def _v2_batch(self, request: InferRequest) -> np.ndarray:
        if len(request.inputs) != 1:
            raise BadRequest(
                f"The request has {len(request.inputs)} inputs; this model takes one "
                f"({self.input_spec.describe()})."
            )
        tensor = request.inputs[0]
        if tensor.datatype not in V2_DATATYPES:
            raise BadRequest(
                f"Input {tensor.name!r} has datatype {tensor.datatype!r}; the Open Inference "
                f"Protocol's are {', '.join(V2_DATATYPES)}."
            )
        data = getattr(tensor, "_data", None)  # JSON data; None for the binary extension
        count = (
            len(data)
            if isinstance(data, list) and not any(isinstance(item, list) for item in data)
            else None
        )
        check_v2_shape(tensor.shape, count, self.max_instances)
        try:
            array = tensor.as_numpy()
        except (ValueError, TypeError) as error:
            raise BadRequest(
                f"Input {tensor.name!r}: its data does not fit shape {tensor.shape} and "
                f"datatype {tensor.datatype} ({error})."
            ) from None
        except InvalidInput as error:
            raise BadRequest(str(error)) from None
        return check_v2_array(np.asarray(array), tensor.datatype, self.input_spec)

    async def predict(self, payload: _Request, headers: dict[str, str] | None = None) -> _Result:
        """Run the batch through the model (joined with concurrent requests)."""
        try:
            outputs = await self._batcher(payload.batch)
        except Exception as error:
            error_id = new_error_id()
            log.error(
                "error %s: the model failed on a batch of shape %s",
                error_id,
                payload.batch.shape,
                exc_info=error,
            )
            raise ModelFailed(error_id) from None
        return _Result(payload, outputs)

    async def postprocess(
        self, result: _Result, headers: dict[str, str] | None = None, response_headers=None
    ) -> dict | InferResponse:
        """v1: ``{"predictions": [...]}`` (see :func:`labkit.serving.protocol.predictions`);
        v2: an ``InferResponse`` with the output tensor(s) and, for classifiers, ``label``."""
        outputs = result.outputs
        spec = self.output_spec
        if result.request.v2 is None:
            if len(outputs) == 1:
                return {"predictions": predictions(next(iter(outputs.values())), spec)}
            n = len(result.request.batch)
            return {
                "predictions": [
                    {key: value[i].tolist() for key, value in outputs.items()} for i in range(n)
                ]
            }
        request = result.request.v2
        infer_outputs = []
        for key, value in outputs.items():
            value = np.ascontiguousarray(value)
            infer_output = InferOutput(key, list(value.shape), from_np_dtype(value.dtype))
            infer_output.set_data_from_numpy(value, binary_data=False)
            infer_outputs.append(infer_output)
        if spec.kind != "raw":
            labels = [p["label"] for p in predictions(next(iter(outputs.values())), spec)]
            infer_output = InferOutput("label", [len(labels)], "BYTES")
            infer_output.set_data_from_numpy(np.array(labels, dtype=object), binary_data=False)
            infer_outputs.append(infer_output)
        return InferResponse(
            response_id=request.id or str(uuid.uuid4()),
            model_name=self.name,
            infer_outputs=infer_outputs,
            requested_outputs=request.request_outputs,
            use_binary_outputs=request.use_binary_outputs,
        )

    def get_input_types(self) -> list[dict]:
        """Open Inference Protocol metadata of the input (``-1`` = any size)."""
        spec = self.input_spec
        shape = [-1, *(-1 if d is None else d for d in spec.shape)]
        return [{"name": spec.name, "datatype": spec.v2_datatype, "shape": shape}]

    def get_output_types(self) -> list[dict]:
        """Open Inference Protocol metadata of the outputs."""
        types = []
        for key in self.output_names:
            shape = (
                [-1, 1]
                if self.output_spec.kind == "sigmoid"
                else [-1, len(self.output_spec.labels)]
                if self.output_spec.kind == "softmax"
                else [-1]
            )
            types.append({"name": key, "datatype": "FP32", "shape": shape})
        if self.output_spec.kind != "raw":
            types.append({"name": "label", "datatype": "BYTES", "shape": [-1]})
        return types

    def stop(self) -> None:
        if self._batcher is not None:
            self._batcher.close()
        super().stop()
