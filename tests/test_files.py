"""labkit.files: atomic writes (old or new file, never half of one) and the advisory lock."""

from __future__ import annotations

import os
import stat
import threading
import time

import pytest

from labkit.files import atomic_path, atomic_write, file_lock, replace_folder, staging_folder


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "report.json"
    with atomic_write(target) as handle:
        handle.write("{}")
        assert not target.exists()  # nothing visible until the block ends
    assert target.read_text() == "{}"
    with atomic_write(target, "wb") as handle:
        handle.write(b"[]")
    assert target.read_bytes() == b"[]"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]
    assert stat.S_IMODE(target.stat().st_mode) & 0o044  # a normal file's mode, not mkstemp's 0600


def test_atomic_write_error_keeps_the_old_file(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write("half a")
        raise RuntimeError("writer failed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_atomic_path_keeps_the_suffix_and_writers_do_not_share_it(tmp_path):
    target = tmp_path / "model.keras"
    with atomic_path(target) as first, atomic_path(target) as second:
        assert first.suffix == second.suffix == ".keras" and first != second
        assert first.parent == target.parent
        first.write_text("one")
        second.write_text("two")
    assert target.read_text() == "one"  # the outer block ended last
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_atomic_write_refuses_append_mode(tmp_path):
    with pytest.raises(ValueError, match="mode"), atomic_write(tmp_path / "x", "a"):
        pass


@pytest.mark.skipif(os.name != "posix", reason="fcntl.flock is POSIX-only")
def test_file_lock_makes_a_second_holder_wait(tmp_path):
    lock = tmp_path / "locks" / "x.lock"
    events = []

    def other():
        with file_lock(lock):
            events.append("other")

    with file_lock(lock):
        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.3)
        events.append("first done")
    thread.join(5)
    assert events == ["first done", "other"]


def test_replace_folder_swaps_a_complete_folder_in_and_removes_the_old(tmp_path):
    final = tmp_path / "data"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with staging_folder(final) as staging:
        (staging / "new.txt").write_text("new")
        replace_folder(staging, final)
    assert sorted(p.name for p in final.iterdir()) == ["new.txt"]  # not merged into the old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no staging, no old copy


def test_a_failed_build_leaves_the_old_folder_and_no_staging(tmp_path):
    final = tmp_path / "data"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(RuntimeError, match="half-built"), staging_folder(final) as staging:
        (staging / "part.txt").write_text("part")
        raise RuntimeError("half-built")
    assert (final / "old.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_a_failed_swap_puts_the_old_folder_back(tmp_path, monkeypatch):
    final = tmp_path / "data"
    final.mkdir()
    (final / "old.txt").write_text("old")
    staging = tmp_path / "new"
    staging.mkdir()
    real_replace = os.replace
    calls = []

    def second_rename_fails(source, target):
        calls.append((source, target))
        if len(calls) == 2:  # the old folder is aside; moving the new one in fails
            raise OSError("disk full")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", second_rename_fails)
    with pytest.raises(OSError, match="disk full"):
        replace_folder(staging, final)
    assert (final / "old.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "new"]  # the aside copy removed
