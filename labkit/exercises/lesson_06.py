"""Checks for the exercises of lesson 06 · Convolutional networks.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from labkit.exercises import (
    Fail,
    _callable,
    _integer,
    _keras_model,
    _need,
    _register,
    _shape,
)


@_register(
    "06.1",
    "Count before you run",
    expects="a tuple (output_shape, parameter_count), e.g. ((h, w, c), n)",
    verifies="both the output shape and the parameter count of Conv2D(128, 3) on 5 x 5 x 64",
    hint="without padding a 3 x 3 kernel loses one pixel on each side; every kernel has "
    "3 x 3 x (input channels) weights, plus one bias per kernel.",
)
def _check_06_1(answer: Any, **context: Any) -> None:
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Fail(f"expected a tuple (output_shape, parameter_count), got {answer!r}.")
    shape = _shape(answer[0], 3, "the output shape (height, width, channels)")
    params = _integer(answer[1], "the parameter count")
    _need(shape == (5 - 2, 5 - 2, 128), "the output shape is wrong.")
    _need(params == (3 * 3 * 64 + 1) * 128, "the parameter count is wrong.")


@_register(
    "06.2",
    "Reach 84% on Fashion-MNIST in three epochs",
    expects="a trained keras.Model (input 28 x 28 x 1 in [0, 1], softmax over 10 classes)",
    verifies="your model reaches 84% accuracy on the 10,000 Fashion-MNIST test images",
    hint="padding='same' so the maps do not shrink, more filters, a Dropout before the Dense "
    "layer, more training images; one change at a time, watching the validation curve.",
)
def _check_06_2(answer: Any, **context: Any) -> str:
    from labkit import datasets

    model = _keras_model(answer, "a trained Keras model")
    _, (x_test, y_test) = datasets.load_fashion_mnist()
    x = (x_test.astype("float32") / 255.0)[..., None]
    probabilities = np.asarray(model.predict(x, batch_size=1000, verbose=0))
    _need(
        probabilities.shape == (len(x), 10),
        f"the model must output 10 class probabilities per image, got {probabilities.shape}.",
    )
    accuracy = float(np.mean(probabilities.argmax(axis=1) == y_test))
    _need(accuracy >= 0.84, f"test accuracy {accuracy:.4f} is below 0.84.")
    return f"test accuracy {accuracy:.4f}"


@_register(
    "06.3",
    "Flip the digits",
    expects="a keras.Sequential augmentation block: the one you would keep for digits",
    verifies="your block keeps at least two geometric augmentations (rotation, zoom, "
    "translation), has no horizontal flip and keeps the image shape",
    hint="a mirrored 2, 3, 4, 7 or 9 is not a digit any more: leave RandomFlip out, keep "
    "RandomRotation, RandomZoom and RandomTranslation with small factors.",
)
def _check_06_3(answer: Any, **context: Any) -> None:
    import keras

    block = _keras_model(answer, "a keras.Sequential of preprocessing layers")
    layer_types = [type(layer).__name__ for layer in block.layers]
    flips = [
        layer
        for layer in block.layers
        if isinstance(layer, keras.layers.RandomFlip) and "horizontal" in str(layer.mode)
    ]
    _need(not flips, "the block still flips the images horizontally.")
    geometric = {"RandomRotation", "RandomZoom", "RandomTranslation"} & set(layer_types)
    _need(len(geometric) >= 2, f"keep at least two geometric augmentations, got {layer_types}.")
    images = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    out = keras.ops.convert_to_numpy(block(images, training=True))
    _need(out.shape == images.shape, f"the block changes the image shape to {out.shape}.")


def _best_epoch_reference(history: Mapping[str, list[float]]) -> int:
    return int(np.argmin(history["val_loss"])) + 1


class _FakeHistory:
    """Quacks like keras.callbacks.History: a .history dict of per-epoch lists."""

    def __init__(self, history: dict[str, list[float]]):
        self.history = history


@_register(
    "06.4",
    "Give augmentation time",
    expects="a function best_epoch(history) -> int: the epoch (counted from 1) with the lowest "
    "validation loss of a Keras History",
    verifies="your function finds the best epoch on random learning curves",
    hint="history.history['val_loss'] is a list with one value per epoch; np.argmin gives a "
    "0-based index.",
)
def _check_06_4(answer: Any, **context: Any) -> None:
    best_epoch = _callable(answer, "a function best_epoch(history)")
    rng = np.random.default_rng(6)
    for _ in range(5):
        epochs = int(rng.integers(5, 40))
        val_loss = list(np.abs(rng.normal(1.0, 0.3, epochs)).round(4))
        curves = {"loss": list(np.linspace(1, 0.1, epochs)), "val_loss": val_loss}
        got = _integer(best_epoch(_FakeHistory(curves)), "the epoch")
        _need(
            got == _best_epoch_reference(curves),
            "on a random learning curve your epoch is not the one with the lowest validation "
            "loss (epochs count from 1).",
        )
