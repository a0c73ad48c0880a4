"""Helpers shared by the checks of several lessons.

Keras layers, loss curves, training histories, multiple-choice letters, Kubernetes quantities,
the validation rows of the lifecycle lessons (14, 15).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from labkit.exercises import Fail, _context, _need


def _layers_of(model: Any) -> list[Any]:
    """All layers of a Keras model, nested sub-models and wrapped layers included."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if hasattr(layer, "layers"):
            found += _layers_of(layer)
        inner = getattr(layer, "forward_layer", None) or getattr(layer, "layer", None)
        if inner is not None and not isinstance(inner, (str, int)):
            found.append(inner)
    return found


def _curve(values: Any, what: str) -> np.ndarray:
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise Fail(
            f"expected {what} (a list of numbers, one per step), got {type(values).__name__}."
        )
    try:
        curve = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise Fail(f"{what} must contain only numbers.") from None
    _need(curve.size >= 10, f"{what} has {curve.size} values; run at least 10 steps.")
    _need(bool(np.all(np.isfinite(curve))), f"{what} contains values that are not finite.")
    _need(bool(np.all(curve >= 0)), f"{what} contains negative losses.")
    return curve


def _letters(answer: Any, allowed: str, what: str) -> set[str]:
    """A set of answer letters (a string "a" or an iterable of letters), lower case."""
    items = [answer] if isinstance(answer, str) else answer
    if isinstance(items, Mapping) or not hasattr(items, "__iter__"):
        raise Fail(f"expected {what}, got {type(answer).__name__}.")
    letters = set()
    for item in items:
        _need(isinstance(item, str), f"expected letters (strings), got {type(item).__name__}.")
        letter = item.strip().lower().strip("()")
        _need(letter in allowed, f"{item!r} is not one of the choices {', '.join(allowed)}.")
        letters.add(letter)
    _need(bool(letters), "the answer is empty: pick at least one letter.")
    return letters


def _quantity_bytes(value: Any) -> float:
    """A Kubernetes memory quantity ("3Gi", "3072Mi", "3G", 3221225472) in bytes."""
    text = str(value).strip()
    factors = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in factors.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def _scaled(value: Any, replicas: int, round_up: bool) -> int:
    """maxSurge (rounded up) or maxUnavailable (rounded down) in pods for ``replicas`` pods."""
    if value is None:
        value = "25%"
    if isinstance(value, str) and value.endswith("%"):
        pods = float(value[:-1]) / 100 * replicas
        return math.ceil(pods) if round_up else math.floor(pods)
    return int(value)


def _fit_history(model: Any, what: str) -> Any:
    """The History that model.fit left on the model, after checking the training really ran."""
    history = getattr(model, "history", None)
    curves = getattr(history, "history", None)
    _need(
        isinstance(curves, Mapping) and bool(curves.get("loss")),
        f"{what} has not been trained with fit (it carries no training history).",
    )
    steps = int(getattr(history, "params", {}).get("steps") or 0)
    optimizer = getattr(model, "optimizer", None)
    iterations = int(np.asarray(optimizer.iterations)) if optimizer is not None else 0
    _need(
        steps > 0 and iterations >= steps * len(curves["loss"]),
        f"{what}'s training history does not match the training steps its optimizer took.",
    )
    return history


def _array(value: Any, what: str, ndim: int) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise Fail(f"{what} must hold numbers.") from None
    _need(array.ndim == ndim and len(array) >= 10, f"{what} has the wrong shape.")
    return array


def _validation(context: dict) -> tuple[np.ndarray, np.ndarray]:
    """``x_val`` (2-D) and ``y_val`` (1-D, float64) from a check's context, one row per district."""
    x_val, y_val = _context(context, "x_val", "y_val")
    x = _array(x_val, "x_val", 2)
    y = _array(np.ravel(np.asarray(y_val)), "y_val", 1).astype(np.float64)
    _need(len(x) == len(y), "x_val and y_val must have one row per district.")
    return x, y
