"""Shortcut answers for lesson 09's checks (tests/test_exercises.py feeds them; each must FAIL)."""

from __future__ import annotations

import numpy as np

from shortcut_answers import Shortcut

_GOOD = ["a great film", "wonderful acting and a great story", "loved it, brilliant"]
_BAD = ["a boring film", "awful acting and a dull story", "hated it, terrible"]
_TEXTS = [_GOOD[i % 3] if i % 2 else _BAD[i % 3] for i in range(60)]
_LABELS = np.arange(60) % 2


def _lstm(mask=True, bidirectional=False, units=8, dropout=0.1, rate=1e-3, fit=None):
    import keras
    import tensorflow as tf
    from keras import layers

    vectorizer = layers.TextVectorization(max_tokens=50, output_sequence_length=12)
    vectorizer.adapt(_GOOD + _BAD)
    inputs = keras.Input(shape=(1,), dtype="string")
    x = layers.Embedding(50, 8, mask_zero=mask)(vectorizer(inputs))
    if bidirectional:
        x = layers.Bidirectional(layers.LSTM(units, dropout=dropout))(x)
    else:
        x = layers.LSTM(units, dropout=dropout)(x)
    model = keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=rate), loss="binary_crossentropy")
    if fit is not None:
        texts = tf.constant(_TEXTS)[:, None]
        validation = (texts, _LABELS) if fit == "validated" else None
        model.fit(texts, _LABELS, epochs=2, batch_size=30, validation_data=validation, verbose=0)
    return model


def _val():
    import tensorflow as tf

    return {"val_inputs": tf.constant(_TEXTS)[:, None], "val_labels": _LABELS}


def _old_style_guess():
    return {"lower_without_mask": True, "model": _lstm(mask=False)}, {}


def _untrained_guess():
    answer = {"masked": _lstm(), "unmasked": _lstm(mask=False), "lower_without_mask": True}
    return answer, _val()


def _masked_model_twice():
    model = _lstm(fit="validated")
    return {"masked": model, "unmasked": model, "lower_without_mask": False}, _val()


def _expected_story():
    masked, unmasked = _lstm(fit="validated"), _lstm(mask=False, fit="validated")
    context = _val()
    accuracy = [
        float(np.mean((m.predict(context["val_inputs"], verbose=0).ravel() > 0.5) == _LABELS))
        for m in (masked, unmasked)
    ]
    lower = accuracy[1] <= accuracy[0] - 0.02
    return {"masked": masked, "unmasked": unmasked, "lower_without_mask": not lower}, context


class _AlwaysPositive:
    """A stand-in 'model' that calls every review positive."""

    def predict(self, texts, verbose=0):
        return np.full((len(texts), 1), 0.9)


_NEGATIVE = "Great cast, brilliant director, wonderful music. Not a good film at all."

SHORTCUTS = {
    "09.1": [
        Shortcut("a guess with an untrained model, old answer format", _old_style_guess),
        Shortcut("a guess with two untrained models", _untrained_guess),
        Shortcut("the masked model passed as both", _masked_model_twice),
        Shortcut("the expected story, not the measured one", _expected_story),
    ],
    "09.2": [
        Shortcut(
            "a positive review that contains 'not'",
            lambda: (
                "This is not just good, it is the best film of the year.",
                {"model": _AlwaysPositive()},
            ),
        ),
        Shortcut(
            "a double negative: praise",
            lambda: (
                "Not bad at all, never boring: the best film of the year.",
                {"model": _AlwaysPositive()},
            ),
        ),
        Shortcut(
            "a stand-in model that calls everything positive",
            lambda: (_NEGATIVE, {"model": _AlwaysPositive()}),
        ),
        Shortcut("an untrained model", lambda: (_NEGATIVE, {"model": _lstm()})),
    ],
    "09.3": [
        Shortcut(
            "the best hyperparameters, never trained",
            lambda: (
                _lstm(bidirectional=True, units=16, dropout=0.2, rate=3e-3),
                {
                    "hyperparameters": {
                        "units": 16,
                        "embedding_dim": 8,
                        "dropout": 0.2,
                        "learning_rate": 3e-3,
                    }
                },
            ),
        ),
        Shortcut(
            "trained without validation data (no early stopping possible)",
            lambda: (
                _lstm(bidirectional=True, units=16, dropout=0.2, rate=3e-3, fit="plain"),
                {
                    "hyperparameters": {
                        "units": 16,
                        "embedding_dim": 8,
                        "dropout": 0.2,
                        "learning_rate": 3e-3,
                    }
                },
            ),
        ),
        Shortcut(
            "the default BiLSTM, trained",
            lambda: (
                _lstm(bidirectional=True, fit="validated"),
                {
                    "hyperparameters": {
                        "units": 16,
                        "embedding_dim": 8,
                        "dropout": 0.2,
                        "learning_rate": 3e-3,
                    }
                },
            ),
        ),
    ],
}


def _vectorizer():
    from keras import layers

    vectorizer = layers.TextVectorization(max_tokens=6, output_sequence_length=10)
    vectorizer.adapt(["the film the film the", "a film"])
    return vectorizer


_REVIEWS = ["the film was a flimflorp", "the end", "zork the film zork zork zork"]


def _per_review_mean():
    ids = np.asarray(_vectorizer()(np.array(_REVIEWS)[:, None]))
    shares = [np.sum(r == 1) / max(np.sum(r > 0), 1) for r in ids]
    return float(np.mean(shares)), {"vectorizer": _vectorizer(), "texts": _REVIEWS}


def _distinct_words():
    ids = np.asarray(_vectorizer()(np.array(_REVIEWS)[:, None]))
    words = {w for t in _REVIEWS for w in t.split()}
    unknown = {w for w in words if w not in _vectorizer().get_vocabulary()}
    return len(unknown) / len(words) + 0 * ids.size, {
        "vectorizer": _vectorizer(),
        "texts": _REVIEWS,
    }


SHORTCUTS["09.4"] = [
    Shortcut("the mean of the per-review shares", _per_review_mean),
    Shortcut("the share of distinct words, not of tokens", _distinct_words),
    Shortcut(
        "a plausible round number",
        lambda: (0.05, {"vectorizer": _vectorizer(), "texts": _REVIEWS}),
    ),
]
