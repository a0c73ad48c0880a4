"""Checks for the exercises of lesson 09 · Neural style transfer.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from labkit.exercises import (
    Fail,
    _mapping,
    _need,
    _number,
    _register,
    _shape,
)
from labkit.exercises._shared import _curve


def _gram_exercise_reference() -> np.ndarray:
    channel_0 = np.array([[1.0, 0.0], [2.0, 1.0]]).ravel()
    channel_1 = np.array([[0.0, 1.0], [1.0, 3.0]]).ravel()
    flat = np.stack([channel_0, channel_1], axis=1)  # one row per position
    return flat.T @ flat / len(flat)


@_register(
    "09.1",
    "A Gram matrix by hand",
    expects="a 2 x 2 nested list [[G00, G01], [G10, G11]] of numbers",
    verifies="your Gram matrix G = F^T F / M of the exercise's 2 x 2 x 2 feature map",
    hint="flatten each channel to 4 values; G[c][d] is the mean over the 4 positions of "
    "channel c times channel d, so the diagonal holds the mean of the squares and G is "
    "symmetric.",
)
def _check_09_1(answer: Any, **context: Any) -> None:
    if isinstance(answer, (str, bytes)) or not isinstance(answer, (Sequence, np.ndarray)):
        raise Fail(f"expected a 2 x 2 nested list, got {type(answer).__name__}.")
    try:
        gram = np.asarray(answer, dtype=float)
    except (TypeError, ValueError):
        raise Fail("expected a 2 x 2 nested list of numbers.") from None
    _need(gram.shape == (2, 2), f"expected a 2 x 2 nested list, got shape {gram.shape}.")
    reference = _gram_exercise_reference()
    _need(np.allclose(gram, gram.T), "a Gram matrix is symmetric: G[0][1] must equal G[1][0].")
    _need(
        np.allclose(np.diag(gram), np.diag(reference), atol=1e-3),
        "the diagonal is wrong (each entry is a mean of squares).",
    )
    _need(
        math.isclose(gram[0, 1], reference[0, 1], abs_tol=1e-3),
        "the off-diagonal entry is wrong (a mean of products).",
    )


@_register(
    "09.2",
    "Size of the style description",
    expects="a tuple (rows, columns): the shape of block4_conv1's Gram matrix (the same for "
    "both image sizes, if you think so)",
    verifies="the Gram matrix of block4_conv1 is channels x channels, whatever the image size",
    hint="a Gram matrix is channels x channels: the positions are summed away; the channel "
    "counts are printed in section 2.",
)
def _check_09_2(answer: Any, **context: Any) -> None:
    shape = _shape(answer, 2, "the Gram matrix's shape (rows, columns)")
    _need(shape[0] == shape[1], "a Gram matrix is square (channels x channels).")
    _need(shape != (256 * 341, 256 * 341), "the positions are summed away, not kept.")
    _need(shape == (512, 512), "the size is not block4_conv1's number of channels.")


@_register(
    "09.3",
    "Turn the knob",
    expects="a dict {STYLE_WEIGHT: final content loss} for at least 3 style weights, "
    "the largest at least 100 times the smallest",
    verifies="your content losses are finite and grow with the style weight",
    hint="for STYLE_WEIGHT / 10, STYLE_WEIGHT and 10 * STYLE_WEIGHT start again from the photo "
    "(a fresh tf.Variable and optimizer), keep STEPS and LEARNING_RATE fixed and store "
    "history['content'][-1] of each run.",
)
def _check_09_3(answer: Any, **context: Any) -> str:
    if not isinstance(answer, Mapping):
        raise Fail(f"expected a dict {{style weight: content loss}}, got {type(answer).__name__}.")
    _need(len(answer) >= 3, f"expected at least 3 style weights, got {len(answer)}.")
    losses = {
        _number(k, "a style weight (dict key)"): _number(v, "a content loss (dict value)")
        for k, v in answer.items()
    }
    _need(min(losses) > 0, "style weights are positive.")
    _need(min(losses.values()) >= 0, "a content loss is a mean of squares: it is never negative.")
    weights = sorted(losses)
    _need(weights[-1] >= 100 * weights[0], "use style weights at least 100 times apart.")
    curve = [losses[w] for w in weights]
    _need(
        all(b > a for a, b in zip(curve, curve[1:], strict=False)),
        "the content loss does not grow with the style weight: did every run start again from "
        "the photo with a fresh optimizer, and did you store the content part of the loss?",
    )
    return ", ".join(f"style weight {w:g}: content {losses[w]:.3g}" for w in weights)


@_register(
    "09.4",
    "Start from noise",
    expects='a dict {"photo": content-loss curve, "noise": content-loss curve}, one value '
    "per step, both runs with the same steps",
    verifies="the photo start begins at zero content loss, the noise start far above it, and "
    "the noise start's content loss falls",
    hint="run the loop twice, once with generated = tf.Variable(content_image) and once with "
    "tf.Variable(tf.random.uniform(content_image.shape)), each with a fresh optimizer and "
    "train_step, and keep history['content'] of both runs.",
)
def _check_09_4(answer: Any, **context: Any) -> str:
    answer = _mapping(answer, ("photo", "noise"), "the two content-loss curves")
    photo = _curve(answer["photo"], "the photo start's curve")
    noise = _curve(answer["noise"], "the noise start's curve")
    _need(len(photo) == len(noise), "run both starts for the same number of steps.")
    _need(noise[0] > 0, "the noise start's first content loss must be above zero.")
    _need(
        photo[0] <= 1e-3 * noise[0],
        "the photo start's first content loss should be (almost) zero: is 'photo' the run "
        "that starts from the content photo, and the loss measured before the first update?",
    )
    _need(
        noise[-1] < 0.5 * noise[0],
        "the noise start's content loss does not fall by half: more steps, or is it the "
        "content part of the loss?",
    )
    return f"noise start: content loss {noise[0]:.3g} -> {noise[-1]:.3g} in {len(noise)} steps"
