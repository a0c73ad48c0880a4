"""Shortcut answers for lesson 08's checks (tests/test_exercises.py feeds them; each must FAIL)."""

from __future__ import annotations

import numpy as np

from shortcut_answers import Shortcut

_RNG = np.random.default_rng(7)
_FEATURES = _RNG.normal(size=(80, 3, 3, 8)).astype("float32")  # 4 classes x 20 "images"
_LABELS = np.repeat(np.arange(4), 20)
_VAL = {"features_val": _FEATURES[::4], "y_val": _LABELS[::4]}


def _head(trained_on=None):
    import keras
    from keras import layers

    head = keras.Sequential(
        [keras.Input(shape=(3, 3, 8)), layers.GlobalAveragePooling2D(), layers.Dense(4, "softmax")]
    )
    head.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if trained_on is not None:
        head.fit(_FEATURES[trained_on], _LABELS[trained_on], batch_size=8, epochs=1, verbose=0)
    return head


def _one_head_for_all():
    head = _head(trained_on=np.arange(80))
    return {2: head, 5: head, 20: head}, _VAL


def _all_images_every_size():
    return {k: _head(trained_on=np.arange(80)) for k in (2, 5, 20)}, _VAL


def _untrained_heads():
    return {k: _head() for k in (2, 5, 20)}, _VAL


def _mobilenet_with_augmentation(flip_rotation=(0.1,), frozen=False):
    import keras
    from keras import layers

    base = keras.applications.MobileNet(
        input_shape=(32, 32, 3), alpha=0.25, include_top=False, weights=None
    )
    base.trainable = not frozen
    inputs = keras.Input(shape=(32, 32, 3))
    x = layers.RandomFlip("horizontal")(inputs) if flip_rotation[0] else inputs
    x = layers.RandomRotation(flip_rotation[0])(x)
    x = layers.Rescaling(1 / 127.5, offset=-1)(x)
    x = layers.GlobalAveragePooling2D()(base(x, training=False))
    model = keras.Model(inputs, layers.Dense(4, activation="softmax")(x))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    val = {"x_val": _RNG.uniform(0, 255, (24, 32, 32, 3)), "y_val": np.arange(24) % 4}
    return model, val


def _no_op_augmentation():
    import keras
    from keras import layers

    inputs = keras.Input(shape=(32, 32, 3))
    base = keras.applications.MobileNet(
        input_shape=(32, 32, 3), alpha=0.25, include_top=False, weights=None
    )
    x = layers.RandomFlip("horizontal")(inputs)
    x = layers.RandomRotation(0.0)(x)
    x = base(layers.Rescaling(1 / 127.5, offset=-1)(x))
    model = keras.Model(inputs, layers.Dense(4, "softmax")(layers.GlobalAveragePooling2D()(x)))
    return model, {}


def _tiny_base_model():
    import keras
    from keras import layers

    inputs = keras.Input(shape=(32, 32, 3))
    base = keras.Sequential([keras.Input(shape=(32, 32, 3)), layers.Conv2D(4, 3)], name="base")
    x = layers.RandomRotation(0.1)(layers.RandomFlip("horizontal")(inputs))
    outputs = layers.Dense(3)(layers.GlobalAveragePooling2D()(base(x)))
    return keras.Model(inputs, outputs), {}


SHORTCUTS = {
    "08.1": [
        Shortcut(
            "the two blocks counted with their BatchNormalization weights",
            lambda: (
                9 * 128 + 128 * 256 + 9 * 256 + 256 * 256 + 4 * 2 * (128 + 256) + 257 * 12,
                {"n_classes": 12},
            ),
            ("108,812", "108812"),
        ),
        Shortcut(
            "the whole base's parameter count from model.summary()",
            lambda: (218_544, {"n_classes": 12}),
            ("108,812", "108812"),
        ),
    ],
    "08.2": [
        Shortcut("a total stride of 16", lambda: ((20, 20, 256), {}), ("(10, 10, 256)",)),
        Shortcut(
            "the full-width MobileNet's channels", lambda: ((10, 10, 1024), {}), ("(10, 10, 256)",)
        ),
    ],
    "08.3": [
        Shortcut(
            "plausible accuracies typed in",
            lambda: ({5: 0.62, 10: 0.71, 20: 0.8, 50: 0.86}, _VAL),
        ),
        Shortcut("one head passed for every size", _one_head_for_all),
        Shortcut("every head trained on all the images", _all_images_every_size),
        Shortcut("untrained heads", _untrained_heads),
    ],
    "08.4": [
        Shortcut("a small stand-in base instead of MobileNet", _tiny_base_model),
        Shortcut("augmentation layers that never rotate", _no_op_augmentation),
        Shortcut("the augmented model, never trained", _mobilenet_with_augmentation),
        Shortcut(
            "augmentation in front of a frozen base (not the fine-tuning model)",
            lambda: _mobilenet_with_augmentation(frozen=True),
        ),
    ],
}
