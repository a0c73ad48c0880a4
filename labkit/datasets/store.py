"""The data store: the cache folder, the offline mirror, verified downloads and unpacking.

Every file a lesson reads is listed in ``datasets/registry.yaml``
(:mod:`labkit.datasets.registry`) with its upstream URL, its SHA-256 (or, where only that is
published, its MD5), size, licence and citation. Getting a file (:func:`fetch`) goes, in order:

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
import hashlib
import json
import os
import re
import shutil
import sys
import tarfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from labkit.datasets.errors import DataError, DataIntegrityError, DataUnavailableError
from labkit.datasets.registry import DataFile, DataSet, Registry, _dataset, registry
from labkit.files import atomic_write, file_lock, replace_folder, staging_folder

__all__ = [
    "DATA_DIR_ENV",
    "MIRROR_ENV",
    "OFFLINE_ENV",
    "DOWNLOAD_TIMEOUT_S",
    "data_dir",
    "mirror_dir",
    "file_hash",
    "cache_lock",
    "fetch",
    "fetch_file",
    "status",
    "verify_cache",
]

DATA_DIR_ENV = "LABKIT_DATA_DIR"
MIRROR_ENV = "LABKIT_DATA_MIRROR"
OFFLINE_ENV = "LABKIT_OFFLINE"
DOWNLOAD_TIMEOUT_S = 30


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
# Hashing and staging folders


def file_hash(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file (read in 1 MiB chunks)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _cache_folder(dataset: DataSet) -> Path:
    return data_dir() / (dataset.cache_subdir or dataset.name)


def cache_lock(dataset: DataSet) -> contextlib.AbstractContextManager[Path]:
    """The lock of a data set's cache folder, held while a file is checked, copied, downloaded
    or unpacked (pooch itself does not lock).

    An advisory ``fcntl.flock`` on ``$LABKIT_DATA_DIR/.locks/<cache folder>.lock`` (see
    :func:`labkit.files.file_lock`): two processes (two kernels, two test lanes, a kernel and
    ``labkit data fetch``) fetching the same data set take turns, and the second finds the
    first one's verified copy. Data sets sharing a ``cache_subdir`` share the lock. Where
    ``fcntl`` is missing (Windows) nothing is locked; every replacement stays atomic.
    """
    name = (dataset.cache_subdir or dataset.name).replace("/", "__")
    return file_lock(data_dir() / ".locks" / f"{name}.lock")


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
    with staging_folder(final) as staging:
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
        replace_folder(staging, final)  # under the cache lock (_materialize holds it)
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


def _read_stamp(stamp: Path) -> tuple[str | None, list[str] | None]:
    """(archive hash, files it put in the folder) of an unpack stamp; files is None for a stamp
    written before labkit recorded them (a bare hash line)."""
    if not stamp.is_file():
        return None, None
    text = stamp.read_text(encoding="utf-8")
    try:
        record = json.loads(text)
        return record["hash"], list(record["files"])
    except (ValueError, KeyError, TypeError):
        return text.strip(), None


def _extract(item: DataFile, archive: Path, staging: Path) -> None:
    """Unpack ``archive`` into the empty folder ``staging``, refusing unsafe members."""
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


def _unpack(dataset: DataSet, item: DataFile, archive: Path) -> None:
    """Unpack into the data set's cache folder, replacing the archive's previous version.

    The archive is unpacked in full into a fresh staging folder first. Then the stamp is
    removed (the folder no longer counts as unpacked), every file is moved into place with
    ``os.replace``, the files the previous version put there and this one lacks are deleted,
    and a new stamp (the hash and the file list, written atomically) marks it complete. Files
    are replaced one by one, not the folder as a whole, because alternates merge into one
    folder (the mirror's ``aclImdb_train`` and ``aclImdb_test`` both fill ``aclImdb/``); a
    file another archive's stamp lists is never deleted. Called under :func:`cache_lock`.
    """
    stamp = _unpack_stamp(dataset, item)
    expected = item.sha256 or item.md5 or ""
    old_hash, old_files = _read_stamp(stamp)
    if old_hash == expected:
        return
    target = _cache_folder(dataset)
    with staging_folder(target / f"{item.name}.unpack") as staging:
        _extract(item, archive, staging)
        files = sorted(
            path.relative_to(staging).as_posix()
            for path in staging.rglob("*")
            if path.is_file() or path.is_symlink()
        )
        if item.name in files:
            raise DataIntegrityError(f"{archive} holds a member named like itself: {item.name}")
        stamp.unlink(missing_ok=True)
        for relative in files:
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            if destination.is_dir() and not destination.is_symlink():
                shutil.rmtree(destination)  # a folder in the old version, a file in this one
            os.replace(staging / relative, destination)
        claimed = set(files)
        for other in target.glob(".*.unpacked"):
            claimed |= set(_read_stamp(other)[1] or ())
        for relative in sorted(set(old_files or ()) - claimed, reverse=True):
            stale = target / relative
            stale.unlink(missing_ok=True)
            for parent in stale.parents:  # and the folders that leaves empty
                if parent == target or not parent.is_relative_to(target) or any(parent.iterdir()):
                    break
                parent.rmdir()
    with atomic_write(stamp) as handle:
        json.dump({"hash": expected, "files": files}, handle, indent=0)


def _materialize(dataset: DataSet, item: DataFile) -> Path:
    """Return the cached, verified file, getting it from the mirror or upstream if needed.

    All of it runs under the data set's :func:`cache_lock`, so a second process waits and then
    finds the first one's copy instead of copying, downloading or unpacking it again.
    """
    with cache_lock(dataset):
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
