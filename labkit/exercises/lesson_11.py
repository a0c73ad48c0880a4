"""Checks for the exercises of lesson 11 · An autoencoder for fraud detection.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

from collections.abc import Sequence
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
