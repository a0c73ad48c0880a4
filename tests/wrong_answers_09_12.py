"""Wrong answers for the exercise checks of lessons 09-12 (tests/test_exercises.py).

Per exercise id: (a factory returning the wrong answer, the **context to pass, strings that must
not appear in the FAIL message because they would give the solution away).
"""

from __future__ import annotations

import numpy as np


def _sentiment_model(mask_zero=True, bidirectional=False, units=8, dim=8, dropout=0.1, rate=1e-3):
    """A tiny text model in the shape of lesson 09's make_model (vocabulary from 3 sentences)."""
    import keras
    from keras import layers

    vectorizer = layers.TextVectorization(max_tokens=50, output_sequence_length=12)
    vectorizer.adapt(["a great film", "a boring film", "not good at all"])
    inputs = keras.Input(shape=(1,), dtype="string")
    x = layers.Embedding(50, dim, mask_zero=mask_zero)(vectorizer(inputs))
    if bidirectional:
        x = layers.Bidirectional(layers.LSTM(units, dropout=dropout))(x)
    else:
        x = layers.LSTM(units, dropout=dropout)(x)
    model = keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=rate), loss="binary_crossentropy")
    return model


class _SaysNegative:
    """A stand-in sentiment model that calls every review negative."""

    def predict(self, texts, verbose=0):
        return np.full((len(texts), 1), 0.1)


def _vectorizer():
    from keras import layers

    vectorizer = layers.TextVectorization(max_tokens=6, output_sequence_length=10)
    vectorizer.adapt(["the film the film the", "a film"])
    return vectorizer


_TEXTS = ["the film was a flimflorp", "the end", "zork the film"]


def _naive_saturating_loss(fake_logits):
    import tensorflow as tf

    return tf.reduce_mean(tf.math.log(1.0 - tf.sigmoid(fake_logits)))  # -inf for large logits


def _fitted_dummy():
    from sklearn.dummy import DummyClassifier

    X = np.random.default_rng(0).normal(size=(100, 3))
    return DummyClassifier(strategy="prior").fit(X, np.r_[np.zeros(80), np.ones(20)])


def _fraud_split():
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(180, int), np.ones(20, int)]
    X = rng.normal(size=(200, 3)) + 2.0 * y[:, None]
    return X, y


_X_FRAUD, _Y_FRAUD = _fraud_split()


def _fraud_validation():
    from shortcut_answers import lesson_12

    return {
        "X_val": lesson_12.X_VAL,
        "y_val": lesson_12.Y_VAL,
        "autoencoder": lesson_12.AUTOENCODER,
    }


def _flipped_error(x):
    from shortcut_answers import lesson_12

    return -np.mean((x - lesson_12.AUTOENCODER.predict(x)) ** 2, axis=1)


def _fraud_splits():
    return {"X_train": _X_FRAUD, "y_train": _Y_FRAUD, "X_val": _X_FRAUD, "y_val": _Y_FRAUD}


WRONG = {
    # the "unmasked" model still masks the padding (and neither model is trained)
    "09.1": (
        lambda: {
            "masked": _sentiment_model(),
            "unmasked": _sentiment_model(),
            "lower_without_mask": False,
        },
        {},
        [],
    ),
    # a positive review: nothing negative to fool the model with
    "09.2": (
        lambda: "A wonderful, brilliant film with superb acting.",
        {"model": _SaysNegative()},
        [],
    ),
    # the lesson's default BiLSTM instead of the best trial's hyperparameters
    "09.3": (
        lambda: _sentiment_model(bidirectional=True, units=8, dim=8, dropout=0.1, rate=1e-3),
        {
            "hyperparameters": {
                "units": 16,
                "embedding_dim": 8,
                "dropout": 0.2,
                "learning_rate": 3e-3,
            }
        },
        [],
    ),
    # counts the padding as tokens
    "09.4": (lambda: 0.05, {"vectorizer": _vectorizer(), "texts": _TEXTS}, []),
    "10.1": (lambda: [[1.5, 1.0], [1.0, 2.75]], {}, ["1.25"]),
    "10.2": (lambda: (28, 28), {}, ["(512, 512)", "512"]),
    "11.1": (lambda: ((14, 14, 32), 4 * 4 * 32), {}, ["32800", "32,800", "(28, 28, 32)"]),
    # forgets one end of the path: n + 1 points, last one dropped
    "11.2": (lambda: lambda z0, z1, n: np.linspace(z0, z1, n + 1)[:-1], {}, []),
    "11.3": (lambda: _naive_saturating_loss, {}, ["softplus(-", "log_sigmoid(-"]),
    # the sample's fraud rate instead of 0.1 %
    "12.1": (
        lambda: 0.9 * 0.197 / (0.9 * 0.197 + 0.02 * 0.803),
        {"tpr": 0.9, "fpr": 0.02},
        ["0.043", "0.04314"],
    ),
    # sine and cosine of the raw seconds, not of the hour of day
    "12.2": (
        lambda: lambda t: np.column_stack([np.sin(np.asarray(t)), np.cos(np.asarray(t))]),
        {},
        [],
    ),
    # lower = more suspicious: the sign of the reconstruction error is flipped
    "12.3": (lambda: _flipped_error, _fraud_validation(), ["rankdata("]),
    "12.4": (_fitted_dummy, _fraud_splits(), []),
}
