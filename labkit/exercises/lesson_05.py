"""Checks for the exercises of lesson 05 · A multilayer perceptron on MNIST.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from labkit.exercises import (
    Fail,
    _callable,
    _integer,
    _keras_model,
    _mapping,
    _need,
    _number,
    _register,
)


def _dense_units(model: Any) -> list[int]:
    import keras

    return [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def _dropout_rates(model: Any) -> list[float]:
    import keras

    return [float(layer.rate) for layer in model.layers if isinstance(layer, keras.layers.Dropout)]


def _check_mlp_input(model: Any) -> None:
    try:
        shape = tuple(model.input_shape)
    except (AttributeError, ValueError):
        raise Fail(
            "the model has no input yet: start it with keras.Input(shape=(28, 28))."
        ) from None
    _need(shape[1:] in ((28, 28), (784,), (28, 28, 1)), f"the input shape {shape} is not MNIST's.")


@_register(
    "05.1",
    "Wider or deeper?",
    expects="a keras.Model: the main MLP with its hidden Dense(512) replaced by two Dense(256)",
    verifies="the model's Dense layers are 256, 256 and 10 units on a 28 x 28 input, with the "
    "parameter count that implies",
    hint="start from the main model's keras.Sequential and replace only its hidden Dense layer; "
    "model.summary() shows the parameter count of each layer.",
)
def _check_05_1(answer: Any, **context: Any) -> str:
    model = _keras_model(answer)
    _check_mlp_input(model)
    units = _dense_units(model)
    _need(units[-1:] == [10], "the last Dense layer must have 10 units (one per digit).")
    _need(units[:-1] == [256, 256], f"the hidden Dense layers have {units[:-1]} units.")
    expected = (784 * 256 + 256) + (256 * 256 + 256) + (256 * 10 + 10)
    _need(model.count_params() == expected, "the parameter count is off: extra layers or biases?")
    return f"{model.count_params():,} parameters"


@_register(
    "05.2",
    "Learning rate and batch size",
    expects='a dict {"batch": model, "stochastic": model} of the two compiled models you trained',
    verifies="batch GD uses SGD at 10 times and stochastic GD at a tenth of the lesson's "
    "learning rate (0.05)",
    hint="compile each model with keras.optimizers.SGD(learning_rate=...); the lesson's "
    "gradient-descent comparison uses 0.05.",
)
def _check_05_2(answer: Any, **context: Any) -> None:
    import keras

    answer = _mapping(answer, ("batch", "stochastic"), "the two models")
    for key, factor in (("batch", 10.0), ("stochastic", 0.1)):
        model = _keras_model(answer[key], f"a compiled Keras model for {key!r}")
        optimizer = getattr(model, "optimizer", None)
        _need(optimizer is not None, f"the {key!r} model is not compiled.")
        _need(
            isinstance(optimizer, keras.optimizers.SGD),
            f"the {key!r} model uses {type(optimizer).__name__}, not plain SGD.",
        )
        rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        _need(
            math.isclose(rate, 0.05 * factor, rel_tol=1e-4),
            f"the {key!r} model's learning rate is not what the exercise asks for.",
        )


@_register(
    "05.3",
    "How much dropout?",
    expects="a function make_model(rate) -> keras.Model: the main MLP with Dropout(rate)",
    verifies="make_model(0), make_model(0.2) and make_model(0.5) are the main MLP (Dense 512 "
    "and 10) with the requested dropout rate",
    hint="copy the main model's keras.Sequential and write layers.Dropout(rate) after the "
    "Dense(512); for rate 0 a Dropout(0.0) layer is fine.",
)
def _check_05_3(answer: Any, **context: Any) -> None:
    make_model = _callable(answer, "a function make_model(rate)")
    for rate in (0.0, 0.2, 0.5):
        model = _keras_model(make_model(rate), f"a Keras model from make_model({rate})")
        _check_mlp_input(model)
        _need(_dense_units(model) == [512, 10], f"make_model({rate}) is not the main MLP.")
        rates = [r for r in _dropout_rates(model) if r > 0]
        _need(
            rates == ([rate] if rate else []),
            f"make_model({rate}) has dropout rates {_dropout_rates(model)}.",
        )


@_register(
    "05.4",
    "Data beats regularization",
    expects="a dict {number of training images: final train accuracy - validation accuracy} "
    "for at least 3 training-set sizes",
    verifies="your gaps are accuracy differences and the gap shrinks as the training set grows",
    hint="for n in (FIT_SAMPLES, 2 * FIT_SAMPLES, 5 * FIT_SAMPLES, 10 * FIT_SAMPLES) train "
    "make_mlp(hidden=(512, 512)) with train_and_report on x_train[:n] and store "
    "history['accuracy'][-1] - history['val_accuracy'][-1].",
)
def _check_05_4(answer: Any, **context: Any) -> str:
    if not isinstance(answer, Mapping):
        raise Fail(f"expected a dict {{images: gap}}, got {type(answer).__name__}.")
    _need(len(answer) >= 3, f"expected at least 3 training-set sizes, got {len(answer)}.")
    gaps = {}
    for n, gap in answer.items():
        gaps[_integer(n, "a number of images (dict key)")] = _number(gap, "a gap (dict value)")
    _need(min(gaps) > 0, "the numbers of images must be positive.")
    _need(all(-1 <= g <= 1 for g in gaps.values()), "a gap of accuracies lies between -1 and 1.")
    sizes = sorted(gaps)
    _need(sizes[-1] >= 5 * sizes[0], "use sizes at least 5 times apart (e.g. 1x, 2x, 5x, 10x).")
    _need(
        gaps[sizes[-1]] < gaps[sizes[0]] - 0.01,
        "the gap does not shrink with more data: did you store train minus validation "
        "accuracy of the last epoch, and train every model for the same epochs?",
    )
    return ", ".join(f"{n:,} images: gap {gaps[n]:+.3f}" for n in sizes)
