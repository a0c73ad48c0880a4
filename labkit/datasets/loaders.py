"""The loaders lessons call: ``load_mnist()``, ``load_imdb_reviews()``, ``nltk_setup()``...

Each loader gets its files through :func:`labkit.datasets.store.fetch` (cache, then the offline
mirror, then a verified `pooch <https://www.fatiando.org/pooch/>`_ download) and returns plain
NumPy arrays or pandas frames of a documented shape, the same structure whichever of a data
set's alternates was used.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from labkit.datasets.errors import DataError, DataUnavailableError
from labkit.datasets.registry import registry
from labkit.datasets.store import (
    MIRROR_ENV,
    _available_locally,
    _cached,
    _in_mirror,
    _materialize,
    _offline,
    data_dir,
    fetch,
    fetch_file,
)

__all__ = [
    "read_idx",
    "load_mnist",
    "load_fashion_mnist",
    "FASHION_MNIST_CLASSES",
    "load_california_housing",
    "nltk_setup",
    "keras_weights",
    "OXFORD_FLOWERS17_CLASSES",
    "load_oxford_flowers",
    "load_imdb_reviews",
    "load_creditcard_fraud",
]


# --------------------------------------------------------------------------------------------
# Loaders


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (optionally gzipped), the format of LeCun's MNIST files.

    The header is two zero bytes, a type code (0x08 = unsigned byte) and the number of
    dimensions, then each dimension as a big-endian uint32 (http://yann.lecun.com/exdb/mnist/).

    Returns:
        A uint8 array of the stored shape, e.g. (60000, 28, 28) for training images.

    Raises:
        DataError: the file is not an unsigned-byte IDX file or its length disagrees.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file (header {data[:4]!r}).")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(data) - offset != int(np.prod(shape)):
        raise DataError(f"{path}: header says {shape}, but holds {len(data) - offset} bytes.")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape).copy()


def _load_idx_set(name: str) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    folder = fetch(name)
    arrays = [
        read_idx(folder / f)
        for f in (
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        )
    ]
    return (arrays[0], arrays[1]), (arrays[2], arrays[3])


def load_mnist() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """MNIST handwritten digits (LeCun, Cortes, Burges), from the four original IDX files.

    Returns exactly what ``keras.datasets.mnist.load_data()`` returns:
    ``((x_train, y_train), (x_test, y_test))`` with ``x_train`` uint8 (60000, 28, 28),
    ``y_train`` uint8 (60000,) in 0..9, ``x_test`` uint8 (10000, 28, 28), ``y_test`` (10000,).
    Pixel values are 0 (background) .. 255 (ink).

    Raises:
        DataUnavailableError, DataIntegrityError: see :func:`fetch`.
    """
    return _load_idx_set("mnist")


def load_fashion_mnist() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, Zalando): 28×28 grayscale clothing images.

    Same structure as :func:`load_mnist` and ``keras.datasets.fashion_mnist.load_data()``;
    labels 0..9 are :data:`FASHION_MNIST_CLASSES`.
    """
    return _load_idx_set("fashion_mnist")


FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def load_california_housing():
    """California housing (Pace and Barry 1997, 1990 US census) as modified by A. Géron.

    Returns:
        pandas.DataFrame, 20,640 rows (one per census block group): ``longitude``,
        ``latitude``, ``housing_median_age``, ``total_rooms``, ``total_bedrooms`` (207 missing),
        ``population``, ``households``, ``median_income`` (tens of thousands of USD),
        ``median_house_value`` (USD, capped at 500,001) and ``ocean_proximity`` (category).
        Source: handson-ml2 ``datasets/housing/housing.csv``.
    """
    import pandas as pd

    path = fetch_file("california_housing", "housing.csv")
    return pd.read_csv(path)


# --------------------------------------------------------------------------------------------
# NLTK data and Keras weights


def nltk_setup(packages: Iterable[str]) -> Path:
    """Make NLTK data packages loadable, through NLTK's own data path and downloader.

    For each package (e.g. ``"punkt_tab"``, ``"stopwords"``, ``"wordnet"``): if NLTK already
    finds it, nothing happens; else the registry entry ``nltk_<package>`` is taken from the
    cache or the mirror (hash-checked, copied under ``$LABKIT_DATA_DIR/nltk_data``); else
    ``nltk.download`` fetches it into that folder. The folder is added to ``nltk.data.path``.

    Returns:
        The labkit NLTK data folder.

    Raises:
        DataUnavailableError: a package could not be found, copied or downloaded.
    """
    import nltk

    folder = data_dir() / "nltk_data"
    folder.mkdir(parents=True, exist_ok=True)
    if str(folder) not in nltk.data.path:
        nltk.data.path.insert(0, str(folder))
    reg = registry()
    for package in packages:
        entry = reg.get(f"nltk_{package}")
        resource = (entry.info.get("nltk_resource") if entry else None) or package
        try:
            nltk.data.find(resource)
            continue
        except LookupError:
            pass
        if entry is not None and (
            _available_locally(entry, entry.files)
            or (entry.alternates and _available_locally(entry, entry.alternates))
        ):
            fetch(entry)
            continue
        ok = False if _offline() else nltk.download(package, download_dir=str(folder), quiet=True)
        if not ok:
            url = entry.files[0].url if entry and entry.files else "the NLTK data index"
            raise DataUnavailableError(
                f"NLTK package {package!r} is not installed, not in {MIRROR_ENV} "
                f"({os.environ.get(MIRROR_ENV) or 'not set'}), and nltk.download failed "
                f"(upstream: {url}). Set {MIRROR_ENV} to the labkit data mirror, or run "
                f"`labkit data fetch nltk_{package}` on a connected machine."
            )
    return folder


def keras_weights(name: str) -> str:
    """Local path of a Keras Applications weight file, for ``keras.applications.X(weights=...)``.

    Args:
        name: registry name, e.g. ``"keras_mobilenet_v1_0.25_224_no_top"``.

    Returns:
        Path (str) of the verified ``.h5`` file in the cache.
    """
    dataset = registry()[name]
    return str(fetch_file(dataset, dataset.files[0].name))


# --------------------------------------------------------------------------------------------
# Loaders with an upstream file and a mirror alternate


# Class order of the Oxford 17 Category Flower Dataset: image_0001..0080 is the first class,
# image_0081..0160 the second, and so on (https://www.robots.ox.ac.uk/~vgg/data/flowers/17/).
OXFORD_FLOWERS17_CLASSES = (
    "daffodil",
    "snowdrop",
    "lily-valley",
    "bluebell",
    "crocus",
    "iris",
    "tigerlily",
    "tulip",
    "fritillary",
    "sunflower",
    "daisy",
    "colts-foot",
    "dandelion",
    "cowslip",
    "buttercup",
    "windflower",
    "pansy",
)


def _read_image(path: Path, size: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        side = min(image.size)  # centre square crop, then resize: no distortion
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side))
        if image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8)


def load_oxford_flowers(image_size: int = 224, seed: int = 42):
    """Oxford 17 Category Flowers (Nilsback and Zisserman 2006), from upstream or the subset.

    From the upstream archive (``17flowers.tgz``: 17 classes × 80 photos) each class is split
    60 train / 20 test with ``seed``; from the mirror's alternate (12 of the classes, 224 px,
    already split 60/20) its own split is kept. Either way the structure is the same.

    Args:
        image_size: side in pixels; each photo is centre-cropped to a square and resized.
        seed: draws the upstream 60/20 split and shuffles the order of both splits (the
            subset's split itself is fixed).

    Returns:
        ``((x_train, y_train), (x_test, y_test), class_names)``: ``x`` uint8
        (n, image_size, image_size, 3) RGB, ``y`` int64 (n,) indexing ``class_names`` (a tuple
        of lower-case names in alphabetical order).
    """
    folder = fetch("oxford_flowers17")
    subset = folder / "oxford_flowers_subset"
    files: dict[str, list[tuple[Path, str]]] = {"train": [], "test": []}
    if (subset / ".labkit-verified").is_file():
        for split in files:
            for path in sorted((subset / split).glob("*/*.jpg")):
                files[split].append((path, path.parent.name))
    else:
        rng = np.random.default_rng(seed)
        photos = sorted((folder / "jpg").glob("image_*.jpg"))
        if len(photos) != 1360:
            raise DataError(f"{folder / 'jpg'} holds {len(photos)} photos, expected 1360.")
        for k, name in enumerate(OXFORD_FLOWERS17_CLASSES):
            members = photos[80 * k : 80 * (k + 1)]
            order = rng.permutation(80)
            files["train"] += [(members[i], name) for i in order[:60]]
            files["test"] += [(members[i], name) for i in order[60:]]
    class_names = tuple(sorted({name for _, name in files["train"]}))
    index = {name: i for i, name in enumerate(class_names)}

    def arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
        order = np.random.default_rng(seed).permutation(len(files[split]))  # mix the classes
        chosen = [files[split][i] for i in order]
        x = np.stack([_read_image(path, image_size) for path, _ in chosen])
        y = np.array([index[name] for _, name in chosen], dtype=np.int64)
        return x, y

    return arrays("train"), arrays("test"), class_names


def load_imdb_reviews(max_per_class: int | None = None, seed: int = 42):
    """Raw IMDB movie reviews (Large Movie Review Dataset v1.0, Maas et al. 2011).

    From Stanford's archive or the mirror's labelled archives (same ``aclImdb/`` layout).

    Args:
        max_per_class: keep at most this many positive and this many negative reviews per split
            (drawn with ``seed``); None keeps all 12,500 + 12,500 per split.
        seed: shuffles each split (the files are sorted by label on disk).

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: ``x`` a NumPy object array of ``str`` (raw
        review text, HTML ``<br />`` line breaks included; ``tf.constant(x)`` makes a string
        tensor), ``y`` int64, 1 = positive (rating >= 7),
        0 = negative (rating <= 4).
    """
    root = fetch("aclimdb") / "aclImdb"
    rng = np.random.default_rng(seed)

    def split(name: str) -> tuple[np.ndarray, np.ndarray]:
        texts, labels = [], []
        for label, polarity in ((0, "neg"), (1, "pos")):
            paths = sorted((root / name / polarity).glob("*.txt"))
            if not paths:
                raise DataError(f"No reviews in {root / name / polarity}.")
            if max_per_class is not None and max_per_class < len(paths):
                paths = [paths[i] for i in sorted(rng.choice(len(paths), max_per_class, False))]
            texts += [p.read_text(encoding="utf-8") for p in paths]
            labels += [label] * len(paths)
        order = rng.permutation(len(texts))
        return np.array(texts, dtype=object)[order], np.array(labels, dtype=np.int64)[order]

    return split("train"), split("test")


def load_creditcard_fraud(variant: str = "full"):
    """Credit-card transactions of September 2013 (ULB MLG / Worldline, Dal Pozzolo et al. 2015).

    Args:
        variant: ``"full"`` — the 284,807-row ``creditcard.csv`` (0.17 % fraud; downloaded on
            a connected machine, not in the offline mirror); ``"sample"`` — 2,492 rows: all 492
            frauds plus 2,000 non-frauds (19.7 % fraud), taken from the mirror, or derived from
            the full file with the documented selection (``sample(n, random_state=42)`` per
            class, then shuffled with ``random_state=42``).

    Returns:
        pandas.DataFrame with columns ``Time`` (s since the first transaction), ``V1..V28``
        (PCA components), ``Amount`` (EUR) and ``Class`` (1 = fraud).

    Raises:
        ValueError: unknown variant.
        DataUnavailableError: offline without the needed file.
    """
    import pandas as pd

    if variant not in ("full", "sample"):
        raise ValueError(f"variant must be 'full' or 'sample', not {variant!r}.")
    dataset = registry()["creditcard_fraud"]
    if variant == "full":
        return pd.read_csv(fetch_file(dataset, "creditcard.csv"))
    sample = dataset.file("creditcard_sample.csv")
    if _cached(dataset, sample) or _in_mirror(sample):
        return pd.read_csv(_materialize(dataset, sample))
    full = pd.read_csv(fetch_file(dataset, "creditcard.csv"))
    fraud, normal = full[full["Class"] == 1], full[full["Class"] == 0]
    derived = pd.concat(
        [fraud.sample(n=len(fraud), random_state=42), normal.sample(n=2000, random_state=42)]
    )
    return derived.sample(frac=1, random_state=42).reset_index(drop=True)
