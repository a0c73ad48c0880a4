"""Checks for the exercises of lesson 12 · An autoencoder for fraud detection.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labkit.exercises import (
    Fail,
    _callable,
    _context,
    _need,
    _number,
    _register,
)


def _precision_at_rate(tpr: float, fpr: float, rate: float) -> float:
    true_alarms, false_alarms = tpr * rate, fpr * (1 - rate)
    return true_alarms / max(true_alarms + false_alarms, 1e-12)


@_register(
    "12.1",
    "Another bank, another fraud rate",
    expects="a float: the precision at a fraud rate of 0.1 %; pass tpr=test_recall and "
    "fpr=test_fpr",
    verifies="your precision follows from the measured TPR and FPR at a fraud rate of 0.001",
    hint="Bayes' rule of section 6: the true alarms are TPR x fraud rate, the false alarms "
    "FPR x (1 - fraud rate); precision is the first divided by their sum.",
)
def _check_12_1(answer: Any, **context: Any) -> None:
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
    "12.2",
    "What time is it?",
    expects="a function hour_features(time_seconds) -> array (n, 2): sin and cos of the hour",
    verifies="your features put the hour of day on a circle (sine column, then cosine), on "
    "fresh random times over two days, as an array or a pandas Series",
    hint="the hour of day comes from the seconds since the first transaction (3,600 s an "
    "hour, 24 hours a day, fractions kept); turn it into an angle of a full turn per day and "
    "return its sine and cosine as two columns, sine first (np.column_stack).",
)
def _check_12_2(answer: Any, **context: Any) -> None:
    import pandas as pd

    hour_features = _callable(answer, "a function hour_features(time_seconds)")
    rng = np.random.default_rng()  # fresh times on every call: nothing to special-case
    times = np.sort(rng.uniform(0, 172_792, int(rng.integers(200, 400)))).round(1)
    for given in (times.copy(), pd.Series(times.copy(), name="Time")):
        got = np.asarray(hour_features(given), dtype=float)
        _need(got.shape == (len(times), 2), f"expected shape ({len(times)}, 2), got {got.shape}.")
        angle = 2 * np.pi * ((times / 3600) % 24) / 24
        _need(
            np.allclose(got, np.column_stack([np.sin(angle), np.cos(angle)]), atol=1e-6),
            "on random times your two columns are not the sine and the cosine of the hour "
            "angle (in that order): check the unit of Time, that fractions of an hour are kept, "
            "and the order of the columns.",
        )


def _average_precision(y_true: Any, scores: Any) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y_true, scores))


def _features(value: Any, what: str) -> np.ndarray:
    try:
        x = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise Fail(f"{what} must be the scaled feature matrix (numbers).") from None
    _need(x.ndim == 2 and len(x) >= 20, f"{what} must be a 2-D feature matrix (rows x features).")
    return x


def _labels(value: Any, rows: int, what: str) -> np.ndarray:
    y = np.asarray(value).ravel()
    _need(y.shape == (rows,), f"{what} must hold one label per row of its feature matrix.")
    _need(set(np.unique(y).tolist()) == {0, 1}, f"{what} must hold both classes (0 and 1).")
    return y.astype(int)


def _scores_of(score: Any, x: np.ndarray) -> np.ndarray:
    try:
        values = np.asarray(score(x), dtype=float).ravel()
    except (TypeError, ValueError):
        raise Fail("your function must return numbers, one score per row it is given.") from None
    _need(
        values.shape == (len(x),),
        f"given {len(x)} rows your function returned {values.size} scores: one per row.",
    )
    _need(bool(np.all(np.isfinite(values))), "some scores are not finite.")
    return values


def _reconstruction_error(model: Any, x: np.ndarray) -> np.ndarray:
    try:
        restored = model.predict(x, verbose=0)
    except TypeError:  # a predict without Keras's verbose argument
        restored = model.predict(x)
    restored = np.asarray(restored, dtype=float)
    _need(restored.shape == x.shape, "autoencoder= must reconstruct its input (same shape).")
    return np.mean((x - restored) ** 2, axis=1)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 1.0 if np.ptp(a) == np.ptp(b) == 0 else 0.0
    return float(spearmanr(a, b).statistic)


@_register(
    "12.3",
    "Beat the autoencoder",
    expects="a function score(x) -> one anomaly score per row of x (higher = more suspicious), "
    "built without the fraud labels; pass X_val=, y_val= and autoencoder=",
    verifies="your scoring function ranks the validation frauds better than the lesson's "
    "autoencoder (PR-AUC on a jittered, shuffled copy of the validation split that the check "
    "makes), and scores each row by its features alone",
    hint="the validation split is where candidates are compared (the test set is for the one "
    "final number). Ideas: a narrower or wider code, more epochs, a denoising autoencoder, "
    "several autoencoders averaged, or the autoencoder and the isolation forest combined after "
    "ranking their scores (scipy.stats.rankdata). Return the function that computes your "
    "score from the features, not the scores themselves.",
)
def _check_12_3(answer: Any, **context: Any) -> str:
    score = _callable(answer, "a function score(x) that returns anomaly scores")
    X_val, y_val, autoencoder = _context(context, "X_val", "y_val", "autoencoder")
    x = _features(X_val, "X_val")
    y = _labels(y_val, len(x), "y_val")
    _need(hasattr(autoencoder, "predict"), "autoencoder= must be the lesson's trained model.")
    normal = x[y == 0]
    baseline = float(np.mean((normal - normal.mean(axis=0)) ** 2))  # always output the mean
    _need(
        float(np.mean(_reconstruction_error(autoencoder, normal))) < 0.8 * baseline,
        "autoencoder= does not reconstruct the normal validation transactions better than "
        "'always output the mean': pass the lesson's trained autoencoder.",
    )
    rng = np.random.default_rng()  # a fresh jitter and order on every call
    order = rng.permutation(len(x))
    jittered = (x + rng.normal(0, 0.01, x.shape)).astype(np.float32)[order]
    plain = _scores_of(score, x)
    mine = _scores_of(score, jittered)
    _need(
        _spearman(mine, plain[order]) > 0.9,
        "your scores do not follow the rows: given the validation rows shuffled (and nudged "
        "by 1 % of a standard deviation) they no longer rank them the same way. Score every "
        "transaction from its own features, without stored labels or row positions.",
    )
    labels = y[order]
    mine_pr_auc = _average_precision(labels, mine)
    theirs = _average_precision(labels, _reconstruction_error(autoencoder, jittered))
    _need(
        mine_pr_auc > theirs,
        f"on the validation split your scores' PR-AUC {mine_pr_auc:.3f} does not beat the "
        f"autoencoder's {theirs:.3f}; check that higher scores mean more suspicious.",
    )
    return f"validation PR-AUC {mine_pr_auc:.3f} against the autoencoder's {theirs:.3f}"


@_register(
    "12.4",
    "What labels are worth",
    expects="a scikit-learn classifier with predict_proba, fitted on the labelled training "
    "split; pass X_train=, y_train=, X_val= and y_val=",
    verifies="your classifier learned the fraud labels of the training split and ranks the "
    "validation frauds well (PR-AUC at least 0.5); its validation PR-AUC is shown",
    hint="a supervised classifier learns from X_train with the labels y_train (every "
    "transaction, fraud or not); with 1 fraud in hundreds, weight the classes "
    "(class_weight). Compare it on the validation split, not the test set.",
)
def _check_12_4(answer: Any, **context: Any) -> str:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    _need(
        hasattr(answer, "predict_proba") and hasattr(answer, "fit"),
        f"expected a scikit-learn classifier, got {type(answer).__name__}.",
    )
    try:
        check_is_fitted(answer)
    except NotFittedError:
        raise Fail("the classifier is not fitted yet: fit it on the training split.") from None
    X_train, y_train, X_val, y_val = _context(context, "X_train", "y_train", "X_val", "y_val")
    x_train, x_val = _features(X_train, "X_train"), _features(X_val, "X_val")
    y_train = _labels(y_train, len(x_train), "y_train")
    y_val = _labels(y_val, len(x_val), "y_val")
    classes = [int(c) for c in getattr(answer, "classes_", [])]
    _need(classes == [0, 1], "the classifier must be fitted on the fraud labels (classes 0, 1).")

    def pr_auc(x: np.ndarray, y: np.ndarray) -> float:
        proba = np.asarray(answer.predict_proba(x), dtype=float)
        _need(proba.ndim == 2 and proba.shape[1] == 2, "predict_proba must give 2 columns.")
        return _average_precision(y, proba[:, 1])

    on_val, on_train = pr_auc(x_val, y_val), pr_auc(x_train, y_train)
    _need(
        on_val >= 0.5,
        f"validation PR-AUC {on_val:.3f}: the classifier barely uses the labels; fit it on the "
        "labelled training split and mind the class imbalance.",
    )
    _need(
        not (on_val > 0.97 and on_val > on_train + 0.05),
        "the classifier ranks the validation frauds better than the training frauds it was "
        "meant to learn from: was it fitted on the validation split? Fit on X_train, y_train.",
    )
    return f"supervised validation PR-AUC {on_val:.3f}"
