"""Checks for the exercises of lesson 08 · LSTMs for sentiment analysis.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from labkit.exercises import (
    Fail,
    _context,
    _keras_model,
    _mapping,
    _need,
    _number,
    _register,
)
from labkit.exercises._shared import _layers_of


@_register(
    "08.1",
    "Does the mask matter?",
    expects='a dict {"lower_without_mask": True or False, "model": the unmasked LSTM model}',
    verifies="your prediction is right and your model is the lesson's unidirectional LSTM "
    "with mask_zero=False in its Embedding",
    hint="copy make_model, change only the Embedding's mask_zero, and think about what a "
    "left-to-right LSTM reads in its last steps when short reviews are padded with zeros at "
    "the END.",
)
def _check_08_1(answer: Any, **context: Any) -> None:
    import keras

    answer = _mapping(answer, ("lower_without_mask", "model"), "your prediction and model")
    guess = answer["lower_without_mask"]
    if not isinstance(guess, (bool, np.bool_)):
        raise Fail(f"expected True or False for 'lower_without_mask', got {type(guess).__name__}.")
    model = _keras_model(answer["model"], "the unmasked LSTM model (keras.Model)")
    layers = _layers_of(model)
    embeddings = [la for la in layers if isinstance(la, keras.layers.Embedding)]
    _need(len(embeddings) == 1, f"expected one Embedding layer, found {len(embeddings)}.")
    _need(not embeddings[0].mask_zero, "the Embedding still masks the padding (mask_zero=True).")
    _need(
        not any(isinstance(la, keras.layers.Bidirectional) for la in layers),
        "the exercise is about the unidirectional LSTM, not the bidirectional one.",
    )
    _need(any(isinstance(la, keras.layers.LSTM) for la in layers), "the model has no LSTM layer.")
    _need(tuple(model.output_shape)[1:] == (1,), "the model must output one probability.")
    _need(
        bool(guess),
        "your prediction about the validation accuracy is not what happens: the padding "
        "zeros come after the words.",
    )


_NEGATIVE_CUES = {
    "not", "no", "never", "nothing", "nobody", "worst", "bad", "awful", "terrible", "boring",
    "waste", "dull", "poor", "horrible", "hate", "hated", "disappointing", "disappointment",
    "stupid", "pointless", "mess", "fails", "failed", "avoid", "unwatchable", "garbage",
    "dreadful", "lame", "weak", "tedious", "bland", "mediocre", "zero", "regret", "sadly",
    "unfortunately", "ruined", "ridiculous", "painful", "worse", "don't", "didn't", "isn't",
    "wasn't", "can't", "couldn't", "nor", "without", "lacks", "lacking", "overrated", "sorry",
}  # fmt: skip


def _words(text: str) -> list[str]:
    import re

    return re.findall(r"[a-z']+", text.lower().replace("<br />", " "))


@_register(
    "08.2",
    "Fool the model",
    expects="a str: a short review a human reads as clearly negative; pass model= (the final "
    "model that takes raw strings)",
    verifies="the model scores your negative review as positive (P(positive) > 0.5)",
    hint="the model has learnt which words go with which rating: surround a negative verdict "
    "(negation, sarcasm, 'everything but what matters') with words that usually come with "
    "praise, and try several versions.",
)
def _check_08_2(answer: Any, **context: Any) -> str:
    import tensorflow as tf

    if not isinstance(answer, str):
        raise Fail(f"expected a review (a str), got {type(answer).__name__}.")
    words = _words(answer)
    _need(len(words) >= 5, "write a review of at least five words.")
    _need(
        bool(set(words) & _NEGATIVE_CUES),
        "nothing in your review says it is negative (no negation, no negative word): a human "
        "would not read it as negative.",
    )
    (model,) = _context(context, "model")
    _need(hasattr(model, "predict"), f"model= must be a Keras model, got {type(model).__name__}.")
    probability = np.asarray(model.predict(tf.constant([[answer]]), verbose=0), dtype=float)
    _need(probability.size == 1, "model= must output one probability per review.")
    p = float(probability.ravel()[0])
    _need(p > 0.5, f"the model saw through it: P(positive) = {p:.3f}.")
    return f"P(positive) = {p:.3f}"


def _optimizer_rate(model: Any) -> float:
    import keras

    optimizer = getattr(model, "optimizer", None)
    _need(optimizer is not None, "the model is not compiled: build it with make_model.")
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


@_register(
    "08.3",
    "Retrain the winner",
    expects="a keras.Model: the bidirectional model built with the search's best "
    "hyperparameters; pass hyperparameters=best_hp.values",
    verifies="your model is bidirectional and uses the best trial's units, embedding size, "
    "dropout and learning rate",
    hint="make_model(bidirectional=True, **best_hp.values) builds it; train that model (with "
    "early_stopping()) and pass it.",
)
def _check_08_3(answer: Any, **context: Any) -> None:
    import keras

    model = _keras_model(answer)
    (values,) = _context(context, "hyperparameters")
    values = _mapping(
        values,
        ("units", "embedding_dim", "dropout", "learning_rate"),
        "hyperparameters= (best_hp.values)",
    )
    layers = _layers_of(model)
    bidirectional = [la for la in layers if isinstance(la, keras.layers.Bidirectional)]
    _need(bool(bidirectional), "the model is not bidirectional.")
    lstm = bidirectional[0].forward_layer
    _need(lstm.units == int(values["units"]), "the LSTM units are not the best trial's.")
    embeddings = [la for la in layers if isinstance(la, keras.layers.Embedding)]
    _need(
        bool(embeddings) and embeddings[0].output_dim == int(values["embedding_dim"]),
        "the embedding size is not the best trial's.",
    )
    _need(
        math.isclose(float(lstm.dropout), float(values["dropout"]), abs_tol=1e-6),
        "the dropout is not the best trial's.",
    )
    _need(
        math.isclose(_optimizer_rate(model), float(values["learning_rate"]), rel_tol=1e-4),
        "the learning rate is not the best trial's.",
    )


@_register(
    "08.4",
    "How many words are unknown?",
    expects="a float between 0 and 1: the share of [UNK] among the non-padding test tokens; "
    "pass vectorizer= and texts= (the test reviews)",
    verifies="your share matches the vectorizer's [UNK] tokens (index 1) among all non-padding "
    "tokens of the reviews",
    hint="vectorizer(test_inputs) gives the indices; count the ones equal to 1 among those "
    "greater than 0 (0 is padding), over all reviews at once.",
)
def _check_08_4(answer: Any, **context: Any) -> str:
    import tensorflow as tf

    share = _number(answer, "a share")
    _need(0 <= share <= 1, "a share lies between 0 and 1.")
    vectorizer, texts = _context(context, "vectorizer", "texts")
    ids = np.asarray(vectorizer(tf.constant([str(t) for t in texts])[:, None]))
    reference = float(np.sum(ids == 1) / max(np.sum(ids > 0), 1))
    _need(
        abs(share - reference) <= 0.002,
        "the share does not match: count only non-padding tokens, of all the given reviews.",
    )
    return f"{share:.2%} of the tokens are unknown"
