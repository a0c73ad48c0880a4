"""Shortcut answers for the exercises of lesson 06 · A multilayer perceptron on MNIST.

Each must FAIL: untrained or wrongly built models, made-up numbers, made-up Histories wrapped
around a model that never learnt, and the same run passed off as several.
"""

from __future__ import annotations

import numpy as np

from shortcut_answers import Shortcut


def _mlp(*hidden, dropout=0.0):
    import keras
    from keras import layers

    model = keras.Sequential([keras.Input(shape=(28, 28)), layers.Flatten()])
    for units in hidden:
        model.add(layers.Dense(units, activation="relu"))
        if dropout:
            model.add(layers.Dropout(dropout))
    model.add(layers.Dense(10, activation="softmax"))
    return model


def _constant_deeper():
    """Two Dense(256) with zero weights and a bias that always says "1": a constant predictor."""
    model = _mlp(256, 256)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            layer.set_weights([np.zeros_like(w) for w in weights])
    kernel, bias = model.layers[-1].get_weights()
    bias[1] = 5.0
    model.layers[-1].set_weights([kernel, bias])
    return model


def _compiled(rate, *hidden):
    import keras

    model = _mlp(*(hidden or (128,)))
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=rate), loss="categorical_crossentropy"
    )
    return model


def _made_up_history(model, n_images, accuracy, val_accuracy, epochs=5, batch_size=32):
    """A History filled in by hand around ``model``: plausible numbers, no training."""
    import keras

    history = keras.callbacks.History()
    history.set_model(model)
    history.set_params({"verbose": 0, "epochs": epochs, "steps": -(-n_images // batch_size)})
    history.history = {
        "loss": list(np.linspace(1.0, 0.1, epochs)),
        "accuracy": list(np.linspace(0.8, accuracy, epochs)),
        "val_loss": list(np.linspace(1.0, 0.4, epochs)),
        "val_accuracy": list(np.linspace(0.8, val_accuracy, epochs)),
    }
    return history


def _made_up_dropout_runs():
    return {
        rate: _made_up_history(_mlp(512, dropout=rate), 3000, 0.99, 0.95 + rate / 100)
        for rate in (0.0, 0.2, 0.5)
    }


def _one_dropout_run_three_times():
    run = _made_up_history(_mlp(512, dropout=0.2), 3000, 0.99, 0.95)
    return {0.0: run, 0.2: run, 0.5: run}


def _made_up_gap_histories():
    gaps = {1000: 0.12, 2000: 0.08, 5000: 0.05, 10000: 0.03}
    return {n: _made_up_history(_mlp(512, 512), n, 1.0, 1.0 - g) for n, g in gaps.items()}


def _one_run_under_every_size():
    run = _made_up_history(_mlp(512, 512), 1000, 1.0, 0.9)
    return {1000: run, 2000: run, 5000: run}


SHORTCUTS = {
    "06.1": [
        Shortcut("the deeper model, built but never trained", lambda: (_mlp(256, 256), {})),
        Shortcut("a constant predictor with the right layers", lambda: (_constant_deeper(), {})),
        Shortcut(
            "the main model unchanged", lambda: (_mlp(512), {}), forbidden=("269,322", "269322")
        ),
    ],
    "06.2": [
        Shortcut(
            "compiled at the asked rates but never trained",
            lambda: ({"batch": _compiled(0.5), "stochastic": _compiled(0.005)}, {}),
            forbidden=("0.005",),
        ),
        Shortcut(
            "the lesson's rate for both, untrained",
            lambda: ({"batch": _compiled(0.05), "stochastic": _compiled(0.05)}, {}),
            forbidden=("0.005", "0.5"),
        ),
        Shortcut(
            "one model under both names",
            lambda: ({"batch": (m := _compiled(0.5)), "stochastic": m}, {}),
        ),
    ],
    "06.3": [
        Shortcut(
            "the make_model function instead of the runs", lambda: (lambda rate: _mlp(512), {})
        ),
        Shortcut(
            "made-up Histories around untrained models", lambda: (_made_up_dropout_runs(), {})
        ),
        Shortcut("one run under all three rates", lambda: (_one_dropout_run_three_times(), {})),
    ],
    "06.4": [
        Shortcut(
            "a dict of plausible gaps",
            lambda: ({1000: 0.12, 2000: 0.08, 5000: 0.05, 10000: 0.03}, {}),
        ),
        Shortcut(
            "made-up Histories around untrained models", lambda: (_made_up_gap_histories(), {})
        ),
        Shortcut("one run under every size", lambda: (_one_run_under_every_size(), {})),
    ],
}
