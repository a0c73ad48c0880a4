"""Checks for the exercises of lesson 10 · Generative adversarial networks.

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
    _integer,
    _need,
    _number,
    _register,
    _shape,
)


@_register(
    "10.1",
    "Upsampling by hand",
    expects="a tuple (output_shape, parameter_count), e.g. ((h, w, c), n)",
    verifies="both the output shape and the parameter count of Conv2DTranspose(32, 4, "
    "strides=2, padding='same') on 14 x 14 x 64",
    hint="with padding='same' a stride-2 transposed convolution exactly doubles height and "
    "width; the kernel has one 4 x 4 weight per (input channel, output channel), plus one bias "
    "per output channel.",
)
def _check_10_1(answer: Any, **context: Any) -> None:
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
    "10.2",
    "Walk through the latent space",
    expects="a function latent_path(z0, z1, n) -> array (n, len(z0))",
    verifies="your path starts at z0, ends at z1 and takes n equal steps on the straight line, "
    "on random vectors and for several n",
    hint="np.linspace(0, 1, n)[:, None] gives the mixing weights t; the vectors are "
    "(1 - t) z0 + t z1.",
)
def _check_10_2(answer: Any, **context: Any) -> None:
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
    "10.3",
    "Provoke instability",
    expects="a function saturating_generator_loss(fake_logits) -> scalar tensor or float",
    verifies="your loss is the minimax generator loss mean(log(1 - sigmoid(logit))), finite "
    "even for extreme logits",
    hint="the generator MINIMISES log(1 - p) with p = sigmoid(logit); written naively, "
    "1 - sigmoid(40) is 0 in float32 and the log is -inf. Use 1 - sigmoid(x) = sigmoid(-x) "
    "and a log-sigmoid (or softplus) function from keras.ops or tf.math.",
)
def _check_10_3(answer: Any, **context: Any) -> None:
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


@_register(
    "10.4",
    "Clothes instead of digits",
    expects="a dict {article name: number of generated images the judge recognised "
    "confidently} for the 10 Fashion-MNIST classes",
    verifies="your counts are the Fashion-MNIST classes and the generator covers at least two "
    "article types",
    hint="set DATASET = 'fashion_mnist' and rerun everything (the judge too); "
    "dict(zip(class_names, trained['counts'])) gives the counts of section 9.",
)
def _check_10_4(answer: Any, **context: Any) -> str:
    from labkit.datasets import FASHION_MNIST_CLASSES

    if not isinstance(answer, Mapping):
        raise Fail(f"expected a dict {{article name: count}}, got {type(answer).__name__}.")
    names = [str(k) for k in answer]
    _need(
        set(names) == set(FASHION_MNIST_CLASSES),
        "the keys are not the 10 Fashion-MNIST class names: did you rerun with "
        "DATASET = 'fashion_mnist' and use class_names?",
    )
    counts = {str(k): _integer(v, "a count (dict value)") for k, v in answer.items()}
    _need(min(counts.values()) >= 0, "counts are never negative.")
    _need(sum(counts.values()) > 0, "the judge recognised no generated image: train longer.")
    covered = [name for name, n in counts.items() if n > 0]
    _need(
        len(covered) >= 2,
        "only one article type is ever recognised: the generator has collapsed (section 10).",
    )
    top = sorted(counts, key=counts.get, reverse=True)
    return f"most often {top[0]} ({counts[top[0]]}), {len(covered)} article types seen"
