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
    hint="the window is WINDOW_SIZE reviews of the replay that the headline-only app shortened "
    "with probability 0.3; its features come from the same function as the reference's, each "
    "PSI from the lesson's psi(), and the trigger decides as in section 7 (pass psi_threshold= "
    "if you changed it).",
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
    hint="reread section 4 (split once; fit preprocessing on the training set only) and its "
    "leakage demo: a step leaks if a statistic or a decision depends on data that should be "
    "unseen at that point. Judge every step on its own.",
)
def _check_13_2(answer: Any, **context: Any) -> None:
    if not isinstance(answer, (set, frozenset, list, tuple, str)):
        raise Fail(f'expected a set of letters such as {{"a", "c"}}, got {type(answer).__name__}.')
    letters = _letters(answer, "abcde", "a set of letters")
    _need(
        letters == {"a", "d", "e"},
        "your set of leaky steps is not right yet (it is graded as a whole).",
    )


def _array(value: Any, what: str, ndim: int) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise Fail(f"{what} must hold numbers.") from None
    _need(array.ndim == ndim and len(array) >= 10, f"{what} has the wrong shape.")
    return array


def _validation(context: dict) -> tuple[np.ndarray, np.ndarray]:
    x_val, y_val = _context(context, "x_val", "y_val")
    x = _array(x_val, "x_val", 2)
    y = _array(np.ravel(np.asarray(y_val)), "y_val", 1).astype(np.float64)
    _need(len(x) == len(y), "x_val and y_val must have one row per district.")
    return x, y


@_register(
    "13.3",
    "Hyperband",
    expects="a keras_tuner.Hyperband tuner after its search(); pass x_val= and y_val=",
    verifies="your tuner is a Hyperband search with factor 3 that minimizes val_rmse and has "
    "completed trials, and its best model reproduces its best val_rmse on the validation rows",
    hint="keras_tuner.Hyperband takes the build function and the objective of the random "
    "search, but a maximum number of epochs and a reduction factor instead of a number of "
    "trials; run its search() like the random search's, with the validation rows as "
    "validation_data.",
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
    scored = [t.score for t in completed if t.score is not None]
    _need(bool(scored), "no trial has completed: run the tuner's search first.")
    best = min(scored)
    x, y = _validation(context)
    try:
        (model,) = answer.get_best_models(1)
    except Exception:
        raise Fail(
            "the best trial's model cannot be loaded from the tuner's folder: run the search "
            "again (and keep its directory)."
        ) from None
    prediction = np.asarray(model.predict(x, verbose=0), dtype=np.float64).ravel()
    _need(prediction.shape == y.shape, "the best model must predict one value per row of x_val.")
    rmse = float(np.sqrt(np.mean((prediction - y) ** 2)))
    _need(
        math.isclose(rmse, best, rel_tol=0.05),
        f"the best model's RMSE on the x_val, y_val you passed is {rmse:.4g}, not the "
        f"{best:.4g} the tuner recorded: pass the validation rows the search used.",
    )
    _need(rmse < 0.9 * float(np.std(y)), "the best model predicts hardly better than the mean.")
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
    expects="bytes: the TFLite flatbuffer of the full-integer model; pass x_val= and y_val=",
    verifies="every tensor inside the model (weights and activations) is integer, and it "
    "predicts the validation rows far better than the mean; its validation RMSE is shown",
    hint="full-integer quantization needs three settings of the converter: the default "
    "optimizations, a representative data set (a generator over rows the model really sees) "
    "and integer-only built-in ops (tf.lite.OpsSet); the answer is the bytes convert() "
    "returns. See the TFLite post-training quantization guide.",
)
def _check_13_4(answer: Any, **context: Any) -> str:
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
    _need(prediction.shape == y.shape, "the model must predict one value per row of x_val.")
    rmse = float(np.sqrt(np.mean((prediction - y) ** 2)))
    _need(
        rmse < 0.8 * float(np.std(y)),
        "the int8 model predicts hardly better than the mean: is the representative data the "
        "standardized training rows the model was trained on?",
    )
    if float(np.mean(y)) < 100:  # the label in $100,000
        return f"validation RMSE ${rmse * 1e5:,.0f}"
    return f"validation RMSE {rmse:.4g}"
