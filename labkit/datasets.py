"""Data sets and weight files: the registry, verified downloads, the cache and the offline mirror.

Every file a lesson reads is listed in ``datasets/registry.yaml`` with its upstream URL, its
SHA-256 (or, where only that is published, its MD5), size, licence and citation. Getting a file
(:func:`fetch`) goes, in order:

1. **cache** — ``$LABKIT_DATA_DIR`` (default: the platform cache folder, e.g.
   ``~/.cache/labkit``): used when the file is there with the right hash;
2. **offline mirror** — ``$LABKIT_DATA_MIRROR``, a folder laid out like ``../shared/datasets``
   (see ``datasets/README.md``): the file is hash-checked and copied into the cache;
3. **upstream** — downloaded with `pooch <https://www.fatiando.org/pooch/>`_ with a progress bar,
   into a temporary file that is moved into the cache only after its hash matched.

A data set may also have **alternates**: different files, with their own hashes, that give the
loader the same structure (e.g. the mirror's labelled aclImdb archives instead of Stanford's
archive). An alternate is used when its files are in the cache or the mirror and the upstream
files are not; a connected machine without the mirror downloads the upstream files.

Errors say what to do: :class:`DataUnavailableError` (offline, not in cache or mirror) names the
file, its upstream URL and ``LABKIT_DATA_MIRROR``; :class:`DataIntegrityError` names the expected
and actual hashes, and the bad bytes never land in the cache.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import re
import shutil
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

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

DATA_DIR_ENV = "LABKIT_DATA_DIR"
MIRROR_ENV = "LABKIT_DATA_MIRROR"
OFFLINE_ENV = "LABKIT_OFFLINE"
REGISTRY_ENV = "LABKIT_REGISTRY"
DOWNLOAD_TIMEOUT_S = 30


# --------------------------------------------------------------------------------------------
# Errors


class DataError(Exception):
    """Base class of labkit data errors."""


class DataUnavailableError(DataError, FileNotFoundError):
    """A file is in neither the cache nor the mirror, and could not be downloaded."""


class DataIntegrityError(DataError, ValueError):
    """A file's hash differs from the registry's; the file was not put in the cache."""


# --------------------------------------------------------------------------------------------
# Locations


def data_dir() -> Path:
    """The cache folder: ``$LABKIT_DATA_DIR``, else the platform cache dir (``~/.cache/labkit``)."""
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    import pooch

    return Path(pooch.os_cache("labkit"))


def mirror_dir() -> Path | None:
    """The offline mirror (``$LABKIT_DATA_MIRROR``), or None when unset.

    Raises:
        DataUnavailableError: the variable is set but the folder does not exist.
    """
    configured = os.environ.get(MIRROR_ENV)
    if not configured:
        return None
    path = Path(configured).expanduser().resolve()
    if not path.is_dir():
        raise DataUnavailableError(
            f"{MIRROR_ENV}={configured} is not a folder. Point it at a copy of the labkit data "
            f"mirror (the folder holding MANIFEST.tsv, keras/, nltk_data/, extra/) or unset it."
        )
    return path


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").lower() in {"1", "true", "yes"}


# --------------------------------------------------------------------------------------------
# Hashing and atomic writes


def file_hash(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file (read in 1 MiB chunks)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_checksum_list(path: Path) -> dict[str, str]:
    """Read a ``sha256sum``-format list (``<hex>  <relative path>`` per line) into a dict."""
    members: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        digest, _, name = line.partition(" ")
        name = name.strip().lstrip("*")
        if len(digest) != 64 or not name:
            raise DataError(f"{path}:{number}: not a sha256sum line: {line!r}")
        members[name] = digest.lower()
    return members


@contextlib.contextmanager
def _staging_dir(final: Path) -> Iterator[Path]:
    """A temporary folder next to ``final``; removed unless the caller moved it into place."""
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# The registry


@dataclass(frozen=True)
class DataFile:
    """One file (or one folder of files) of a data set, as the registry describes it.

    Attributes:
        name: the file name in the cache, e.g. ``train-images-idx3-ubyte.gz``; for a folder entry
            the folder name, e.g. ``punkt_tab``.
        url: upstream URL a connected user downloads (None for an alternate that exists only in
            mirrors or is derived).
        sha256: expected SHA-256 of the file (None where it is unknown, then ``md5`` is used).
        md5: expected MD5, used only where no SHA-256 is known (e.g. NLTK's index).
        size: size in bytes, when known.
        mirror: path relative to the mirror root, e.g. ``extra/mnist/train-images-idx3-ubyte.gz``.
        members: for a folder entry, ``{relative path: sha256}`` of every file in it.
        unpack: ``"tar"`` or ``"zip"``: unpack the archive into the data set's cache folder.
        fallback_urls: further upstream URLs tried in order when ``url`` fails.
    """

    name: str
    url: str | None = None
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    mirror: str | None = None
    members: Mapping[str, str] | None = None
    unpack: str | None = None
    fallback_urls: tuple[str, ...] = ()
    hash_source: str | None = None

    @property
    def known_hash(self) -> str | None:
        """The hash in pooch's notation (``"sha256:..."`` / ``"md5:..."``), None if unknown."""
        if self.sha256:
            return f"sha256:{self.sha256}"
        if self.md5:
            return f"md5:{self.md5}"
        return None

    @property
    def is_folder(self) -> bool:
        return self.members is not None


@dataclass(frozen=True)
class DataSet:
    """A registry entry: upstream files, optional alternates, and the data card fields."""

    name: str
    title: str
    files: tuple[DataFile, ...]
    alternates: tuple[DataFile, ...] = ()
    alternate_note: str | None = None
    licence: str = ""
    citation: str = ""
    homepage: str | None = None
    cache_subdir: str | None = None
    used_by: tuple[str, ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict)

    def file(self, name: str) -> DataFile:
        for candidate in (*self.files, *self.alternates):
            if candidate.name == name:
                return candidate
        names = [f.name for f in (*self.files, *self.alternates)]
        raise KeyError(f"Data set {self.name!r} has no file {name!r}; it has {names}.")

    @property
    def size(self) -> int:
        return sum(f.size or 0 for f in self.files)


class Registry(Mapping[str, DataSet]):
    """The data registry (``datasets/registry.yaml``): a read-only mapping name → :class:`DataSet`.

    Args:
        entries: the parsed YAML ``datasets`` mapping.
        base: folder that relative ``members`` list paths are resolved against.
    """

    def __init__(self, entries: Mapping[str, Any], base: Path | None = None):
        self._sets: dict[str, DataSet] = {}
        for name, entry in entries.items():
            self._sets[name] = _parse_dataset(name, entry, base or Path.cwd())

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> Registry:
        """Load the registry YAML (default: ``$LABKIT_REGISTRY``, else ``datasets/registry.yaml``
        of the project folder, see :mod:`labkit.paths`).

        Raises:
            DataError: the file does not exist (``labkit.paths.ProjectNotFoundError`` when there
                is no project folder at all).
        """
        import yaml

        from labkit import paths

        path = Path(path or os.environ.get(REGISTRY_ENV) or paths.project_file(paths.REGISTRY))
        if not path.is_file():
            raise DataError(f"Data registry not found at {path}.")
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls(document.get("datasets", {}), base=path.parent)

    def __getitem__(self, name: str) -> DataSet:
        try:
            return self._sets[name]
        except KeyError:
            raise KeyError(
                f"No data set {name!r} in the registry. Known: {', '.join(sorted(self._sets))}."
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._sets)

    def __len__(self) -> int:
        return len(self._sets)


def _parse_file(entry: Mapping[str, Any], base: Path) -> DataFile:
    members = entry.get("members")
    if isinstance(members, str):
        members = read_checksum_list(base / members)
    return DataFile(
        name=entry["name"],
        url=entry.get("url"),
        sha256=(entry.get("sha256") or None),
        md5=(entry.get("md5") or None),
        size=entry.get("size"),
        mirror=entry.get("mirror"),
        members=members,
        unpack=entry.get("unpack"),
        fallback_urls=tuple(entry.get("fallback_urls") or ()),
        hash_source=entry.get("hash_source"),
    )


def _parse_dataset(name: str, entry: Mapping[str, Any], base: Path) -> DataSet:
    alternate = entry.get("alternate") or {}
    known = {
        "title",
        "files",
        "alternate",
        "licence",
        "citation",
        "homepage",
        "cache_subdir",
        "used_by",
    }
    return DataSet(
        name=name,
        title=entry.get("title", name),
        files=tuple(_parse_file(f, base) for f in entry.get("files", [])),
        alternates=tuple(_parse_file(f, base) for f in alternate.get("files", [])),
        alternate_note=alternate.get("note"),
        licence=entry.get("licence", ""),
        citation=entry.get("citation", ""),
        homepage=entry.get("homepage"),
        cache_subdir=entry.get("cache_subdir"),
        used_by=tuple(entry.get("used_by") or ()),
        info={k: v for k, v in entry.items() if k not in known},
    )


_REGISTRY: Registry | None = None


def registry() -> Registry:
    """The default registry, loaded once."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = Registry.load()
    return _REGISTRY


def _dataset(name: str | DataSet, reg: Registry | None) -> DataSet:
    if isinstance(name, DataSet):
        return name
    return (reg or registry())[name]


def _cache_folder(dataset: DataSet) -> Path:
    return data_dir() / (dataset.cache_subdir or dataset.name)


# --------------------------------------------------------------------------------------------
# Getting one file: cache → mirror → upstream


def _cached(dataset: DataSet, item: DataFile) -> Path | None:
    """The cached copy when it is complete and its hash matches, else None."""
    target = _cache_folder(dataset) / item.name
    if item.is_folder:
        stamp = target / ".labkit-verified"
        return target if target.is_dir() and stamp.is_file() else None
    if not target.is_file():
        return None
    if item.sha256 and file_hash(target) != item.sha256:
        return None
    if not item.sha256 and item.md5 and file_hash(target, "md5") != item.md5:
        return None
    if item.unpack and not _unpack_stamp(dataset, item).is_file():
        return None
    return target


def _in_mirror(item: DataFile) -> Path | None:
    mirror = mirror_dir()
    if mirror is None or not item.mirror:
        return None
    candidate = mirror / item.mirror
    if item.is_folder:
        return candidate if candidate.is_dir() else None
    return candidate if candidate.is_file() else None


def _mismatch(item: DataFile, source: str, expected: str, actual: str, algo: str) -> DataError:
    return DataIntegrityError(
        f"{algo} mismatch for {item.name!r} from {source}: expected {expected}, got {actual}. "
        f"The file was not put in the cache. Replace the damaged copy (re-copy the mirror or "
        f"delete it and run `labkit data fetch`); if upstream changed the file, update "
        f"datasets/registry.yaml after checking the new file."
    )


def _copy_from_mirror(dataset: DataSet, item: DataFile, source: Path) -> Path:
    import pooch

    target_dir = _cache_folder(dataset)
    if item.is_folder:
        return _copy_folder(dataset, item, source)

    def copy(url: str, output_file: Any, _pooch: Any) -> None:
        with open(source, "rb") as src:
            if hasattr(output_file, "write"):
                shutil.copyfileobj(src, output_file)
            else:
                with open(output_file, "wb") as dst:
                    shutil.copyfileobj(src, dst)

    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # pooch would log the copy as a "download"
    try:
        path = pooch.retrieve(
            url=source.as_uri(),
            known_hash=item.known_hash,
            fname=item.name,
            path=target_dir,
            downloader=copy,
        )
    except ValueError as error:  # pooch's hash mismatch; the temporary file is already gone
        algo = "SHA-256" if item.sha256 else "MD5"
        actual = file_hash(source, "sha256" if item.sha256 else "md5")
        expected = item.sha256 or item.md5 or ""
        raise _mismatch(item, f"the mirror ({source})", expected, actual, algo) from (error)
    finally:
        logger.setLevel(level)
    print(f"labkit: {item.name} copied from the mirror ({source}), hash verified.", file=sys.stderr)
    return Path(path)


def _copy_folder(dataset: DataSet, item: DataFile, source: Path) -> Path:
    """Verify every member of a mirror folder, then move a full copy into the cache at once."""
    final = _cache_folder(dataset) / item.name
    assert item.members is not None
    with _staging_dir(final) as staging:
        for relative, expected in sorted(item.members.items()):
            member = source / relative
            if not member.is_file():
                raise DataUnavailableError(
                    f"The mirror folder {source} lacks {relative!r} of {item.name!r}. Re-copy "
                    f"the mirror, or unset {MIRROR_ENV} to download {item.url or 'upstream'}."
                )
            actual = file_hash(member)
            if actual != expected:
                raise _mismatch(item, f"the mirror ({member})", expected, actual, "SHA-256")
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(member, staging / relative)
        (staging / ".labkit-verified").write_text("all members matched the registry\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    return final


def _download(dataset: DataSet, item: DataFile) -> Path:
    import pooch
    import requests

    urls = [u for u in (item.url, *item.fallback_urls) if u]
    mirror = os.environ.get(MIRROR_ENV)
    mirror_hint = (
        f"{MIRROR_ENV}={mirror} has no {item.mirror or item.name}"
        if mirror
        else f"{MIRROR_ENV} is not set"
    )
    advice = (
        f"On an offline machine set {MIRROR_ENV} to a copy of the labkit data mirror "
        f"(see datasets/README.md), or run `labkit data fetch {dataset.name}` on a connected "
        f"machine and copy {data_dir()} here."
    )
    if not urls:
        raise DataUnavailableError(
            f"{item.name!r} of data set {dataset.name!r} has no upstream URL and is not in the "
            f"cache ({_cache_folder(dataset)}); {mirror_hint}. {advice}"
        )
    if _offline():
        raise DataUnavailableError(
            f"{item.name!r} of data set {dataset.name!r} is not in the cache and {mirror_hint}; "
            f"{OFFLINE_ENV} is set, so labkit did not download {urls[0]}. {advice}"
        )
    if item.known_hash is None:
        print(
            f"labkit: no published hash for {item.name} ({urls[0]}); downloading unverified.",
            file=sys.stderr,
        )
    failures = []
    for url in urls:
        downloader = pooch.HTTPDownloader(progressbar=True, timeout=DOWNLOAD_TIMEOUT_S)
        try:
            return Path(
                pooch.retrieve(
                    url=url,
                    known_hash=item.known_hash,
                    fname=item.name,
                    path=_cache_folder(dataset),
                    downloader=downloader,
                )
            )
        except ValueError as error:  # hash mismatch: pooch removed the temporary file
            if "hash" not in str(error).lower():
                raise
            expected = (item.sha256 or item.md5 or "").lower()
            digests = re.findall(r"\b[0-9a-f]{32,64}\b", str(error).lower())
            actual = next((d for d in digests if d != expected), "unknown")
            raise _mismatch(
                item, url, expected, actual, "SHA-256" if item.sha256 else "MD5"
            ) from error
        except (requests.exceptions.RequestException, OSError) as error:
            reason = str(error.args[0] if error.args else error)
            reason = reason if len(reason) < 160 else reason[:157] + "..."
            failures.append(f"{url} ({type(error).__name__}: {reason})")
    raise DataUnavailableError(
        f"Could not download {item.name!r} of data set {dataset.name!r} from {urls[0]}: it is "
        f"not in the cache ({_cache_folder(dataset)}) and {mirror_hint}. {advice}\n"
        f"Tried: {'; '.join(failures)}"
    )


def _unpack_stamp(dataset: DataSet, item: DataFile) -> Path:
    return _cache_folder(dataset) / f".{item.name}.unpacked"


def _safe_member(name: str) -> bool:
    parts = Path(name).parts
    return not (Path(name).is_absolute() or ".." in parts)


def _unpack(dataset: DataSet, item: DataFile, archive: Path) -> None:
    """Unpack into the data set's cache folder; a stamp written last marks it complete."""
    stamp = _unpack_stamp(dataset, item)
    if stamp.is_file() and stamp.read_text().strip() == (item.sha256 or item.md5 or ""):
        return
    target = _cache_folder(dataset)
    with _staging_dir(target / f"{item.name}.unpack") as staging:
        if item.unpack == "tar":
            with tarfile.open(archive) as tar:
                if hasattr(tarfile, "data_filter"):  # PEP 706: Python 3.11.4+, 3.12
                    try:
                        tar.extractall(staging, filter="data")
                    except tarfile.FilterError as error:
                        raise DataIntegrityError(
                            f"{archive} has unsafe members (links, devices or paths outside "
                            f"the folder): {error}"
                        ) from error
                else:  # 3.11.0-3.11.3 (Debian bookworm's 3.11.2): the same refusals, by hand
                    unsafe = [
                        m.name for m in tar.getmembers()
                        if not (m.isfile() or m.isdir()) or not _safe_member(m.name)
                    ]  # fmt: skip
                    if unsafe:
                        raise DataIntegrityError(
                            f"{archive} has unsafe members (links, devices or paths outside "
                            f"the folder): {unsafe[:3]}"
                        )
                    tar.extractall(staging)
        elif item.unpack == "zip":
            with zipfile.ZipFile(archive) as zipped:
                unsafe = [n for n in zipped.namelist() if not _safe_member(n)]
                if unsafe:
                    raise DataIntegrityError(f"{archive} has unsafe member paths: {unsafe[:3]}")
                zipped.extractall(staging)
        else:
            raise DataError(f"Unknown unpack kind {item.unpack!r} for {item.name}.")
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                destination = target / path.relative_to(staging)
                destination.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, destination)
    stamp.write_text(f"{item.sha256 or item.md5 or ''}\n")


def _materialize(dataset: DataSet, item: DataFile) -> Path:
    """Return the cached, verified file, getting it from the mirror or upstream if needed."""
    path = _cached(dataset, item)
    if path is None:
        source = _in_mirror(item)
        path = _copy_from_mirror(dataset, item, source) if source else _download(dataset, item)
    if item.unpack:
        _unpack(dataset, item, path)
    return path


def _available_locally(dataset: DataSet, items: Iterable[DataFile]) -> bool:
    return all(_cached(dataset, i) is not None or _in_mirror(i) is not None for i in items)


def fetch(
    name: str | DataSet,
    files: Iterable[str] | None = None,
    *,
    reg: Registry | None = None,
) -> Path:
    """Make a data set's files available in the cache and return its cache folder.

    Upstream files are used when they are in the cache or the mirror; otherwise the data set's
    alternates when those are; otherwise the upstream files are downloaded and verified.
    Archives marked ``unpack`` are unpacked into the same folder.

    Args:
        name: registry name, e.g. ``"mnist"``.
        files: only these upstream file names (default: all).
        reg: a registry other than the default (tests).

    Returns:
        The data set's cache folder (``$LABKIT_DATA_DIR/<name>``).

    Raises:
        KeyError: unknown data set or file name.
        DataUnavailableError: a file is not in the cache or mirror and could not be downloaded.
        DataIntegrityError: a file's hash differs from the registry.
    """
    dataset = _dataset(name, reg)
    wanted = list(files) if files is not None else [f.name for f in dataset.files]
    primaries = [dataset.file(n) for n in wanted]
    if (
        dataset.alternates
        and files is None
        and not _available_locally(dataset, primaries)
        and _available_locally(dataset, dataset.alternates)
    ):
        chosen = list(dataset.alternates)
    else:
        chosen = primaries
    for item in chosen:
        _materialize(dataset, item)
    return _cache_folder(dataset)


def fetch_file(name: str | DataSet, filename: str, *, reg: Registry | None = None) -> Path:
    """Fetch one file of a data set (see :func:`fetch`) and return its path in the cache."""
    dataset = _dataset(name, reg)
    return _materialize(dataset, dataset.file(filename))


def status(name: str | DataSet, *, reg: Registry | None = None) -> str:
    """Where a data set would come from now: ``cached``, ``mirror``, ``mirror (alternate)``,
    ``cached (alternate)`` or ``download``."""
    dataset = _dataset(name, reg)
    for label, items in (("", dataset.files), (" (alternate)", dataset.alternates)):
        if not items:
            continue
        if all(_cached(dataset, i) for i in items):
            return "cached" + label
        if _available_locally(dataset, items):
            return "mirror" + label
    return "download"


def verify_cache(*, reg: Registry | None = None) -> list[str]:
    """Re-hash every cached file; return problems (``[]`` when all match). Bad copies are
    reported, not deleted."""
    problems = []
    reg = reg or registry()
    for dataset in reg.values():
        folder = _cache_folder(dataset)
        for item in (*dataset.files, *dataset.alternates):
            target = folder / item.name
            if not target.exists() or item.is_folder:
                continue
            if item.sha256:
                actual = file_hash(target)
                if actual != item.sha256:
                    problems.append(
                        f"{dataset.name}/{item.name}: expected sha256 {item.sha256}, got {actual}"
                    )
    return problems


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
