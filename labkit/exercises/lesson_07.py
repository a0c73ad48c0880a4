"""Checks for the exercises of lesson 07 · Transfer learning.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from labkit.exercises import (
    Fail,
    _context,
    _integer,
    _keras_model,
    _need,
    _number,
    _register,
    _shape,
)


@_register(
    "07.1",
    "Count the trainable parameters by hand",
    expects="an int: the trainable parameters during fine-tuning; pass n_classes= (and alpha= "
    "for another MobileNet width)",
    verifies="your count equals the weights of conv_dw_12, conv_pw_12, conv_dw_13, conv_pw_13 "
    "and the head's Dense layer",
    hint="with alpha = 0.25 block 12 reads 128 channels and writes 256; a depthwise 3 x 3 "
    "convolution has 9 weights per channel, a pointwise one c_in x c_out; the Dense layer has "
    "one weight per (feature, class) plus a bias per class.",
)
def _check_07_1(answer: Any, **context: Any) -> None:
    count = _integer(answer, "the number of trainable parameters")
    (n_classes,) = _context(context, "n_classes")
    alpha = float(context.get("alpha", 0.25))
    c12, c13 = int(512 * alpha), int(1024 * alpha)
    expected = 9 * c12 + c12 * c13 + 9 * c13 + c13 * c13 + (c13 + 1) * int(n_classes)
    _need(count == expected, "the count is off.")


@_register(
    "07.2",
    "Feature-grid size",
    expects="a tuple (height, width, channels): the base's output for a 320 x 320 image (pass "
    "alpha= for another MobileNet width)",
    verifies="the feature grid of MobileNet v1 (total stride 32) for a 320 x 320 input",
    hint="MobileNet v1 halves the resolution five times; its last block has 1024 x alpha channels.",
)
def _check_07_2(answer: Any, **context: Any) -> None:
    shape = _shape(answer, 3, "the feature-grid shape")
    alpha = float(context.get("alpha", 0.25))
    size = 320
    for _ in range(5):
        size = math.ceil(size / 2)
    _need(shape[:2] == (size, size), "the height and width are wrong.")
    _need(shape[2] == int(1024 * alpha), "the number of channels is wrong.")


@_register(
    "07.3",
    "How few images are enough?",
    expects="a dict {images per class: test accuracy of the head} for at least 3 sizes",
    verifies="your accuracies lie between 0 and 1 and more images per class do not hurt",
    hint="select np.flatnonzero(y_train == c)[:k] for every class c, train a fresh "
    "make_head(...) on those cached features and evaluate on features_test.",
)
def _check_07_3(answer: Any, **context: Any) -> str:
    if not isinstance(answer, Mapping):
        raise Fail(f"expected a dict {{images per class: accuracy}}, got {type(answer).__name__}.")
    _need(len(answer) >= 3, f"expected at least 3 sizes, got {len(answer)}.")
    accuracy = {
        _integer(k, "images per class"): _number(v, "an accuracy") for k, v in answer.items()
    }
    _need(all(0 <= a <= 1 for a in accuracy.values()), "accuracies lie between 0 and 1.")
    sizes = sorted(accuracy)
    _need(sizes[0] >= 1 and sizes[-1] >= 4 * sizes[0], "use sizes at least 4 times apart.")
    _need(
        accuracy[sizes[-1]] >= accuracy[sizes[0]],
        "the largest training set scores below the smallest: did you pick the images per class "
        "and train a fresh head for every size?",
    )
    return ", ".join(f"{k}/class: {accuracy[k]:.3f}" for k in sizes)


@_register(
    "07.4",
    "Break the rule on purpose",
    expects="a keras.Model: the fine-tuning model with data augmentation, taking raw images",
    verifies="your model has RandomFlip and RandomRotation before the pretrained base, which "
    "runs on the augmented pixels",
    hint="build a new functional model from keras.Input: the random augmentation layers first, "
    "then the preprocessing, the base and the head.",
)
def _check_07_4(answer: Any, **context: Any) -> None:
    import keras

    model = _keras_model(answer)
    names = [type(layer).__name__ for layer in model.layers]
    for needed in ("RandomFlip", "RandomRotation"):
        _need(needed in names, f"the model has no {needed} layer.")
    bases = [i for i, layer in enumerate(model.layers) if isinstance(layer, keras.Model)]
    _need(bool(bases), "the model does not contain the pretrained base as a sub-model.")
    first_random = min(names.index("RandomFlip"), names.index("RandomRotation"))
    _need(first_random < bases[0], "the augmentation must come before the base.")
    shape = tuple(model.input_shape)
    _need(len(shape) == 4 and shape[-1] == 3, f"the model must take RGB images, got {shape}.")
