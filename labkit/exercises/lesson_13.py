"""Checks for the exercises of lesson 13 · The machine-learning lifecycle.

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
from labkit.exercises._shared import _letters


def _psi(reference_values: Any, live_values: Any, bins: int = 10) -> float:
    edges = np.unique(np.quantile(reference_values, np.linspace(0, 1, bins + 1)[1:-1]))

    def shares(values: Any) -> np.ndarray:
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        return np.clip(counts / len(values), 1e-4, None)

    expected, actual = shares(reference_values), shares(live_values)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


@_register(
    "13.1",
    "A subtle shift",
    expects='a dict {"psi_words": float, "psi_unknown_share": float, "fires": bool} for your '
    "30%-headline window; pass reference= and live= (the text_features of the reference and "
    "of your window)",
    verifies="your window has about 30% headline-only reviews, both PSIs match the lesson's "
    "psi() and the trigger decision follows from them",
    hint="build the window from the next WINDOW_SIZE reviews of the replay order, shorten each "
    "with probability 0.3 (headline_only), compute live = text_features(window) and "
    "psi(reference[f], live[f]) for both features; the trigger fires if either exceeds "
    "PSI_THRESHOLD (pass psi_threshold= if you changed it).",
)
def _check_13_1(answer: Any, **context: Any) -> str:
    answer = _mapping(answer, ("psi_words", "psi_unknown_share", "fires"), "the drift results")
    reference, live = _context(context, "reference", "live")
    threshold = float(context.get("psi_threshold", 0.25))
    for name, frame in (("reference", reference), ("live", live)):
        _need(
            all(col in getattr(frame, "columns", ()) for col in ("words", "unknown_share")),
            f"{name}= must be a text_features(...) DataFrame (columns words, unknown_share).",
        )
    words = np.asarray(live["words"], dtype=float)
    _need(len(words) >= 100, f"the window has {len(words)} reviews; use WINDOW_SIZE of them.")
    short = float(np.mean(words <= 8))
    _need(0.2 <= short <= 0.4, f"{short:.0%} of your window is headline-only, not about 30%.")
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


@_register(
    "13.2",
    "Spot the leak",
    expects='a set of letters, e.g. {"a", "c"}',
    verifies="exactly the leaky steps are in your set",
    hint="a step leaks if a statistic or a decision depends on data that should be unseen at "
    "that point; removing test copies of training reviews takes information away.",
)
def _check_13_2(answer: Any, **context: Any) -> None:
    if not isinstance(answer, (set, frozenset, list, tuple, str)):
        raise Fail(f'expected a set of letters such as {{"a", "c"}}, got {type(answer).__name__}.')
    letters = _letters(answer, "abcde", "a set of letters")
    leaky = {"a", "d", "e"}
    _need(
        not letters - leaky, "at least one of your steps uses only training data or removes a leak."
    )
    _need(letters == leaky, f"{len(letters)} correct so far, but one or more leaks are missing.")


@_register(
    "13.3",
    "Hyperband",
    expects="a keras_tuner.Hyperband tuner after its search()",
    verifies="your tuner is a Hyperband search with factor 3 that minimizes val_rmse and has "
    "completed trials",
    hint="keras_tuner.Hyperband(build_model, objective=keras_tuner.Objective('val_rmse', "
    "direction='min'), max_epochs=..., factor=3, seed=42, directory=..., overwrite=True), then "
    "tuner.search(...) as for the random search.",
)
def _check_13_3(answer: Any, **context: Any) -> str:
    import keras_tuner

    if not isinstance(answer, keras_tuner.Tuner):
        raise Fail(f"expected a keras_tuner tuner, got {type(answer).__name__}.")
    oracle = answer.oracle
    _need(
        isinstance(oracle, keras_tuner.oracles.HyperbandOracle),
        f"the tuner's search is {type(oracle).__name__}, not Hyperband.",
    )
    _need(oracle.factor == 3, f"the reduction factor is {oracle.factor}, not 3.")
    objective = oracle.objective
    _need(
        getattr(objective, "name", None) == "val_rmse" and objective.direction == "min",
        "the objective must be the validation RMSE, minimized.",
    )
    completed = [t for t in oracle.trials.values() if t.status == "COMPLETED"]
    _need(bool(completed), "no trial has completed: run tuner.search(...) first.")
    best = min(t.score for t in completed if t.score is not None)
    return f"{len(completed)} trials, best val_rmse {best:.4f}"


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
    "13.4",
    "Full-integer quantization",
    expects="bytes: the TFLite flatbuffer of the full-integer model; pass x_test= and y_test=",
    verifies="every tensor inside the model (weights and activations) is integer, and it "
    "predicts the test set far better than the mean; its test RMSE is shown",
    hint="converter.optimizations = [tf.lite.Optimize.DEFAULT], a representative_dataset "
    "generator that yields [x_train[i : i + 1]] for a few hundred rows, and "
    "converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]; the answer "
    "is what converter.convert() returns.",
)
def _check_13_4(answer: Any, **context: Any) -> str:
    if not isinstance(answer, (bytes, bytearray)):
        raise Fail(
            f"expected the flatbuffer (bytes from converter.convert()), got "
            f"{type(answer).__name__}."
        )
    x_test, y_test = _context(context, "x_test", "y_test")
    x = np.asarray(x_test, dtype=np.float32)
    y = np.asarray(y_test, dtype=np.float64).ravel()
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
            f"{floats[0][:60]!r}): dynamic-range quantization keeps float activations."
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
    _need(prediction.shape == y.shape, "the model must predict one value per test row.")
    rmse = float(np.sqrt(np.mean((prediction - y) ** 2)))
    _need(
        rmse < 0.8 * float(np.std(y)),
        "the int8 model predicts hardly better than the mean: is the representative data the "
        "standardized training rows the model was trained on?",
    )
    return f"test RMSE ${rmse * 1e5:,.0f}" if float(np.mean(y)) < 100 else f"test RMSE {rmse:.4g}"
