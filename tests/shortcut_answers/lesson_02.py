"""Shortcut answers for the exercises of lesson 02 · Regression and classification.

Each must FAIL: the diagonal-only learning-rate limit, a constant price (DummyRegressor), the
lesson's model without the new features, a dollar model, fixed or special-cased thresholds, a
ridge model that ignores alpha.
"""

from __future__ import annotations

import numpy as np

from shortcut_answers import Shortcut

_NUMERIC = [
    "longitude",
    "latitude",
    "housing_median_age",
    "total_rooms",
    "total_bedrooms",
    "population",
    "households",
    "median_income",
]
_RATIOS = ["rooms_per_household", "population_per_household"]


def _diagonal_limit():
    from labkit import datasets

    income = datasets.load_california_housing()["median_income"].to_numpy()
    return 1 / np.mean(income**2)  # 2 / (2 mean(x^2)): the diagonal entry, not the eigenvalue


def _made_up_income():
    """A plausible rate, with an income= made up so that the rate looks right."""
    return 0.05, {"income": np.linspace(0.5, 6.0, 1000) ** 1.01}


def _pipeline(numeric, log=True):
    from sklearn import compose, impute, linear_model, pipeline, preprocessing

    preprocess = compose.ColumnTransformer(
        [
            (
                "numeric",
                pipeline.make_pipeline(
                    impute.SimpleImputer(strategy="median"), preprocessing.StandardScaler()
                ),
                numeric,
            ),
            ("category", preprocessing.OneHotEncoder(handle_unknown="ignore"), ["ocean_proximity"]),
        ]
    )
    model = pipeline.make_pipeline(preprocess, linear_model.LinearRegression())
    if not log:
        return model
    return compose.TransformedTargetRegressor(regressor=model, func=np.log, inverse_func=np.exp)


def _mean_price():
    from sklearn import dummy

    return dummy.DummyRegressor(strategy="mean")


def _mean_log_price():
    from sklearn import compose, dummy

    return compose.TransformedTargetRegressor(
        regressor=dummy.DummyRegressor(), func=np.log, inverse_func=np.exp
    )


def _constant_threshold(y_true, proba, recall_target):
    return 0.5


def _lesson_threshold(y_true, proba, recall_target):
    """Special-cases the target: the lesson's cross-validated thresholds, typed in."""
    return {0.98: 0.21, 1.0: 0.04}.get(recall_target, 0.3)


def _precision_threshold(y_true, proba, recall_target):
    from sklearn import metrics

    precision, _, thresholds = metrics.precision_recall_curve(y_true, proba)
    meets = thresholds[precision[:-1] >= recall_target]
    return float(meets.min()) if meets.size else float(thresholds.max())


def _ridge_ignoring_alpha(alpha):
    from sklearn import linear_model, pipeline, preprocessing

    return pipeline.make_pipeline(
        preprocessing.PolynomialFeatures(15, include_bias=False),
        preprocessing.StandardScaler(),
        linear_model.Ridge(alpha=1.0),
    )


def _scaler_first(alpha):
    from sklearn import linear_model, pipeline, preprocessing

    return pipeline.make_pipeline(
        preprocessing.StandardScaler(),
        preprocessing.PolynomialFeatures(15, include_bias=False),
        linear_model.Ridge(alpha=alpha),
    )


SHORTCUTS = {
    "02.1": [
        Shortcut(
            "the diagonal-only limit 1 / mean(x^2)",
            lambda: (_diagonal_limit(), {}),
            forbidden=("0.0515", "0.0516"),
        ),
        Shortcut("the standardized lesson's rate", lambda: (0.5, {})),
        Shortcut("a made-up income= that fits the rate", _made_up_income),
    ],
    "02.2": [
        Shortcut("a model that predicts the mean price", lambda: (_mean_price(), {})),
        Shortcut("the mean log price", lambda: (_mean_log_price(), {})),
        Shortcut(
            "the lesson's model on log prices, no new features", lambda: (_pipeline(_NUMERIC), {})
        ),
        Shortcut(
            "the new features but prices in dollars",
            lambda: (_pipeline(_NUMERIC + _RATIOS, log=False), {}),
        ),
    ],
    "02.3": [
        Shortcut("the default threshold 0.5", lambda: (_constant_threshold, {})),
        Shortcut("the lesson's thresholds typed in", lambda: (_lesson_threshold, {})),
        Shortcut("precision instead of recall", lambda: (_precision_threshold, {})),
    ],
    "02.4": [
        Shortcut("a ridge model that ignores alpha", lambda: (_ridge_ignoring_alpha, {})),
        Shortcut("the scaler before the polynomial features", lambda: (_scaler_first, {})),
    ],
}
