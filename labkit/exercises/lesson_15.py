"""Checks for the exercises of lesson 15 · Monitoring, drift and the edge.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from labkit.exercises import (
    Fail,
    _context,
    _mapping,
    _need,
    _number,
    _register,
)
from labkit.exercises._shared import _validation


def _psi(reference_values: Any, live_values: Any, bins: int = 10) -> float:
    edges = np.unique(np.quantile(reference_values, np.linspace(0, 1, bins + 1)[1:-1]))

    def shares(values: Any) -> np.ndarray:
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        return np.clip(counts / len(values), 1e-4, None)

    expected, actual = shares(reference_values), shares(live_values)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


@_register(
    "15.1",
    "A subtle shift",
    expects='a dict {"psi_words": float, "psi_unknown_share": float, "fires": bool} for your '
    "30%-headline window; pass reference= and live= (the text_features of the reference and "
    "of your window)",
    verifies="your window has about 30% headline-only reviews, both PSIs match the lesson's "
    "psi() and the trigger decision follows from them",
    hint="the window is WINDOW_SIZE reviews of the replay that the headline-only app shortened "
    "with probability 0.3; its features come from the same function as the reference's, each "
    "PSI from the lesson's psi(), and the trigger decides as in section 2 (pass psi_threshold= "
    "if you changed it).",
)
def _check_15_1(answer: Any, **context: Any) -> str:
    answer = _mapping(answer, ("psi_words", "psi_unknown_share", "fires"), "the drift results")
    reference, live = _context(context, "reference", "live")
    threshold = float(context.get("psi_threshold", 0.25))
    for name, frame in (("reference", reference), ("live", live)):
        _need(
            all(col in getattr(frame, "columns", ()) for col in ("words", "unknown_share")),
            f"{name}= must be a text_features(...) DataFrame (columns words, unknown_share).",
        )
    words = np.asarray(live["words"], dtype=float)
    _need(
        len(words) >= 100,
        f"the window has {len(words)} reviews; use WINDOW_SIZE of them.",
    )
    short = float(np.mean(words <= 8))
    _need(
        0.2 <= short <= 0.4,
        f"{short:.0%} of your window is headline-only, not about 30%.",
    )
    fires = answer["fires"]
    _need(isinstance(fires, (bool, np.bool_)), "fires must be True or False.")
    psis = {}
    for feature in ("words", "unknown_share"):
        value = _number(answer[f"psi_{feature}"], f"psi_{feature}")
        psis[feature] = _psi(np.asarray(reference[feature]), np.asarray(live[feature]))
        _need(
            math.isclose(value, psis[feature], rel_tol=1e-3, abs_tol=1e-4),
            f"psi_{feature} does not match psi(reference, live) for that feature.",
        )
    _need(
        bool(fires) == (max(psis.values()) > threshold),
        "fires does not follow from your PSIs and the threshold.",
    )
    return f"PSI words {psis['words']:.3f}, unknown share {psis['unknown_share']:.3f}"


def _tflite_interpreter(model_bytes: bytes) -> Any:
    import warnings

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Interpreter(model_content=model_bytes)


@_register(
    "15.2",
    "Full-integer quantization",
    expects="bytes: the TFLite flatbuffer of the full-integer model; pass x_val= and y_val=",
    verifies="every tensor inside the model (weights and activations) is integer, and it "
    "predicts the validation rows far better than the mean; its validation RMSE is shown",
    hint="full-integer quantization needs three settings of the converter: the default "
    "optimizations, a representative data set (a generator over rows the model really sees) "
    "and integer-only built-in ops (tf.lite.OpsSet); the answer is the bytes convert() "
    "returns. See the TFLite post-training quantization guide.",
)
def _check_15_2(answer: Any, **context: Any) -> str:
    if not isinstance(answer, (bytes, bytearray)):
        raise Fail(
            f"expected the flatbuffer (bytes from converter.convert()), got "
            f"{type(answer).__name__}."
        )
    x, y = _validation(context)
    try:
        interpreter = _tflite_interpreter(bytes(answer))
    except ValueError:
        raise Fail("the bytes are not a TFLite flatbuffer.") from None
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    io = {inp["index"], out["index"]}
    floats = [
        t["name"]
        for t in interpreter.get_tensor_details()
        if t["index"] not in io and np.dtype(t["dtype"]) == np.float32
    ]
    if floats:
        raise Fail(
            f"{len(floats)} tensors inside the model are still float32 (e.g. "
            f"{floats[0][:60]!r}): the activations are not quantized to integers yet "
            "(dynamic-range "
            "quantization, for one, keeps them float)."
        )
    interpreter.resize_tensor_input(inp["index"], [len(x), x.shape[1]])
    interpreter.allocate_tensors()
    if np.dtype(inp["dtype"]) != np.float32:  # integer input: quantize with its scale
        scale, zero = inp["quantization"]
        x = np.clip(np.round(x / scale + zero), -128, 127).astype(inp["dtype"])
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    prediction = interpreter.get_tensor(out["index"]).astype(np.float64)
    if np.dtype(out["dtype"]) != np.float32:
        scale, zero = out["quantization"]
        prediction = (prediction - zero) * scale
    prediction = prediction.ravel()
    _need(
        prediction.shape == y.shape,
        "the model must predict one value per row of x_val.",
    )
    rmse = float(np.sqrt(np.mean((prediction - y) ** 2)))
    _need(
        rmse < 0.8 * float(np.std(y)),
        "the int8 model predicts hardly better than the mean: is the representative data the "
        "standardized training rows the model was trained on?",
    )
    if float(np.mean(y)) < 100:  # the label in $100,000
        return f"validation RMSE ${rmse * 1e5:,.0f}"
    return f"validation RMSE {rmse:.4g}"
