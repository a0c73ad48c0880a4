"""Writing files safely: atomic replacement and an advisory lock.

* :func:`atomic_write` — open a temporary file next to the target, write, flush, ``fsync``,
  then ``os.replace`` it in: a reader sees the old file or the new one, never half of one, and
  two writers never share a temporary name (``tempfile.mkstemp``). On an error the temporary
  file is removed and the target is untouched.
* :func:`atomic_path` — the same for writers that want a file *name* (``model.save(path)``,
  ``page.screenshot(path=...)``, a compiler's ``package_path``); the temporary name keeps the
  target's suffix, which such writers use to pick the format.
* :func:`staging_folder` and :func:`replace_folder` — the same for a folder: build it complete
  in a temporary folder beside the target, then swap it in (the old one is renamed aside and
  deleted only after the new one is in place; a rename cannot replace a non-empty folder).
* :func:`file_lock` — an exclusive advisory lock (``fcntl.flock``) on a lock file, held for a
  ``with`` block: other processes (and other threads, which open their own descriptor) that
  take the same lock wait. Where ``fcntl`` does not exist (Windows) no lock is taken: writes
  stay atomic, but two processes may then do the same work at once.

``os.replace`` is atomic on POSIX and on Windows when both names are on the same file system,
which is why the temporary file is made in the target's folder
(https://docs.python.org/3/library/os.html#os.replace).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["atomic_write", "atomic_path", "staging_folder", "replace_folder", "file_lock"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once: os.umask can only be read by setting it


def _temporary(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".part{path.suffix}", dir=path.parent
    )
    os.close(fd)
    os.chmod(name, 0o666 & ~_UMASK)  # mkstemp makes it 0600; give it a normal file's mode
    return Path(name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path in ``path``'s folder; moved onto ``path`` when the block ends cleanly.

    The file exists (empty) when the block starts; the writer may overwrite or replace it. On
    an exception it is removed and ``path`` is left as it was.

    Example::

        with atomic_path("model.keras") as tmp:  # e.g. .model.abc123.part.keras
            model.save(tmp)
    """
    target = Path(path)
    tmp = _temporary(target)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike,
    mode: str = "w",
    *,
    encoding: str | None = "utf-8",
    newline: str | None = None,
) -> Iterator[IO[Any]]:
    """Open ``path`` for writing so that it is replaced all at once when the block ends.

    Args:
        path: the file to write; its folder is created if needed.
        mode: ``"w"`` (text) or ``"wb"`` (bytes).
        encoding, newline: as for :func:`open`, text mode only (default UTF-8).

    Yields:
        The open temporary file. When the block ends it is flushed, ``fsync``'d and renamed onto
        ``path``; on an exception it is removed and ``path`` is untouched.

    Raises:
        ValueError: ``mode`` is not ``"w"`` or ``"wb"``.
    """
    if mode not in ("w", "wb"):
        raise ValueError(
            f"atomic_write writes a whole file: mode must be 'w' or 'wb', not {mode!r}"
        )
    text = {"encoding": encoding, "newline": newline} if mode == "w" else {}
    with atomic_path(path) as tmp:
        with open(tmp, mode, **text) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())


@contextlib.contextmanager
def staging_folder(final: str | os.PathLike, suffix: str = ".part") -> Iterator[Path]:
    """A new empty folder beside ``final`` to build its next version in.

    Yields:
        The folder (``.<name>.<random><suffix>`` in ``final``'s parent, which is created if
        needed). It is removed when the block ends unless it was moved away, e.g. by
        :func:`replace_folder`; so an error leaves nothing half-built behind.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=suffix, dir=final.parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_folder(new: str | os.PathLike, final: str | os.PathLike) -> None:
    """Put the complete folder ``new`` at ``final`` (same file system), replacing what is there.

    The old ``final`` is renamed aside first and deleted only after ``new`` is in place; if
    the second rename fails, the old folder is put back. A reader never sees a missing or a
    half-copied folder, only a moment between two renames.
    """
    new, final = Path(new), Path(final)
    if not final.exists():
        os.replace(new, final)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
    os.replace(final, aside / final.name)
    try:
        os.replace(new, final)
    except BaseException:
        os.replace(aside / final.name, final)  # put the old copy back
        raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive advisory lock on ``path`` (created if missing) for the block.

    The lock is ``fcntl.flock(LOCK_EX)`` on a descriptor opened here, so it also excludes other
    threads of this process; it is released when the block ends or the process dies (the
    kernel drops it with the descriptor, so a crash leaves no stale lock). It is advisory:
    only code that takes the same lock waits. It is not re-entrant: do not nest two
    ``file_lock`` blocks on the same path in one thread. Without ``fcntl`` (Windows) the block
    runs unlocked.
    """
    lock = Path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+b") as handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield lock
        finally:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
