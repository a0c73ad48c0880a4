"""Checks for the exercises of lessons 08-11 (registered in :mod:`labkit.exercises`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from labkit.exercises import (
    Fail,
    _callable,
    _context,
    _integer,
    _keras_model,
    _mapping,
    _need,
    _number,
    _register,
    _shape,
)

# --------------------------------------------------------------------------------------------
# private helpers


def _layers_of(model: Any) -> list[Any]:
    """All layers of a Keras model, nested sub-models and wrapped layers included."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if hasattr(layer, "layers"):
            found += _layers_of(layer)
        inner = getattr(layer, "forward_layer", None) or getattr(layer, "layer", None)
        if inner is not None and not isinstance(inner, (str, int)):
            found.append(inner)
    return found


def _curve(values: Any, what: str) -> np.ndarray:
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise Fail(
            f"expected {what} (a list of numbers, one per step), got {type(values).__name__}."
        )
    try:
        curve = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise Fail(f"{what} must contain only numbers.") from None
    _need(curve.size >= 10, f"{what} has {curve.size} values; run at least 10 steps.")
    _need(bool(np.all(np.isfinite(curve))), f"{what} contains values that are not finite.")
    _need(bool(np.all(curve >= 0)), f"{what} contains negative losses.")
    return curve


# --------------------------------------------------------------------------------------------
# 08 · LSTMs for sentiment analysis


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


# --------------------------------------------------------------------------------------------
# 09 · Neural style transfer


def _gram_exercise_reference() -> np.ndarray:
    channel_0 = np.array([[1.0, 0.0], [2.0, 1.0]]).ravel()
    channel_1 = np.array([[0.0, 1.0], [1.0, 3.0]]).ravel()
    flat = np.stack([channel_0, channel_1], axis=1)  # one row per position
    return flat.T @ flat / len(flat)


@_register(
    "09.1",
    "A Gram matrix by hand",
    expects="a 2 x 2 nested list [[G00, G01], [G10, G11]] of numbers",
    verifies="your Gram matrix G = F^T F / M of the exercise's 2 x 2 x 2 feature map",
    hint="flatten each channel to 4 values; G[c][d] is the mean over the 4 positions of "
    "channel c times channel d, so the diagonal holds the mean of the squares and G is "
    "symmetric.",
)
def _check_09_1(answer: Any, **context: Any) -> None:
    if isinstance(answer, (str, bytes)) or not isinstance(answer, (Sequence, np.ndarray)):
        raise Fail(f"expected a 2 x 2 nested list, got {type(answer).__name__}.")
    try:
        gram = np.asarray(answer, dtype=float)
    except (TypeError, ValueError):
        raise Fail("expected a 2 x 2 nested list of numbers.") from None
    _need(gram.shape == (2, 2), f"expected a 2 x 2 nested list, got shape {gram.shape}.")
    reference = _gram_exercise_reference()
    _need(np.allclose(gram, gram.T), "a Gram matrix is symmetric: G[0][1] must equal G[1][0].")
    _need(
        np.allclose(np.diag(gram), np.diag(reference), atol=1e-3),
        "the diagonal is wrong (each entry is a mean of squares).",
    )
    _need(
        math.isclose(gram[0, 1], reference[0, 1], abs_tol=1e-3),
        "the off-diagonal entry is wrong (a mean of products).",
    )


@_register(
    "09.2",
    "Size of the style description",
    expects="a tuple (rows, columns): the shape of block4_conv1's Gram matrix (the same for "
    "both image sizes, if you think so)",
    verifies="the Gram matrix of block4_conv1 is channels x channels, whatever the image size",
    hint="a Gram matrix is channels x channels: the positions are summed away; the channel "
    "counts are printed in section 2.",
)
def _check_09_2(answer: Any, **context: Any) -> None:
    shape = _shape(answer, 2, "the Gram matrix's shape (rows, columns)")
    _need(shape[0] == shape[1], "a Gram matrix is square (channels x channels).")
    _need(shape != (256 * 341, 256 * 341), "the positions are summed away, not kept.")
    _need(shape == (512, 512), "the size is not block4_conv1's number of channels.")


@_register(
    "09.3",
    "Turn the knob",
    expects="a dict {STYLE_WEIGHT: final content loss} for at least 3 style weights, "
    "the largest at least 100 times the smallest",
    verifies="your content losses are finite and grow with the style weight",
    hint="for STYLE_WEIGHT / 10, STYLE_WEIGHT and 10 * STYLE_WEIGHT start again from the photo "
    "(a fresh tf.Variable and optimizer), keep STEPS and LEARNING_RATE fixed and store "
    "history['content'][-1] of each run.",
)
def _check_09_3(answer: Any, **context: Any) -> str:
    if not isinstance(answer, Mapping):
        raise Fail(f"expected a dict {{style weight: content loss}}, got {type(answer).__name__}.")
    _need(len(answer) >= 3, f"expected at least 3 style weights, got {len(answer)}.")
    losses = {
        _number(k, "a style weight (dict key)"): _number(v, "a content loss (dict value)")
        for k, v in answer.items()
    }
    _need(min(losses) > 0, "style weights are positive.")
    _need(min(losses.values()) >= 0, "a content loss is a mean of squares: it is never negative.")
    weights = sorted(losses)
    _need(weights[-1] >= 100 * weights[0], "use style weights at least 100 times apart.")
    curve = [losses[w] for w in weights]
    _need(
        all(b > a for a, b in zip(curve, curve[1:], strict=False)),
        "the content loss does not grow with the style weight: did every run start again from "
        "the photo with a fresh optimizer, and did you store the content part of the loss?",
    )
    return ", ".join(f"style weight {w:g}: content {losses[w]:.3g}" for w in weights)


@_register(
    "09.4",
    "Start from noise",
    expects='a dict {"photo": content-loss curve, "noise": content-loss curve}, one value '
    "per step, both runs with the same steps",
    verifies="the photo start begins at zero content loss, the noise start far above it, and "
    "the noise start's content loss falls",
    hint="run the loop twice, once with generated = tf.Variable(content_image) and once with "
    "tf.Variable(tf.random.uniform(content_image.shape)), each with a fresh optimizer and "
    "train_step, and keep history['content'] of both runs.",
)
def _check_09_4(answer: Any, **context: Any) -> str:
    answer = _mapping(answer, ("photo", "noise"), "the two content-loss curves")
    photo = _curve(answer["photo"], "the photo start's curve")
    noise = _curve(answer["noise"], "the noise start's curve")
    _need(len(photo) == len(noise), "run both starts for the same number of steps.")
    _need(noise[0] > 0, "the noise start's first content loss must be above zero.")
    _need(
        photo[0] <= 1e-3 * noise[0],
        "the photo start's first content loss should be (almost) zero: is 'photo' the run "
        "that starts from the content photo, and the loss measured before the first update?",
    )
    _need(
        noise[-1] < 0.5 * noise[0],
        "the noise start's content loss does not fall by half: more steps, or is it the "
        "content part of the loss?",
    )
    return f"noise start: content loss {noise[0]:.3g} -> {noise[-1]:.3g} in {len(noise)} steps"


# --------------------------------------------------------------------------------------------
# 10 · Generative adversarial networks


@_register(
    "10.1",
    "Upsampling by hand",
    expects="a tuple (output_shape, parameter_count), e.g. ((h, w, c), n)",
    verifies="both the output shape and the parameter count of Conv2DTranspose(32, 4, "
    "strides=2, padding='same') on 14 x 14 x 64",
    hint="with padding='same' a stride-2 transposed convolution exactly doubles height and "
    "width; the kernel has one 4 x 4 weight per (input channel, output channel), plus one bias "
    "per output channel.",
)
def _check_10_1(answer: Any, **context: Any) -> None:
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Fail(f"expected a tuple (output_shape, parameter_count), got {answer!r}.")
    shape = _shape(answer[0], 3, "the output shape (height, width, channels)")
    params = _integer(answer[1], "the parameter count")
    _need(shape == (14 * 2, 14 * 2, 32), "the output shape is wrong.")
    _need(params == 4 * 4 * 64 * 32 + 32, "the parameter count is wrong.")


def _latent_reference(z0: np.ndarray, z1: np.ndarray, n: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) * z0[None, :] + t * z1[None, :]


@_register(
    "10.2",
    "Walk through the latent space",
    expects="a function latent_path(z0, z1, n) -> array (n, len(z0))",
    verifies="your path starts at z0, ends at z1 and takes n equal steps on the straight line, "
    "on random vectors and for several n",
    hint="np.linspace(0, 1, n)[:, None] gives the mixing weights t; the vectors are "
    "(1 - t) z0 + t z1.",
)
def _check_10_2(answer: Any, **context: Any) -> None:
    latent_path = _callable(answer, "a function latent_path(z0, z1, n)")
    rng = np.random.default_rng(10)
    for dim, n in ((100, 8), (3, 2), (16, 5)):
        z0 = rng.normal(size=dim).astype("float32")
        z1 = rng.normal(size=dim).astype("float32")
        got = np.asarray(latent_path(z0.copy(), z1.copy(), n), dtype=float)
        _need(
            got.shape == (n, dim),
            f"for n = {n} and {dim}-d vectors expected shape ({n}, {dim}), got {got.shape}.",
        )
        _need(np.allclose(got[0], z0, atol=1e-5), "the path does not start at z0.")
        _need(np.allclose(got[-1], z1, atol=1e-5), "the path does not end at z1.")
        _need(
            np.allclose(got, _latent_reference(z0, z1, n), atol=1e-4),
            f"for n = {n} the steps are not equal, or the points leave the straight line.",
        )


@_register(
    "10.3",
    "Provoke instability",
    expects="a function saturating_generator_loss(fake_logits) -> scalar tensor or float",
    verifies="your loss is the minimax generator loss mean(log(1 - sigmoid(logit))), finite "
    "even for extreme logits",
    hint="the generator MINIMISES log(1 - p) with p = sigmoid(logit); written naively, "
    "1 - sigmoid(40) is 0 in float32 and the log is -inf. Use 1 - sigmoid(x) = sigmoid(-x) "
    "and a log-sigmoid (or softplus) function from keras.ops or tf.math.",
)
def _check_10_3(answer: Any, **context: Any) -> None:
    import tensorflow as tf

    loss = _callable(answer, "a function saturating_generator_loss(fake_logits)")
    rng = np.random.default_rng(3)
    for scale in (1.0, 4.0):
        logits = (rng.normal(size=(64, 1)) * scale).astype("float32")
        got = _number(float(np.asarray(loss(tf.constant(logits)))), "the loss")
        expected = float(np.mean(-np.logaddexp(0.0, logits.astype(float))))
        if math.isclose(got, -expected, rel_tol=1e-3, abs_tol=1e-4):
            raise Fail("your loss has the wrong sign: the generator minimises log(1 - p).")
        _need(
            math.isclose(got, expected, rel_tol=1e-3, abs_tol=1e-4),
            "on random logits your loss differs from the mean of log(1 - sigmoid(logit)).",
        )
    extreme = tf.constant([[40.0], [-40.0], [0.0]])
    value = float(np.asarray(loss(extreme)))
    _need(math.isfinite(value), "for a logit of 40 your loss is not finite: compute it stably.")
    _need(
        math.isclose(value, float(np.mean(-np.logaddexp(0.0, [40.0, -40.0, 0.0]))), rel_tol=1e-3),
        "for extreme logits (40 and -40) your loss is inaccurate: compute it stably.",
    )


@_register(
    "10.4",
    "Clothes instead of digits",
    expects="a dict {article name: number of generated images the judge recognised "
    "confidently} for the 10 Fashion-MNIST classes",
    verifies="your counts are the Fashion-MNIST classes and the generator covers at least two "
    "article types",
    hint="set DATASET = 'fashion_mnist' and rerun everything (the judge too); "
    "dict(zip(class_names, trained['counts'])) gives the counts of section 9.",
)
def _check_10_4(answer: Any, **context: Any) -> str:
    from labkit.datasets import FASHION_MNIST_CLASSES

    if not isinstance(answer, Mapping):
        raise Fail(f"expected a dict {{article name: count}}, got {type(answer).__name__}.")
    names = [str(k) for k in answer]
    _need(
        set(names) == set(FASHION_MNIST_CLASSES),
        "the keys are not the 10 Fashion-MNIST class names: did you rerun with "
        "DATASET = 'fashion_mnist' and use class_names?",
    )
    counts = {str(k): _integer(v, "a count (dict value)") for k, v in answer.items()}
    _need(min(counts.values()) >= 0, "counts are never negative.")
    _need(sum(counts.values()) > 0, "the judge recognised no generated image: train longer.")
    covered = [name for name, n in counts.items() if n > 0]
    _need(
        len(covered) >= 2,
        "only one article type is ever recognised: the generator has collapsed (section 10).",
    )
    top = sorted(counts, key=counts.get, reverse=True)
    return f"most often {top[0]} ({counts[top[0]]}), {len(covered)} article types seen"


# --------------------------------------------------------------------------------------------
# 11 · An autoencoder for fraud detection


def _precision_at_rate(tpr: float, fpr: float, rate: float) -> float:
    true_alarms, false_alarms = tpr * rate, fpr * (1 - rate)
    return true_alarms / max(true_alarms + false_alarms, 1e-12)


@_register(
    "11.1",
    "Another bank, another fraud rate",
    expects="a float: the precision at a fraud rate of 0.1 %; pass tpr=test_recall and "
    "fpr=test_fpr",
    verifies="your precision follows from the measured TPR and FPR at a fraud rate of 0.001",
    hint="Bayes' rule of section 6: the true alarms are TPR x fraud rate, the false alarms "
    "FPR x (1 - fraud rate); precision is the first divided by their sum.",
)
def _check_11_1(answer: Any, **context: Any) -> None:
    precision = _number(answer, "a precision")
    _need(0 <= precision <= 1, "a precision lies between 0 and 1.")
    tpr, fpr = _context(context, "tpr", "fpr")
    tpr, fpr = _number(tpr, "tpr= (the test recall)"), _number(fpr, "fpr= (the test FPR)")
    reference = _precision_at_rate(tpr, fpr, 0.001)
    _need(
        abs(precision - reference) <= 0.002 + 0.02 * reference,
        "the precision does not match a fraud rate of 0.1 % (not the sample's, not the full "
        "data set's).",
    )


@_register(
    "11.2",
    "What time is it?",
    expects="a function hour_features(time_seconds) -> array (n, 2): sin and cos of the hour",
    verifies="your features are sin(2 pi h / 24) and cos(2 pi h / 24) with h = (Time / 3600) "
    "mod 24, on random times over two days",
    hint="h = (df['Time'] / 3600) % 24 is the hour of day (fractional); return "
    "np.column_stack([sin, cos]) with the sine first.",
)
def _check_11_2(answer: Any, **context: Any) -> None:
    import pandas as pd

    hour_features = _callable(answer, "a function hour_features(time_seconds)")
    rng = np.random.default_rng(11)
    times = np.sort(rng.uniform(0, 172_792, 300)).round()
    for given in (times.copy(), pd.Series(times.copy(), name="Time")):
        got = np.asarray(hour_features(given), dtype=float)
        _need(got.shape == (len(times), 2), f"expected shape ({len(times)}, 2), got {got.shape}.")
        angle = 2 * np.pi * ((times / 3600) % 24) / 24
        _need(
            np.allclose(got, np.column_stack([np.sin(angle), np.cos(angle)]), atol=1e-6),
            "your two columns are not the sine and the cosine of the hour angle (in that "
            "order), or the hour is not taken modulo 24.",
        )


def _average_precision(y_true: Any, scores: Any) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y_true, scores))


@_register(
    "11.3",
    "Beat the autoencoder",
    expects="an array with one anomaly score per test transaction (higher = more suspicious); "
    "pass y_test= and reference_scores=err_test",
    verifies="your scores' PR-AUC on the test split is higher than the autoencoder's",
    hint="try a narrower or wider code, more epochs, a denoising autoencoder, or combine "
    "ranked scores (scipy.stats.rankdata) of the autoencoder and the forest; choose on the "
    "validation split.",
)
def _check_11_3(answer: Any, **context: Any) -> str:
    if isinstance(answer, (str, bytes)) or not isinstance(answer, (Sequence, np.ndarray)):
        raise Fail(f"expected an array of scores, got {type(answer).__name__}.")
    y_test, reference = _context(context, "y_test", "reference_scores")
    try:
        scores = np.asarray(answer, dtype=float).ravel()
    except (TypeError, ValueError):
        raise Fail("expected an array of numbers (one score per test transaction).") from None
    y_test = np.asarray(y_test).ravel()
    _need(scores.shape == y_test.shape, f"expected {len(y_test)} scores, got {scores.size}.")
    _need(bool(np.all(np.isfinite(scores))), "some scores are not finite.")
    mine = _average_precision(y_test, scores)
    theirs = _average_precision(y_test, np.asarray(reference, dtype=float).ravel())
    _need(
        mine > theirs,
        f"PR-AUC {mine:.3f} does not beat the autoencoder's {theirs:.3f}; check that higher "
        "scores mean more suspicious.",
    )
    return f"PR-AUC {mine:.3f} against the autoencoder's {theirs:.3f}"


@_register(
    "11.4",
    "What labels are worth",
    expects="a fitted scikit-learn classifier with predict_proba; pass X_test= and y_test=",
    verifies="your classifier was trained on the fraud labels and ranks the test frauds well "
    "(PR-AUC at least 0.5); its PR-AUC is shown",
    hint="fit LogisticRegression(class_weight='balanced', max_iter=1000) on X_train, y_train "
    "(all transactions, with their labels) and score with predict_proba(X_test)[:, 1].",
)
def _check_11_4(answer: Any, **context: Any) -> str:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    _need(
        hasattr(answer, "predict_proba") and hasattr(answer, "fit"),
        f"expected a scikit-learn classifier, got {type(answer).__name__}.",
    )
    try:
        check_is_fitted(answer)
    except NotFittedError:
        raise Fail("the classifier is not fitted yet: call .fit(X_train, y_train).") from None
    X_test, y_test = _context(context, "X_test", "y_test")
    proba = np.asarray(answer.predict_proba(X_test), dtype=float)
    _need(proba.ndim == 2 and proba.shape[1] == 2, "predict_proba must give 2 columns.")
    pr_auc = _average_precision(np.asarray(y_test).ravel(), proba[:, 1])
    _need(
        pr_auc >= 0.5,
        f"PR-AUC {pr_auc:.3f}: the classifier barely uses the labels; fit it on the labelled "
        "training split with balanced class weights.",
    )
    return f"supervised PR-AUC {pr_auc:.3f}"
