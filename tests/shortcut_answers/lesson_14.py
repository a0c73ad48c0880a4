"""Shortcut answers for lesson 14's checks (data, leakage and tuning): each must FAIL."""

from __future__ import annotations

import contextlib
import io
import tempfile

import numpy as np

from shortcut_answers import Shortcut

# A FAIL of 14.1 must not say how close a set is, nor which letters are right.
_NO_DIRECTION = (
    "correct so far",
    "missing",
    "one or more",
    "only training data",
    "removes a leak",
    "'d'",
    "a, d, e",
)


def _regression(seed=1, n=240):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x @ np.array([1.0, -0.5, 0.3, 0.2]) + 2).astype("float32")


def _build(hp):
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=(4,)),
            keras.layers.Dense(hp.Choice("units", [4, 8])),
            keras.layers.Dense(1),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss="mse",
        metrics=[keras.metrics.RootMeanSquaredError(name="rmse")],
    )
    return model


def _hyperband(factor=3, objective="val_rmse", direction="min", max_epochs=2):
    import keras_tuner

    return keras_tuner.Hyperband(
        _build,
        objective=keras_tuner.Objective(objective, direction=direction),
        max_epochs=max_epochs,
        factor=factor,
        seed=1,
        directory=tempfile.mkdtemp(prefix="shortcut_14_2_"),
        overwrite=True,
    )


def _searched_on_other_rows():
    # a real search, but the x_val, y_val passed along are not the rows it was judged on
    tuner = _hyperband()
    x, y = _regression(1)
    with contextlib.redirect_stdout(io.StringIO()):
        tuner.search(x[:160], y[:160], validation_data=(x[160:], y[160:]), verbose=0)
    x_other, _ = _regression(2, 80)
    y_other = np.random.default_rng(3).normal(2, 1, 80).astype("float32")
    return tuner, {"x_val": x_other, "y_val": y_other}


def _val_rows():
    x, y = _regression(4, 120)
    return {"x_val": x, "y_val": y}


SHORTCUTS = {
    "14.1": [
        Shortcut("every step", lambda: ({"a", "b", "c", "d", "e"}, {}), _NO_DIRECTION),
        Shortcut("two of the three leaks", lambda: ({"a", "d"}, {}), _NO_DIRECTION),
        Shortcut(
            "the leaks and a step that removes one",
            lambda: ({"a", "c", "d", "e"}, {}),
            _NO_DIRECTION,
        ),
        Shortcut("only the test-set selection", lambda: ("d", {}), _NO_DIRECTION),
    ],
    "14.2": [
        Shortcut("a Hyperband that never searched", lambda: (_hyperband(), _val_rows()), ()),
        Shortcut(
            "a Hyperband with another reduction factor",
            lambda: (_hyperband(factor=2), _val_rows()),
            (),
        ),
        Shortcut(
            "a Hyperband that minimizes the training loss",
            lambda: (_hyperband(objective="loss"), _val_rows()),
            (),
        ),
        Shortcut(
            "a search checked against other rows than its validation rows",
            _searched_on_other_rows,
            (),
        ),
    ],
}
