"""The data layer: cache, mirror, verified download, alternates, and the errors a learner sees.

Downloads go to a real HTTP server on 127.0.0.1 (pooch's own HTTP downloader); the registry and
files are made here, so nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import socket
import tarfile
import threading
import time
from pathlib import Path

import pytest

from labkit import datasets
from labkit.datasets import DataIntegrityError, DataUnavailableError, Registry
from labkit.datasets.errors import RegistryError


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Handler(http.server.SimpleHTTPRequestHandler):
    truncate: dict[str, int] = {}  # path -> bytes to send before closing the connection

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):  # noqa: N802 (http.server's name)
        name = self.path.lstrip("/")
        if name in self.truncate:
            payload = (Path(self.directory) / name).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: self.truncate[name]])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/upstream on 127.0.0.1; yields (folder, base URL, hit counter)."""
    root = tmp_path / "upstream"
    root.mkdir()
    hits: list[str] = []

    class Handler(_Handler):
        truncate = {}

        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}", hits, Handler
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Empty cache, a mirror folder, online (no LABKIT_OFFLINE)."""
    cache, mirror = tmp_path / "cache", tmp_path / "mirror"
    mirror.mkdir()
    monkeypatch.setenv("LABKIT_DATA_DIR", str(cache))
    monkeypatch.setenv("LABKIT_DATA_MIRROR", str(mirror))
    monkeypatch.delenv("LABKIT_OFFLINE", raising=False)
    return cache, mirror


def closed_port_url(name: str) -> str:
    """A URL on 127.0.0.1 where nothing listens: the download fails at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def one_file_registry(url: str, data: bytes, **extra) -> Registry:
    entry = {"name": "digits.bin", "url": url, "sha256": sha256(data), "size": len(data)}
    entry.update(extra)
    return Registry({"toy": {"title": "toy data", "files": [entry]}})


def test_download_verifies_and_caches(server, env):
    root, base, hits, _ = server
    cache, _ = env
    data = os.urandom(200_000)
    (root / "digits.bin").write_bytes(data)
    reg = one_file_registry(f"{base}/digits.bin", data)

    folder = datasets.fetch("toy", reg=reg)

    assert (folder / "digits.bin").read_bytes() == data
    assert folder == cache / "toy"
    datasets.fetch("toy", reg=reg)  # second call: served from the cache
    assert hits == ["/digits.bin"]


def test_hash_mismatch_names_both_hashes_and_leaves_cache_clean(server, env):
    root, base, _, _ = server
    cache, _ = env
    served = b"tampered bytes"
    (root / "digits.bin").write_bytes(served)
    reg = one_file_registry(f"{base}/digits.bin", b"the real bytes")

    with pytest.raises(DataIntegrityError) as error:
        datasets.fetch("toy", reg=reg)

    message = str(error.value)
    assert sha256(b"the real bytes") in message and sha256(served) in message
    assert "digits.bin" in message
    leftovers = list((cache / "toy").iterdir()) if (cache / "toy").exists() else []
    assert leftovers == []


def test_partial_download_never_lands(server, env):
    root, base, _, handler = server
    cache, _ = env
    data = os.urandom(300_000)
    (root / "digits.bin").write_bytes(data)
    handler.truncate["digits.bin"] = 1000  # the connection drops after 1 kB
    reg = one_file_registry(f"{base}/digits.bin", data)

    with pytest.raises((DataUnavailableError, DataIntegrityError)):
        datasets.fetch("toy", reg=reg)

    assert not (cache / "toy" / "digits.bin").exists()
    assert [p.name for p in (cache / "toy").glob("*")] == []


def test_offline_miss_names_file_url_and_variable(env, monkeypatch):
    monkeypatch.delenv("LABKIT_DATA_MIRROR")
    url = closed_port_url("digits.bin")
    reg = one_file_registry(url, b"x")

    with pytest.raises(DataUnavailableError) as error:
        datasets.fetch("toy", reg=reg)

    message = str(error.value)
    assert "digits.bin" in message and url in message and "LABKIT_DATA_MIRROR" in message
    assert "labkit data fetch toy" in message


def test_offline_flag_skips_the_network(env, monkeypatch):
    monkeypatch.setenv("LABKIT_OFFLINE", "1")
    reg = one_file_registry("http://example.invalid/digits.bin", b"x")
    with pytest.raises(DataUnavailableError, match="LABKIT_OFFLINE"):
        datasets.fetch("toy", reg=reg)


def test_mirror_hit_is_verified_and_copied(env):
    cache, mirror = env
    data = b"mirror bytes" * 1000
    (mirror / "sub").mkdir()
    (mirror / "sub" / "digits.bin").write_bytes(data)
    reg = one_file_registry(closed_port_url("digits.bin"), data, mirror="sub/digits.bin")

    folder = datasets.fetch("toy", reg=reg)

    assert (folder / "digits.bin").read_bytes() == data
    assert datasets.status("toy", reg=reg) == "cached"


def test_corrupt_mirror_file_is_refused(env):
    cache, mirror = env
    (mirror / "digits.bin").write_bytes(b"bit rot")
    reg = one_file_registry(closed_port_url("digits.bin"), b"good", mirror="digits.bin")

    with pytest.raises(DataIntegrityError) as error:
        datasets.fetch("toy", reg=reg)

    assert sha256(b"good") in str(error.value) and sha256(b"bit rot") in str(error.value)
    assert not (cache / "toy" / "digits.bin").exists()


def test_corrupt_cache_copy_is_replaced(env):
    cache, mirror = env
    data = b"good data"
    (mirror / "digits.bin").write_bytes(data)
    reg = one_file_registry(closed_port_url("digits.bin"), data, mirror="digits.bin")
    (cache / "toy").mkdir(parents=True)
    (cache / "toy" / "digits.bin").write_bytes(b"half a fi")

    assert datasets.fetch_file("toy", "digits.bin", reg=reg).read_bytes() == data


def _tar_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, payload in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def _reviews_registry(upstream_url: str, full: bytes, train: bytes, test: bytes) -> Registry:
    return Registry(
        {
            "reviews": {
                "title": "reviews",
                "files": [
                    {
                        "name": "all.tar.gz",
                        "url": upstream_url,
                        "sha256": sha256(full),
                        "unpack": "tar",
                    }
                ],
                "alternate": {
                    "note": "labelled subset",
                    "files": [
                        {
                            "name": "train.tar.gz",
                            "sha256": sha256(train),
                            "mirror": "r/train.tar.gz",
                            "unpack": "tar",
                        },
                        {
                            "name": "test.tar.gz",
                            "sha256": sha256(test),
                            "mirror": "r/test.tar.gz",
                            "unpack": "tar",
                        },
                    ],
                },
            }
        }
    )


REVIEWS = {"data/train/pos/1_9.txt": b"great", "data/test/neg/2_1.txt": b"awful"}


def test_alternate_in_mirror_gives_the_same_layout(server, env):
    _, base, hits, _ = server
    cache, mirror = env
    full = _tar_bytes({**REVIEWS, "data/unsup/3_0.txt": b"meh"})
    train = _tar_bytes({"data/train/pos/1_9.txt": REVIEWS["data/train/pos/1_9.txt"]})
    test = _tar_bytes({"data/test/neg/2_1.txt": REVIEWS["data/test/neg/2_1.txt"]})
    (mirror / "r").mkdir()
    (mirror / "r" / "train.tar.gz").write_bytes(train)
    (mirror / "r" / "test.tar.gz").write_bytes(test)
    reg = _reviews_registry(f"{base}/all.tar.gz", full, train, test)

    assert datasets.status("reviews", reg=reg) == "mirror (alternate)"
    folder = datasets.fetch("reviews", reg=reg)

    for name, payload in REVIEWS.items():
        assert (folder / name).read_bytes() == payload
    assert hits == []  # the mirror alternate was used, nothing downloaded


@pytest.mark.parametrize("pep706", [True, False], ids=["data_filter", "python-3.11.2"])
def test_tar_members_outside_the_folder_are_refused(env, monkeypatch, pep706):
    """Python 3.11.4+ refuses them with tarfile's "data" filter; on 3.11.0-3.11.3 (the learner
    image's Debian Python is 3.11.2) labkit checks the same by hand."""
    if not pep706:
        monkeypatch.delattr(tarfile, "data_filter")
    cache, mirror = env
    link = io.BytesIO()
    with tarfile.open(fileobj=link, mode="w:gz") as tar:
        info = tarfile.TarInfo("data/escape")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    for name, archive in (
        ("good", _tar_bytes(REVIEWS)),
        ("dotdot", _tar_bytes({"../outside.txt": b"x"})),
        ("symlink", link.getvalue()),
    ):
        (mirror / f"{name}.tar.gz").write_bytes(archive)
        entry = {"name": f"{name}.tar.gz", "sha256": sha256(archive), "unpack": "tar",
                 "mirror": f"{name}.tar.gz"}  # fmt: skip
        reg = Registry({name: {"title": name, "files": [entry]}})
        if name == "good":
            folder = datasets.fetch(name, reg=reg)
            assert (folder / "data/train/pos/1_9.txt").read_bytes() == b"great"
            continue
        with pytest.raises(Exception) as error:
            datasets.fetch(name, reg=reg)
        assert (
            isinstance(error.value, (DataIntegrityError, tarfile.FilterError))
            if pep706
            else (isinstance(error.value, DataIntegrityError) and "unsafe" in str(error.value))
        )
        assert not (cache.parent / "outside.txt").exists()
        assert not list(cache.rglob("escape")) and not list(cache.rglob("outside.txt"))


def test_connected_machine_without_mirror_downloads_upstream(server, env, monkeypatch):
    root, base, hits, _ = server
    monkeypatch.delenv("LABKIT_DATA_MIRROR")
    full = _tar_bytes(REVIEWS)
    (root / "all.tar.gz").write_bytes(full)
    reg = _reviews_registry(f"{base}/all.tar.gz", full, b"t", b"u")

    folder = datasets.fetch("reviews", reg=reg)

    for name, payload in REVIEWS.items():
        assert (folder / name).read_bytes() == payload
    assert hits == ["/all.tar.gz"]


def test_folder_entry_checks_every_member(env, tmp_path):
    cache, mirror = env
    (mirror / "pkg" / "en").mkdir(parents=True)
    (mirror / "pkg" / "en" / "a.txt").write_bytes(b"alpha")
    (mirror / "pkg" / "README").write_bytes(b"read me")
    members = {"en/a.txt": sha256(b"alpha"), "README": sha256(b"read me")}
    reg = Registry(
        {"pkgset": {"title": "p", "files": [{"name": "pkg", "mirror": "pkg", "members": members}]}}
    )

    folder = datasets.fetch("pkgset", reg=reg)
    assert (folder / "pkg" / "en" / "a.txt").read_bytes() == b"alpha"

    (mirror / "pkg" / "README").write_bytes(b"changed")
    other = datasets.data_dir() / "elsewhere"
    os.environ["LABKIT_DATA_DIR"] = str(other)
    with pytest.raises(DataIntegrityError, match="README"):
        datasets.fetch("pkgset", reg=reg)
    assert not (other / "pkgset" / "pkg").exists()  # nothing half-copied


def test_checksum_list_format(tmp_path):
    listing = tmp_path / "x.sha256"
    listing.write_text(f"{'a' * 64}  dir/file one.txt\n\n# comment\n{'b' * 64} *bin.dat\n")
    assert datasets.read_checksum_list(listing) == {
        "dir/file one.txt": "a" * 64,
        "bin.dat": "b" * 64,
    }
    listing.write_text("not a hash line\n")
    with pytest.raises(datasets.DataError, match="sha256sum"):
        datasets.read_checksum_list(listing)


def test_mirror_variable_pointing_nowhere_is_an_error(env, monkeypatch, tmp_path):
    monkeypatch.setenv("LABKIT_DATA_MIRROR", str(tmp_path / "missing"))
    with pytest.raises(DataUnavailableError, match="LABKIT_DATA_MIRROR"):
        datasets.mirror_dir()


def test_read_idx_rejects_wrong_lengths(tmp_path):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big") + b"\x01\x02")
    with pytest.raises(datasets.DataError, match="header says"):
        datasets.read_idx(path)


# --------------------------------------------------------------------------------------------
# The registry schema (labkit/datasets/schema.py): every mistake is refused, naming the file,
# the data set, the file entry and the key, and saying what to write instead.

GOOD_FILE = {"name": "digits.bin", "url": "https://example.org/digits.bin", "sha256": "a" * 64}


def _registry_file(tmp_path: Path, file_entry: dict) -> Path:
    import yaml

    path = tmp_path / "registry.yaml"
    document = {"datasets": {"toy": {"title": "toy data", "files": [file_entry]}}}
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def _refusal(path: Path) -> str:
    with pytest.raises(datasets.DataError) as error:
        Registry.load(path)
    assert isinstance(error.value, RegistryError)
    message = str(error.value)
    assert str(path) in message and "data set 'toy'" in message, message
    return message


def test_registry_typo_in_the_hash_key_is_refused(tmp_path):
    entry = {k: v for k, v in GOOD_FILE.items() if k != "sha256"} | {"sha265": "a" * 64}
    message = _refusal(_registry_file(tmp_path, entry))
    assert "file 'digits.bin': key 'sha265': unknown key; did you mean 'sha256'?" in message
    assert "write `sha256:" in message


def test_registry_file_without_a_hash_is_refused(tmp_path):
    entry = {k: v for k, v in GOOD_FILE.items() if k != "sha256"}
    message = _refusal(_registry_file(tmp_path, entry))
    assert "file 'digits.bin'" in message and "key 'sha256' is missing" in message
    assert "unverified: true" in message  # the only explicit way to go without a hash


def test_registry_unverified_needs_a_reason_and_contradicts_a_hash(tmp_path):
    entry = {k: v for k, v in GOOD_FILE.items() if k != "sha256"} | {"unverified": True}
    assert "hash_source" in _refusal(_registry_file(tmp_path, entry))
    message = _refusal(_registry_file(tmp_path, GOOD_FILE | {"unverified": True}))
    assert "contradict" in message
    explained = entry | {"hash_source": "upstream publishes none"}
    item = Registry.load(_registry_file(tmp_path, explained))["toy"].file("digits.bin")
    assert item.unverified and item.known_hash is None


def test_registry_unknown_key_is_refused(tmp_path):
    message = _refusal(_registry_file(tmp_path, GOOD_FILE | {"colour": "blue"}))
    assert "file 'digits.bin': key 'colour': unknown key" in message
    assert "sha256" in message and "hash_source" in message  # lists the allowed keys


@pytest.mark.parametrize(
    "name", ["../outside.bin", "/etc/passwd", "sub/../../x", "a\\..\\b", "..", "."]
)
def test_registry_file_names_leaving_the_folder_are_refused(tmp_path, name):
    message = _refusal(_registry_file(tmp_path, GOOD_FILE | {"name": name}))
    assert f"file {name!r}: key 'name'" in message and "no `..`" in message


def test_registry_member_paths_leaving_the_folder_are_refused(tmp_path):
    message = _refusal(
        _registry_file(tmp_path, {"name": "pkg", "members": {"../../etc/x": "b" * 64}})
    )
    assert "file 'pkg': key 'members'" in message and "leaves its folder" in message
    listing = tmp_path / "x.sha256"
    listing.write_text(f"{'a' * 64}  ../up.txt\n")
    with pytest.raises(datasets.DataError, match=r"x.sha256:1: .*leaves its folder"):
        datasets.read_checksum_list(listing)


def test_registry_wrong_type_is_refused(tmp_path):
    message = _refusal(_registry_file(tmp_path, GOOD_FILE | {"size": "12 kB"}))
    assert "file 'digits.bin': key 'size': Input should be a valid integer" in message
    assert "'12 kB'" in message and "write `size: <the size in bytes" in message


def test_registry_in_memory_errors_name_the_entry(tmp_path):
    with pytest.raises(RegistryError) as error:
        Registry({"toy": {"title": "t", "files": [{"url": "https://example.org/x"}]}})
    message = str(error.value)
    assert "Registry()" in message and "file #1 (no name): key 'name': missing" in message


def test_the_real_registry_loads():
    reg = Registry.load()
    assert "mnist" in reg and all(entry.files for entry in reg.values())
    unverified = [f.name for e in reg.values() for f in e.files if f.unverified]
    assert unverified and all(f.endswith((".csv", ".h5")) for f in unverified)


# --------------------------------------------------------------------------------------------
# The store under change and concurrency: a lock per cache folder, folders swapped in whole,
# an archive's new version replacing (not merging into) the old one.


def _tar_registry(name: str, archive: bytes) -> Registry:
    entry = {"name": "pack.tar.gz", "sha256": sha256(archive), "unpack": "tar", "mirror": name}
    return Registry({"packs": {"title": "packs", "files": [entry]}})


def test_a_changed_archive_replaces_the_files_of_its_old_version(env):
    cache, mirror = env
    old = _tar_bytes({"data/a.txt": b"old a", "data/gone.txt": b"only in v1"})
    (mirror / "v1.tar.gz").write_bytes(old)
    folder = datasets.fetch("packs", reg=_tar_registry("v1.tar.gz", old))
    assert (folder / "data/gone.txt").is_file()

    new = _tar_bytes({"data/a.txt": b"new a", "data/b.txt": b"new b"})
    (mirror / "v2.tar.gz").write_bytes(new)
    folder = datasets.fetch("packs", reg=_tar_registry("v2.tar.gz", new))

    assert (folder / "data/a.txt").read_bytes() == b"new a"
    assert (folder / "data/b.txt").read_bytes() == b"new b"
    assert not (folder / "data/gone.txt").exists()  # a glob-based loader would have read it
    assert not [p for p in folder.rglob("*") if ".part" in p.name or ".old" in p.name]


def test_fetch_waits_while_another_process_holds_the_data_set(env):
    """A second kernel or test lane fetching the same data set waits for the first."""
    from labkit.datasets import store

    cache, mirror = env
    data = b"shared bytes"
    (mirror / "digits.bin").write_bytes(data)
    reg = one_file_registry(closed_port_url("digits.bin"), data, mirror="digits.bin")
    results = []
    with store.cache_lock(reg["toy"]):
        thread = threading.Thread(target=lambda: results.append(datasets.fetch("toy", reg=reg)))
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive() and not (cache / "toy" / "digits.bin").exists()
    thread.join(10)
    assert results and (results[0] / "digits.bin").read_bytes() == data


_FETCH_LOOP = """
import sys, time
from pathlib import Path
from labkit.datasets import Registry, fetch
registry, start, rounds = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
reg = Registry.load(registry)
while not start.exists():
    time.sleep(0.01)
for _ in range(rounds):
    folder = fetch("pkgset", reg=reg)
    assert len(list((folder / "pkg").rglob("*.txt"))) == 200, "incomplete folder"
    (folder / "pkg" / ".labkit-verified").unlink(missing_ok=True)  # copy it again next round
"""


def test_two_processes_copy_the_same_folder_at_once(env, tmp_path):
    import subprocess
    import sys

    import yaml

    cache, mirror = env
    members = {}
    for i in range(200):
        payload = f"member {i}".encode()
        (mirror / "pkg" / f"d{i % 10}").mkdir(parents=True, exist_ok=True)
        (mirror / "pkg" / f"d{i % 10}" / f"{i}.txt").write_bytes(payload)
        members[f"d{i % 10}/{i}.txt"] = sha256(payload)
    registry_file = tmp_path / "registry.yaml"
    entry = {"name": "pkg", "mirror": "pkg", "members": members}
    registry_file.write_text(
        yaml.safe_dump({"datasets": {"pkgset": {"title": "p", "files": [entry]}}})
    )
    start = tmp_path / "start"
    script = [sys.executable, "-c", _FETCH_LOOP, str(registry_file), str(start), "6"]
    lanes = [subprocess.Popen(script, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(1.5)  # both have imported labkit and wait at the start line
    start.touch()
    errors = [lane.communicate(timeout=120)[1] for lane in lanes]
    assert [lane.returncode for lane in lanes] == [0, 0], errors
    folder = cache / "pkgset"
    assert sorted(p.name for p in folder.iterdir()) == ["pkg"]  # no staging or old folder left
