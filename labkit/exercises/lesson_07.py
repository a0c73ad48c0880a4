"""Checks for the exercises of lesson 07 · Convolutional networks.

Registered in :mod:`labkit.exercises` when it is imported.

The checks that grade a trained model score it on images the check loads itself: the last
2,000 Fashion-MNIST *training* images, which the lesson keeps out of training (they lie in its
validation split), never the test set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from labkit.exercises import (
    Fail,
    _integer,
    _keras_model,
    _mapping,
    _need,
    _register,
    _shape,
)
from labkit.exercises._shared import _fit_history, _layers_of

_HELD_OUT = 2000  # the last Fashion-MNIST training images: the lesson's validation images


def _held_out_fashion() -> tuple[np.ndarray, np.ndarray]:
    from labkit import datasets

    (x_train, y_train), _ = datasets.load_fashion_mnist()
    x = (x_train[-_HELD_OUT:].astype("float32") / 255.0)[..., None]
    return x, np.asarray(y_train[-_HELD_OUT:])


def _layer_signature(model: Any) -> list[tuple[Any, ...]]:
    """What defines an architecture: each layer's type and its shape-relevant settings."""
    keys = ("filters", "kernel_size", "strides", "padding", "pool_size", "units", "rate")
    signature = []
    for layer in _layers_of(model):
        if hasattr(layer, "layers"):  # a nested model: its layers are listed after it
            continue
        config = layer.get_config()
        settings = tuple(str(config.get(k)) for k in keys)
        signature.append((type(layer).__name__, str(config.get("activation")), *settings))
    return signature


def _lesson_convnet_signature() -> list[tuple[Any, ...]]:
    import keras
    from keras import layers

    lesson = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, kernel_size=3, activation="relu"),
            layers.MaxPooling2D(pool_size=2),
            layers.Conv2D(64, kernel_size=3, activation="relu"),
            layers.MaxPooling2D(pool_size=2),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ]
    )
    return _layer_signature(lesson)


def _accuracy(model: Any, x: np.ndarray, y: np.ndarray, what: str) -> float:
    probabilities = np.asarray(model.predict(x, batch_size=500, verbose=0))
    _need(
        probabilities.shape == (len(x), 10),
        f"{what} must output 10 class probabilities per image, got {probabilities.shape}.",
    )
    return float(np.mean(probabilities.argmax(axis=1) == y))


@_register(
    "07.1",
    "Count before you run",
    expects="a tuple (output_shape, parameter_count), e.g. ((h, w, c), n)",
    verifies="both the output shape and the parameter count of Conv2D(128, 3) on 5 x 5 x 64",
    hint="without padding a 3 x 3 kernel loses one pixel on each side; every kernel has "
    "3 x 3 x (input channels) weights, plus one bias per kernel.",
)
def _check_07_1(answer: Any, **context: Any) -> None:
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Fail(f"expected a tuple (output_shape, parameter_count), got {answer!r}.")
    shape = _shape(answer[0], 3, "the output shape (height, width, channels)")
    params = _integer(answer[1], "the parameter count")
    _need(shape == (5 - 2, 5 - 2, 128), "the output shape is wrong.")
    _need(params == (3 * 3 * 64 + 1) * 128, "the parameter count is wrong.")


@_register(
    "07.2",
    "Beat the lesson's network in three epochs",
    expects='a dict {"model": your improved keras.Model, "baseline": the unchanged '
    "convnet_layers() network}, both trained with fit the same way (same images, batch size "
    "and at most 3 epochs); inputs 28 x 28 x 1 in [0, 1], softmax over 10 classes",
    verifies="your architecture differs from the lesson's, both models were trained for the "
    "same steps (at most 3 epochs), and on 2,000 held-out Fashion-MNIST training images (the "
    "validation images, not the test set) yours scores at least 84% and at least one point "
    "above the baseline",
    hint="change the architecture, not the training budget: padding, the number of filters, an "
    "extra convolution per block or a normalisation layer (section 6 and the hint in the "
    "exercise); train the control exactly as you train your model, and keep the last 5,000 "
    "training images out of both.",
)
def _check_07_2(answer: Any, **context: Any) -> str:
    answer = _mapping(answer, ("model", "baseline"), "your model and the baseline")
    model = _keras_model(answer["model"], "a trained Keras model for 'model'")
    baseline = _keras_model(answer["baseline"], "the trained baseline (a keras.Model)")
    _need(model is not baseline, "'model' and 'baseline' are the same object: train two models.")
    _need(
        _layer_signature(baseline) == _lesson_convnet_signature(),
        "'baseline' is not the lesson's convnet_layers() network: the control must be the "
        "unchanged architecture of section 6.",
    )
    _need(
        _layer_signature(model) != _layer_signature(baseline),
        "your model has the same architecture as the lesson's network: the exercise asks for "
        "an architectural change.",
    )
    ours, theirs = _fit_history(model, "your model"), _fit_history(baseline, "the baseline")
    epochs = len(ours.history["loss"])
    _need(epochs <= 3, f"your model trained for {epochs} epochs; the budget is three.")
    _need(
        len(theirs.history["loss"]) == epochs and theirs.params["steps"] == ours.params["steps"],
        "the two models were not trained with the same budget (epochs and steps per epoch): "
        "train the baseline exactly like your model.",
    )
    x, y = _held_out_fashion()
    accuracy = _accuracy(model, x, y, "your model")
    reference = _accuracy(baseline, x, y, "the baseline")
    _need(reference >= 0.5, "the baseline scores near chance on held-out images: train it.")
    _need(accuracy >= 0.84, f"your model scores {accuracy:.3f} on held-out images, below 0.84.")
    _need(
        accuracy >= reference + 0.01,
        f"your model scores {accuracy:.3f} on held-out images, the baseline {reference:.3f}: "
        "not a point ahead.",
    )
    return f"held-out accuracy {accuracy:.4f} vs baseline {reference:.4f}"


_RANDOM_LAYERS = ("RandomRotation", "RandomZoom", "RandomTranslation")


@_register(
    "07.3",
    "Flip the digits",
    expects="a keras.Sequential augmentation block: the one you would keep for digits",
    verifies="your block has no flip, keeps at least two small geometric augmentations "
    "(rotation, zoom, translation), really changes the images in training mode, leaves them "
    "alone at inference and keeps their shape",
    hint="think about which transformations a handwritten digit survives (section 7 shows "
    "digits next to their mirror images), and keep the amounts small, as in "
    "make_augmentation.",
)
def _check_07_3(answer: Any, **context: Any) -> None:
    import keras

    block = _keras_model(answer, "a keras.Sequential of preprocessing layers")
    layers = _layers_of(block)
    layer_types = [type(layer).__name__ for layer in layers]
    _need(
        not any(isinstance(layer, keras.layers.RandomFlip) for layer in layers),
        "the block still flips the images.",
    )
    geometric = set(_RANDOM_LAYERS) & set(layer_types)
    _need(len(geometric) >= 2, f"keep at least two geometric augmentations, got {layer_types}.")
    for layer in layers:
        config = layer.get_config()
        for key in ("factor", "height_factor", "width_factor"):
            value = config.get(key)
            amounts = value if isinstance(value, (tuple, list)) else [value]
            if value is not None and any(abs(float(a)) > 0.2 for a in amounts):
                raise Fail(
                    f"{type(layer).__name__} transforms too much for a digit ({key} = {value}): "
                    "an upside-down 6 is a 9."
                )
    digits = np.zeros((8, 28, 28, 1), "float32")
    digits[:, 6:22, 12:16] = 1.0  # a stroke: an image a digit augmentation must move
    digits[:, 6:10, 8:20] = 1.0
    out = keras.ops.convert_to_numpy(block(digits, training=True))
    _need(out.shape == digits.shape, f"the block changes the image shape to {out.shape}.")
    _need(
        float(np.mean(np.abs(out - digits))) > 1e-3,
        "in training mode the block leaves the images unchanged: its augmentations do nothing.",
    )
    still = keras.ops.convert_to_numpy(block(digits, training=False))
    _need(np.allclose(still, digits), "at inference (training=False) the block changes images.")


def _run_of(answer: Mapping[str, Any], key: str) -> Any:
    import keras

    run = answer[key]
    if not isinstance(run, keras.callbacks.History):
        raise Fail(
            f"expected the keras History that fit returned for {key!r}, got {type(run).__name__}."
        )
    model = getattr(run, "model", None)
    _need(model is not None, f"the {key!r} history is not attached to a trained model.")
    history = _fit_history(model, f"the {key!r} run's model")
    _need(history is run, f"the {key!r} history is not the last fit of its model.")
    _need("val_loss" in run.history, f"the {key!r} run has no validation loss: validate it.")
    return run


@_register(
    "07.4",
    "Give augmentation time",
    expects='a dict {"plain": History, "augmented": History, "best_epoch": {"plain": int, '
    '"augmented": int}, "later": "plain", "augmented" or "same"}; pass x_val=, y_val= (the '
    "validation images both runs were validated on)",
    verifies="your two runs were trained the same number of epochs (at least 20), only the "
    "augmented one has random augmentation layers, the histories agree with the models on the "
    "validation images, and your best epochs and conclusion follow from those histories",
    hint="the best epoch is the one with the lowest validation loss, counted from 1 as Keras "
    "prints it; read it off each run's history.history, and check it against the validation "
    "curves plotted in section 7.",
)
def _check_07_4(answer: Any, **context: Any) -> str:
    answer = _mapping(
        answer, ("plain", "augmented", "best_epoch", "later"), "the two runs and your reading"
    )
    plain, augmented = _run_of(answer, "plain"), _run_of(answer, "augmented")
    _need(plain.model is not augmented.model, "the two histories come from the same model.")
    random_in = {
        key: any(type(la).__name__.startswith("Random") for la in _layers_of(run.model))
        for key, run in (("plain", plain), ("augmented", augmented))
    }
    _need(random_in["augmented"], "the 'augmented' run's model has no augmentation layers.")
    _need(not random_in["plain"], "the 'plain' run's model has augmentation layers.")
    epochs = len(plain.history["val_loss"])
    _need(
        len(augmented.history["val_loss"]) == epochs,
        "the two runs did not train for the same number of epochs.",
    )
    _need(epochs >= 20, f"the runs trained {epochs} epochs; give augmentation at least 20.")
    x_val, y_val = context.get("x_val"), context.get("y_val")
    _need(
        x_val is not None and y_val is not None,
        "this check needs the validation images passed along: check(..., x_val=..., y_val=...).",
    )
    for key, run in (("plain", plain), ("augmented", augmented)):
        loss = run.model.evaluate(x_val, y_val, batch_size=500, verbose=0)
        loss = float(loss[0] if isinstance(loss, (list, tuple)) else loss)
        recorded = float(run.history["val_loss"][-1])
        _need(
            abs(loss - recorded) <= 0.02 * recorded + 1e-3,
            f"the {key!r} history's last validation loss is not what its model scores on "
            "x_val, y_val: pass the histories fit returned and the images they were "
            "validated on.",
        )
    best = answer["best_epoch"]
    best = _mapping(best, ("plain", "augmented"), "best_epoch")
    measured = {
        key: int(np.argmin(run.history["val_loss"])) + 1
        for key, run in (("plain", plain), ("augmented", augmented))
    }
    for key in ("plain", "augmented"):
        _need(
            _integer(best[key], f"the best epoch of {key!r}") == measured[key],
            f"the best epoch you give for {key!r} is not the one in its history (lowest "
            "validation loss, epochs counted from 1).",
        )
    later = answer["later"]
    _need(
        later in ("plain", "augmented", "same"),
        f"'later' must be 'plain', 'augmented' or 'same', got {later!r}.",
    )
    if measured["plain"] == measured["augmented"]:
        truth = "same"
    else:
        truth = "augmented" if measured["augmented"] > measured["plain"] else "plain"
    _need(later == truth, "your conclusion in 'later' does not follow from your best epochs.")
    return f"best epochs: plain {measured['plain']}, augmented {measured['augmented']}"
