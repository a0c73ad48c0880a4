"""Checks for the exercises of lesson 01 · Clustering.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labkit.exercises import (
    SEED,
    Fail,
    _callable,
    _integer,
    _mapping,
    _need,
    _number,
    _register,
)


def _iris_reference() -> dict[str, float]:
    from sklearn import cluster, metrics, preprocessing
    from sklearn import datasets as skdatasets

    X, y = skdatasets.load_iris(return_X_y=True)
    X = preprocessing.StandardScaler().fit_transform(X)
    silhouettes, aris = {}, {}
    for k in range(2, 11):
        labels = cluster.KMeans(n_clusters=k, n_init=10, random_state=SEED).fit_predict(X)
        silhouettes[k] = metrics.silhouette_score(X, labels)
        aris[k] = metrics.adjusted_rand_score(y, labels)
    return {"best_k": max(silhouettes, key=silhouettes.get), "ari_k2": aris[2], "ari_k3": aris[3]}


@_register(
    "01.1",
    "Iris",
    expects='a dict {"best_k": int, "ari_k2": float, "ari_k3": float}',
    verifies="the silhouette's k and both ARIs match K-means on the standardized iris data",
    hint="standardize all four measurements, try k = 2..10 with KMeans(n_init=10, "
    "random_state=42) as in section 1, and compare the labels with the species using the "
    "adjusted Rand index.",
)
def _check_01_1(answer: Any, **context: Any) -> None:
    answer = _mapping(answer, ("best_k", "ari_k2", "ari_k3"), "the Iris results")
    reference = _iris_reference()
    best_k = _integer(answer["best_k"], "best_k")
    _need(best_k == reference["best_k"], "best_k is not the k with the highest silhouette score.")
    for key in ("ari_k2", "ari_k3"):
        value = _number(answer[key], key)
        _need(-0.5 <= value <= 1, f"{key} must be an adjusted Rand index (at most 1).")
        _need(abs(value - reference[key]) <= 0.03, f"{key} does not match the standardized data.")


def _zscore(column: Any, ddof: int = 0) -> np.ndarray:
    column = np.asarray(column, dtype=float)
    return (column - column.mean()) / column.std(ddof=ddof)


@_register(
    "01.2",
    "Regions with income",
    expects="a function features(df) -> array (n, 3) taking a housing DataFrame",
    verifies="your features are standardized longitude, latitude and 2 x standardized "
    "median_income, in that order, on random districts",
    hint="standardize each column to mean 0 and standard deviation 1 (StandardScaler or "
    "(x - mean) / std), then multiply the income column by 2; return the three columns in the "
    "order longitude, latitude, median_income.",
)
def _check_01_2(answer: Any, **context: Any) -> None:
    import pandas as pd

    features = _callable(answer, "a function features(df)")
    rng = np.random.default_rng(7)
    n = 400
    df = pd.DataFrame(
        {
            "longitude": rng.uniform(-124, -114, n),
            "latitude": rng.uniform(32, 42, n),
            "housing_median_age": rng.integers(1, 52, n).astype(float),
            "median_income": rng.lognormal(1.2, 0.5, n),
            "median_house_value": rng.uniform(15_000, 500_001, n),
        }
    )
    result = np.asarray(features(df.copy()), dtype=float)
    _need(result.shape == (n, 3), f"for {n} districts expected shape ({n}, 3), got {result.shape}.")
    columns = ("longitude", "latitude", "median_income")
    for j, (name, weight) in enumerate(zip(columns, (1, 1, 2), strict=True)):
        _need(
            any(
                np.allclose(result[:, j], weight * _zscore(df[name], ddof), atol=1e-3)
                for ddof in (0, 1)
            ),
            f"column {j} ({'weighted ' if weight != 1 else ''}{name}) is not what the exercise "
            "asks for.",
        )


def _moons_eps_range(n_samples: int, noise: float, min_samples: int) -> tuple[float, float]:
    from sklearn import cluster
    from sklearn import datasets as skdatasets

    X, _ = skdatasets.make_moons(n_samples=n_samples, noise=noise, random_state=SEED)
    grid = np.round(np.arange(0.01, 0.5, 0.0025), 4)
    two = [
        e for e in grid if cluster.DBSCAN(eps=e, min_samples=min_samples).fit(X).labels_.max() == 1
    ]
    _need(bool(two), "no eps gives two clusters with these settings.")
    return float(min(two)), float(max(two))


@_register(
    "01.3",
    "Tuning DBSCAN",
    expects="a tuple (smallest_eps, largest_eps) of floats",
    verifies="both limits give exactly two clusters on the lesson's moons and lie within 0.01 "
    "of the true limits",
    hint="loop over eps with np.arange(0.01, 0.5, 0.0025), fit DBSCAN(eps=eps, "
    "min_samples=MIN_SAMPLES) on X_moons and keep the eps values where labels.max() + 1 == 2. "
    "If you changed MOONS_SAMPLES, MOONS_NOISE or MIN_SAMPLES, pass n_samples=, noise=, "
    "min_samples= to the check.",
)
def _check_01_3(answer: Any, **context: Any) -> None:
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Fail(f"expected a tuple (smallest_eps, largest_eps), got {type(answer).__name__}.")
    low, high = (_number(v, "eps") for v in answer)
    _need(low < high, "the smallest eps must be below the largest.")
    ref_low, ref_high = _moons_eps_range(
        int(context.get("n_samples", 1000)),
        float(context.get("noise", 0.08)),
        int(context.get("min_samples", 5)),
    )
    _need(abs(low - ref_low) <= 0.01, "the smallest eps is off: scan smaller steps near the limit.")
    _need(abs(high - ref_high) <= 0.01, "the largest eps is off: scan smaller steps near it.")


@_register(
    "01.4",
    "PCA before K-means",
    expects="a float: the ARI of K-means (k = 10) on the digits reduced to digits_n_90 components",
    verifies="your ARI matches K-means(n_clusters=10, n_init=10, random_state=42) on the PCA "
    "projection that keeps 90% of the variance",
    hint="fit decomposition.PCA(n_components=digits_n_90) on X_digits (unscaled, as in the "
    "lesson), cluster pca.transform(X_digits) and compare with y_digits using "
    "metrics.adjusted_rand_score.",
)
def _check_01_4(answer: Any, **context: Any) -> None:
    from sklearn import cluster, decomposition, metrics
    from sklearn import datasets as skdatasets

    value = _number(answer, "an adjusted Rand index")
    _need(-0.5 <= value <= 1, "an adjusted Rand index is at most 1.")
    X, y = skdatasets.load_digits(return_X_y=True)
    full = decomposition.PCA(random_state=SEED).fit(X)
    n_90 = int(np.searchsorted(np.cumsum(full.explained_variance_ratio_), 0.90) + 1)
    reduced = full.transform(X)[:, :n_90]
    labels = cluster.KMeans(n_clusters=10, n_init=10, random_state=SEED).fit_predict(reduced)
    reference = metrics.adjusted_rand_score(y, labels)
    _need(abs(value - reference) <= 0.03, "the ARI does not match K-means on the reduced digits.")
