"""Checks for the exercises of lesson 09 · LSTMs for sentiment analysis.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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
from labkit.exercises._shared import _fit_history, _layers_of


def _lstm_model(model: Any, mask: bool, what: str) -> Any:
    import keras

    model = _keras_model(model, f"{what} (keras.Model)")
    layers = _layers_of(model)
    embeddings = [la for la in layers if isinstance(la, keras.layers.Embedding)]
    _need(len(embeddings) == 1, f"{what}: expected one Embedding layer, found {len(embeddings)}.")
    if mask:
        _need(bool(embeddings[0].mask_zero), f"{what}'s Embedding does not mask the padding.")
    else:
        _need(not embeddings[0].mask_zero, f"{what}'s Embedding still masks the padding.")
    _need(
        not any(isinstance(la, keras.layers.Bidirectional) for la in layers),
        f"{what}: the exercise is about the unidirectional LSTM, not the bidirectional one.",
    )
    _need(any(isinstance(la, keras.layers.LSTM) for la in layers), f"{what} has no LSTM layer.")
    _need(tuple(model.output_shape)[1:] == (1,), f"{what} must output one probability.")
    return model


def _reviews(context: Mapping[str, Any]) -> tuple[Any, np.ndarray]:
    inputs, labels = _context(context, "val_inputs", "val_labels")
    labels = np.asarray(labels).ravel()
    _need(
        len(labels) == len(inputs) and len(labels) >= 50,
        "val_inputs and val_labels must hold the same validation reviews (at least 50).",
    )
    _need(set(np.unique(labels)) == {0, 1}, "val_labels must hold both classes, 0 and 1.")
    return inputs, labels


def _binary_accuracy(model: Any, inputs: Any, labels: np.ndarray) -> float:
    p = np.asarray(model.predict(inputs, batch_size=128, verbose=0), dtype=float).ravel()
    _need(p.size == len(labels), "the model must output one probability per review.")
    return float(np.mean((p > 0.5) == labels))


@_register(
    "09.1",
    "Does the mask matter?",
    expects='a dict {"masked": the trained LSTM with the mask, "unmasked": your trained LSTM '
    'with mask_zero=False, "lower_without_mask": True or False}; pass val_inputs=, '
    "val_labels= (the validation reviews)",
    verifies="both are the lesson's unidirectional LSTM (with and without the mask), both "
    "were trained, and your conclusion agrees with their validation accuracies as the check "
    "measures them (clearly lower = at least 2 points)",
    hint="decide before you train: reviews are padded with zeros at the END; what does a "
    "left-to-right LSTM read in its last steps, and what happens to its memory of the words? "
    "Then train, evaluate both models on the validation reviews, and let the numbers decide.",
)
def _check_09_1(answer: Any, **context: Any) -> str:
    answer = _mapping(
        answer, ("masked", "unmasked", "lower_without_mask"), "your two models and conclusion"
    )
    guess = answer["lower_without_mask"]
    if not isinstance(guess, (bool, np.bool_)):
        raise Fail(f"expected True or False for 'lower_without_mask', got {type(guess).__name__}.")
    masked = _lstm_model(answer["masked"], True, "the masked model")
    unmasked = _lstm_model(answer["unmasked"], False, "the unmasked model")
    _need(masked is not unmasked, "'masked' and 'unmasked' are the same model.")
    _fit_history(masked, "the masked model")
    _fit_history(unmasked, "the unmasked model")
    inputs, labels = _reviews(context)
    with_mask = _binary_accuracy(masked, inputs, labels)
    without = _binary_accuracy(unmasked, inputs, labels)
    _need(
        bool(guess) == (without <= with_mask - 0.02),
        "your conclusion does not agree with the validation accuracies of the two models you "
        "passed: evaluate both on the validation reviews and compare them (clearly lower means "
        "at least 2 points).",
    )
    return f"validation accuracy with the mask {with_mask:.3f}, without {without:.3f}"


_STRONG_NEGATIVE = {
    "worst", "bad", "awful", "terrible", "boring", "bored", "waste", "wasted", "dull", "poor",
    "poorly", "horrible", "hate", "hated", "disappointing", "disappointment", "disappointed",
    "stupid", "pointless", "mess", "fails", "failed", "unwatchable", "garbage", "dreadful",
    "lame", "tedious", "bland", "mediocre", "regret", "ruined", "ridiculous", "painful",
    "worse", "overrated", "rubbish", "crap", "trash", "nonsense", "annoying", "forgettable",
    "avoid", "lousy", "pathetic", "atrocious", "abysmal", "insufferable",
}  # fmt: skip
_NEGATIONS = {
    "not", "no", "never", "nothing", "nobody", "none", "nor", "don't", "didn't", "isn't",
    "wasn't", "can't", "couldn't", "doesn't", "won't", "aren't", "weren't", "hardly",
    "without", "lacks", "lacking",
}  # fmt: skip
_PRAISE = {
    "good", "great", "funny", "worth", "interesting", "entertaining", "enjoyable", "fun",
    "recommend", "like", "liked", "love", "loved", "watchable", "well", "clever", "moving",
    "exciting", "original", "convincing", "believable", "impressive", "engaging", "special",
    "memorable", "best", "brilliant", "excellent", "wonderful", "amazing", "story", "plot",
    "sense", "point",
}  # fmt: skip
_FILLERS = {"a", "an", "the", "very", "that", "so", "really", "even", "remotely", "at", "all",
            "particularly", "any", "much", "too", "be", "been", "is", "was", "it"}  # fmt: skip
_CONTRAST = {"just", "only", "merely", "simply", "but"}  # "not just good", "nothing but the best"


def _words(text: str) -> list[str]:
    import re

    return re.findall(r"[a-z']+", text.lower().replace("<br />", " "))


def _negative_verdicts(text: str) -> list[str]:
    """The phrases of a review that judge it negatively: a strong negative word that no negation
    turns around ("boring", but not "never boring"), or a negated praise word ("not a good
    film"), but not a contrast ("not just good", "nothing but the best")."""
    words = _words(text)
    found = []
    for i, word in enumerate(words):
        before = words[max(0, i - 2) : i]
        if word in _STRONG_NEGATIVE and not set(before) & _NEGATIONS:
            found.append(word)
        if word in _NEGATIONS:
            for j in range(i + 1, min(i + 5, len(words))):
                if words[j] in _CONTRAST:
                    break
                if words[j] in _PRAISE:
                    found.append(" ".join(words[i : j + 1]))
                    break
                if words[j] not in _FILLERS:
                    break
    return found


_CLEAR_REVIEWS = {  # reviews any sentiment model worth the name scores the right way round
    1: [
        "A wonderful, moving film with brilliant acting and a beautiful score. Loved it.",
        "One of the best films I have seen in years: great story, superb cast, a masterpiece.",
        "Excellent, funny and touching from start to finish. Highly recommended.",
        "A great movie, beautifully made, with a perfect performance by the lead.",
    ],
    0: [
        "The worst film I have ever seen: boring, stupid and a complete waste of time.",
        "Awful acting, a terrible script and a dull, pointless plot. Avoid it.",
        "Badly made, poorly acted and painfully boring. What a horrible mess.",
        "A dreadful, tedious movie. The story is ridiculous and the ending is worse.",
    ],
}


@_register(
    "09.2",
    "Fool the model",
    expects="a str: a short review a human reads as clearly negative; pass model= (the final "
    "model that takes raw strings)",
    verifies="your review states a negative verdict (a negative word no negation turns "
    "around, or negated praise), the model tells plainly positive from plainly negative "
    "reviews, and it scores yours as positive (P(positive) > 0.5)",
    hint="the model has learnt which words go with which rating: surround a negative verdict "
    "with words that usually come with praise, and try several versions. The verdict itself "
    "must stay negative: 'not bad' or 'not just good' praise the film.",
)
def _check_09_2(answer: Any, **context: Any) -> str:
    import tensorflow as tf

    if not isinstance(answer, str):
        raise Fail(f"expected a review (a str), got {type(answer).__name__}.")
    words = _words(answer)
    _need(len(words) >= 5, "write a review of at least five words.")
    _need(
        bool(_negative_verdicts(answer)),
        "nothing in your review judges the film negatively (a negative word that no negation "
        "turns around, or negated praise such as 'not ... good'): a human would not read it "
        "as negative.",
    )
    (model,) = _context(context, "model")
    _need(hasattr(model, "predict"), f"model= must be a Keras model, got {type(model).__name__}.")

    def scores(texts: list[str]) -> np.ndarray:
        p = np.asarray(model.predict(tf.constant(texts)[:, None], verbose=0), dtype=float)
        _need(p.size == len(texts), "model= must output one probability per review.")
        return p.ravel()

    positive, negative = scores(_CLEAR_REVIEWS[1]), scores(_CLEAR_REVIEWS[0])
    _need(
        positive.mean() - negative.mean() >= 0.05 and positive.min() > negative.max() - 0.2,
        "model= does not tell plainly positive reviews from plainly negative ones: pass the "
        "lesson's trained final model.",
    )
    p = float(scores([answer])[0])
    _need(p > 0.5, f"the model saw through it: P(positive) = {p:.3f}.")
    return f"P(positive) = {p:.3f}"


def _optimizer_rate(model: Any) -> float:
    import keras

    optimizer = getattr(model, "optimizer", None)
    _need(optimizer is not None, "the model is not compiled: build it with make_model.")
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


@_register(
    "09.3",
    "Retrain the winner",
    expects="a trained keras.Model: the bidirectional model built with the search's best "
    "hyperparameters and trained with validation data; pass hyperparameters=best_hp.values",
    verifies="your model is bidirectional, uses the best trial's units, embedding size, "
    "dropout and learning rate, and was (re)trained with fit on validation-monitored epochs",
    hint="make_model takes every hyperparameter as a keyword argument, and best_hp.values is a "
    "dict of exactly those names; build a fresh bidirectional model from them (not the "
    "tuner's own trial model) and train it as in section 4, with early stopping on the "
    "validation loss.",
)
def _check_09_3(answer: Any, **context: Any) -> str:
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
    history = _fit_history(model, "the model")
    _need(
        "val_loss" in history.history,
        "the model was trained without validation data: early stopping needs the validation loss.",
    )
    return f"trained {len(history.history['loss'])} epochs"


@_register(
    "09.4",
    "How many words are unknown?",
    expects="a float between 0 and 1: the share of [UNK] among the non-padding test tokens; "
    "pass vectorizer= and texts= (the test reviews)",
    verifies="your share matches the vectorizer's [UNK] tokens (index 1) among all non-padding "
    "tokens of the reviews",
    hint="the vectorizer turns reviews into token indices, 0 for padding and 1 for [UNK]; "
    "count over all reviews together (one share of all tokens, not a mean of per-review "
    "shares), and leave the padding out.",
)
def _check_09_4(answer: Any, **context: Any) -> str:
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
