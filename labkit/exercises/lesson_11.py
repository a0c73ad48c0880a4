"""Checks for the exercises of lesson 11 · Generative adversarial networks.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from labkit.exercises import (
    Fail,
    _callable,
    _context,
    _integer,
    _mapping,
    _need,
    _number,
    _register,
    _shape,
)


@_register(
    "11.1",
    "Upsampling by hand",
    expects="a tuple (output_shape, parameter_count), e.g. ((h, w, c), n)",
    verifies="both the output shape and the parameter count of Conv2DTranspose(32, 4, "
    "strides=2, padding='same') on 14 x 14 x 64",
    hint="with padding='same' a stride-2 transposed convolution exactly doubles height and "
    "width; the kernel has one 4 x 4 weight per (input channel, output channel), plus one bias "
    "per output channel.",
)
def _check_11_1(answer: Any, **context: Any) -> None:
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Fail(f"expected a tuple (output_shape, parameter_count), got {answer!r}.")
    shape = _shape(answer[0], 3, "the output shape (height, width, channels)")
    params = _integer(answer[1], "the parameter count")
    _need(shape == (14 * 2, 14 * 2, 32), "the output shape is wrong.")
    _need(params == 4 * 4 * 64 * 32 + 32, "the parameter count is wrong.")


def _latent_reference(z0: np.ndarray, z1: np.ndarray, n: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) * z0[None, :] + t * z1[None, :]


@_register(
    "11.2",
    "Walk through the latent space",
    expects="a function latent_path(z0, z1, n) -> array (n, len(z0))",
    verifies="your path starts at z0, ends at z1 and takes n equal steps on the straight line, "
    "on random vectors and for several n",
    hint="every point of the straight line is a weighted mix of the two ends, the weight of z1 "
    "going from 0 to 1 in equal steps; np.linspace makes equal steps, and NumPy broadcasting "
    "of a column of weights against a row vector gives one point per row.",
)
def _check_11_2(answer: Any, **context: Any) -> None:
    latent_path = _callable(answer, "a function latent_path(z0, z1, n)")
    rng = np.random.default_rng(10)
    for dim, n in ((100, 8), (3, 2), (16, 5)):
        z0 = rng.normal(size=dim).astype("float32")
        z1 = rng.normal(size=dim).astype("float32")
        got = np.asarray(latent_path(z0.copy(), z1.copy(), n), dtype=float)
        _need(
            got.shape == (n, dim),
            f"for n = {n} and {dim}-d vectors expected shape ({n}, {dim}), got {got.shape}.",
        )
        _need(np.allclose(got[0], z0, atol=1e-5), "the path does not start at z0.")
        _need(np.allclose(got[-1], z1, atol=1e-5), "the path does not end at z1.")
        _need(
            np.allclose(got, _latent_reference(z0, z1, n), atol=1e-4),
            f"for n = {n} the steps are not equal, or the points leave the straight line.",
        )


@_register(
    "11.3",
    "Provoke instability",
    expects="a function saturating_generator_loss(fake_logits) -> scalar tensor or float",
    verifies="your loss is the minimax generator loss mean(log(1 - sigmoid(logit))), finite "
    "even for extreme logits",
    hint="the generator MINIMISES log(1 - p) with p = sigmoid(logit); written naively, "
    "1 - sigmoid(40) is 0 in float32 and the log is -inf. Use 1 - sigmoid(x) = sigmoid(-x) "
    "and a log-sigmoid (or softplus) function from keras.ops or tf.math.",
)
def _check_11_3(answer: Any, **context: Any) -> None:
    import tensorflow as tf

    loss = _callable(answer, "a function saturating_generator_loss(fake_logits)")
    rng = np.random.default_rng(3)
    for scale in (1.0, 4.0):
        logits = (rng.normal(size=(64, 1)) * scale).astype("float32")
        got = _number(float(np.asarray(loss(tf.constant(logits)))), "the loss")
        expected = float(np.mean(-np.logaddexp(0.0, logits.astype(float))))
        if math.isclose(got, -expected, rel_tol=1e-3, abs_tol=1e-4):
            raise Fail("your loss has the wrong sign: the generator minimises log(1 - p).")
        _need(
            math.isclose(got, expected, rel_tol=1e-3, abs_tol=1e-4),
            "on random logits your loss differs from the mean of log(1 - sigmoid(logit)).",
        )
    extreme = tf.constant([[40.0], [-40.0], [0.0]])
    value = float(np.asarray(loss(extreme)))
    _need(math.isfinite(value), "for a logit of 40 your loss is not finite: compute it stably.")
    _need(
        math.isclose(value, float(np.mean(-np.logaddexp(0.0, [40.0, -40.0, 0.0]))), rel_tol=1e-3),
        "for extreme logits (40 and -40) your loss is inaccurate: compute it stably.",
    )


_JUDGED = 500  # fakes the check draws itself (its own noise) and lets the judge grade


def _fashion_judge_accuracy(judge: Any) -> float:
    """The judge's accuracy on the last 1,000 Fashion-MNIST training images (which the lesson
    holds out as the judge's validation split), scaled to [-1, 1] like the GAN's images."""
    from labkit import datasets

    (x_train, y_train), _ = datasets.load_fashion_mnist()
    x = (x_train[-1000:].astype("float32")[..., None] - 127.5) / 127.5
    probabilities = np.asarray(judge.predict(x, batch_size=500, verbose=0))
    _need(
        probabilities.shape == (len(x), 10),
        f"the judge must output 10 class probabilities per image, got {probabilities.shape}.",
    )
    return float(np.mean(probabilities.argmax(axis=1) == y_train[-1000:]))


@_register(
    "11.4",
    "Clothes instead of digits",
    expects='a dict {"generator": the trained generator, "judge": the trained judging '
    'classifier, "counts": {article name: confidently recognised fakes}} of the '
    "Fashion-MNIST run; pass confidence=CONFIDENCE",
    verifies="your judge recognises real Fashion-MNIST articles (held-out training images, "
    "not the test set), your generator was trained (its fakes have a dark background), and "
    "the check's own draw of 500 fakes, graded by your judge, covers at least two article "
    "types, one of the two most frequent being the article your counts put first",
    hint="set DATASET = 'fashion_mnist' and rerun everything (the generator and the judge "
    "too); the counts are the confident predictions of section 9 per class, keyed by "
    "class_names.",
)
def _check_11_4(answer: Any, **context: Any) -> str:
    import keras

    from labkit.datasets import FASHION_MNIST_CLASSES

    answer = _mapping(answer, ("generator", "judge", "counts"), "your Fashion-MNIST run")
    reported = answer["counts"]
    if not isinstance(reported, Mapping):
        raise Fail(f"expected a dict {{article name: count}}, got {type(reported).__name__}.")
    _need(
        {str(k) for k in reported} == set(FASHION_MNIST_CLASSES),
        "the keys of 'counts' are not the 10 Fashion-MNIST class names: did you rerun with "
        "DATASET = 'fashion_mnist' and use class_names?",
    )
    counts = {str(k): _integer(v, "a count (dict value)") for k, v in reported.items()}
    _need(min(counts.values()) >= 0, "counts are never negative.")
    (confidence,) = _context(context, "confidence")
    confidence = _number(confidence, "the confidence bar")
    _need(0.5 <= confidence < 1, "confidence= must lie between 0.5 and 1 (the lesson's bar).")
    generator, judge = answer["generator"], answer["judge"]
    for model, what in ((generator, "the generator"), (judge, "the judge")):
        if not isinstance(model, keras.Model):
            raise Fail(f"expected {what} as a keras.Model, got {type(model).__name__}.")
    accuracy = _fashion_judge_accuracy(judge)
    _need(
        accuracy >= 0.7,
        f"the judge recognises {accuracy:.0%} of held-out real Fashion-MNIST images: train it "
        "on Fashion-MNIST, scaled to [-1, 1] like the GAN's images.",
    )
    latent = int(generator.input_shape[-1])
    noise = np.random.default_rng(104).normal(size=(_JUDGED, latent)).astype("float32")
    fakes = np.asarray(generator.predict(noise, batch_size=250, verbose=0))
    _need(fakes.shape == (_JUDGED, 28, 28, 1), "the generator must draw 28 x 28 x 1 images.")
    _need(
        float(np.mean(fakes < -0.9)) >= 0.2,
        "the generator's fakes have no dark background: it has not learnt what an article "
        "photo looks like yet (an untrained generator draws grey noise). Train it.",
    )
    probabilities = np.asarray(judge.predict(fakes, batch_size=250, verbose=0))
    confident = probabilities.max(axis=1) >= confidence
    measured = np.bincount(probabilities.argmax(axis=1)[confident], minlength=10)
    covered = [FASHION_MNIST_CLASSES[i] for i in np.flatnonzero(measured)]
    _need(
        len(covered) >= 2,
        "the check's own fakes are confidently recognised as at most one article type: the "
        "generator has collapsed (section 10), or trains too briefly.",
    )
    leaders = [FASHION_MNIST_CLASSES[i] for i in np.argsort(measured)[::-1][:2]]
    top = leaders[0]
    _need(
        max(counts, key=counts.get) in leaders,
        "your counts do not match what your generator and judge produce: the article your "
        "counts put first is not among the two the check's own fakes show most. Pass the "
        "counts of this run.",
    )
    return f"most often {top} ({measured.max()} of {_JUDGED}), {len(covered)} article types seen"
