"""Checks for the exercises of lessons 01-07 (registered in :mod:`labkit.exercises`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from labkit.exercises import (
    SEED,
    Fail,
    _callable,
    _context,
    _integer,
    _keras_model,
    _mapping,
    _need,
    _number,
    _register,
    _shape,
)

# --------------------------------------------------------------------------------------------
# 01 · Clustering


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


# --------------------------------------------------------------------------------------------
# 02 · Regression and classification


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


# --------------------------------------------------------------------------------------------
# 03 · Images and video


def _colour_patches() -> tuple[np.ndarray, np.ndarray]:
    """A BGR test card: blue patches (mask must be on) and other colours (mask must be off)."""
    blues = [(255, 0, 0), (200, 60, 20), (180, 90, 40), (230, 120, 30), (150, 40, 10)]
    others = [
        (140, 170, 220),  # skin
        (90, 120, 180),  # darker skin
        (0, 0, 255),  # red
        (0, 200, 0),  # green
        (0, 220, 220),  # yellow
        (255, 255, 255),  # white
        (128, 128, 128),  # grey
        (0, 0, 0),  # black
        (180, 0, 180),  # purple
    ]
    size = 20
    colours = blues + others
    image = np.zeros((size, size * len(colours), 3), dtype=np.uint8)
    is_blue = np.zeros(image.shape[:2], dtype=bool)
    for i, colour in enumerate(colours):
        image[:, i * size : (i + 1) * size] = colour
        is_blue[:, i * size : (i + 1) * size] = i < len(blues)
    return image, is_blue


@_register(
    "03.1",
    "Colour spaces",
    expects="a function blue_mask(image_bgr) -> mask (height x width, 255 = blue)",
    verifies="your mask covers saturated blues and leaves skin, red, green, yellow, purple, "
    "white, grey and black out, on a test card",
    hint="convert with cv2.cvtColor(image, cv2.COLOR_BGR2HSV) (the image is BGR) and keep "
    "hues around 100-130 with enough saturation and brightness: cv2.inRange(hsv, lower, upper).",
)
def _check_03_1(answer: Any, **context: Any) -> None:
    blue_mask = _callable(answer, "a function blue_mask(image_bgr)")
    image, is_blue = _colour_patches()
    mask = np.asarray(blue_mask(image.copy()))
    _need(
        mask.shape == is_blue.shape,
        f"the mask must be height x width {is_blue.shape}, got {mask.shape}.",
    )
    on = mask > 0
    _need(on[is_blue].mean() >= 0.95, "the mask misses blue pixels of the test card.")
    _need(on[~is_blue].mean() <= 0.05, "the mask also marks pixels that are not blue.")


def _auto_canny_reference(blurred: np.ndarray) -> np.ndarray:
    import cv2

    m = float(np.median(blurred))
    low, high = np.clip([0.67 * m, 1.33 * m], 0, 255)
    return cv2.Canny(blurred, float(low), float(high))


def _test_images() -> list[np.ndarray]:
    import cv2

    rng = np.random.default_rng(11)
    images = []
    for base, contrast in ((40, 30), (120, 60), (200, 25)):
        noise = rng.normal(0, 1, (120, 160)).astype(np.float32)
        smooth = cv2.GaussianBlur(noise, (0, 0), 6)
        image = base + contrast * smooth / smooth.std()
        cv2.rectangle(image, (30, 30), (90, 80), float(base + contrast), -1)
        cv2.circle(image, (120, 60), 25, float(base - contrast), -1)
        image = np.clip(image, 0, 255).astype(np.uint8)
        images.append(cv2.GaussianBlur(image, (5, 5), 0))
    return images


@_register(
    "03.2",
    "Automatic Canny thresholds",
    expects="a function auto_canny(blurred) -> edge image, blurred being a grayscale uint8 image",
    verifies="your edges match Canny with thresholds 0.67 and 1.33 times the median on dark, "
    "medium and bright test images",
    hint="take the median of the blurred image itself, compute both thresholds from it, clip "
    "them to the range 0-255 and pass them to cv2.Canny.",
)
def _check_03_2(answer: Any, **context: Any) -> None:
    auto_canny = _callable(answer, "a function auto_canny(blurred)")
    for i, image in enumerate(_test_images()):
        edges = np.asarray(auto_canny(image.copy()))
        expected = _auto_canny_reference(image)
        _need(edges.shape == expected.shape, f"edges must have the image's shape {image.shape}.")
        agree = np.mean((edges > 0) == (expected > 0))
        _need(
            agree >= 0.995,
            f"on test image {i + 1} (median {np.median(image):.0f}) your edges differ from the "
            "median rule's.",
        )


def _portraits() -> dict[str, np.ndarray]:
    import cv2

    from labkit import datasets

    faces_dir = datasets.fetch("faces")
    portraits = {}
    for name in ("obama", "biden", "two_people"):
        image = cv2.imread(str(faces_dir / f"{name}.jpg"))
        scale = 800 / max(image.shape[:2])
        portraits[name] = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return portraits


def _detect_faces(image_bgr: np.ndarray) -> np.ndarray:
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    return cascade.detectMultiScale(gray, scaleFactor=1.15, minNeighbors=6, minSize=(60, 60))


@_register(
    "03.3",
    "Eyes inside faces",
    expects="a function find_eyes(image_bgr, faces) -> list of eye boxes (x, y, w, h) in image "
    "coordinates, faces being the (x, y, w, h) face boxes",
    verifies="on the three portraits every eye box lies inside a face, and every face has 1 to 3 "
    "eyes",
    hint="for each face box crop gray[y : y + h, x : x + w], run the eye cascade "
    "(cv2.data.haarcascades + 'haarcascade_eye.xml') on the crop, and add (x, y) to the "
    "corner of every eye box it finds.",
)
def _check_03_3(answer: Any, **context: Any) -> str:
    find_eyes = _callable(answer, "a function find_eyes(image_bgr, faces)")
    counts = []
    for name, image in _portraits().items():
        faces = _detect_faces(image)
        eyes = [tuple(int(v) for v in box) for box in find_eyes(image.copy(), faces)]
        _need(all(box[2] > 0 and box[3] > 0 for box in eyes), f"{name}: an eye box has no area.")
        per_face = []
        for fx, fy, fw, fh in faces:
            inside = [
                (ex, ey, ew, eh)
                for ex, ey, ew, eh in eyes
                if fx - 2 <= ex
                and ex + ew <= fx + fw + 2
                and fy - 2 <= ey
                and ey + eh <= fy + fh + 2
            ]
            per_face.append(len(inside))
        _need(
            sum(per_face) == len(eyes),
            f"{name}: some eye boxes are outside every face: are they in image coordinates?",
        )
        _need(min(per_face) >= 1, f"{name}: a face has no eye: search inside each face box.")
        _need(max(per_face) <= 3, f"{name}: a face has more than 3 eyes: raise minNeighbors.")
        counts.append(f"{name} {per_face}")
    return "eyes per face: " + ", ".join(counts)


def _hist_distance_reference(frame_a: np.ndarray, frame_b: np.ndarray) -> float:
    import cv2

    hists = []
    for frame in (frame_a, frame_b):
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        hist = cv2.calcHist([gray], [0], None, [256], [0, 256])
        hists.append(cv2.normalize(hist, hist))
    return float(cv2.compareHist(hists[0], hists[1], cv2.HISTCMP_BHATTACHARYYA))


@_register(
    "03.4",
    "A better cut detector",
    expects="a function hist_distance(frame_a, frame_b) -> float for two BGR frames",
    verifies="your distance equals the Bhattacharyya distance between the 256-bin grayscale "
    "histograms, on pairs of test frames",
    hint="convert each frame to grayscale, cv2.calcHist([gray], [0], None, [256], [0, 256]), "
    "cv2.normalize each histogram, then cv2.compareHist(h1, h2, cv2.HISTCMP_BHATTACHARYYA).",
)
def _check_03_4(answer: Any, **context: Any) -> None:
    import cv2

    hist_distance = _callable(answer, "a function hist_distance(frame_a, frame_b)")
    images = [cv2.cvtColor(g, cv2.COLOR_GRAY2BGR) for g in _test_images()]
    rng = np.random.default_rng(2)
    shifted = np.clip(images[1].astype(int) + 15 + rng.integers(-3, 4, images[1].shape), 0, 255)
    pairs = [
        (images[0], images[0]),
        (images[0], images[1]),
        (images[1], shifted.astype(np.uint8)),
        (images[1], images[2]),
    ]
    for i, (a, b) in enumerate(pairs):
        got = _number(hist_distance(a.copy(), b.copy()), "the distance")
        _need(
            abs(got - _hist_distance_reference(a, b)) <= 1e-3,
            f"test pair {i + 1}: your distance is not the Bhattacharyya distance of the 256-bin "
            "grayscale histograms.",
        )


# --------------------------------------------------------------------------------------------
# 04 · Text and audio

_NER_SENTENCE = [
    ("Alice", "NNP"), ("Smith", "NNP"), ("left", "VBD"), ("Bank", "NNP"), ("of", "IN"),
    ("America", "NNP"), ("in", "IN"), ("2019", "CD"), ("to", "TO"), ("teach", "VB"),
    ("at", "IN"), ("the", "DT"), ("University", "NNP"), ("of", "IN"), ("Cambridge", "NNP"),
    ("and", "CC"), ("moved", "VBD"), ("from", "IN"), ("New", "NNP"), ("York", "NNP"),
    (".", "."),
]  # fmt: skip
_NER_EXPECTED = {"Alice Smith", "Bank of America", "University of Cambridge", "New York"}


@_register(
    "04.1",
    "A better rule-based NER",
    expects="a str: a RegexpParser grammar",
    verifies='your grammar chunks "Bank of America", "University of Cambridge", "New York" and '
    '"Alice Smith" as whole entities and nothing else, on a POS-tagged test sentence',
    hint="a grammar can have several lines, each one rule, applied in order: add a rule for "
    "'proper nouns, a preposition, proper nouns' before the plain proper-noun rule.",
)
def _check_04_1(answer: Any, **context: Any) -> None:
    import nltk

    if not isinstance(answer, str):
        raise Fail(f"expected a grammar string, got {type(answer).__name__}.")
    try:
        parser = nltk.RegexpParser(answer)
    except ValueError as error:
        raise Fail(f"nltk.RegexpParser cannot read the grammar ({error}).") from None
    tree = parser.parse(list(_NER_SENTENCE))
    chunks = {
        " ".join(word for word, _ in subtree.leaves())
        for subtree in tree
        if isinstance(subtree, nltk.Tree)
    }
    missing = sorted(_NER_EXPECTED - chunks)
    extra = sorted(chunks - _NER_EXPECTED)
    _need(not missing, f"these entities are not chunked as a whole: {missing}.")
    _need(not extra, f"these chunks are not entities (or are cut wrongly): {extra}.")


@_register(
    "04.2",
    "Beyond single words",
    expects="a fitted scikit-learn Pipeline (TfidfVectorizer with word pairs, then a "
    "classifier) taking raw review texts; pass docs_test= and y_test=",
    verifies="the vectorizer uses word pairs (ngram_range up to 2 or more, bigrams in the "
    "vocabulary) and the pipeline reaches 80% test accuracy",
    hint="pipeline.make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=MIN_DF, "
    "sublinear_tf=True), LogisticRegression(C=LR_C, solver='liblinear', dual=True)) fitted on "
    "docs_train, y_train.",
)
def _check_04_2(answer: Any, **context: Any) -> str:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import Pipeline

    if not isinstance(answer, Pipeline):
        raise Fail(f"expected a scikit-learn Pipeline, got {type(answer).__name__}.")
    docs_test, y_test = _context(context, "docs_test", "y_test")
    vectorizers = [step for _, step in answer.steps if isinstance(step, TfidfVectorizer)]
    _need(bool(vectorizers), "the pipeline has no TfidfVectorizer step.")
    vectorizer = vectorizers[0]
    _need(vectorizer.ngram_range[1] >= 2, "the TfidfVectorizer still uses single words only.")
    vocabulary = getattr(vectorizer, "vocabulary_", None)
    _need(vocabulary is not None, "the pipeline is not fitted: call .fit(docs_train, y_train).")
    _need(any(" " in term for term in vocabulary), "the vocabulary has no word pairs.")
    accuracy = float(np.mean(np.asarray(answer.predict(list(docs_test))) == np.asarray(y_test)))
    _need(accuracy >= 0.80, f"test accuracy {accuracy:.3f} is below 0.80.")
    return f"test accuracy {accuracy:.3f}"


def _engine_like(frequency: float, rate: int, seconds: float, rng: np.random.Generator):
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * frequency / 2 * t)
    for k, amplitude in enumerate([1.0, 0.6, 0.35], start=1):
        x += amplitude * np.sin(2 * np.pi * k * frequency * t + k)
    return x + 0.5 * rng.standard_normal(len(t))


@_register(
    "04.3",
    "Finer than one bin",
    expects="a function peak_frequency(x, rate) -> float: the frequency (Hz) of the strongest "
    "spectral peak, estimated finer than one FFT bin",
    verifies="on 1-second engine-like recordings (1 Hz bins) your estimate is within 0.15 Hz of "
    "the true firing frequency every time",
    hint="the strongest bin alone is only good to half a bin: either zero-pad the windowed "
    "signal before the FFT (the n= argument of np.fft.rfft) or fit a parabola through the dB "
    "values of the peak bin and its two neighbours and take its vertex.",
)
def _check_04_3(answer: Any, **context: Any) -> None:
    peak_frequency = _callable(answer, "a function peak_frequency(x, rate)")
    rng = np.random.default_rng(4)
    rate = 8000
    for frequency in rng.uniform(40, 250, 6):
        x = _engine_like(float(frequency), rate, 1.0, rng)
        got = _number(peak_frequency(x.copy(), rate), "the frequency")
        _need(
            abs(got - frequency) <= 0.15,
            "at least one estimate is more than 0.15 Hz off: one bin is 1 Hz here, so rounding "
            "to the nearest bin is not enough.",
        )


def _voiced_frame(f0: float, rate: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    amplitudes = [0.5, 1.0, 0.7, 0.4, 0.2]  # the 2nd harmonic is the strongest, as in speech
    x = sum(a * np.sin(2 * np.pi * (k + 1) * f0 * t + k) for k, a in enumerate(amplitudes))
    return x + 0.05 * rng.standard_normal(len(t))


@_register(
    "04.4",
    "A pitch track",
    expects="a function pitch(frame, rate) -> float: F0 in Hz of one voiced frame, by "
    "autocorrelation between 80 and 400 Hz",
    verifies="your pitch is within 3% of the true F0 on 40 ms voiced test frames whose second "
    "harmonic is stronger than the fundamental",
    hint="use the autocorrelation of section 14, not the strongest FFT peak (the second "
    "harmonic can be louder than F0); search only the lags of 80-400 Hz and convert the best "
    "lag to a frequency.",
)
def _check_04_4(answer: Any, **context: Any) -> None:
    pitch = _callable(answer, "a function pitch(frame, rate)")
    rng = np.random.default_rng(9)
    rate = 16000
    for f0 in (110.0, 165.0, 240.0, 330.0):
        got = _number(pitch(_voiced_frame(f0, rate, 0.04, rng), rate), "the pitch")
        _need(abs(got - f0) <= 0.03 * f0, "at least one test frame gets a wrong pitch.")


# --------------------------------------------------------------------------------------------
# 05 · A multilayer perceptron on MNIST


def _dense_units(model: Any) -> list[int]:
    import keras

    return [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def _dropout_rates(model: Any) -> list[float]:
    import keras

    return [float(layer.rate) for layer in model.layers if isinstance(layer, keras.layers.Dropout)]


def _check_mlp_input(model: Any) -> None:
    try:
        shape = tuple(model.input_shape)
    except (AttributeError, ValueError):
        raise Fail(
            "the model has no input yet: start it with keras.Input(shape=(28, 28))."
        ) from None
    _need(shape[1:] in ((28, 28), (784,), (28, 28, 1)), f"the input shape {shape} is not MNIST's.")


@_register(
    "05.1",
    "Wider or deeper?",
    expects="a keras.Model: the main MLP with its hidden Dense(512) replaced by two Dense(256)",
    verifies="the model's Dense layers are 256, 256 and 10 units on a 28 x 28 input, with the "
    "parameter count that implies",
    hint="start from the main model's keras.Sequential and replace only its hidden Dense layer; "
    "model.summary() shows the parameter count of each layer.",
)
def _check_05_1(answer: Any, **context: Any) -> str:
    model = _keras_model(answer)
    _check_mlp_input(model)
    units = _dense_units(model)
    _need(units[-1:] == [10], "the last Dense layer must have 10 units (one per digit).")
    _need(units[:-1] == [256, 256], f"the hidden Dense layers have {units[:-1]} units.")
    expected = (784 * 256 + 256) + (256 * 256 + 256) + (256 * 10 + 10)
    _need(model.count_params() == expected, "the parameter count is off: extra layers or biases?")
    return f"{model.count_params():,} parameters"


@_register(
    "05.2",
    "Learning rate and batch size",
    expects='a dict {"batch": model, "stochastic": model} of the two compiled models you trained',
    verifies="batch GD uses SGD at 10 times and stochastic GD at a tenth of the lesson's "
    "learning rate (0.05)",
    hint="compile each model with keras.optimizers.SGD(learning_rate=...); the lesson's "
    "gradient-descent comparison uses 0.05.",
)
def _check_05_2(answer: Any, **context: Any) -> None:
    import keras

    answer = _mapping(answer, ("batch", "stochastic"), "the two models")
    for key, factor in (("batch", 10.0), ("stochastic", 0.1)):
        model = _keras_model(answer[key], f"a compiled Keras model for {key!r}")
        optimizer = getattr(model, "optimizer", None)
        _need(optimizer is not None, f"the {key!r} model is not compiled.")
        _need(
            isinstance(optimizer, keras.optimizers.SGD),
            f"the {key!r} model uses {type(optimizer).__name__}, not plain SGD.",
        )
        rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        _need(
            math.isclose(rate, 0.05 * factor, rel_tol=1e-4),
            f"the {key!r} model's learning rate is not what the exercise asks for.",
        )


@_register(
    "05.3",
    "How much dropout?",
    expects="a function make_model(rate) -> keras.Model: the main MLP with Dropout(rate)",
    verifies="make_model(0), make_model(0.2) and make_model(0.5) are the main MLP (Dense 512 "
    "and 10) with the requested dropout rate",
    hint="copy the main model's keras.Sequential and write layers.Dropout(rate) after the "
    "Dense(512); for rate 0 a Dropout(0.0) layer is fine.",
)
def _check_05_3(answer: Any, **context: Any) -> None:
    make_model = _callable(answer, "a function make_model(rate)")
    for rate in (0.0, 0.2, 0.5):
        model = _keras_model(make_model(rate), f"a Keras model from make_model({rate})")
        _check_mlp_input(model)
        _need(_dense_units(model) == [512, 10], f"make_model({rate}) is not the main MLP.")
        rates = [r for r in _dropout_rates(model) if r > 0]
        _need(
            rates == ([rate] if rate else []),
            f"make_model({rate}) has dropout rates {_dropout_rates(model)}.",
        )


@_register(
    "05.4",
    "Data beats regularization",
    expects="a dict {number of training images: final train accuracy - validation accuracy} "
    "for at least 3 training-set sizes",
    verifies="your gaps are accuracy differences and the gap shrinks as the training set grows",
    hint="for n in (FIT_SAMPLES, 2 * FIT_SAMPLES, 5 * FIT_SAMPLES, 10 * FIT_SAMPLES) train "
    "make_mlp(hidden=(512, 512)) with train_and_report on x_train[:n] and store "
    "history['accuracy'][-1] - history['val_accuracy'][-1].",
)
def _check_05_4(answer: Any, **context: Any) -> str:
    if not isinstance(answer, Mapping):
        raise Fail(f"expected a dict {{images: gap}}, got {type(answer).__name__}.")
    _need(len(answer) >= 3, f"expected at least 3 training-set sizes, got {len(answer)}.")
    gaps = {}
    for n, gap in answer.items():
        gaps[_integer(n, "a number of images (dict key)")] = _number(gap, "a gap (dict value)")
    _need(min(gaps) > 0, "the numbers of images must be positive.")
    _need(all(-1 <= g <= 1 for g in gaps.values()), "a gap of accuracies lies between -1 and 1.")
    sizes = sorted(gaps)
    _need(sizes[-1] >= 5 * sizes[0], "use sizes at least 5 times apart (e.g. 1x, 2x, 5x, 10x).")
    _need(
        gaps[sizes[-1]] < gaps[sizes[0]] - 0.01,
        "the gap does not shrink with more data: did you store train minus validation "
        "accuracy of the last epoch, and train every model for the same epochs?",
    )
    return ", ".join(f"{n:,} images: gap {gaps[n]:+.3f}" for n in sizes)


# --------------------------------------------------------------------------------------------
# 06 · Convolutional networks


@_register(
    "06.1",
    "Count before you run",
    expects="a tuple (output_shape, parameter_count), e.g. ((h, w, c), n)",
    verifies="both the output shape and the parameter count of Conv2D(128, 3) on 5 x 5 x 64",
    hint="without padding a 3 x 3 kernel loses one pixel on each side; every kernel has "
    "3 x 3 x (input channels) weights, plus one bias per kernel.",
)
def _check_06_1(answer: Any, **context: Any) -> None:
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Fail(f"expected a tuple (output_shape, parameter_count), got {answer!r}.")
    shape = _shape(answer[0], 3, "the output shape (height, width, channels)")
    params = _integer(answer[1], "the parameter count")
    _need(shape == (5 - 2, 5 - 2, 128), "the output shape is wrong.")
    _need(params == (3 * 3 * 64 + 1) * 128, "the parameter count is wrong.")


@_register(
    "06.2",
    "Reach 84% on Fashion-MNIST in three epochs",
    expects="a trained keras.Model (input 28 x 28 x 1 in [0, 1], softmax over 10 classes)",
    verifies="your model reaches 84% accuracy on the 10,000 Fashion-MNIST test images",
    hint="padding='same' so the maps do not shrink, more filters, a Dropout before the Dense "
    "layer, more training images; one change at a time, watching the validation curve.",
)
def _check_06_2(answer: Any, **context: Any) -> str:
    from labkit import datasets

    model = _keras_model(answer, "a trained Keras model")
    _, (x_test, y_test) = datasets.load_fashion_mnist()
    x = (x_test.astype("float32") / 255.0)[..., None]
    probabilities = np.asarray(model.predict(x, batch_size=1000, verbose=0))
    _need(
        probabilities.shape == (len(x), 10),
        f"the model must output 10 class probabilities per image, got {probabilities.shape}.",
    )
    accuracy = float(np.mean(probabilities.argmax(axis=1) == y_test))
    _need(accuracy >= 0.84, f"test accuracy {accuracy:.4f} is below 0.84.")
    return f"test accuracy {accuracy:.4f}"


@_register(
    "06.3",
    "Flip the digits",
    expects="a keras.Sequential augmentation block: the one you would keep for digits",
    verifies="your block keeps at least two geometric augmentations (rotation, zoom, "
    "translation), has no horizontal flip and keeps the image shape",
    hint="a mirrored 2, 3, 4, 7 or 9 is not a digit any more: leave RandomFlip out, keep "
    "RandomRotation, RandomZoom and RandomTranslation with small factors.",
)
def _check_06_3(answer: Any, **context: Any) -> None:
    import keras

    block = _keras_model(answer, "a keras.Sequential of preprocessing layers")
    layer_types = [type(layer).__name__ for layer in block.layers]
    flips = [
        layer
        for layer in block.layers
        if isinstance(layer, keras.layers.RandomFlip) and "horizontal" in str(layer.mode)
    ]
    _need(not flips, "the block still flips the images horizontally.")
    geometric = {"RandomRotation", "RandomZoom", "RandomTranslation"} & set(layer_types)
    _need(len(geometric) >= 2, f"keep at least two geometric augmentations, got {layer_types}.")
    images = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    out = keras.ops.convert_to_numpy(block(images, training=True))
    _need(out.shape == images.shape, f"the block changes the image shape to {out.shape}.")


def _best_epoch_reference(history: Mapping[str, list[float]]) -> int:
    return int(np.argmin(history["val_loss"])) + 1


class _FakeHistory:
    """Quacks like keras.callbacks.History: a .history dict of per-epoch lists."""

    def __init__(self, history: dict[str, list[float]]):
        self.history = history


@_register(
    "06.4",
    "Give augmentation time",
    expects="a function best_epoch(history) -> int: the epoch (counted from 1) with the lowest "
    "validation loss of a Keras History",
    verifies="your function finds the best epoch on random learning curves",
    hint="history.history['val_loss'] is a list with one value per epoch; np.argmin gives a "
    "0-based index.",
)
def _check_06_4(answer: Any, **context: Any) -> None:
    best_epoch = _callable(answer, "a function best_epoch(history)")
    rng = np.random.default_rng(6)
    for _ in range(5):
        epochs = int(rng.integers(5, 40))
        val_loss = list(np.abs(rng.normal(1.0, 0.3, epochs)).round(4))
        curves = {"loss": list(np.linspace(1, 0.1, epochs)), "val_loss": val_loss}
        got = _integer(best_epoch(_FakeHistory(curves)), "the epoch")
        _need(
            got == _best_epoch_reference(curves),
            "on a random learning curve your epoch is not the one with the lowest validation "
            "loss (epochs count from 1).",
        )


# --------------------------------------------------------------------------------------------
# 07 · Transfer learning


@_register(
    "07.1",
    "Count the trainable parameters by hand",
    expects="an int: the trainable parameters during fine-tuning; pass n_classes= (and alpha= "
    "for another MobileNet width)",
    verifies="your count equals the weights of conv_dw_12, conv_pw_12, conv_dw_13, conv_pw_13 "
    "and the head's Dense layer",
    hint="with alpha = 0.25 block 12 reads 128 channels and writes 256; a depthwise 3 x 3 "
    "convolution has 9 weights per channel, a pointwise one c_in x c_out; the Dense layer has "
    "one weight per (feature, class) plus a bias per class.",
)
def _check_07_1(answer: Any, **context: Any) -> None:
    count = _integer(answer, "the number of trainable parameters")
    (n_classes,) = _context(context, "n_classes")
    alpha = float(context.get("alpha", 0.25))
    c12, c13 = int(512 * alpha), int(1024 * alpha)
    expected = 9 * c12 + c12 * c13 + 9 * c13 + c13 * c13 + (c13 + 1) * int(n_classes)
    _need(count == expected, "the count is off.")


@_register(
    "07.2",
    "Feature-grid size",
    expects="a tuple (height, width, channels): the base's output for a 320 x 320 image (pass "
    "alpha= for another MobileNet width)",
    verifies="the feature grid of MobileNet v1 (total stride 32) for a 320 x 320 input",
    hint="MobileNet v1 halves the resolution five times; its last block has 1024 x alpha channels.",
)
def _check_07_2(answer: Any, **context: Any) -> None:
    shape = _shape(answer, 3, "the feature-grid shape")
    alpha = float(context.get("alpha", 0.25))
    size = 320
    for _ in range(5):
        size = math.ceil(size / 2)
    _need(shape[:2] == (size, size), "the height and width are wrong.")
    _need(shape[2] == int(1024 * alpha), "the number of channels is wrong.")


@_register(
    "07.3",
    "How few images are enough?",
    expects="a dict {images per class: test accuracy of the head} for at least 3 sizes",
    verifies="your accuracies lie between 0 and 1 and more images per class do not hurt",
    hint="select np.flatnonzero(y_train == c)[:k] for every class c, train a fresh "
    "make_head(...) on those cached features and evaluate on features_test.",
)
def _check_07_3(answer: Any, **context: Any) -> str:
    if not isinstance(answer, Mapping):
        raise Fail(f"expected a dict {{images per class: accuracy}}, got {type(answer).__name__}.")
    _need(len(answer) >= 3, f"expected at least 3 sizes, got {len(answer)}.")
    accuracy = {
        _integer(k, "images per class"): _number(v, "an accuracy") for k, v in answer.items()
    }
    _need(all(0 <= a <= 1 for a in accuracy.values()), "accuracies lie between 0 and 1.")
    sizes = sorted(accuracy)
    _need(sizes[0] >= 1 and sizes[-1] >= 4 * sizes[0], "use sizes at least 4 times apart.")
    _need(
        accuracy[sizes[-1]] >= accuracy[sizes[0]],
        "the largest training set scores below the smallest: did you pick the images per class "
        "and train a fresh head for every size?",
    )
    return ", ".join(f"{k}/class: {accuracy[k]:.3f}" for k in sizes)


@_register(
    "07.4",
    "Break the rule on purpose",
    expects="a keras.Model: the fine-tuning model with data augmentation, taking raw images",
    verifies="your model has RandomFlip and RandomRotation before the pretrained base, which "
    "runs on the augmented pixels",
    hint="build a new functional model from keras.Input: the random augmentation layers first, "
    "then the preprocessing, the base and the head.",
)
def _check_07_4(answer: Any, **context: Any) -> None:
    import keras

    model = _keras_model(answer)
    names = [type(layer).__name__ for layer in model.layers]
    for needed in ("RandomFlip", "RandomRotation"):
        _need(needed in names, f"the model has no {needed} layer.")
    bases = [i for i, layer in enumerate(model.layers) if isinstance(layer, keras.Model)]
    _need(bool(bases), "the model does not contain the pretrained base as a sub-model.")
    first_random = min(names.index("RandomFlip"), names.index("RandomRotation"))
    _need(first_random < bases[0], "the augmentation must come before the base.")
    shape = tuple(model.input_shape)
    _need(len(shape) == 4 and shape[-1] == 3, f"the model must take RGB images, got {shape}.")
