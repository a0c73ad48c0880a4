"""Request parsing and response shaping for ``labkit.serving``, free of KServe and TensorFlow.

Everything here works on plain Python and NumPy values, so it is cheap to import and to test.
:mod:`labkit.serving.model` calls it from KServe's ``preprocess`` and ``postprocess`` hooks and
turns :class:`BadRequest` into KServe's ``InvalidInput`` (HTTP 400).

Formats (sources):

* REST v1 is TensorFlow Serving's "row" format: ``{"instances": [instance, ...]}`` in,
  ``{"predictions": [prediction, ...]}`` out; a binary string may be sent as ``{"b64": "..."}``
  (https://www.tensorflow.org/tfx/serving/api_rest, "Request format" and "Encoding binary
  values"). KServe serves it at ``/v1/models/<name>:predict``.
* REST v2 is the Open Inference Protocol: ``{"inputs": [{"name", "shape", "datatype", "data"}]}``
  with ``datatype`` ``BYTES`` for strings and ``FP32``, ``INT64`` ... for numbers
  (https://github.com/kserve/open-inference-protocol, "HTTP/REST").
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from labkit.serving.limits import (
    DEFAULT_MAX_INSTANCES,
    DEFAULT_MAX_PAYLOAD_BYTES,
    MAX_V2_DIMENSIONS,
)

__all__ = [
    "BadRequest",
    "RequestTooLarge",
    "DEFAULT_MAX_INSTANCES",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "check_instance_count",
    "check_v2_shape",
    "InputSpec",
    "OutputSpec",
    "parse_v1_body",
    "instances_to_array",
    "check_v2_array",
    "predictions",
    "V2_DATATYPES",
]

V2_DATATYPES = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}
"""Open Inference Protocol tensor datatypes and the NumPy dtypes they decode to."""

_EXAMPLE_STRING = '{"instances": ["a first review", "a second review"]}'


class BadRequest(ValueError):
    """A request the model cannot answer; the message says what was wrong and what to send.

    ``status`` is the HTTP status it is answered with (400 Bad Request).
    """

    status = 400


class RequestTooLarge(BadRequest):
    """A request with more instances than the server takes (HTTP 413 Content Too Large,
    RFC 9110 section 15.5.14); the message names the limit."""

    status = 413


def check_instance_count(count: int, max_instances: int) -> None:
    """Refuse a request of more than ``max_instances`` instances.

    Raises:
        RequestTooLarge: ``count > max_instances``; the message names the limit and what to do.
    """
    if count > max_instances:
        raise RequestTooLarge(
            f"The request has {count:,} instances; this server takes at most "
            f"{max_instances:,} per request. Split them over several requests (or start the "
            "server with a larger --max-instances)."
        )


def check_v2_shape(shape: Any, element_count: int | None, max_instances: int) -> tuple[int, ...]:
    """Check an Open Inference Protocol tensor shape before its data is reshaped to it.

    Every dimension must be a non-negative integer (the protocol has no ``-1`` in requests: that
    means "any size" only in model metadata), there are at most :data:`MAX_V2_DIMENSIONS`, the
    first (the instances) is at most ``max_instances``, and the product of the dimensions is the
    number of data elements sent.

    Args:
        shape: the input's ``shape`` as sent (a list of integers).
        element_count: how many elements its ``data`` holds (None: not known before decoding,
            e.g. binary data; NumPy's reshape then checks it).
        max_instances: see :func:`check_instance_count`.

    Returns:
        The shape as a tuple of ints.

    Raises:
        BadRequest: a dimension that is negative or not an integer, too many dimensions, or a
            shape that does not fit the data.
        RequestTooLarge: more than ``max_instances`` instances.
    """
    if not isinstance(shape, list | tuple) or not shape:
        raise BadRequest(
            f"The input's shape must be a non-empty list of sizes, e.g. [2] for two reviews; "
            f"got {shape!r:.100}."
        )
    if len(shape) > MAX_V2_DIMENSIONS:
        raise BadRequest(
            f"The input's shape has {len(shape)} dimensions; at most {MAX_V2_DIMENSIONS} are "
            "accepted."
        )
    for i, size in enumerate(shape):
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise BadRequest(
                f"Dimension {i} of the input's shape is {size!r:.40}: every dimension must be "
                "a size, an integer >= 0 (-1 means 'any size' only in the model's metadata, "
                "GET /v2/models/<name>)."
            )
    check_instance_count(shape[0], max_instances)
    total = math.prod(shape)
    if element_count is not None and total != element_count:
        raise BadRequest(
            f"The input's shape {list(shape)} holds {total:,} elements, but its data has "
            f"{element_count:,}: send as many elements as the shape says."
        )
    return tuple(shape)


@dataclass(frozen=True)
class InputSpec:
    """The one input tensor of a served model.

    Attributes:
        name: the Keras input's name (e.g. ``"review"``).
        dtype: ``"string"`` or a NumPy dtype name such as ``"float32"``.
        shape: the shape of ONE instance, without the batch axis; ``None`` for a free size,
            e.g. ``(1,)`` for one review per row, ``(28, 28)`` for an MNIST image.
    """

    name: str
    dtype: str
    shape: tuple[int | None, ...]

    @property
    def is_string(self) -> bool:
        return self.dtype == "string"

    @property
    def v2_datatype(self) -> str:
        """The Open Inference Protocol datatype of this input (``BYTES`` for strings)."""
        if self.is_string:
            return "BYTES"
        for name, dtype in V2_DATATYPES.items():
            if name != "BYTES" and np.dtype(dtype) == np.dtype(self.dtype):
                return name
        return "FP32"

    def describe(self) -> str:
        shape = ", ".join("any" if d is None else str(d) for d in self.shape)
        return f"input {self.name!r}: dtype {self.dtype}, shape per instance ({shape})"


@dataclass(frozen=True)
class OutputSpec:
    """How predictions are reported.

    Attributes:
        kind: ``"sigmoid"`` (one probability per instance: binary classifier), ``"softmax"``
            (one probability per class), or ``"raw"`` (the output tensor as is).
        labels: class names, index order: for ``"sigmoid"`` ``labels[0]`` is the class of
            probability 0 (e.g. ``("negative", "positive")``).
        threshold: for ``"sigmoid"``: the label is ``labels[1]`` when p >= threshold.
    """

    kind: str
    labels: tuple[str, ...] = ()
    threshold: float = 0.5


def parse_v1_body(body: Any) -> list:
    """Return the ``instances`` list of a TensorFlow Serving REST request.

    Args:
        body: the decoded JSON (a dict), or the raw body (``bytes``/``str``) when the client sent
            a content type other than JSON (KServe passes such bodies through undecoded).

    Raises:
        BadRequest: the body is not UTF-8 JSON, not an object, has no ``instances`` list, or the
            list is empty.
    """
    if isinstance(body, bytes | bytearray | str):
        import orjson

        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise BadRequest(
                f"The request body is not valid UTF-8 JSON ({error}). "
                f"Send a JSON object such as {_EXAMPLE_STRING}."
            ) from None
    if not isinstance(body, dict):
        raise BadRequest(
            f"The request body must be a JSON object with an 'instances' list "
            f"(TensorFlow Serving's REST format), e.g. {_EXAMPLE_STRING}; got a JSON "
            f"{type(body).__name__}."
        )
    if "instances" not in body:
        hint = (
            " ('inputs' is the columnar format, which this server does not take: send rows as "
            "'instances')"
            if "inputs" in body
            else ""
        )
        raise BadRequest(
            f"The request has no 'instances' key{hint}. Send {_EXAMPLE_STRING}; "
            f"got keys {sorted(body)}."
        )
    instances = body["instances"]
    if not isinstance(instances, list):
        raise BadRequest(
            f"'instances' must be a JSON list (one entry per example), got a JSON "
            f"{type(instances).__name__}: e.g. {_EXAMPLE_STRING}."
        )
    if not instances:
        raise BadRequest("'instances' is empty: send at least one instance.")
    return instances


def _decode_string(value: Any, where: str, spec: InputSpec) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            raw = base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"{where}: 'b64' is not valid base64.") from None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise BadRequest(
                f"{where}: the base64 value decodes to bytes that are not UTF-8 text "
                f"({error.reason} at byte {error.start}); this model reads text."
            ) from None
    kind = "a number" if isinstance(value, int | float) and not isinstance(value, bool) else None
    kind = kind or ("null" if value is None else f"a JSON {_json_type(value)}")
    raise BadRequest(
        f"{where} is {kind}, but the model takes text: {spec.describe()}. "
        f"Send strings, e.g. {_EXAMPLE_STRING}."
    )


def _json_type(value: Any) -> str:
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "list",
        dict: "object",
    }.get(type(value), type(value).__name__)


def _string_instance(value: Any, where: str, spec: InputSpec, shape: tuple) -> Any:
    """Validate one (nested) string instance against ``shape``; return it with str leaves."""
    if not shape:
        return _decode_string(value, where, spec)
    if not isinstance(value, list):
        if shape == (1,) and not isinstance(value, list):
            return [_decode_string(value, where, spec)]
        raise BadRequest(
            f"{where} should be a list of {shape[0] or 'any number of'} entries "
            f"({spec.describe()}), got a JSON {_json_type(value)}."
        )
    if shape[0] is not None and len(value) != shape[0]:
        raise BadRequest(
            f"{where} has {len(value)} entries where the model expects {shape[0]} "
            f"({spec.describe()})."
        )
    return [_string_instance(v, f"{where}[{i}]", spec, shape[1:]) for i, v in enumerate(value)]


def instances_to_array(instances: Sequence[Any], spec: InputSpec) -> np.ndarray:
    """Turn REST v1 ``instances`` into the model's input batch.

    A string model (``spec.dtype == "string"``) with per-instance shape ``(1,)`` accepts
    ``"text"``, ``["text"]``, ``{"b64": "..."}`` or ``{"<input name>": "text"}`` per instance.
    A numeric model accepts nested lists of numbers of the instance shape (a bare number when the
    shape is ``(1,)`` or ``()``).

    Args:
        instances: the ``instances`` list (non-empty).
        spec: the model's input.

    Returns:
        An array of shape ``(len(instances), *spec.shape)``: ``object`` dtype holding ``str`` for
        a string model, ``spec.dtype`` otherwise.

    Raises:
        BadRequest: an instance has the wrong type (e.g. a number for a text model), the wrong
            shape (e.g. a nested list), is not finite, or is not valid base64/UTF-8.
    """
    instances = [
        inst[spec.name] if isinstance(inst, dict) and set(inst) == {spec.name} else inst
        for inst in instances
    ]
    if spec.is_string:
        rows = [
            _string_instance(inst, f"instance {i}", spec, spec.shape)
            for i, inst in enumerate(instances)
        ]
        if not spec.shape:
            array = np.empty(len(rows), dtype=object)
            array[:] = rows
            return array
        try:
            array = np.array(rows, dtype=object)
        except ValueError:
            array = np.empty(len(rows), dtype=object)  # ragged: reported by check_shape
        return check_shape(array, spec)
    for i, inst in enumerate(instances):
        _check_numeric(inst, f"instance {i}", spec, len(spec.shape))
    try:
        array = np.asarray(instances, dtype=spec.dtype)
    except (ValueError, TypeError, OverflowError) as error:
        raise BadRequest(
            f"The instances are not a regular array of numbers ({error}); {spec.describe()}."
        ) from None
    if spec.shape == (1,) and array.ndim == 1:
        array = array[:, None]
    return check_shape(array, spec)


def _check_numeric(value: Any, where: str, spec: InputSpec, depth: int) -> None:
    """Check one instance's numbers; ``depth``: how many list levels may still follow (the
    model's rank bounds the recursion, however deep a hostile request nests its lists)."""
    if isinstance(value, list):
        if depth <= 0:
            raise BadRequest(
                f"{where} is a list nested deeper than the model's input ({spec.describe()})."
            )
        for j, item in enumerate(value):
            _check_numeric(item, f"{where}[{j}]", spec, depth - 1)
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(
            f"{where} is a JSON {_json_type(value)}, but the model takes numbers: "
            f"{spec.describe()}."
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise BadRequest(f"{where} is not a finite number.")


def check_shape(array: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Check a batch's shape against the per-instance shape; return the batch.

    Raises:
        BadRequest: wrong number of dimensions or a fixed dimension of the wrong size.
    """
    expected = (None, *spec.shape)
    ok = array.ndim == len(expected) and all(
        d is None or d == n for d, n in zip(expected, array.shape, strict=True)
    )
    if not ok:
        want = ", ".join(
            "N" if i == 0 else ("any" if d is None else str(d)) for i, d in enumerate(expected)
        )
        raise BadRequest(
            f"The input has shape {tuple(array.shape)}, but the model takes ({want}) "
            f"({spec.describe()}; N = number of instances)."
        )
    if array.shape[0] == 0:
        raise BadRequest("The input holds no instances: send at least one.")
    return array


def check_v2_array(array: np.ndarray, datatype: str, spec: InputSpec) -> np.ndarray:
    """Validate an Open Inference Protocol input tensor and convert it to the model's batch.

    Args:
        array: the decoded tensor (``object`` dtype of ``bytes``/``str`` for ``BYTES``).
        datatype: its declared datatype (``"BYTES"``, ``"FP32"`` ...).
        spec: the model's input. A string model with shape ``(1,)`` also accepts shape ``[N]``.

    Returns:
        The batch: ``object`` array of ``str`` for a string model, ``spec.dtype`` otherwise.

    Raises:
        BadRequest: wrong datatype, wrong shape, or bytes that are not UTF-8.
    """
    if spec.is_string and datatype != "BYTES":
        raise BadRequest(
            f"The input has datatype {datatype}, but the model takes text: send datatype "
            f'"BYTES" with strings as data ({spec.describe()}).'
        )
    if not spec.is_string and datatype == "BYTES":
        raise BadRequest(
            f"The input has datatype BYTES, but the model takes numbers ({spec.describe()}): "
            f'send e.g. "datatype": "{spec.v2_datatype}".'
        )
    if spec.shape == (1,) and array.ndim == 1:
        array = array[:, None]
    array = check_shape(array, spec)
    if spec.is_string:
        out = np.empty(array.shape, dtype=object)
        for index, value in np.ndenumerate(array):
            if isinstance(value, bytes):
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise BadRequest(
                        f"Element {index} of the input is not UTF-8 text ({error.reason})."
                    ) from None
            elif not isinstance(value, str):
                raise BadRequest(
                    f"Element {index} of the BYTES input is a {type(value).__name__}, not a string."
                )
            out[index] = value
        return out
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        raise BadRequest("The input holds NaN or infinite values.")
    return array.astype(spec.dtype, copy=False)


_NO_PREDICTION = {"label": None, "probability": None, "probabilities": None}


def predictions(outputs: np.ndarray, spec: OutputSpec) -> list:
    """Shape one batch of model outputs into REST v1 ``predictions``.

    Args:
        outputs: the model's output for N instances, shape ``(N, ...)``.
        spec: how to report them.

    Returns:
        One entry per instance. ``"sigmoid"``: ``{"label": "positive", "probability": 0.93,
        "probabilities": {"negative": 0.07, "positive": 0.93}}``, ``probability`` being that of
        the returned label; ``"softmax"``: the same with the arg-max class; ``"raw"``: the output
        row as (nested) lists of numbers, as TensorFlow Serving returns it. A classifier
        output that is NaN (e.g. a masked average over a text with no known word) gives
        ``{"label": None, "probability": None, "probabilities": None}``.
    """
    outputs = np.asarray(outputs)
    if spec.kind == "sigmoid":
        low, high = spec.labels
        result = []
        for p in outputs.reshape(len(outputs), -1)[:, 0].astype(float):
            if not math.isfinite(p):
                result.append(_NO_PREDICTION)
                continue
            label = high if p >= spec.threshold else low
            result.append(
                {
                    "label": label,
                    "probability": p if label == high else 1.0 - p,
                    "probabilities": {low: 1.0 - p, high: p},
                }
            )
        return result
    if spec.kind == "softmax":
        probs = outputs.reshape(len(outputs), -1).astype(float)
        best = probs.argmax(axis=1)
        return [
            {
                "label": spec.labels[k],
                "probability": float(row[k]),
                "probabilities": dict(zip(spec.labels, row.tolist(), strict=True)),
            }
            if np.isfinite(row).all()
            else _NO_PREDICTION
            for k, row in zip(best, probs, strict=True)
        ]
    return outputs.tolist()
