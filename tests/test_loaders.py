"""Loaders return what the matching Keras loaders return, from the offline mirror or the cache."""

from __future__ import annotations

import os

import numpy as np
import pytest

from labkit import datasets

needs_data = pytest.mark.skipif(
    not os.environ.get("LABKIT_DATA_MIRROR") and os.environ.get("LABKIT_OFFLINE") == "1",
    reason="no data mirror and downloads disabled",
)


@needs_data
def test_load_mnist_matches_keras_mnist_structure():
    (x_train, y_train), (x_test, y_test) = datasets.load_mnist()
    # keras.datasets.mnist.load_data() documents exactly these shapes and dtypes.
    assert (x_train.shape, x_train.dtype) == ((60000, 28, 28), np.uint8)
    assert (y_train.shape, y_train.dtype) == ((60000,), np.uint8)
    assert (x_test.shape, x_test.dtype) == ((10000, 28, 28), np.uint8)
    assert (y_test.shape, y_test.dtype) == ((10000,), np.uint8)
    assert set(np.unique(y_train)) == set(range(10)) == set(np.unique(y_test))
    assert x_train.min() == 0 and x_train.max() == 255


@needs_data
def test_load_mnist_equals_the_keras_npz_arrays():
    """Keras's loader reads mnist.npz; the registry's mnist_npz (or its alternate, the same
    arrays in a rebuilt file) must hold arrays equal to ours, element for element."""
    folder = datasets.fetch("mnist_npz")
    npz_path = next(folder.glob("*.npz"))
    with np.load(npz_path) as keras_arrays:
        (x_train, y_train), (x_test, y_test) = datasets.load_mnist()
        for name, ours in {
            "x_train": x_train,
            "y_train": y_train,
            "x_test": x_test,
            "y_test": y_test,
        }.items():
            theirs = keras_arrays[name]
            assert theirs.dtype == ours.dtype and theirs.shape == ours.shape, name
            assert np.array_equal(theirs, ours), name


@needs_data
def test_load_fashion_mnist_structure():
    (x_train, y_train), (x_test, y_test) = datasets.load_fashion_mnist()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8 and len(datasets.FASHION_MNIST_CLASSES) == 10
    assert set(np.unique(y_test)) == set(range(10))


@needs_data
def test_load_california_housing_columns():
    frame = datasets.load_california_housing()
    assert frame.shape == (20640, 10)
    assert frame["total_bedrooms"].isna().sum() == 207
    assert frame["median_house_value"].max() == 500001


def test_registry_entries_are_complete():
    reg = datasets.registry()
    for name, entry in reg.items():
        assert entry.licence and entry.citation and entry.title, name
        for item in entry.files:
            assert item.url and item.url.startswith(("https://", "http://")), (name, item.name)
            assert item.hash_source, (name, item.name)
        for item in (*entry.files, *entry.alternates):
            # the schema refuses a file without a hash unless it says `unverified: true`
            assert item.known_hash or item.is_folder or item.unverified, (name, item.name)
            assert not item.unverified or item.hash_source, (name, item.name)


def test_registry_covers_every_file_in_the_mirror():
    mirror = os.environ.get("LABKIT_DATA_MIRROR")
    if not mirror:
        pytest.skip("LABKIT_DATA_MIRROR not set: nothing to compare with")
    manifest = os.path.join(mirror, "MANIFEST.tsv")
    with open(manifest, encoding="utf-8") as handle:
        rows = [line.split("\t")[0] for line in handle.read().splitlines()[1:] if line]
    covered = set()
    for entry in datasets.registry().values():
        for item in (*entry.files, *entry.alternates):
            if item.mirror and item.is_folder:
                covered |= {f"{item.mirror}/{m}" for m in item.members}
            elif item.mirror:
                covered.add(item.mirror)
    documentation = {r for r in rows if r.endswith("NOTE.md")}
    assert set(rows) - documentation - covered == set()


def test_data_card_describes_every_registry_entry(repo):
    card = (repo / "datasets" / "README.md").read_text(encoding="utf-8")
    missing = [name for name in datasets.registry() if f"`{name}`" not in card]
    assert missing == [], f"datasets/README.md does not describe {missing}"


@needs_data
def test_load_oxford_flowers_from_the_mirror_subset():
    (x_train, y_train), (x_test, y_test), names = datasets.load_oxford_flowers(image_size=64)
    assert x_train.shape == (720, 64, 64, 3) and x_test.shape == (240, 64, 64, 3)
    assert x_train.dtype == np.uint8 and len(names) == 12 and "daisy" in names
    assert np.bincount(y_train).tolist() == [60] * 12 and np.bincount(y_test).tolist() == [20] * 12
    assert len(set(y_train[:20].tolist())) > 3  # classes are mixed, not sorted


def test_load_oxford_flowers_from_the_upstream_layout(tmp_path, monkeypatch):
    from PIL import Image

    (tmp_path / "jpg").mkdir()
    for i in range(1, 1361):
        shade = (i - 1) // 80 * 15
        Image.new("RGB", (40, 30), (shade, 0, 0)).save(tmp_path / "jpg" / f"image_{i:04d}.jpg")
    # load_oxford_flowers looks fetch up in labkit.datasets.loaders, where it is patched
    monkeypatch.setattr(datasets.loaders, "fetch", lambda name: tmp_path)

    (x_train, y_train), (x_test, y_test), names = datasets.load_oxford_flowers(image_size=16)

    assert names == tuple(sorted(datasets.OXFORD_FLOWERS17_CLASSES))
    assert x_train.shape == (1020, 16, 16, 3) and x_test.shape == (340, 16, 16, 3)
    assert np.bincount(y_train).tolist() == [60] * 17
    daffodil = names.index("daffodil")  # the first 80 photos, red channel ~0
    assert x_train[y_train == daffodil][..., 0].max() < 10


@needs_data
def test_load_imdb_reviews_raw_text_and_balanced_labels():
    (x_train, y_train), (x_test, y_test) = datasets.load_imdb_reviews(max_per_class=50)
    assert x_train.shape == (100,) and isinstance(x_train[0], str) and len(x_train[0]) > 20
    assert y_train.sum() == 50 and y_test.sum() == 50 and y_train.dtype == np.int64


@needs_data
def test_load_creditcard_fraud_sample_from_the_mirror():
    frame = datasets.load_creditcard_fraud("sample")
    assert frame.shape == (2492, 31) and int(frame["Class"].sum()) == 492
    with pytest.raises(ValueError, match="variant"):
        datasets.load_creditcard_fraud("small")


def test_creditcard_sample_is_derived_from_the_full_file(tmp_path, monkeypatch):
    """Without the mirror, the sample is drawn from creditcard.csv: every fraud + 2,000 normal."""
    import pandas as pd

    rng = np.random.default_rng(1)
    full = pd.DataFrame(
        {
            "Time": np.arange(3030.0),
            "V1": rng.normal(size=3030),
            "Amount": rng.uniform(0, 100, 3030),
            "Class": [1] * 30 + [0] * 3000,
        }
    )
    (tmp_path / "creditcard_fraud").mkdir()
    full.to_csv(tmp_path / "creditcard_fraud" / "creditcard.csv", index=False)
    monkeypatch.setenv("LABKIT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("LABKIT_DATA_MIRROR", raising=False)
    monkeypatch.setenv("LABKIT_OFFLINE", "1")

    sample = datasets.load_creditcard_fraud("sample")

    assert len(sample) == 2030 and int(sample["Class"].sum()) == 30
    assert sample["Time"].is_unique and not sample["Class"].iloc[:30].all()  # shuffled
    assert sample.equals(datasets.load_creditcard_fraud("sample"))  # deterministic
