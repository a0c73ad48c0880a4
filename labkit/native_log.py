"""Keep TensorFlow's C++ start-up notices out of a lesson's output.

On a machine without a GPU, ``import keras`` (or ``tensorflow``) writes lines such as::

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1796604179.369205   14305 port.cc:153] oneDNN custom operations are on. ...
    I0000 00:00:1796604179.369662   14305 cudart_stub.cc:31] Could not find cuda drivers ...
    E0000 00:00:1796604185.142783   14305 cuda_platform.cc:52] failed call to cuInit: ...

TensorFlow's C++ code writes them to file descriptor 2 before absl's logging is initialised, so
``TF_CPP_MIN_LOG_LEVEL`` does not silence them, and Jupyter shows them in red as if something
broke. They say "no GPU here, the CPU build is in use", which :func:`labkit.device_report` says
in words. :func:`filtered_stderr` drops exactly these notices (:data:`TENSORFLOW_STARTUP_NOTICES`)
from what native code writes to file descriptor 2 in a block and passes every other line
through; :func:`quiet_tensorflow_startup` applies it to the first import of TensorFlow.
``import labkit`` calls it inside a Jupyter kernel, which is why the lessons import labkit before
Keras (``notebooks/ruff.toml`` sorts the imports that way).

Only the standard library is used, so importing this module costs nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType

__all__ = ["TENSORFLOW_STARTUP_NOTICES", "filtered_stderr", "quiet_tensorflow_startup"]

_ABSL_PREFIX = r"^[IWE]\d{4} [\d:.]+\s+\d+ \S+\.(?:cc|h):\d+\] "

#: Regular expressions (``re.search``, one line each) of the notices TensorFlow 2.x writes at
#: start-up on a CPU machine. Anything else, errors included, still reaches the output.
TENSORFLOW_STARTUP_NOTICES: tuple[str, ...] = (
    # absl: lines logged before its logging is initialised go to stderr whatever the level
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$",
    # oneDNN kernels are on by default on x86 (TF_ENABLE_ONEDNN_OPTS=0 turns them off)
    _ABSL_PREFIX + r"oneDNN custom operations are on\.",
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
)


@contextmanager
def filtered_stderr(patterns: Sequence[str] = TENSORFLOW_STARTUP_NOTICES) -> Iterator[list[str]]:
    """Within the block, drop lines matching ``patterns`` from file descriptor 2.

    File descriptor 2 (where C and C++ code write, below Python's ``sys.stderr``) points at a
    temporary file for the duration of the block; when the block ends, even by an exception,
    it is restored and every line that matches none of ``patterns`` is written to it, in order.

    Args:
        patterns: regular expressions searched (``re.search``) in each line, without its newline.

    Yields:
        A list that, after the block, holds the lines that were dropped (to explain them, as
        :func:`labkit.device_report` does for a failed CUDA start).

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
                    text = line.rstrip("\r\n")
                    if any(pattern.search(text) for pattern in compiled):
                        dropped.append(text)
                    else:
                        kept.append(line)
                if kept:
                    os.write(2, "".join(kept).encode("utf-8"))
    finally:
        os.close(saved)


class _QuietLoader(importlib.abc.Loader):
    """The real loader of ``tensorflow``, run inside :func:`filtered_stderr`."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with filtered_stderr():
            self._loader.exec_module(module)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` the usual way once, and wraps its loader in :class:`_QuietLoader`."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: the real finders answer from here on
        for finder in sys.meta_path:
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None:
            return spec
        spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow_startup() -> bool:
    """Drop TensorFlow's start-up notices from the first ``import tensorflow`` (or ``keras``).

    Installs a finder at the front of ``sys.meta_path`` that imports ``tensorflow`` inside
    :func:`filtered_stderr` and then removes itself, and sets ``TF_CPP_MIN_LOG_LEVEL=2`` unless
    it is set (TensorFlow's own switch for the INFO and WARNING lines logged later, e.g. "Compiled
    cluster using XLA!"; errors still show).

    Returns:
        True if the finder was installed; False if TensorFlow was already imported (too late)
        or the finder is already waiting.
    """
    if "tensorflow" in sys.modules:
        return False
    if any(isinstance(finder, _QuietTensorFlowFinder) for finder in sys.meta_path):
        return False
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.meta_path.insert(0, _QuietTensorFlowFinder())
    return True
