"""Keep TensorFlow's C++ notices out of a lesson's output.

On a machine without a GPU, ``import keras`` (or ``tensorflow``) writes lines such as::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1796604179.369205   14305 port.cc:153] oneDNN custom operations are on. ...
    I0000 00:00:1796604179.369662   14305 cudart_stub.cc:31] Could not find cuda drivers ...
    E0000 00:00:1796604185.142783   14305 cuda_platform.cc:52] failed call to cuInit: ...

and training later adds a few more ("oneDNN supports DT_BOOL only on platforms with AVX-512",
a grappler "remapper failed" that TensorFlow recovers from). TensorFlow's C++ code writes them to
file descriptor 2, the start-up ones before absl's logging is initialised, so
``TF_CPP_MIN_LOG_LEVEL`` does not silence them, and Jupyter shows them in red as if something
broke. They say "no GPU here, the CPU build is in use, an optimisation was skipped", which
:func:`labkit.device_report` says in words where it matters.

- :func:`filter_stderr` replaces file descriptor 2 of this process by a pipe for good; a thread
  passes every line through to where it pointed before, except those matching
  :data:`TENSORFLOW_NOTICES`. ``import labkit`` calls it inside a Jupyter kernel, which is why
  the lessons import labkit before Keras (``notebooks/ruff.toml`` sorts the imports that way).
- :func:`filtered_stderr` does the same for one block (a context manager).

Only the standard library is used, so importing this module costs nothing.
"""

from __future__ import annotations

import atexit
import collections
import os
import re
import select
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

__all__ = ["TENSORFLOW_NOTICES", "dropped_lines", "filter_stderr", "filtered_stderr"]

_ABSL_PREFIX = r"^[IWE]\d{4} [\d:.]+\s+\d+ \S+\.(?:cc|h):\d+\] "

#: Regular expressions (``re.search``, one line each) of the notices TensorFlow 2.x writes on a
#: CPU machine. Anything else, errors included, still reaches the output.
TENSORFLOW_NOTICES: tuple[str, ...] = (
    # absl: lines logged before its logging is initialised go to stderr whatever the level
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$",
    # oneDNN kernels are on by default on x86 (TF_ENABLE_ONEDNN_OPTS=0 turns them off), and fall
    # back to Eigen for some types without AVX-512
    _ABSL_PREFIX + r"oneDNN custom operations are on\.",
    _ABSL_PREFIX + r"oneDNN supports DT_\w+ only on platforms with AVX-512\. Falling back",
    # the CPU-only case: no CUDA driver, no GPU
    _ABSL_PREFIX + r"Could not find cuda drivers on your machine, GPU will not be used\.",
    _ABSL_PREFIX + r"failed call to cuInit: ",
    # the wheel is built for a baseline CPU; faster instructions exist
    _ABSL_PREFIX + r"This TensorFlow binary is optimized to use available CPU instructions",
    r"^To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler",
    # CUDA plugins registering twice when both TensorFlow and JAX/XLA libraries load
    _ABSL_PREFIX + r"Unable to register cu(?:DNN|FFT|BLAS) factory: ",
    _ABSL_PREFIX + r"computation placer already registered\.",
    r"^TF-TRT Warning: Could not find TensorRT$",
    # grappler skips one graph rewrite it cannot apply (the graph still runs, unoptimised there)
    _ABSL_PREFIX + r"remapper failed: INVALID_ARGUMENT: Mutation::Apply error: ",
    # TensorFlow Lite's interpreter says which CPU delegate it uses
    r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$",
)

#: The last lines :func:`filter_stderr` dropped (at most 100), to explain them where it matters.
dropped_lines: collections.deque[str] = collections.deque(maxlen=100)

_installed: _StderrFilter | None = None


def _matches(compiled: Sequence[re.Pattern[str]], line: str) -> bool:
    text = line.rstrip("\r\n").strip()  # a log a subprocess prints may come indented
    return any(pattern.search(text) for pattern in compiled)


@contextmanager
def filtered_stderr(patterns: Sequence[str] = TENSORFLOW_NOTICES) -> Iterator[list[str]]:
    """Within the block, drop lines matching ``patterns`` from file descriptor 2.

    File descriptor 2 (where C and C++ code write, below Python's ``sys.stderr``) points at a
    temporary file for the duration of the block; when the block ends, even by an exception,
    it is restored and every line that matches none of ``patterns`` is written to it, in order.

    Args:
        patterns: regular expressions searched (``re.search``) in each line, without its newline.

    Yields:
        A list that, after the block, holds the lines that were dropped.

    Raises:
        OSError: file descriptor 2 cannot be duplicated (a process started without one).
    """
    compiled = [re.compile(pattern) for pattern in patterns]
    dropped: list[str] = []
    sys.stderr.flush()  # what Python buffered belongs before the block, not inside it
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as capture:
            os.dup2(capture.fileno(), 2)
            try:
                yield dropped
            finally:
                os.dup2(saved, 2)
                capture.seek(0)
                kept = []
                for line in capture.read().decode("utf-8", "replace").splitlines(keepends=True):
                    if _matches(compiled, line):
                        dropped.append(line.rstrip("\r\n"))
                    else:
                        kept.append(line)
                if kept:
                    os.write(2, "".join(kept).encode("utf-8"))
    finally:
        os.close(saved)


class _StderrFilter:
    """File descriptor 2 replaced by a pipe; a daemon thread forwards the lines that pass."""

    # a line without its newline is passed on after this long, so a prompt is not held back
    PARTIAL_LINE_SECONDS = 0.2

    def __init__(self, patterns: Sequence[str]) -> None:
        self._compiled = [re.compile(pattern) for pattern in patterns]
        sys.stderr.flush()
        self._target = os.dup(2)  # where fd 2 pointed: a terminal, a file, ipykernel's pipe
        self._read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        self._thread = threading.Thread(target=self._forward, name="labkit-stderr", daemon=True)
        self._thread.start()

    def _forward(self) -> None:
        pending = b""
        while True:
            ready, _, _ = select.select([self._read], [], [], self.PARTIAL_LINE_SECONDS)
            if not ready:
                if pending:  # a partial line waited long enough: pass it on as it is
                    os.write(self._target, pending)
                    pending = b""
                continue
            chunk = os.read(self._read, 65536)
            if not chunk:  # every writer closed: stop() restored fd 2
                break
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            kept = []
            for raw in lines:
                line = raw.decode("utf-8", "replace")
                if _matches(self._compiled, line):
                    dropped_lines.append(line)
                else:
                    kept.append(raw + b"\n")
            if kept:
                os.write(self._target, b"".join(kept))
        if pending and not _matches(self._compiled, pending.decode("utf-8", "replace")):
            os.write(self._target, pending)
        os.close(self._read)

    def stop(self) -> None:
        """Point fd 2 where it pointed before and forward what the pipe still holds."""
        sys.stderr.flush()
        os.dup2(self._target, 2)  # closes this process's write end of the pipe
        self._thread.join(timeout=1)  # a child that inherited fd 2 may keep the pipe open


def filter_stderr(patterns: Sequence[str] = TENSORFLOW_NOTICES) -> bool:
    """From now on, drop lines matching ``patterns`` from this process's file descriptor 2.

    Also sets ``TF_CPP_MIN_LOG_LEVEL=2`` unless it is set (TensorFlow's own switch for the INFO
    and WARNING lines logged after start-up, e.g. "Compiled cluster using XLA!"; errors still
    show). Child processes started afterwards inherit the filtered descriptor. At exit the
    descriptor is restored and the last lines are forwarded.

    Args:
        patterns: regular expressions searched (``re.search``) in each line.

    Returns:
        True if the filter was installed now; False if it already was.

    Raises:
        OSError: file descriptor 2 cannot be duplicated, or no pipe can be made.
    """
    global _installed
    if _installed is not None:
        return False
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _installed = _StderrFilter(patterns)
    atexit.register(_installed.stop)
    return True
