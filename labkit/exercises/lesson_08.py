"""Checks for the exercises of lesson 08 · Transfer learning.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from labkit.exercises import (
    Fail,
    _context,
    _integer,
    _keras_model,
    _need,
    _register,
    _shape,
)
from labkit.exercises._shared import _fit_history


@_register(
    "08.1",
    "Count the trainable parameters by hand",
    expects="an int: the trainable parameters during fine-tuning; pass n_classes= (and alpha= "
    "for another MobileNet width)",
    verifies="your count equals the weights of conv_dw_12, conv_pw_12, conv_dw_13, conv_pw_13 "
    "and the head's Dense layer",
    hint="with alpha = 0.25 block 12 reads 128 channels and writes 256; a depthwise 3 x 3 "
    "convolution has 9 weights per channel, a pointwise one c_in x c_out; the Dense layer has "
    "one weight per (feature, class) plus a bias per class.",
)
def _check_08_1(answer: Any, **context: Any) -> None:
    count = _integer(answer, "the number of trainable parameters")
    (n_classes,) = _context(context, "n_classes")
    alpha = float(context.get("alpha", 0.25))
    c12, c13 = int(512 * alpha), int(1024 * alpha)
    expected = 9 * c12 + c12 * c13 + 9 * c13 + c13 * c13 + (c13 + 1) * int(n_classes)
    _need(count == expected, "the count is off.")


@_register(
    "08.2",
    "Feature-grid size",
    expects="a tuple (height, width, channels): the base's output for a 320 x 320 image (pass "
    "alpha= for another MobileNet width)",
    verifies="the feature grid of MobileNet v1 (total stride 32) for a 320 x 320 input",
    hint="MobileNet v1 halves the resolution five times; its last block has 1024 x alpha channels.",
)
def _check_08_2(answer: Any, **context: Any) -> None:
    shape = _shape(answer, 3, "the feature-grid shape")
    alpha = float(context.get("alpha", 0.25))
    size = 320
    for _ in range(5):
        size = math.ceil(size / 2)
    _need(shape[:2] == (size, size), "the height and width are wrong.")
    _need(shape[2] == int(1024 * alpha), "the number of channels is wrong.")


def _validation(context: Mapping[str, Any], x_name: str) -> tuple[Any, np.ndarray]:
    x, y = _context(context, x_name, "y_val")
    y = np.asarray(y).ravel()
    _need(len(y) == len(x) and len(y) >= 20, f"{x_name} and y_val must hold the same >= 20 images.")
    _need(len(np.unique(y)) >= 2, "y_val must hold more than one class.")
    return x, y


def _accuracy(model: Any, x: Any, y: np.ndarray, what: str) -> float:
    probabilities = np.asarray(model.predict(x, batch_size=64, verbose=0))
    _need(
        probabilities.ndim == 2 and len(probabilities) == len(y),
        f"{what} must output one row of class probabilities per image, got {probabilities.shape}.",
    )
    return float(np.mean(probabilities.argmax(axis=1) == y))


@_register(
    "08.3",
    "How few images are enough?",
    expects="a dict {images per class: the head trained on that many images per class} for at "
    "least 3 sizes; pass features_val=, y_val= (the cached validation features)",
    verifies="every size has its own trained head, the heads' training grew with the images "
    "per class, and on the validation features the largest training set scores at least as "
    "well as the smallest, well above chance",
    hint="for every size pick the first k images of every class from the cached training "
    "features (np.flatnonzero selects a class's indices), build a fresh make_head for it and "
    "fit it on those features only; the check measures the heads itself, on the validation "
    "features.",
)
def _check_08_3(answer: Any, **context: Any) -> str:
    if not isinstance(answer, Mapping):
        raise Fail(
            f"expected a dict {{images per class: trained head}}, got {type(answer).__name__}."
        )
    _need(len(answer) >= 3, f"expected at least 3 sizes, got {len(answer)}.")
    heads = {
        _integer(k, "images per class"): _keras_model(v, "a trained head")
        for k, v in answer.items()
    }
    _need(
        len({id(h) for h in heads.values()}) == len(heads),
        "the same head appears for several sizes: train a fresh head for every size.",
    )
    sizes = sorted(heads)
    _need(sizes[0] >= 1 and sizes[-1] >= 4 * sizes[0], "use sizes at least 4 times apart.")
    steps = {
        k: _fit_history(h, f"the head for {k} images").params["steps"] for k, h in heads.items()
    }
    smallest, largest = sizes[0], sizes[-1]
    _need(
        steps[largest] > steps[smallest]
        and steps[largest] * 3 * smallest >= steps[smallest] * largest,
        "the heads' training steps per epoch do not grow with the images per class: train "
        "each head on its own k images per class only.",
    )
    x, y = _validation(context, "features_val")
    accuracy = {k: _accuracy(h, x, y, f"the head for {k} images") for k, h in heads.items()}
    chance = 1 / max(int(y.max()) + 1, 2)
    _need(
        accuracy[largest] >= 2 * chance,
        f"with {largest} images per class the head scores {accuracy[largest]:.3f} on the "
        "validation features, close to chance: was it trained on the cached features?",
    )
    _need(
        accuracy[largest] >= accuracy[smallest],
        "on the validation features the largest training set scores below the smallest: did "
        "you pick the images per class and train a fresh head for every size?",
    )
    return ", ".join(f"{k}/class: {accuracy[k]:.3f}" for k in sizes)


@_register(
    "08.4",
    "Break the rule on purpose",
    expects="a trained keras.Model: the fine-tuning model with data augmentation, taking raw "
    "images; pass x_val=, y_val= (the validation images)",
    verifies="your model has RandomFlip and RandomRotation before the pretrained MobileNet base, "
    "they really change the images in training mode, the top of the base is trainable, and "
    "the trained model classifies the validation images well above chance",
    hint="build a new functional model from keras.Input: the random augmentation layers first, "
    "then the preprocessing, the base (top blocks unfrozen as in section 4) and the head; "
    "train it with fit, and think about why the cached features cannot be used any more.",
)
def _check_08_4(answer: Any, **context: Any) -> str:
    import keras

    model = _keras_model(answer)
    names = [type(layer).__name__ for layer in model.layers]
    for needed in ("RandomFlip", "RandomRotation"):
        _need(needed in names, f"the model has no {needed} layer.")
    bases = [i for i, layer in enumerate(model.layers) if isinstance(layer, keras.Model)]
    _need(bool(bases), "the model does not contain the pretrained base as a sub-model.")
    base = model.layers[bases[0]]
    _need(
        "mobilenet" in base.name.lower() and len(base.layers) >= 20,
        f"the sub-model {base.name!r} is not the lesson's pretrained MobileNet base.",
    )
    first_random = min(names.index("RandomFlip"), names.index("RandomRotation"))
    _need(first_random < bases[0], "the augmentation must come before the base.")
    shape = tuple(model.input_shape)
    _need(len(shape) == 4 and shape[-1] == 3, f"the model must take RGB images, got {shape}.")
    size = [int(n) if n else 96 for n in shape[1:3]]
    images = np.random.default_rng(7).uniform(0, 255, (16, *size, 3)).astype("float32")
    for layer in model.layers[: bases[0]]:
        if type(layer).__name__.startswith("Random"):
            changed = keras.ops.convert_to_numpy(layer(images, training=True))
            _need(
                float(np.mean(np.abs(changed - images))) > 1e-3,
                f"in training mode {type(layer).__name__} leaves the images unchanged.",
            )
    _need(
        bool(base.trainable_weights),
        "the base is entirely frozen: the exercise asks for the fine-tuning model, with the "
        "top blocks unfrozen.",
    )
    _fit_history(model, "the model")
    x, y = _validation(context, "x_val")
    accuracy = _accuracy(model, x, y, "the model")
    chance = 1 / max(int(y.max()) + 1, 2)
    _need(
        accuracy >= 3 * chance,
        f"the model scores {accuracy:.3f} on the validation images, close to chance: "
        "fine-tune it (head first) before you compare.",
    )
    return f"validation accuracy {accuracy:.3f}"
