"""The data registry, ``datasets/registry.yaml``: what each data set's files are.

:class:`Registry` reads the YAML file into :class:`DataSet` entries, each with its upstream
:class:`DataFile` entries and its alternates. A file's hash is given in pooch's notation by
:attr:`DataFile.known_hash` (``"sha256:..."`` / ``"md5:..."``, see
https://www.fatiando.org/pooch/latest/hashes.html), which :mod:`labkit.datasets.store` hands
to ``pooch.retrieve``. The file is checked against the strict schema of
:mod:`labkit.datasets.schema` (pydantic). Nothing here touches the cache, the mirror or the network.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.datasets import schema
from labkit.datasets.errors import DataError, RegistryError

__all__ = ["REGISTRY_ENV", "DataFile", "DataSet", "Registry", "registry", "read_checksum_list"]

REGISTRY_ENV = "LABKIT_REGISTRY"


def read_checksum_list(path: Path) -> dict[str, str]:
    """Read a ``sha256sum``-format list (``<hex>  <relative path>`` per line) into a dict.

    Raises:
        DataError: a line is not ``<64 hex digits> <path>``, or a path is absolute or has ``..``.
    """
    members: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        digest, _, name = line.partition(" ")
        name = name.strip().lstrip("*")
        if len(digest) != 64 or not name:
            raise DataError(f"{path}:{number}: not a sha256sum line: {line!r}")
        try:
            schema.check_relative(name, "the member")
        except ValueError as error:
            raise DataError(f"{path}:{number}: {error}: list paths inside the folder") from None
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
        hash_source: where the hash was published, or why there is none.
        unverified: True only for a file whose upstream publishes no hash (the registry says
            ``unverified: true`` explicitly); it is downloaded unverified, with a warning.
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
    unverified: bool = False

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

    The entries are checked against the strict schema of :mod:`labkit.datasets.schema` first.

    Args:
        entries: the parsed YAML ``datasets`` mapping.
        base: folder that relative ``members`` list paths are resolved against.
        source: what error messages call the registry (default: ``"the registry given to
            Registry()"``; :meth:`load` passes the file's path).

    Raises:
        RegistryError: an entry breaks the schema (the message names source, entry and key).
    """

    def __init__(
        self, entries: Mapping[str, Any], base: Path | None = None, source: str | None = None
    ):
        source = source or "the registry given to Registry()"
        document = schema.validate({"datasets": entries}, source)
        base = base or Path.cwd()
        self._sets: dict[str, DataSet] = {
            name: _dataset_from(name, entry, base, source)
            for name, entry in document.datasets.items()
        }

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> Registry:
        """Load the registry YAML (default: ``$LABKIT_REGISTRY``, else ``datasets/registry.yaml``
        of the project folder, see :mod:`labkit.paths`).

        Raises:
            DataError: the file does not exist (``labkit.paths.ProjectNotFoundError`` when there
                is no project folder at all).
            RegistryError: the file breaks the schema of :mod:`labkit.datasets.schema`.
        """
        import yaml

        from labkit import paths

        path = Path(path or os.environ.get(REGISTRY_ENV) or paths.project_file(paths.REGISTRY))
        if not path.is_file():
            raise DataError(f"Data registry not found at {path}.")
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(document, dict) or set(document) != {"datasets"}:
            schema.validate(document, str(path))  # raises, naming the offending keys
        return cls(document["datasets"], base=path.parent, source=str(path))

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


def _file_from(entry: schema.FileEntry, base: Path, source: str, where: str) -> DataFile:
    members = entry.members
    if isinstance(members, str):
        try:
            members = read_checksum_list(base / members)
        except OSError as error:
            raise RegistryError(
                f"{source}: {where}: key 'members': cannot read {base / members} ({error}); "
                f"{schema.HINTS['members']}"
            ) from error
    return DataFile(
        name=entry.name,
        url=entry.url,
        sha256=entry.sha256,
        md5=entry.md5,
        size=entry.size,
        mirror=entry.mirror,
        members=members,
        unpack=entry.unpack,
        fallback_urls=tuple(entry.fallback_urls),
        hash_source=entry.hash_source,
        unverified=entry.unverified,
    )


def _dataset_from(name: str, entry: schema.DataSetEntry, base: Path, source: str) -> DataSet:
    alternates = entry.alternate.files if entry.alternate else []
    return DataSet(
        name=name,
        title=entry.title,
        files=tuple(
            _file_from(f, base, source, f"data set {name!r}, file {f.name!r}") for f in entry.files
        ),
        alternates=tuple(
            _file_from(f, base, source, f"data set {name!r}, alternate file {f.name!r}")
            for f in alternates
        ),
        alternate_note=entry.alternate.note if entry.alternate else None,
        licence=entry.licence,
        citation=entry.citation,
        homepage=entry.homepage,
        cache_subdir=entry.cache_subdir,
        used_by=tuple(entry.used_by),
        info={"nltk_resource": entry.nltk_resource} if entry.nltk_resource else {},
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
