"""Data sets and weight files: the registry, verified downloads, the cache and the offline mirror.

The package is three layers, each importing only the ones above it:

* :mod:`labkit.datasets.registry` — ``datasets/registry.yaml`` read and checked against a strict
  schema into :class:`DataSet` / :class:`DataFile` entries;
* :mod:`labkit.datasets.store` — the cache folder (``$LABKIT_DATA_DIR``), the offline mirror
  (``$LABKIT_DATA_MIRROR``), verified downloads with
  `pooch <https://www.fatiando.org/pooch/>`_, unpacking, and :func:`fetch`;
* :mod:`labkit.datasets.loaders` — the ``load_*`` functions lessons call, ``nltk_setup`` and
  ``keras_weights``.

:mod:`labkit.datasets.errors` holds the error classes. This module re-exports the public API,
so ``from labkit import datasets; datasets.load_mnist()`` keeps working.

Names importable from here besides ``__all__`` (re-exported with ``X as X``): the loaders and
class-name tuples lessons use (``load_oxford_flowers``, ``load_imdb_reviews``,
``load_creditcard_fraud``, ``FASHION_MNIST_CLASSES``, ``OXFORD_FLOWERS17_CLASSES``), the
environment variable names, ``file_hash``, ``read_checksum_list`` and ``_cache_folder``.
"""

from __future__ import annotations

from labkit.datasets.errors import DataError, DataIntegrityError, DataUnavailableError
from labkit.datasets.loaders import (
    FASHION_MNIST_CLASSES,  # noqa: F401 (re-exported, not in __all__)
    OXFORD_FLOWERS17_CLASSES,  # noqa: F401 (re-exported, not in __all__)
    keras_weights,
    load_california_housing,
    load_creditcard_fraud,  # noqa: F401 (re-exported, not in __all__)
    load_fashion_mnist,
    load_imdb_reviews,  # noqa: F401 (re-exported, not in __all__)
    load_mnist,
    load_oxford_flowers,  # noqa: F401 (re-exported, not in __all__)
    nltk_setup,
    read_idx,
)
from labkit.datasets.registry import (
    REGISTRY_ENV,  # noqa: F401 (re-exported, not in __all__)
    DataFile,
    DataSet,
    Registry,
    read_checksum_list,  # noqa: F401 (re-exported, not in __all__)
    registry,
)
from labkit.datasets.store import (
    DATA_DIR_ENV,  # noqa: F401 (re-exported, not in __all__)
    DOWNLOAD_TIMEOUT_S,  # noqa: F401 (re-exported, not in __all__)
    MIRROR_ENV,  # noqa: F401 (re-exported, not in __all__)
    OFFLINE_ENV,  # noqa: F401 (re-exported, not in __all__)
    _cache_folder,  # noqa: F401 (labkit.tracking uses it)
    data_dir,
    fetch,
    fetch_file,
    file_hash,  # noqa: F401 (re-exported, not in __all__)
    mirror_dir,
    status,
    verify_cache,
)

__all__ = [
    "DataError",
    "DataUnavailableError",
    "DataIntegrityError",
    "Registry",
    "DataSet",
    "DataFile",
    "data_dir",
    "mirror_dir",
    "registry",
    "fetch",
    "fetch_file",
    "status",
    "verify_cache",
    "load_mnist",
    "load_fashion_mnist",
    "load_california_housing",
    "read_idx",
    "nltk_setup",
    "keras_weights",
]
