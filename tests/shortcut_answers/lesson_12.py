"""Shortcut answers for lesson 12's checks (autoencoder fraud detection): each must FAIL."""

from __future__ import annotations

import numpy as np

from shortcut_answers import Shortcut


def _fraud_data(seed: int, n_normal: int = 450, n_fraud: int = 50):
    """Normal rows near a 3-D subspace of 10 features; frauds off it and shifted."""
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(0).normal(size=(3, 10))
    normal = rng.normal(size=(n_normal, 3)) @ basis + 0.3 * rng.normal(size=(n_normal, 10))
    fraud = rng.normal(size=(n_fraud, 3)) @ basis + 0.55 * rng.normal(size=(n_fraud, 10)) + 0.2
    x = np.vstack([normal, fraud]).astype(np.float32)
    y = np.r_[np.zeros(n_normal, int), np.ones(n_fraud, int)]
    order = rng.permutation(len(y))
    return x[order], y[order]


X_TRAIN, Y_TRAIN = _fraud_data(1)
X_VAL, Y_VAL = _fraud_data(2)


class _PCAReconstructor:
    """A stand-in for the trained autoencoder: projects onto the normal rows' 3 components."""

    def __init__(self, x_normal: np.ndarray, components: int = 3):
        self.mean = x_normal.mean(axis=0)
        _, _, vt = np.linalg.svd(x_normal - self.mean, full_matrices=False)
        self.v = vt[:components]

    def predict(self, x, verbose=0):
        centred = np.asarray(x, dtype=float) - self.mean
        return centred @ self.v.T @ self.v + self.mean


class _Untrained:
    """An autoencoder before training: reconstructs everything as zeros."""

    def predict(self, x, verbose=0):
        return np.zeros_like(np.asarray(x, dtype=float))


AUTOENCODER = _PCAReconstructor(X_TRAIN[Y_TRAIN == 0])


def _val_context(autoencoder=AUTOENCODER):
    return {"X_val": X_VAL, "y_val": Y_VAL, "autoencoder": autoencoder}


def _labels_as_scores():
    return (lambda x: Y_VAL.astype(float)), _val_context()


def _lookup_table():
    table = {row.tobytes(): float(label) for row, label in zip(X_VAL, Y_VAL, strict=True)}
    return (lambda x: np.array([table.get(r.tobytes(), 0.0) for r in x])), _val_context()


def _autoencoder_itself():
    def score(x):
        return np.mean((x - AUTOENCODER.predict(x)) ** 2, axis=1)

    return score, _val_context()


def _weak_score_untrained_bar():
    # the row norm, a weak score, made to look good by passing an untrained "autoencoder"
    return (lambda x: np.linalg.norm(x, axis=1)), _val_context(_Untrained())


def _fitted(model, x, y):
    return model.fit(x, y)


def _dummy():
    from sklearn.dummy import DummyClassifier

    return _fitted(DummyClassifier(strategy="prior"), X_TRAIN, Y_TRAIN)


def _knn_on_validation():
    from sklearn.neighbors import KNeighborsClassifier

    return _fitted(KNeighborsClassifier(n_neighbors=1), X_VAL, Y_VAL)


def _shuffled_labels():
    from sklearn.linear_model import LogisticRegression

    labels = np.random.default_rng(3).permutation(Y_TRAIN)
    return _fitted(LogisticRegression(class_weight="balanced", max_iter=1000), X_TRAIN, labels)


def _unfitted():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(class_weight="balanced", max_iter=1000)


_SPLITS = {"X_train": X_TRAIN, "y_train": Y_TRAIN, "X_val": X_VAL, "y_val": Y_VAL}


def _precision_at(rate, tpr=0.9, fpr=0.02):
    return tpr * rate / (tpr * rate + fpr * (1 - rate))


SHORTCUTS = {
    "12.1": [
        Shortcut(
            "the sample's fraud rate (19.7 %) instead of 0.1 %",
            lambda: (_precision_at(0.197), {"tpr": 0.9, "fpr": 0.02}),
            ("0.043", "0.0431"),
        ),
        Shortcut(
            "the recall reported as the precision",
            lambda: (0.9, {"tpr": 0.9, "fpr": 0.02}),
            ("0.043", "0.0431"),
        ),
        Shortcut(
            "the full data set's fraud rate (0.17 %) instead of 0.1 %",
            lambda: (_precision_at(0.0017), {"tpr": 0.9, "fpr": 0.02}),
            ("0.043", "0.0431"),
        ),
    ],
    "12.2": [
        Shortcut(
            "whole hours only (the hour rounded down)",
            lambda: (
                lambda t: np.column_stack(
                    [
                        np.sin(2 * np.pi * np.floor(np.asarray(t) / 3600 % 24) / 24),
                        np.cos(2 * np.pi * np.floor(np.asarray(t) / 3600 % 24) / 24),
                    ]
                ),
                {},
            ),
            ("% 24", "2 * np.pi", "column_stack([np.sin"),
        ),
        Shortcut(
            "cosine first",
            lambda: (
                lambda t: np.column_stack(
                    [
                        np.cos(2 * np.pi * (np.asarray(t) / 3600 % 24) / 24),
                        np.sin(2 * np.pi * (np.asarray(t) / 3600 % 24) / 24),
                    ]
                ),
                {},
            ),
            ("% 24", "2 * np.pi", "column_stack([np.sin"),
        ),
        Shortcut(
            "the answers for the times an earlier check used, looked up",
            lambda: (_memorised_hours(), {}),
            ("% 24", "2 * np.pi", "column_stack([np.sin"),
        ),
    ],
    "12.3": [
        Shortcut("the validation labels as scores", _labels_as_scores, ("y_val.astype",)),
        Shortcut(
            "a lookup table from the validation rows to their labels",
            _lookup_table,
            ("tobytes",),
        ),
        Shortcut("the lesson's autoencoder itself", _autoencoder_itself, ("rankdata(",)),
        Shortcut(
            "a weak score measured against an untrained autoencoder",
            _weak_score_untrained_bar,
            ("rankdata(",),
        ),
    ],
    "12.4": [
        Shortcut(
            "a constant predictor (the fraud rate for everyone)",
            lambda: (_dummy(), _SPLITS),
            ("class_weight='balanced'", "LogisticRegression("),
        ),
        Shortcut(
            "a 1-nearest-neighbour classifier fitted on the validation split",
            lambda: (_knn_on_validation(), _SPLITS),
            ("LogisticRegression(",),
        ),
        Shortcut(
            "a classifier fitted on shuffled labels",
            lambda: (_shuffled_labels(), _SPLITS),
            ("LogisticRegression(",),
        ),
        Shortcut(
            "an unfitted classifier", lambda: (_unfitted(), _SPLITS), ("LogisticRegression(",)
        ),
    ],
}


def _memorised_hours():
    rng = np.random.default_rng(11)  # the times a fixed-seed check would have used
    times = np.sort(rng.uniform(0, 172_792, 300)).round()
    angle = 2 * np.pi * ((times / 3600) % 24) / 24
    stored = np.column_stack([np.sin(angle), np.cos(angle)])
    return lambda t: stored if len(t) == len(stored) else np.zeros((len(t), 2))
