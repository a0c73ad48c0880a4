"""Checks for the exercises of lesson 02 · Regression and classification.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labkit.exercises import (
    _callable,
    _context,
    _need,
    _number,
    _register,
)


def _gd_stability_limit(income: np.ndarray) -> float:
    # J(w, b) = mean((w x + b - y)^2) has the constant Hessian 2 [[E x^2, E x], [E x, 1]];
    # gradient descent converges iff the learning rate is below 2 / (largest eigenvalue).
    x = np.asarray(income, dtype=float)
    hessian = 2 * np.array([[np.mean(x * x), x.mean()], [x.mean(), 1.0]])
    return float(2 / np.linalg.eigvalsh(hessian).max())


@_register(
    "02.1",
    "Gradient descent without standardization",
    expects="a float: the largest learning rate at which gradient descent on the raw "
    "median_income still converges",
    verifies="gradient descent converges at your rate and diverges at 1.25 times it",
    hint="run gradient_descent(income, y, rate, 2000) for a grid of rates between 0.001 and 1 "
    "and look for the rate where the last cost stops falling and explodes; narrow the grid "
    "around it. Pass income= to the check if you used a sample of the districts.",
)
def _check_02_1(answer: Any, **context: Any) -> None:
    rate = _number(answer, "a learning rate")
    _need(rate > 0, "a learning rate is positive.")
    income = context.get("income")
    if income is None:
        from labkit import datasets

        income = datasets.load_california_housing()["median_income"].to_numpy()
    limit = _gd_stability_limit(income)
    _need(rate < limit * 1.005, "gradient descent diverges at that rate: the cost grows.")
    _need(rate * 1.25 >= limit, "gradient descent still converges at a rate 25% larger.")


@_register(
    "02.2",
    "Better housing features",
    expects="a fitted scikit-learn model predicting dollars from a DataFrame that has the "
    "columns rooms_per_household and population_per_household; pass X_test= and y_test=",
    verifies="the model uses both new features, was trained on log prices (no negative "
    "prediction) and predicts dollars; its test RMSE is shown",
    hint="add the two columns to `features` before the split, and wrap the pipeline in "
    "compose.TransformedTargetRegressor(regressor=..., func=np.log, inverse_func=np.exp) so "
    "that predictions come back in dollars.",
)
def _check_02_2(answer: Any, **context: Any) -> str:
    from sklearn import metrics

    _need(hasattr(answer, "predict"), f"expected a fitted model, got {type(answer).__name__}.")
    X_test, y_test = _context(context, "X_test", "y_test")
    columns = set(getattr(X_test, "columns", []))
    for name in ("rooms_per_household", "population_per_household"):
        _need(name in columns, f"X_test has no column {name!r}: add it before the split.")
    prediction = np.asarray(answer.predict(X_test), dtype=float).ravel()
    _need(prediction.shape == (len(y_test),), "the model must predict one value per district.")
    _need(bool(np.all(np.isfinite(prediction))), "some predictions are not finite.")
    _need(
        prediction.max() > 1_000,
        "the predictions are far too small: they look like log-dollars; convert them back.",
    )
    _need(
        prediction.min() > 0,
        "the model predicts negative prices: it was not trained on log prices.",
    )
    rmse = float(metrics.root_mean_squared_error(y_test, prediction))
    _need(rmse < 150_000, "the test RMSE is far too large for this model.")
    return f"test RMSE ${rmse:,.0f}: compare it with the lesson's model"


def _threshold_reference(y_true: np.ndarray, proba: np.ndarray, target: float) -> float:
    from sklearn import metrics

    _, recall, thresholds = metrics.precision_recall_curve(y_true, proba)
    return float(thresholds[recall[:-1] >= target].max())


@_register(
    "02.3",
    "A stricter screening test",
    expects="a function choose_threshold(y_true, proba, recall_target) -> float",
    verifies="your function returns the highest threshold whose recall reaches the target, on "
    "random scores and for targets 0.9, 0.98 and 1.0",
    hint="metrics.precision_recall_curve gives one recall per threshold (drop its last recall "
    "value); keep the thresholds whose recall is >= the target and take the largest.",
)
def _check_02_3(answer: Any, **context: Any) -> None:
    choose = _callable(answer, "a function choose_threshold(y_true, proba, recall_target)")
    rng = np.random.default_rng(3)
    for trial in range(4):
        n = 300
        y = (rng.random(n) < 0.35).astype(int)
        proba = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1).round(3)  # rounding makes ties
        for target in (0.9, 0.98, 1.0):
            got = _number(choose(y.copy(), proba.copy(), target), "the threshold")
            expected = _threshold_reference(y, proba, target)
            _need(
                np.isclose(got, expected, rtol=0, atol=1e-9),
                f"on random scores (trial {trial + 1}, recall target {target}) your threshold "
                + (
                    "is too high: recall falls below the target."
                    if got > expected
                    else "is lower than needed."
                ),
            )


def _ridge_reference(alpha: float) -> Any:
    from sklearn import linear_model, pipeline, preprocessing

    return pipeline.make_pipeline(
        preprocessing.PolynomialFeatures(15, include_bias=False),
        preprocessing.StandardScaler(),
        linear_model.Ridge(alpha=alpha),
    )


@_register(
    "02.4",
    "Regularization against overfitting",
    expects="a function ridge_model(alpha) returning an unfitted scikit-learn pipeline",
    verifies="ridge_model(alpha) is degree-15 polynomial features, a StandardScaler and "
    "Ridge(alpha): it predicts like the reference for alpha = 1e-4, 0.01 and 1",
    hint="three steps: the degree-15 polynomial features as in polynomial_model, a scaler, then "
    "the ridge model with the given alpha; the scaler must come after the polynomial features.",
)
def _check_02_4(answer: Any, **context: Any) -> None:
    make = _callable(answer, "a function ridge_model(alpha)")
    rng = np.random.default_rng(5)
    x = np.sort(rng.uniform(0, 1, 30))[:, None]
    y = np.cos(1.5 * np.pi * x[:, 0]) + rng.normal(0, 0.15, 30)
    grid = np.linspace(0, 1, 50)[:, None]
    for alpha in (1e-4, 0.01, 1.0):
        model = make(alpha)
        _need(hasattr(model, "fit"), "ridge_model(alpha) must return a scikit-learn estimator.")
        got = np.asarray(model.fit(x, y).predict(grid), dtype=float).ravel()
        expected = _ridge_reference(alpha).fit(x, y).predict(grid)
        _need(
            got.shape == expected.shape and np.allclose(got, expected, rtol=1e-4, atol=1e-4),
            f"with alpha = {alpha:g} your model predicts differently from degree-15 polynomial "
            "ridge regression on standardized features.",
        )
