"""Shortcut answers for lesson 11's checks (tests/test_exercises.py feeds them; each must FAIL)."""

from __future__ import annotations

import functools

import numpy as np

from shortcut_answers import Shortcut

_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip


def _slerp(z0, z1, n):
    z0, z1 = np.asarray(z0, float), np.asarray(z1, float)
    omega = np.arccos(np.clip(z0 @ z1 / np.linalg.norm(z0) / np.linalg.norm(z1), -1, 1))
    t = np.linspace(0, 1, n)[:, None]
    return (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)


def _jump(z0, z1, n):
    half = n // 2
    return np.array([z0] * half + [z1] * (n - half))


def _non_saturating(fake_logits):
    import tensorflow as tf

    return tf.reduce_mean(tf.math.softplus(-fake_logits))  # -log(sigmoid): the lesson's loss


def _discriminator_fake_term(fake_logits):
    import tensorflow as tf

    return tf.reduce_mean(tf.math.softplus(fake_logits))  # -log(1 - sigmoid): the D's term


def _clipped_naive(fake_logits):
    import tensorflow as tf

    return tf.reduce_mean(tf.math.log(tf.maximum(1.0 - tf.sigmoid(fake_logits), 1e-7)))


def _generator(kind):
    import keras
    from keras import layers

    inputs = keras.Input(shape=(16,))
    if kind == "untrained":
        x = layers.Dense(7 * 7 * 8)(inputs)
        x = layers.Reshape((7, 7, 8))(x)
        x = layers.Conv2DTranspose(8, 4, strides=2, padding="same")(x)
        outputs = layers.Conv2DTranspose(1, 4, strides=2, padding="same", activation="tanh")(x)
        return keras.Model(inputs, outputs)
    # "collapsed": ignores the noise and always draws the same real article
    from labkit import datasets

    (x_train, _), _ = datasets.load_fashion_mnist()
    image = (x_train[0].astype("float32") - 127.5) / 127.5
    dense = layers.Dense(28 * 28, kernel_initializer="zeros")
    outputs = layers.Reshape((28, 28, 1))(dense(inputs))
    model = keras.Model(inputs, outputs)
    dense.bias.assign(image.ravel())
    return model


@functools.lru_cache(maxsize=1)
def _quick_judge():
    """A softmax regression on 20,000 Fashion-MNIST images: a real, if modest, judge."""
    import keras
    from keras import layers

    from labkit import datasets

    (x_train, y_train), _ = datasets.load_fashion_mnist()
    x = (x_train[:20_000].astype("float32")[..., None] - 127.5) / 127.5
    keras.utils.set_random_seed(0)
    judge = keras.Sequential(
        [keras.Input(shape=(28, 28, 1)), layers.Flatten(), layers.Dense(10, activation="softmax")]
    )
    judge.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    judge.fit(x, y_train[:20_000], batch_size=256, epochs=2, verbose=0)
    return judge


def _untrained_judge():
    import keras
    from keras import layers

    return keras.Sequential(
        [keras.Input(shape=(28, 28, 1)), layers.Flatten(), layers.Dense(10, activation="softmax")]
    )


_MADE_UP = {name: n for name, n in zip(_CLASSES, [40, 30, 5, 12, 3, 20, 2, 25, 18, 9], strict=True)}

SHORTCUTS = {
    "11.1": [
        Shortcut(
            "a strided convolution's shape (it halves)",
            lambda: (((7, 7, 32), 4 * 4 * 64 * 32 + 32), {}),
            ("(28, 28, 32)",),
        ),
        Shortcut(
            "the right shape, the weights without biases",
            lambda: (((28, 28, 32), 4 * 4 * 64 * 32), {}),
            ("32800", "32,800"),
        ),
    ],
    "11.2": [
        Shortcut("a spherical path instead of the straight line", lambda: (_slerp, {})),
        Shortcut("a jump from z0 to z1 halfway", lambda: (_jump, {})),
        Shortcut(
            "always 8 points, whatever n",
            lambda: (lambda z0, z1, n: np.linspace(z0, z1, 8), {}),
        ),
    ],
    "11.3": [
        Shortcut(
            "the lesson's non-saturating loss", lambda: (_non_saturating, {}), ("log_sigmoid(-",)
        ),
        Shortcut(
            "the discriminator's fake term",
            lambda: (_discriminator_fake_term, {}),
            ("log_sigmoid(-",),
        ),
        Shortcut("the naive formula, clipped", lambda: (_clipped_naive, {}), ("log_sigmoid(-",)),
    ],
    "11.4": [
        Shortcut("made-up counts in the old format", lambda: (_MADE_UP, {"confidence": 0.9})),
        Shortcut(
            "made-up counts with untrained models",
            lambda: (
                {
                    "generator": _generator("untrained"),
                    "judge": _untrained_judge(),
                    "counts": _MADE_UP,
                },
                {"confidence": 0.9},
            ),
        ),
        Shortcut(
            "a real judge, an untrained generator",
            lambda: (
                {"generator": _generator("untrained"), "judge": _quick_judge(), "counts": _MADE_UP},
                {"confidence": 0.6},
            ),
        ),
        Shortcut(
            "a generator that always draws one real article",
            lambda: (
                {"generator": _generator("collapsed"), "judge": _quick_judge(), "counts": _MADE_UP},
                {"confidence": 0.6},
            ),
        ),
    ],
}
