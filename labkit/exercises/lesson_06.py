"""Checks for the exercises of lesson 06 · A multilayer perceptron on MNIST.

Registered in :mod:`labkit.exercises` when it is imported.

The checks never train a network. They look at what the learner trained (the model, its
History, its optimizer's update count) and evaluate it on held-out images the check owns: the
last 2,000 MNIST *training* images, which every experiment of the lesson keeps out of training
(the main model's ``validation_split`` and the experiments' validation set both come from the
end of the training set). The test set is never used.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from labkit.exercises import (
    Fail,
    _integer,
    _keras_model,
    _need,
    _register,
)

_HELD_OUT = 2000  # the last images of the MNIST training set: the check's own validation data


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


@functools.lru_cache(maxsize=1)
def _held_out_digits() -> tuple[np.ndarray, np.ndarray]:
    """The check's validation images (scaled to [0, 1]) and their labels."""
    from labkit import datasets

    (x_train, y_train), _ = datasets.load_mnist()
    return x_train[-_HELD_OUT:].astype("float32") / 255.0, np.asarray(y_train[-_HELD_OUT:])


def _held_out_scores(model: Any) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` on the check's held-out images."""
    x, y = _held_out_digits()
    x = x.reshape((-1, *tuple(model.input_shape[1:])))
    probs = np.asarray(model.predict(x, batch_size=1000, verbose=0), dtype=float)
    _need(probs.shape == (len(y), 10), "the model must output 10 class probabilities per image.")
    accuracy = float(np.mean(probs.argmax(axis=1) == y))
    picked = np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0)
    return accuracy, float(-np.mean(np.log(picked)))


def _updates(model: Any) -> int:
    import keras

    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not getattr(optimizer, "built", True):
        return 0
    return int(keras.ops.convert_to_numpy(optimizer.iterations))


def _history(run: Any, what: str) -> Any:
    import keras

    if not isinstance(run, keras.callbacks.History):
        raise Fail(
            f"expected {what} to be the History that model.fit returned, got {type(run).__name__}."
        )
    model = getattr(run, "model", None)
    _need(model is not None, f"{what} is not attached to a trained model: keep what fit returns.")
    for key in ("loss", "accuracy", "val_accuracy"):
        values = run.history.get(key)
        _need(
            bool(values),
            f"{what} has no {key!r} per epoch: compile with metrics=['accuracy'] and pass "
            "validation_data to fit.",
        )
    return run


def _consistent_with_model(run: Any, what: str) -> float:
    """The check's held-out accuracy of the History's model; it must agree with the History."""
    accuracy, _ = _held_out_scores(run.model)
    reported = float(run.history["val_accuracy"][-1])
    _need(
        abs(accuracy - reported) <= 0.06,
        f"{what}: its model scores {accuracy:.3f} on held-out images the check owns, but the "
        f"History says validation accuracy {reported:.3f}; validate on held-out training images "
        "and pass the History of the model you trained.",
    )
    return accuracy


@_register(
    "06.1",
    "Wider or deeper?",
    expects="a trained keras.Model: the main MLP with its hidden Dense(512) replaced by two "
    "Dense(256)",
    verifies="the model's Dense layers are 256, 256 and 10 units on a 28 x 28 input, with the "
    "parameter count that implies, and it was trained: it classifies held-out training images "
    "the check owns (not the test set)",
    hint="start from the main model's keras.Sequential and replace only its hidden layer; "
    "model.summary() shows each layer's parameters. Train it (fit) before you check it, and "
    "compare it with the main model on validation accuracy, not on the test set.",
)
def _check_06_1(answer: Any, **context: Any) -> str:
    model = _keras_model(answer)
    _check_mlp_input(model)
    units = _dense_units(model)
    _need(units[-1:] == [10], "the last Dense layer must have 10 units (one per digit).")
    _need(units[:-1] == [256, 256], f"the hidden Dense layers have {units[:-1]} units.")
    expected = (784 * 256 + 256) + (256 * 256 + 256) + (256 * 10 + 10)
    _need(model.count_params() == expected, "the parameter count is off: extra layers or biases?")
    accuracy, _ = _held_out_scores(model)
    _need(
        accuracy >= 0.85,
        f"the model classifies only {accuracy:.1%} of held-out digits correctly: it is not "
        "trained (or barely); fit it on the scaled training images first.",
    )
    return f"{model.count_params():,} parameters, held-out accuracy {accuracy:.3f}"


@_register(
    "06.2",
    "Learning rate and batch size",
    expects='a dict {"batch": model, "stochastic": model} of the two models you trained '
    "(compiled with SGD and fitted)",
    verifies="batch GD used SGD at 10 times and stochastic GD at a tenth of the lesson's "
    "learning rate, both were trained (batch GD with far fewer updates than stochastic GD), and "
    "both have learnt: their loss on held-out images the check owns is well below chance",
    hint="change only the learning rate of section 9's SGD optimizer for each variant and keep "
    "its batch sizes; the check counts the updates your optimizer made and measures each model "
    "on held-out digits, so pass the models after training them.",
)
def _check_06_2(answer: Any, **context: Any) -> str:
    import keras

    if not isinstance(answer, Mapping):
        raise Fail(f"expected a dict of the two models, got {type(answer).__name__}.")
    missing = [k for k in ("batch", "stochastic") if k not in answer]
    _need(not missing, f"the dict lacks the key(s) {missing}; it needs ['batch', 'stochastic'].")
    _need(answer["batch"] is not answer["stochastic"], "the two entries are the same model.")
    updates, losses = {}, {}
    for key, factor in (("batch", 10.0), ("stochastic", 0.1)):
        model = _keras_model(answer[key], f"a trained Keras model for {key!r}")
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
        updates[key] = _updates(model)
        _need(updates[key] > 0, f"the {key!r} model was compiled but never trained (0 updates).")
        _, losses[key] = _held_out_scores(model)
        _need(
            losses[key] < 2.0,
            f"the {key!r} model's loss on held-out digits is {losses[key]:.2f}, close to "
            f"guessing (ln 10 = {math.log(10):.2f}): it has not learnt; train it longer.",
        )
    _need(
        updates["stochastic"] >= 10 * updates["batch"],
        f"the 'batch' model made {updates['batch']:,} updates and the 'stochastic' one "
        f"{updates['stochastic']:,}: batch GD makes one update per epoch, stochastic GD one per "
        "image; are the batch sizes swapped or equal?",
    )
    return ", ".join(
        f"{key}: {updates[key]:,} updates, held-out loss {losses[key]:.3f}" for key in losses
    )


@_register(
    "06.3",
    "How much dropout?",
    expects="a dict {rate: History} with the History that fit returned for dropout rates 0, "
    "0.2 and 0.5 (the main MLP with Dropout(rate), validated on held-out training images)",
    verifies="each History belongs to the main MLP (Dense 512 and 10) with that dropout rate, "
    "all were trained for the same epochs, and each model's held-out accuracy, measured by the "
    "check, agrees with its History's validation accuracy",
    hint="build the main model with the dropout rate as an argument, train one per "
    "rate with the same epochs and validation_data, and keep what fit returns; "
    "plots.plot_history accepts the same dict (with string labels).",
)
def _check_06_3(answer: Any, **context: Any) -> str:
    if not isinstance(answer, Mapping):
        raise Fail(f"expected a dict {{rate: History}}, got {type(answer).__name__}.")
    runs = {}
    for key, run in answer.items():
        if isinstance(key, bool) or not isinstance(key, (int, float, np.integer, np.floating)):
            raise Fail(f"the dict keys must be the dropout rates (numbers), got {key!r}.")
        runs[round(float(key), 4)] = run
    missing = [rate for rate in (0.0, 0.2, 0.5) if rate not in runs]
    _need(not missing, f"the dict lacks the dropout rate(s) {missing}.")
    epochs, accuracies = set(), {}
    for rate in (0.0, 0.2, 0.5):
        run = _history(runs[rate], f"the History for rate {rate}")
        model = run.model
        _check_mlp_input(model)
        _need(_dense_units(model) == [512, 10], f"the model for rate {rate} is not the main MLP.")
        rates = [r for r in _dropout_rates(model) if r > 0]
        _need(
            rates == ([rate] if rate else []),
            f"the model in the History for rate {rate} has dropout rates {_dropout_rates(model)}.",
        )
        epochs.add(len(run.history["loss"]))
        accuracies[rate] = _consistent_with_model(run, f"the History for rate {rate}")
    _need(len(epochs) == 1, "train every rate for the same number of epochs to compare them.")
    return ", ".join(f"rate {r}: held-out accuracy {a:.3f}" for r, a in accuracies.items())


def _steps(run: Any) -> int:
    steps = (getattr(run, "params", None) or {}).get("steps")
    _need(bool(steps), "a History has no step count: pass the History that fit returned.")
    return int(steps)


@_register(
    "06.4",
    "Data beats regularization",
    expects="a dict {number of training images: History} for at least 3 training-set sizes: "
    "the History that fit returned for section 10's big network on that many images",
    verifies="every History belongs to the big network (two Dense(512)), trained for the same "
    "epochs on the stated number of images (its steps per epoch say so), its validation "
    "accuracy agrees with the check's own measurement, and the train/validation gap the check "
    "reads from the Histories shrinks as the training set grows",
    hint="repeat section 10's overfitting run for several FIT_SAMPLES (at least 5 times apart) "
    "with everything else unchanged, keep what train_and_report returns for each size, and "
    "read the gap from the last epoch of each History.",
)
def _check_06_4(answer: Any, **context: Any) -> str:
    if not isinstance(answer, Mapping):
        raise Fail(f"expected a dict {{images: History}}, got {type(answer).__name__}.")
    _need(len(answer) >= 3, f"expected at least 3 training-set sizes, got {len(answer)}.")
    runs = {_integer(n, "a number of images (dict key)"): run for n, run in answer.items()}
    _need(min(runs) > 0, "the numbers of images must be positive.")
    sizes = sorted(runs)
    _need(sizes[-1] >= 5 * sizes[0], "use sizes at least 5 times apart (e.g. 1x, 2x, 5x, 10x).")
    for n in sizes:
        run = _history(runs[n], f"the History for {n:,} images")
        _check_mlp_input(run.model)
        _need(
            _dense_units(run.model) == [512, 512, 10],
            f"the History for {n:,} images does not belong to the big network of section 10.",
        )
    _need(
        len({len(runs[n].history["loss"]) for n in sizes}) == 1,
        "train every size for the same number of epochs, or the gaps are not comparable.",
    )
    steps = {n: _steps(runs[n]) for n in sizes}
    batch = max(1, round(sizes[-1] / steps[sizes[-1]]))
    _need(
        any(
            all(math.ceil(n / b) == steps[n] for n in sizes) for b in (batch - 1, batch, batch + 1)
        ),
        "the step counts of the Histories do not fit the numbers of images in the keys: each key "
        "must be the number of images that model was trained on.",
    )
    gaps = {}
    for n in sizes:
        _consistent_with_model(runs[n], f"the History for {n:,} images")
        history = runs[n].history
        gaps[n] = float(history["accuracy"][-1]) - float(history["val_accuracy"][-1])
    _need(
        gaps[sizes[-1]] < gaps[sizes[0]] - 0.01,
        "the gap does not shrink with more data: train every model the same way (same network, "
        "epochs and batch size), with only the number of images changing.",
    )
    return ", ".join(f"{n:,} images: gap {gaps[n]:+.3f}" for n in sizes)
