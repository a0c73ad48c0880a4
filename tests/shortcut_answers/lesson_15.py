"""Shortcut answers for lesson 15's checks (monitoring, drift and the edge): each must FAIL."""

from __future__ import annotations

import contextlib
import io

import numpy as np

from shortcut_answers import Shortcut


def _psi(reference_values, live_values, bins=10):
    edges = np.unique(np.quantile(reference_values, np.linspace(0, 1, bins + 1)[1:-1]))

    def shares(values):
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        return np.clip(counts / len(values), 1e-4, None)

    expected, actual = shares(reference_values), shares(live_values)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _frames(share_short):
    import pandas as pd

    rng = np.random.default_rng(5)
    reference = pd.DataFrame(
        {
            "words": rng.integers(20, 600, 3000),
            "unknown_share": rng.uniform(0, 0.1, 3000),
        }
    )
    short = rng.random(200) < share_short
    live = pd.DataFrame(
        {
            "words": np.where(short, 8, rng.integers(20, 600, 200)),
            "unknown_share": np.where(short, 0.125, rng.uniform(0, 0.1, 200)),
        }
    )
    return reference, live


def _results(reference, live, flip=False):
    psis = {f: _psi(reference[f], live[f]) for f in ("words", "unknown_share")}
    fires = max(psis.values()) > 0.25
    return {
        "psi_words": psis["words"],
        "psi_unknown_share": psis["unknown_share"],
        "fires": (not fires) if flip else fires,
    }


def _reference_as_window():
    reference, _ = _frames(0.3)
    window = reference.iloc[:200].reset_index(drop=True)
    return _results(reference, window), {"reference": reference, "live": window}


def _made_up_psis():
    reference, live = _frames(0.3)
    return (
        {"psi_words": 0.31, "psi_unknown_share": 0.12, "fires": True},
        {"reference": reference, "live": live},
    )


def _all_headlines():
    reference, live = _frames(1.0)
    return _results(reference, live), {"reference": reference, "live": live}


def _fires_flipped():
    reference, live = _frames(0.3)
    return _results(reference, live, flip=True), {"reference": reference, "live": live}


def _regression(seed=1, n=240):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x @ np.array([1.0, -0.5, 0.3, 0.2]) + 2).astype("float32")


def _val_rows():
    x, y = _regression(4, 120)
    return {"x_val": x, "y_val": y}


def _flatbuffer(model, int8=False, dynamic=False):
    import tensorflow as tf

    x, _ = _regression(1)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8 or dynamic:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if int8:
        converter.representative_dataset = lambda: ([x[i : i + 1]] for i in range(100))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with contextlib.redirect_stdout(io.StringIO()):
        return converter.convert()


def _small_model(trained):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    if trained:
        x, y = _regression(1)
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
        model.fit(x, y, epochs=30, verbose=0)
    return model


SHORTCUTS = {
    "15.1": [
        Shortcut("the reference itself as the window", _reference_as_window, ()),
        Shortcut("made-up PSIs", _made_up_psis, ()),
        Shortcut("a window of headlines only", _all_headlines, ()),
        Shortcut("the decision turned round", _fires_flipped, ()),
    ],
    "15.2": [
        Shortcut(
            "the float32 flatbuffer",
            lambda: (_flatbuffer(_small_model(True)), _val_rows()),
            ("TFLITE_BUILTINS_INT8", "representative_dataset ="),
        ),
        Shortcut(
            "random bytes",
            lambda: (np.random.default_rng(0).bytes(2000), _val_rows()),
            ("TFLITE_BUILTINS_INT8", "representative_dataset ="),
        ),
        Shortcut(
            "an untrained network, fully integer",
            lambda: (_flatbuffer(_small_model(False), int8=True), _val_rows()),
            ("TFLITE_BUILTINS_INT8", "representative_dataset ="),
        ),
    ],
}
