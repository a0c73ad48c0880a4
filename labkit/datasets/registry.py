"""The data registry, ``datasets/registry.yaml``: what each data set's files are.

:class:`Registry` reads the YAML file into :class:`DataSet` entries, each with its upstream
:class:`DataFile` entries and its alternates. A file's hash is given in pooch's notation by
:attr:`DataFile.known_hash` (``"sha256:..."`` / ``"md5:..."``, see
https://www.fatiando.org/pooch/latest/hashes.html), which :mod:`labkit.datasets.store` hands
to ``pooch.retrieve``. Nothing here touches the cache, the mirror or the network.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.datasets.errors import DataError

__all__ = ["REGISTRY_ENV", "DataFile", "DataSet", "Registry", "registry", "read_checksum_list"]

REGISTRY_ENV = "LABKIT_REGISTRY"


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
