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
    hint="repeat section 1 on iris: standardize the four measurements first, score each k of "
    "2..10 by its silhouette, and compare the clusters of k = 2 and k = 3 with the species "
    "(the adjusted Rand index ignores how clusters are numbered).",
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
    "median_income, in that order, on two sets of random districts the check makes up",
    hint="each column needs mean 0 and standard deviation 1 over the districts the function is "
    "given (compute the statistics from its argument, not from the lesson's data); the weight "
    "multiplies the standardized income, and the columns come in the order the exercise names.",
)
def _check_01_2(answer: Any, **context: Any) -> None:
    import pandas as pd

    features = _callable(answer, "a function features(df)")
    rng = np.random.default_rng(7)
    for n, income_scale in ((400, 1.2), (157, 0.6)):  # two sets: no answer fits both by chance
        df = pd.DataFrame(
            {
                "longitude": rng.uniform(-124, -114, n),
                "latitude": rng.uniform(32, 42, n),
                "housing_median_age": rng.integers(1, 52, n).astype(float),
                "median_income": rng.lognormal(income_scale, 0.5, n),
                "median_house_value": rng.uniform(15_000, 500_001, n),
            }
        )
        result = np.asarray(features(df.copy()), dtype=float)
        _need(
            result.shape == (n, 3),
            f"for {n} districts expected shape ({n}, 3), got {result.shape}.",
        )
        columns = ("longitude", "latitude", "median_income")
        for j, (name, weight) in enumerate(zip(columns, (1, 1, 2), strict=True)):
            _need(
                any(
                    np.allclose(result[:, j], weight * _zscore(df[name], ddof), atol=1e-3)
                    for ddof in (0, 1)
                ),
                f"on {n} random districts column {j} ({'weighted ' if weight != 1 else ''}{name}) "
                "is not what the exercise asks for.",
            )


def _moons_eps_range(
    n_samples: int, noise: float, min_samples: int, seed: int
) -> tuple[float, float]:
    from sklearn import cluster
    from sklearn import datasets as skdatasets

    X, _ = skdatasets.make_moons(n_samples=n_samples, noise=noise, random_state=seed)
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
    hint="scan eps in small steps (a few thousandths) over the moons of section 3, count the "
    "clusters DBSCAN finds at each eps (noise is not a cluster), and report both ends of the "
    "range with exactly two. Pass n_samples=, noise=, min_samples= and seed= as in the answer "
    "cell, so that the check builds the same moons.",
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
        int(context.get("seed", SEED)),
    )
    _need(abs(low - ref_low) <= 0.01, "the smallest eps is off: scan smaller steps near the limit.")
    _need(abs(high - ref_high) <= 0.01, "the largest eps is off: scan smaller steps near it.")


@_register(
    "01.4",
    "PCA before K-means",
    expects="a fitted scikit-learn Pipeline: PCA keeping digits_n_90 components, then K-means "
    "with k = 10, fitted on X_digits",
    verifies="the PCA keeps the fewest components that explain 90% of the digits' variance, "
    "K-means has 10 clusters and was fitted on that projection, and the check's own ARI of "
    "your pipeline's clusters against the digit labels matches K-means on the reduced digits",
    hint="chain the two steps with pipeline.make_pipeline so that predicting goes through the "
    "projection first; the number of components comes from section 4's cumulative explained "
    "variance, and the digits stay unscaled, as in the lesson.",
)
def _check_01_4(answer: Any, **context: Any) -> str:
    from sklearn import cluster, decomposition, metrics
    from sklearn import datasets as skdatasets
    from sklearn.pipeline import Pipeline

    if not isinstance(answer, Pipeline):
        raise Fail(f"expected a fitted scikit-learn Pipeline, got {type(answer).__name__}.")
    steps = [step for _, step in answer.steps]
    pcas = [s for s in steps if isinstance(s, decomposition.PCA)]
    kmeans = [s for s in steps if isinstance(s, cluster.KMeans)]
    _need(bool(pcas), "the pipeline has no PCA step: the exercise reduces the digits first.")
    _need(bool(kmeans), "the pipeline has no KMeans step.")
    pca, km = pcas[0], kmeans[-1]
    _need(hasattr(pca, "components_"), "the PCA is not fitted: fit the pipeline on X_digits.")
    _need(hasattr(km, "labels_"), "the K-means step is not fitted: fit the pipeline on X_digits.")
    _need(km.n_clusters == 10, f"K-means has {km.n_clusters} clusters; the digits have 10 classes.")
    X, y = skdatasets.load_digits(return_X_y=True)
    full = decomposition.PCA(random_state=SEED).fit(X)
    n_90 = int(np.searchsorted(np.cumsum(full.explained_variance_ratio_), 0.90) + 1)
    _need(
        pca.n_components_ == n_90,
        f"the PCA keeps {pca.n_components_} components: that is not the fewest that explain "
        "90% of the variance.",
    )
    _need(
        len(km.labels_) == len(X) and np.allclose(pca.mean_, X.mean(axis=0), atol=1e-6),
        "the pipeline was not fitted on the 1,797 unscaled digit images (X_digits).",
    )
    labels = np.asarray(answer.predict(X))
    _need(
        np.mean(labels == km.labels_) >= 0.99,
        "the clusters K-means found in fitting differ from what the pipeline predicts for the "
        "same digits: fit the whole pipeline, not its steps one by one on different data.",
    )
    ari = float(metrics.adjusted_rand_score(y, labels))
    reduced = full.transform(X)[:, :n_90]
    reference = cluster.KMeans(n_clusters=10, n_init=10, random_state=SEED).fit_predict(reduced)
    expected = float(metrics.adjusted_rand_score(y, reference))
    _need(
        ari >= expected - 0.05,
        f"your clusters agree with the digits less (ARI {ari:.2f}) than K-means with several "
        "initializations on the reduced digits does: use n_init as in the lesson.",
    )
    return f"ARI {ari:.3f} with {n_90} components"
