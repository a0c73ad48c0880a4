"""Checks for the exercises of lesson 02 · Regression and classification.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labkit.exercises import (
    Fail,
    _callable,
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
    hint="run the lesson's gradient_descent on the raw income for a grid of rates and watch the "
    "last cost: find where it stops falling and explodes, then narrow the grid around that "
    "rate. The stable range is set by the Hessian's largest eigenvalue, not by its diagonal. "
    "Pass income= to the check if you used a sample of the districts.",
)
def _check_02_1(answer: Any, **context: Any) -> None:
    rate = _number(answer, "a learning rate")
    _need(rate > 0, "a learning rate is positive.")
    from labkit import datasets

    districts = datasets.load_california_housing()["median_income"].to_numpy()
    income = context.get("income")
    if income is None:
        income = districts
    else:
        try:
            income = np.asarray(income, dtype=float).ravel()
        except (TypeError, ValueError):
            raise Fail("income= must be an array of median incomes.") from None
        _need(
            income.size >= 500 and bool(np.all(np.isin(income, districts))),
            "income= must be the raw median_income of (a sample of at least 500) real districts.",
        )
    limit = _gd_stability_limit(income)
    _need(rate < limit * 1.005, "gradient descent diverges at that rate: the cost grows.")
    _need(rate * 1.25 >= limit, "gradient descent still converges at a rate 25% larger.")


def _housing_check_split(seed: int) -> tuple[Any, Any, Any, Any]:
    """The check's own districts: the lesson's training part, split again into fit and held-out.

    The lesson's test set (``train_test_split(..., test_size=0.2, random_state=seed)`` of all
    districts) is left out entirely.
    """
    from sklearn import model_selection

    from labkit import datasets

    housing = datasets.load_california_housing()
    housing["rooms_per_household"] = housing["total_rooms"] / housing["households"]
    housing["population_per_household"] = housing["population"] / housing["households"]
    features = housing.drop(columns="median_house_value")
    X_train, _, y_train, _ = model_selection.train_test_split(
        features, housing["median_house_value"], test_size=0.2, random_state=seed
    )
    X_fit, X_held, y_fit, y_held = model_selection.train_test_split(
        X_train, y_train, test_size=0.25, random_state=seed + 1
    )
    return X_fit, y_fit, X_held, y_held


def _shuffled_column(X: Any, name: str, seed: int) -> Any:
    X = X.copy()
    X[name] = np.random.default_rng(seed).permutation(X[name].to_numpy())
    return X


@_register(
    "02.2",
    "Better housing features",
    expects="your scikit-learn model (pipeline) predicting dollars from the lesson's housing "
    "features plus the columns rooms_per_household and population_per_household",
    verifies="a copy of your model, refitted by the check on districts of the lesson's training "
    "part, uses both new features, was trained on log prices (no price at or below zero, even "
    "for the poorest districts) and predicts held-out districts far better than the mean price; "
    "the lesson's test set is not used",
    hint="the two ratios are new columns of `features` (made before any split) and your "
    "pipeline must pass them to the model; for the log, look at "
    "compose.TransformedTargetRegressor, which converts the predictions back to dollars. "
    "Compare your variants on a validation split carved from the training set.",
)
def _check_02_2(answer: Any, **context: Any) -> str:
    from sklearn import base, metrics

    _need(
        hasattr(answer, "fit") and hasattr(answer, "predict"),
        f"expected a scikit-learn model, got {type(answer).__name__}.",
    )
    try:
        model = base.clone(answer)
    except (TypeError, RuntimeError) as error:
        raise Fail(f"the model cannot be copied with sklearn.base.clone ({error}).") from None
    seed = int(context.get("seed", 42))
    X_fit, y_fit, X_held, y_held = _housing_check_split(seed)
    model.fit(X_fit, y_fit)
    prediction = np.asarray(model.predict(X_held), dtype=float).ravel()
    _need(prediction.shape == (len(y_held),), "the model must predict one value per district.")
    _need(bool(np.all(np.isfinite(prediction))), "some predictions are not finite.")
    _need(
        np.median(prediction) > 1_000,
        "the predictions are far too small: they look like log-dollars; convert them back.",
    )
    r2 = float(metrics.r2_score(y_held, prediction))
    _need(
        r2 >= 0.4,
        f"on held-out districts the model explains only {r2:.0%} of the variance of prices (a "
        "constant guess explains 0%): it ignores the features or is not a regression on them.",
    )
    for name in ("rooms_per_household", "population_per_household"):
        shuffled = np.asarray(model.predict(_shuffled_column(X_held, name, seed)), dtype=float)
        change = np.mean(np.abs(shuffled.ravel() - prediction))
        _need(
            change > 1.0,
            f"shuffling {name} between districts does not change the predictions: the model "
            "does not use it (is it in the pipeline's column lists?).",
        )
    poorest = X_held.copy()
    poorest["median_income"] = X_fit["median_income"].min()
    floor = np.asarray(model.predict(poorest), dtype=float)
    _need(
        prediction.min() > 0 and floor.min() > 0,
        "the model predicts prices at or below zero for some districts: it was not trained on "
        "log prices.",
    )
    rmse = float(metrics.root_mean_squared_error(y_held, prediction))
    return f"held-out RMSE ${rmse:,.0f}, R² {r2:.2f} (the check's own split of the training part)"


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
    hint="the lesson's threshold rule as a function: among the thresholds that "
    "metrics.precision_recall_curve returns, the one you want is the highest whose recall still "
    "meets the target. Its recall array is one longer than its thresholds: line them up.",
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
    hint="start from polynomial_model's degree-15 features; the powers of x have wildly "
    "different scales, so standardize what the ridge model sees, and let alpha reach the model.",
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
