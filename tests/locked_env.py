"""Fresh virtual environments installed from one of the hashed locks in requirements/.

Used by the tests that check labkit where users stand: the wheel in a fresh environment
(tests/test_wheel.py) and the deployment code with the newest Kubernetes client
(tests/test_lock.py). Each environment is installed the way the Makefile and the images install
theirs: ``pip install --require-hashes -r requirements/build.txt``, then
``pip install --require-hashes --no-build-isolation -r requirements/<lock>.txt``. It is kept under
``build/test-envs/`` keyed by the lock's and the interpreter's identity, so a second ``make
test`` reuses it; a changed lock builds a new one. A half-built environment (no ``.complete``
stamp) is thrown away and built again.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
ENVS = REPO / "build" / "test-envs"


def python_version(python: str) -> str:
    return subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def locked_venv(name: str, lock: str, python: str, timeout: float = 1500) -> Path:
    """A virtual environment with exactly the packages of ``requirements/<lock>``.

    Args:
        name: a short name for the folder.
        lock: the file name in ``requirements/``, e.g. ``"learner.txt"``.
        python: the interpreter to create it with.

    Returns:
        The environment's folder (``<folder>/bin/python`` is its interpreter).

    Raises:
        AssertionError: pip failed (its last output lines are in the message).
    """
    lock_path = REPO / "requirements" / lock
    version = python_version(python)
    key = hashlib.sha256(lock_path.read_bytes() + version.encode()).hexdigest()[:12]
    folder = ENVS / f"{name}-py{version}-{key}"
    if (folder / ".complete").is_file():
        return folder
    for old in ENVS.glob(f"{name}-*"):  # older locks' environments: gigabytes each
        shutil.rmtree(old, ignore_errors=True)
    ENVS.mkdir(parents=True, exist_ok=True)
    subprocess.run([python, "-m", "venv", str(folder)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    for options in (["-r", str(REPO / "requirements" / "build.txt")],  # its build tools first
                    ["--no-build-isolation", "-r", str(lock_path)]):  # fmt: skip
        result = subprocess.run(
            [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--require-hashes", *options],
            capture_output=True, text=True, env=env, timeout=timeout,
        )  # fmt: skip
        if result.returncode != 0:
            break
    assert result.returncode == 0, (
        f"pip install --require-hashes -r requirements/{lock} with Python {version} failed:\n"
        + (result.stdout + result.stderr)[-4000:]
    )
    (folder / ".complete").write_text(f"{lock} {version}\n")
    return folder


def build_wheel(out: Path) -> Path:
    """labkit's wheel, built from this checkout by the locked hatchling (no build isolation, as
    the images build it)."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(out), str(REPO)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("labkit-*.whl")
    return wheel


def lock_entries(lock: Path) -> list[tuple[str, str, str, list[str]]]:
    """Every pin of a hashed requirements file: ``(name, version, marker, [hashes])``, the name
    normalised (``a_b`` -> ``a-b``), the marker ``""`` when there is none.

    Raises:
        AssertionError: a requirement that is not pinned with ``==``.
    """
    text = re.sub(r"\\\n\s*", " ", lock.read_text())
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        requirement_text, *hashes = line.split(" --hash=")
        spec, _, marker = requirement_text.partition(";")
        requirement = Requirement(spec.strip())
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{lock.name}: {line[:80]} is not pinned with =="
        name = requirement.name.lower().replace("_", "-")
        entries.append((name, specifier.version, marker.strip(), hashes))
    return entries


def locked_pins(lock: Path, python_full_version: str) -> dict[str, str]:
    """``{name: version}`` that ``pip install -r lock`` installs on Linux x86-64 with that
    Python (the lock's environment markers evaluated for it)."""
    environment = {
        "python_full_version": python_full_version,
        "python_version": ".".join(python_full_version.split(".")[:2]),
        "sys_platform": "linux",
        "platform_machine": "x86_64",
        "platform_system": "Linux",
        "os_name": "posix",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "extra": "",
    }
    return {
        name: version
        for name, version, marker, _ in lock_entries(lock)
        if not marker or Marker(marker).evaluate(environment)
    }


def image_pins(freeze: str) -> dict[str, str]:
    """``{name: version}`` from ``pip freeze --all`` output (``name @ URL`` lines, labkit
    built from its folder, give the URL)."""
    pins = {}
    for line in freeze.splitlines():
        name, separator, version = line.strip().partition(" @ " if " @ " in line else "==")
        if separator:
            pins[name.lower().replace("_", "-")] = version
    return pins


def find_python(version: str) -> str | None:
    """An interpreter of that version (``"3.12"``) that runs: on PATH, or pyenv's (whose shims
    fail for versions that are not active); None when there is none."""
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(
        glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}"))
    )
    candidates += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    for candidate in filter(None, candidates):
        try:
            if python_version(candidate).startswith(version + "."):
                return candidate
        except (OSError, subprocess.CalledProcessError):
            continue
    return None
