"""Checks for the exercises of lesson 14 · The ML lifecycle: data, leakage and tuning.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from labkit.exercises import (
    Fail,
    _need,
    _register,
)
from labkit.exercises._shared import _letters, _validation


@_register(
    "14.1",
    "Spot the leak",
    expects='a set of letters, e.g. {"a", "c"}',
    verifies="exactly the leaky steps are in your set",
    hint="reread section 4 (split once; fit preprocessing on the training set only) and its "
    "leakage demo: a step leaks if a statistic or a decision depends on data that should be "
    "unseen at that point. Judge every step on its own.",
)
def _check_14_1(answer: Any, **context: Any) -> None:
    if not isinstance(answer, (set, frozenset, list, tuple, str)):
        raise Fail(f'expected a set of letters such as {{"a", "c"}}, got {type(answer).__name__}.')
    letters = _letters(answer, "abcde", "a set of letters")
    _need(
        letters == {"a", "d", "e"},
        "your set of leaky steps is not right yet (it is graded as a whole).",
    )


@_register(
    "14.2",
    "Hyperband",
    expects="a keras_tuner.Hyperband tuner after its search(); pass x_val= and y_val=",
    verifies="your tuner is a Hyperband search with factor 3 that minimizes val_rmse and has "
    "completed trials, and its best model reproduces its best val_rmse on the validation rows",
    hint="keras_tuner.Hyperband takes the build function and the objective of the random "
    "search, but a maximum number of epochs and a reduction factor instead of a number of "
    "trials; run its search() like the random search's, with the validation rows as "
    "validation_data.",
)
def _check_14_2(answer: Any, **context: Any) -> str:
    import keras_tuner

    if not isinstance(answer, keras_tuner.Tuner):
        raise Fail(f"expected a keras_tuner tuner, got {type(answer).__name__}.")
    oracle = answer.oracle
    _need(
        isinstance(oracle, keras_tuner.oracles.HyperbandOracle),
        f"the tuner's search is {type(oracle).__name__}, not Hyperband.",
    )
    _need(oracle.factor == 3, f"the reduction factor is {oracle.factor}, not 3.")
    objective = oracle.objective
    _need(
        getattr(objective, "name", None) == "val_rmse" and objective.direction == "min",
        "the objective must be the validation RMSE, minimized.",
    )
    completed = [t for t in oracle.trials.values() if t.status == "COMPLETED"]
    scored = [t.score for t in completed if t.score is not None]
    _need(bool(scored), "no trial has completed: run the tuner's search first.")
    best = min(scored)
    x, y = _validation(context)
    try:
        (model,) = answer.get_best_models(1)
    except Exception:
        raise Fail(
            "the best trial's model cannot be loaded from the tuner's folder: run the search "
            "again (and keep its directory)."
        ) from None
    prediction = np.asarray(model.predict(x, verbose=0), dtype=np.float64).ravel()
    _need(
        prediction.shape == y.shape,
        "the best model must predict one value per row of x_val.",
    )
    rmse = float(np.sqrt(np.mean((prediction - y) ** 2)))
    _need(
        math.isclose(rmse, best, rel_tol=0.05),
        f"the best model's RMSE on the x_val, y_val you passed is {rmse:.4g}, not the "
        f"{best:.4g} the tuner recorded: pass the validation rows the search used.",
    )
    _need(
        rmse < 0.9 * float(np.std(y)),
        "the best model predicts hardly better than the mean.",
    )
    return f"{len(completed)} trials, best val_rmse {best:.4f}"
