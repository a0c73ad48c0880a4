"""Shortcut answers for the exercises of lesson 01 · Clustering.

Each must FAIL: the wine lesson's numbers reused, skipped standardization, features
special-cased to the lesson's districts, eps limits read off a plot by eye, the 64-pixel
K-means instead of the reduced one, a bare number instead of the fitted pipeline.
"""

from __future__ import annotations

import numpy as np

from shortcut_answers import Shortcut


def _iris_unstandardized():
    from sklearn import cluster, metrics
    from sklearn import datasets as skdatasets

    X, y = skdatasets.load_iris(return_X_y=True)
    aris = {
        k: metrics.adjusted_rand_score(
            y, cluster.KMeans(n_clusters=k, n_init=10, random_state=42).fit_predict(X)
        )
        for k in (2, 3)
    }
    return {"best_k": 2, "ari_k2": aris[2], "ari_k3": aris[3]}


def _lesson_statistics_features(df):
    """Standardizes with the full California data's means and spreads, typed in."""
    means = np.array([-119.57, 35.63, 3.87])
    stds = np.array([2.0, 2.14, 1.9])
    scaled = (df[["longitude", "latitude", "median_income"]].to_numpy() - means) / stds
    scaled[:, 2] *= 2
    return scaled


def _unweighted_features(df):
    columns = df[["longitude", "latitude", "median_income"]].to_numpy(dtype=float)
    return (columns - columns.mean(axis=0)) / columns.std(axis=0)


def _cached_features():
    """Remembers the first DataFrame it sees and returns its features for every later call."""
    cache = {}

    def features(df):
        if "first" not in cache:
            columns = df[["longitude", "latitude", "median_income"]].to_numpy(dtype=float)
            scaled = (columns - columns.mean(axis=0)) / columns.std(axis=0)
            scaled[:, 2] *= 2
            cache["first"] = scaled
        return cache["first"]

    return features


def _raw_pixel_kmeans():
    from sklearn import cluster, pipeline
    from sklearn import datasets as skdatasets

    X, _ = skdatasets.load_digits(return_X_y=True)
    return pipeline.make_pipeline(cluster.KMeans(n_clusters=10, n_init=10, random_state=42)).fit(X)


def _two_component_pipeline():
    from sklearn import cluster, decomposition, pipeline
    from sklearn import datasets as skdatasets

    X, _ = skdatasets.load_digits(return_X_y=True)
    return pipeline.make_pipeline(
        decomposition.PCA(n_components=2), cluster.KMeans(n_clusters=10, n_init=10)
    ).fit(X)


def _unfitted_pipeline():
    from sklearn import cluster, decomposition, pipeline

    return pipeline.make_pipeline(
        decomposition.PCA(n_components=21), cluster.KMeans(n_clusters=10, n_init=10)
    )


SHORTCUTS = {
    "01.1": [
        Shortcut(
            "the wine lesson's numbers",
            lambda: ({"best_k": 3, "ari_k2": 0.9, "ari_k3": 0.9}, {}),
        ),
        Shortcut("K-means on the unstandardized iris", lambda: (_iris_unstandardized(), {})),
        Shortcut(
            "plausible made-up numbers",
            lambda: ({"best_k": 2, "ari_k2": 0.45, "ari_k3": 0.7}, {}),
        ),
    ],
    "01.2": [
        Shortcut("the full data's statistics typed in", lambda: (_lesson_statistics_features, {})),
        Shortcut("income not weighted", lambda: (_unweighted_features, {})),
        Shortcut("features cached from the first call", lambda: (_cached_features(), {})),
    ],
    "01.3": [
        Shortcut("limits read off the k-distance plot by eye", lambda: ((0.1, 0.2), {})),
        Shortcut("the whole scanned range", lambda: ((0.01, 0.4975), {})),
        Shortcut(
            "the lesson's answer for other moons",
            lambda: ((0.0625, 0.2875), {"noise": 0.12, "n_samples": 1000, "min_samples": 5}),
        ),
    ],
    "01.4": [
        Shortcut("the lesson's ARI on 64 pixels, as a number", lambda: (0.67, {})),
        Shortcut("K-means on the 64 raw pixels", lambda: (_raw_pixel_kmeans(), {})),
        Shortcut("PCA to 2 components", lambda: (_two_component_pipeline(), {})),
        Shortcut("an unfitted pipeline", lambda: (_unfitted_pipeline(), {})),
    ],
}
