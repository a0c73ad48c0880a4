"""The schema of ``datasets/registry.yaml``, as strict pydantic models, and its error messages.

Every mapping forbids unknown keys (``extra="forbid"``) and no value is coerced
(``strict=True``: ``size: "12"`` is an error, not 12), so a typo such as ``sha265:`` is refused
instead of silently turning a file into an unverified download. A file needs its hash: a
``sha256`` (or an ``md5`` where upstream publishes only that), or ``members`` for a folder;
a file whose upstream publishes no hash says so explicitly with ``unverified: true`` and a
``hash_source`` that explains why. File, mirror, member and ``cache_subdir`` paths are
relative and never leave their folder (no leading ``/``, no ``..``).

:func:`validate` turns pydantic's errors into one :class:`~labkit.datasets.errors.RegistryError`
whose lines each name the registry file, the data set, the file and the key, and say what to
write instead. See https://docs.pydantic.dev/latest/concepts/models/ and
https://docs.pydantic.dev/latest/errors/errors/ for the models and the error structure.
"""

from __future__ import annotations

import difflib
import re
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from labkit.datasets.errors import RegistryError

__all__ = ["RegistryDocument", "DataSetEntry", "FileEntry", "validate", "check_relative"]

_HEX = {"sha256": re.compile(r"[0-9a-f]{64}"), "md5": re.compile(r"[0-9a-f]{32}")}

#: what to write instead, per key (the end of every error message about that key)
HINTS = {
    "datasets": "the file holds one top-level key, `datasets:`, mapping data set names to entries",
    "title": "write `title: <one line saying what the data set is>`",
    "files": "write `files:` followed by a list of file entries (`- name: ...`)",
    "alternate": "write `alternate:` with `note:` and `files:` (files giving the same layout)",
    "note": "write `note: <how the alternate differs from the upstream files>`",
    "licence": "write `licence: <the data set's licence>`",
    "citation": "write `citation: <the reference to cite>`",
    "homepage": "write `homepage: https://...`",
    "cache_subdir": "write `cache_subdir: <folder under $LABKIT_DATA_DIR>`, a relative path "
    "without `..`",
    "used_by": "write `used_by: [<lesson names>]`",
    "nltk_resource": "write `nltk_resource: <NLTK resource name, e.g. corpora/stopwords>`",
    "name": "write `name: <file name in the data set's cache folder>`, a relative path that "
    "stays inside it (no leading `/`, no `..`)",
    "url": "write `url: https://...` (what a connected machine downloads)",
    "fallback_urls": "write `fallback_urls: [https://..., ...]` (tried in order when url fails)",
    "sha256": "write `sha256: <the 64 lower-case hex digits `sha256sum FILE` prints>`",
    "md5": "write `md5: <32 hex digits>`, only where upstream publishes just an MD5",
    "unverified": "write `unverified: true` only where upstream publishes no hash and no copy "
    "was at hand to compute a sha256, with the reason in `hash_source:`",
    "size": "write `size: <the size in bytes, an integer>`",
    "hash_source": "write `hash_source: <where the hash was published, or why there is none>`",
    "mirror": "write `mirror: <path under $LABKIT_DATA_MIRROR>`, relative, without `..`",
    "members": "write `members: checksums/<name>.sha256` (a sha256sum-format list) or a "
    "mapping `<relative path>: <sha256>`",
    "unpack": "write `unpack: tar` or `unpack: zip`",
}


def check_relative(value: str, what: str) -> str:
    """``value`` when it is a relative path that stays in its folder, else ValueError."""
    if not value or value.strip() != value:
        raise ValueError(f"{what} {value!r} is empty or has surrounding blanks")
    if "\\" in value or PurePosixPath(value).is_absolute() or PureWindowsPath(value).drive:
        raise ValueError(f"{what} {value!r} is absolute or uses backslashes")
    parts = PurePosixPath(value).parts
    if ".." in parts or all(p == "." for p in parts):
        raise ValueError(f"{what} {value!r} leaves its folder (`..`) or names the folder itself")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class FileEntry(_Strict):
    """One entry of a data set's ``files`` (or ``alternate.files``) list."""

    name: str
    url: str | None = None
    fallback_urls: list[str] = []
    sha256: str | None = None
    md5: str | None = None
    unverified: bool = False
    size: int | None = Field(default=None, ge=0)
    hash_source: str | None = None
    mirror: str | None = None
    members: str | dict[str, str] | None = None
    unpack: Literal["tar", "zip"] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_relative(value, "the file name")

    @field_validator("mirror")
    @classmethod
    def _mirror(cls, value: str | None) -> str | None:
        return None if value is None else check_relative(value, "the mirror path")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("fallback_urls")
    @classmethod
    def _fallback_urls(cls, value: list[str]) -> list[str]:
        bad = [u for u in value if not u.startswith(("https://", "http://"))]
        if bad:
            raise ValueError(f"{bad[0]!r} is not an http(s) URL")
        return value

    @field_validator("sha256", "md5")
    @classmethod
    def _hex(cls, value: str | None, info: Any) -> str | None:
        if value is None:
            return None
        if not _HEX[info.field_name].fullmatch(value.lower()):
            raise ValueError(f"{value!r} is not {info.field_name} hex digits")
        return value.lower()

    @field_validator("members")
    @classmethod
    def _members(cls, value: str | dict[str, str] | None) -> str | dict[str, str] | None:
        if isinstance(value, str):
            return check_relative(value, "the members list path")
        for relative, digest in (value or {}).items():
            check_relative(relative, "the member")
            if not _HEX["sha256"].fullmatch(digest.lower()):
                raise ValueError(f"member {relative!r}: {digest!r} is not a sha256")
        return value

    @model_validator(mode="after")
    def _hash(self) -> FileEntry:
        hashes = [k for k in ("sha256", "md5") if getattr(self, k)]
        if self.members is not None:
            if hashes or self.unpack or self.unverified:
                extra = [*hashes, *(["unpack"] if self.unpack else [])]
                extra += ["unverified"] if self.unverified else []
                raise ValueError(
                    f"a folder entry (members) is verified member by member: remove {extra}"
                )
        elif self.unverified:
            if hashes:
                raise ValueError(
                    f"`unverified: true` and `{hashes[0]}:` contradict each other: remove "
                    f"`unverified: true` (the file is verified by its {hashes[0]})"
                )
            if not self.url or not self.hash_source:
                raise ValueError(
                    "`unverified: true` needs a `url:` and a `hash_source:` saying why upstream "
                    "has no hash"
                )
        elif not hashes:
            raise ValueError(
                "key 'sha256' is missing: every file needs its hash. Write `sha256: <the 64 hex "
                "digits `sha256sum FILE` prints>` (or `md5: <32 hex digits>` where upstream "
                "publishes only an MD5); only where upstream publishes no hash and no copy was "
                "at hand, write `unverified: true` with the reason in `hash_source:`"
            )
        return self


def _unique_names(files: list[FileEntry]) -> list[FileEntry]:
    """One list's file names are unique (an alternate may reuse an upstream file's name)."""
    names = [f.name for f in files]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"file names {twice} appear more than once: give each its own name")
    return files


class AlternateEntry(_Strict):
    """A data set's ``alternate``: files that are not the upstream bytes but load the same."""

    note: str | None = None
    files: list[FileEntry] = Field(min_length=1)

    @field_validator("files")
    @classmethod
    def _unique(cls, files: list[FileEntry]) -> list[FileEntry]:
        return _unique_names(files)


class DataSetEntry(_Strict):
    """One data set under ``datasets:``."""

    title: str
    files: list[FileEntry] = Field(min_length=1)
    alternate: AlternateEntry | None = None
    licence: str = ""
    citation: str = ""
    homepage: str | None = None
    cache_subdir: str | None = None
    used_by: list[str] = []
    nltk_resource: str | None = None

    @field_validator("cache_subdir")
    @classmethod
    def _subdir(cls, value: str | None) -> str | None:
        return None if value is None else check_relative(value, "cache_subdir")

    @field_validator("files")
    @classmethod
    def _unique(cls, files: list[FileEntry]) -> list[FileEntry]:
        return _unique_names(files)


class RegistryDocument(_Strict):
    """The whole file: ``datasets:`` mapping names to :class:`DataSetEntry`."""

    datasets: dict[str, DataSetEntry]

    @field_validator("datasets")
    @classmethod
    def _names(cls, value: dict[str, DataSetEntry]) -> dict[str, DataSetEntry]:
        for name in value:
            if "/" in name or "\\" in name or name in {"", ".", ".."}:
                raise ValueError(
                    f"data set name {name!r} is not a folder name: use letters, digits, `_`, "
                    f"`-`, `.`"
                )
        return value


def validate(document: Any, source: str) -> RegistryDocument:
    """Check a parsed registry YAML document against :class:`RegistryDocument`.

    Raises:
        RegistryError: one line per problem, each naming ``source``, the data set, the file and
            the key, and saying what to write instead.
    """
    try:
        return RegistryDocument.model_validate(document)
    except ValidationError as error:
        lines: dict[str, tuple[list[str], str]] = {}
        for problem in error.errors():
            where, key, text, hint = _explain(document, problem)
            texts, _ = lines.setdefault(where + (f": key {key!r}" if key else ""), ([], hint))
            if text not in texts:
                texts.append(text)
        body = "\n".join(
            f"  {where}: {' / '.join(texts)}" + (f"; {hint}" if hint else "")
            for where, (texts, hint) in lines.items()
        )
        raise RegistryError(
            f"{source} does not match the registry schema (labkit/datasets/schema.py):\n{body}"
        ) from None


_ENTRY_KEYS = {
    "file": list(FileEntry.model_fields),
    "dataset": list(DataSetEntry.model_fields),
    "alternate": list(AlternateEntry.model_fields),
    "document": list(RegistryDocument.model_fields),
}


def _explain(document: Any, problem: Any) -> tuple[str, str | None, str, str]:
    """(where, key, what is wrong, what to write instead) for one pydantic error."""
    loc = list(problem["loc"])
    where, kind, raw = "the top level", "document", document
    if len(loc) >= 2 and loc[0] == "datasets":
        dataset = loc[1]
        raw = _get(document, "datasets", dataset)
        where, kind, loc = f"data set {dataset!r}", "dataset", loc[2:]
        if loc[:1] == ["alternate"] and loc[1:2] == ["files"] and len(loc) >= 3:
            item = _get(raw, "alternate", "files", loc[2])
            where += f", alternate file {_file_name(item, loc[2])}"
            kind, loc = "file", loc[3:]
        elif loc[:1] == ["files"] and len(loc) >= 2:
            item = _get(raw, "files", loc[1])
            where += f", file {_file_name(item, loc[1])}"
            kind, loc = "file", loc[2:]
        elif loc[:1] == ["alternate"]:
            where += ", alternate"
            kind, loc = "alternate", loc[1:]
    key = str(loc[0]) if loc and isinstance(loc[0], str) else None
    message = str(problem["msg"]).removeprefix("Value error, ")
    hint = HINTS.get(key or "", "")
    if problem["type"] == "extra_forbidden":
        close = difflib.get_close_matches(key or "", _ENTRY_KEYS[kind], n=1, cutoff=0.6)
        if close:
            text, hint = f"unknown key; did you mean {close[0]!r}?", HINTS.get(close[0], "")
        else:
            text = f"unknown key; the keys allowed here are {', '.join(_ENTRY_KEYS[kind])}"
            hint = ""
    elif problem["type"] == "missing":
        text = "missing required key"
    elif problem["type"] == "value_error":
        text = message
    else:
        got = problem.get("input")
        shown = repr(got) if len(repr(got)) <= 60 else repr(got)[:57] + "..."
        text = f"{message} (got {type(got).__name__} {shown})"
    return where, key, text, hint


def _get(node: Any, *path: Any) -> Any:
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _file_name(item: Any, index: Any) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return repr(name) if isinstance(name, str) else f"#{int(index) + 1} (no name)"
