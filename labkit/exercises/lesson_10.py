"""Checks for the exercises of lesson 10 · Neural style transfer.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from labkit.exercises import (
    Fail,
    _context,
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
    "10.1",
    "A Gram matrix by hand",
    expects="a 2 x 2 nested list [[G00, G01], [G10, G11]] of numbers",
    verifies="your Gram matrix G = F^T F / M of the exercise's 2 x 2 x 2 feature map",
    hint="flatten each channel to 4 values; G[c][d] is the mean over the 4 positions of "
    "channel c times channel d, so the diagonal holds the mean of the squares and G is "
    "symmetric.",
)
def _check_10_1(answer: Any, **context: Any) -> None:
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
    "10.2",
    "Size of the style description",
    expects="a tuple (rows, columns): the shape of block4_conv1's Gram matrix (the same for "
    "both image sizes, if you think so)",
    verifies="the Gram matrix of block4_conv1 is channels x channels, whatever the image size",
    hint="a Gram matrix is channels x channels: the positions are summed away; the channel "
    "counts are printed in section 2.",
)
def _check_10_2(answer: Any, **context: Any) -> None:
    shape = _shape(answer, 2, "the Gram matrix's shape (rows, columns)")
    _need(shape[0] == shape[1], "a Gram matrix is square (channels x channels).")
    _need(shape != (256 * 341, 256 * 341), "the positions are summed away, not kept.")
    _need(shape == (512, 512), "the size is not block4_conv1's number of channels.")


def _image(value: Any, photo: np.ndarray, what: str) -> np.ndarray:
    try:
        image = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise Fail(f"{what} must be an image array (generated.numpy()).") from None
    _need(
        image.squeeze().shape == photo.squeeze().shape,
        f"{what} has shape {image.shape}; the content photo has {photo.shape}.",
    )
    image = image.reshape(photo.shape)
    _need(bool(np.all(np.isfinite(image))), f"{what} contains values that are not finite.")
    _need(
        float(image.min()) >= -1e-3 and float(image.max()) <= 1 + 1e-3,
        f"{what} has pixels outside [0, 1]: pass the generated image as the loop keeps it.",
    )
    return image


def _photo(context: Mapping[str, Any]) -> np.ndarray:
    (photo,) = _context(context, "content_image")
    try:
        photo = np.asarray(photo, dtype=float)
    except (TypeError, ValueError):
        raise Fail("content_image= must be the content photo as an array.") from None
    _need(photo.ndim >= 3 and photo.shape[-1] == 3, "content_image= must be an RGB image.")
    _need(float(np.std(photo)) > 1e-3, "content_image= is blank: pass the content photo.")
    return photo


def _likeness(image: np.ndarray, photo: np.ndarray) -> float:
    """Correlation of the pixels with the photo's: 1 for the photo, about 0 for noise."""
    return float(np.corrcoef(image.ravel(), photo.ravel())[0, 1])


def _run(value: Any, photo: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    run = _mapping(value, ("image", "content"), what)
    return _image(run["image"], photo, f"{what}'s image"), _curve(
        run["content"], f"{what}'s content-loss curve"
    )


@_register(
    "10.3",
    "Turn the knob",
    expects='a dict {STYLE_WEIGHT: {"image": the final generated image, "content": that run\'s '
    "history['content']}} for at least 3 style weights, the largest at least 100 times the "
    "smallest; pass content_image=",
    verifies="every run started from the photo (zero content loss at the first step), its "
    "image still shows the photo, and both the final content loss and the image's distance "
    "from the photo grow with the style weight",
    hint="start every run again from the photo (a fresh tf.Variable, optimizer and "
    "train_step), change only STYLE_WEIGHT, and keep each run's own image and loss history; "
    "the content loss is one of the parts train_step returns, not the total.",
)
def _check_10_3(answer: Any, **context: Any) -> str:
    if not isinstance(answer, Mapping):
        raise Fail(f"expected a dict {{style weight: run}}, got {type(answer).__name__}.")
    _need(len(answer) >= 3, f"expected at least 3 style weights, got {len(answer)}.")
    photo = _photo(context)
    runs = {
        _number(k, "a style weight (dict key)"): _run(v, photo, f"the run for {k!r}")
        for k, v in answer.items()
    }
    _need(min(runs) > 0, "style weights are positive.")
    weights = sorted(runs)
    _need(weights[-1] >= 100 * weights[0], "use style weights at least 100 times apart.")
    for w in weights:
        image, curve = runs[w]
        _need(
            curve[0] <= 1e-3 * curve.max() + 1e-12,
            f"the run for style weight {w:g} does not start at zero content loss: start every "
            "run from the photo itself, and record the loss of each step.",
        )
        _need(
            _likeness(image, photo) >= 0.3,
            f"the image of style weight {w:g} does not resemble the photo any more: is it that "
            "run's generated image?",
        )
    final = [runs[w][1][-1] for w in weights]
    _need(
        all(b > a for a, b in zip(final, final[1:], strict=False)),
        "the final content loss does not grow with the style weight: did every run start again "
        "from the photo with a fresh optimizer, and did you store the content part of the loss?",
    )
    distance = [float(np.mean(np.abs(runs[w][0] - photo))) for w in weights]
    _need(
        distance[0] > 1e-4 and distance[-1] > distance[0],
        "the images do not move further from the photo as the style weight grows: pass each "
        "run's own final image.",
    )
    return ", ".join(f"style weight {w:g}: content {runs[w][1][-1]:.3g}" for w in weights)


@_register(
    "10.4",
    "Start from noise",
    expects='a dict {"photo": {"image": final image, "content": history[\'content\']}, '
    '"noise": {...the same for the noise start}}, both runs with the same steps; pass '
    "content_image=",
    verifies="the photo start begins at zero content loss, the noise start far above it and "
    "its content loss falls, and the noise start's final image has begun to show the photo",
    hint="run the loop twice, once with generated = tf.Variable(content_image) and once "
    "starting from uniform noise, each with a fresh optimizer and train_step, and keep each "
    "run's final image and history['content'].",
)
def _check_10_4(answer: Any, **context: Any) -> str:
    answer = _mapping(answer, ("photo", "noise"), "the two runs")
    photo_image = _photo(context)
    from_photo, photo = _run(answer["photo"], photo_image, "the photo start")
    from_noise, noise = _run(answer["noise"], photo_image, "the noise start")
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
    _need(
        _likeness(from_photo, photo_image) >= 0.5,
        "the photo start's final image does not resemble the photo: is it that run's image?",
    )
    _need(
        float(np.mean(np.abs(from_noise - from_photo))) > 1e-3,
        "the two runs' final images are the same: pass each run's own image.",
    )
    likeness = _likeness(from_noise, photo_image)
    _need(
        likeness >= 0.1,
        "the noise start's final image shows nothing of the photo yet (its pixels do not "
        "correlate with the photo's): is it the image the noise run produced? More steps help.",
    )
    return (
        f"noise start: content loss {noise[0]:.3g} -> {noise[-1]:.3g} in {len(noise)} steps, "
        f"correlation with the photo {likeness:.2f}"
    )
