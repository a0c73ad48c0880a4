"""Shortcut answers for lesson 07's checks (tests/test_exercises.py feeds them; each must FAIL)."""

from __future__ import annotations

import numpy as np

from shortcut_answers import Shortcut


def _convnet(improved=False):
    import keras
    from keras import layers

    padding = "same" if improved else "valid"
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, kernel_size=3, activation="relu", padding=padding),
            layers.MaxPooling2D(pool_size=2),
            layers.Conv2D(64, kernel_size=3, activation="relu", padding=padding),
            layers.MaxPooling2D(pool_size=2),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ]
    )


def _fitted(model, epochs, front=None):
    """Fit on 32 random images (one step per epoch), validated on 16 more."""
    rng = np.random.default_rng(0)
    x = rng.random((48, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, 48)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        x[:32], y[:32], batch_size=32, epochs=epochs, validation_data=(x[32:], y[32:]), verbose=0
    )
    return model, history, x[32:], y[32:]


def _unchanged_twice():
    return {"model": _convnet(), "baseline": _convnet()}, {}


def _untrained_improvement():
    return {"model": _convnet(improved=True), "baseline": _convnet()}, {}


def _longer_training():
    model, *_ = _fitted(_convnet(improved=True), epochs=6)
    baseline, *_ = _fitted(_convnet(), epochs=2)
    return {"model": model, "baseline": baseline}, {}


def _tiny_model(augment):
    import keras
    from keras import layers

    front = [layers.RandomRotation(0.05), layers.RandomZoom(0.1)] if augment else []
    return keras.Sequential(
        [keras.Input(shape=(28, 28, 1)), *front, layers.Flatten(), layers.Dense(10, "softmax")]
    )


def _made_up_histories():
    import keras

    runs = {}
    for key, curve in (
        ("plain", [1.0, 0.8, 0.9] + [1.0] * 27),
        ("augmented", np.linspace(2, 1, 30)),
    ):
        history = keras.callbacks.History()
        history.history = {"loss": list(curve), "val_loss": list(curve)}
        history.set_model(_tiny_model(key == "augmented"))
        runs[key] = history
    answer = {**runs, "best_epoch": {"plain": 2, "augmented": 30}, "later": "augmented"}
    x = np.zeros((4, 28, 28, 1), "float32")
    return answer, {"x_val": x, "y_val": np.zeros(4, int)}


def _real_runs(wrong):
    runs, best = {}, {}
    for key in ("plain", "augmented"):
        _, history, x_val, y_val = _fitted(_tiny_model(key == "augmented"), epochs=20)
        runs[key] = history
        best[key] = int(np.argmin(history.history["val_loss"])) + 1
    if wrong == "epochs":  # plausible round numbers instead of the histories' best epochs
        best = {"plain": best["plain"] % 20 + 1, "augmented": best["augmented"] % 20 + 1}
        later = "augmented"
    else:  # the expected story, whatever the histories say
        later = "plain" if best["augmented"] > best["plain"] else "augmented"
    return {**runs, "best_epoch": best, "later": later}, {"x_val": x_val, "y_val": y_val}


def _flip_kept():
    import keras
    from keras import layers

    return keras.Sequential(
        [
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(0.03),
            layers.RandomZoom(0.05),
            layers.RandomTranslation(0.05, 0.05),
        ]
    ), {}


def _vertical_flip():
    import keras
    from keras import layers

    return keras.Sequential(
        [layers.RandomFlip("vertical"), layers.RandomRotation(0.03), layers.RandomZoom(0.05)]
    ), {}


def _do_nothing_block():
    import keras
    from keras import layers

    return keras.Sequential([layers.RandomRotation(0.0), layers.RandomTranslation(0.0, 0.0)]), {}


def _upside_down():
    import keras
    from keras import layers

    return keras.Sequential([layers.RandomRotation(0.5), layers.RandomZoom(0.05)]), {}


SHORTCUTS = {
    "07.1": [
        Shortcut(
            "the shape and count of the lesson's second convolution",
            lambda: (((11, 11, 64), 18_496), {}),
            ("73856", "73,856", "(3, 3, 128)"),
        ),
        Shortcut(
            "the right shape, the weights without biases",
            lambda: (((3, 3, 128), 3 * 3 * 64 * 128), {}),
            ("73856", "73,856"),
        ),
    ],
    "07.2": [
        Shortcut("the lesson's network as both model and baseline", _unchanged_twice),
        Shortcut("an untrained changed network", _untrained_improvement),
        Shortcut("the changed network trained longer than the baseline", _longer_training),
    ],
    "07.3": [
        Shortcut("the lesson's Fashion-MNIST block, flip included", _flip_kept),
        Shortcut("a vertical flip instead of the horizontal one", _vertical_flip),
        Shortcut("augmentation layers that do nothing", _do_nothing_block),
        Shortcut("a rotation that turns digits upside down", _upside_down),
    ],
    "07.4": [
        Shortcut(
            "the old one-line helper instead of the experiment",
            lambda: (lambda history: int(np.argmin(history.history["val_loss"])) + 1, {}),
        ),
        Shortcut("made-up histories on untrained models", _made_up_histories),
        Shortcut("real runs, best epochs made up", lambda: _real_runs("epochs")),
        Shortcut(
            "real runs, the expected story instead of the measured one", lambda: _real_runs("later")
        ),
    ],
}
