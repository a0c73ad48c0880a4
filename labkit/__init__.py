"""labkit: the helper package the labkit curriculum notebooks import.

Start every lesson with::

    import labkit
    labkit.setup()

Submodules (imported on first use, so ``import labkit`` stays fast):
``labkit.datasets`` (registry, download, cache, offline mirror, loaders),
``labkit.plots`` (history curves, image grids, confusion matrices),
``labkit.runner`` (papermill execution of the curriculum) and ``labkit.cli`` (the ``labkit``
command).
"""

from __future__ import annotations

import importlib
import os
import platform
import random
import sys
from typing import Any

from labkit import native_log
from labkit.record import record

__version__ = "0.1.0"
__all__ = ["setup", "record", "device_report", "memory_report", "__version__"]

_SUBMODULES = {
    "browser",
    "cli",
    "datasets",
    "deploy",
    "exercises",
    "pipelines",
    "plots",
    "record",
    "runner",
    "serving",
    "text",
    "tracking",
    "widgets",
}

# In a Jupyter kernel (a lesson), TensorFlow's C++ notices would show in red, from the first
# cell that imports Keras on: drop them from the kernel's file descriptor 2 (labkit.native_log).
if "ipykernel" in sys.modules:
    native_log.filter_stderr()


def __getattr__(name: str) -> Any:  # PEP 562: lazy submodules
    if name in _SUBMODULES:
        return importlib.import_module(f"labkit.{name}")
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    import numpy as np

    np.random.seed(seed)
    if "keras" in sys.modules or "tensorflow" in sys.modules:
        import keras

        keras.utils.set_random_seed(seed)  # seeds Python, NumPy and the backend


def _plot_style() -> None:
    import matplotlib as mpl

    mpl.rcParams.update(
        {
            "figure.figsize": (8.0, 4.5),
            "figure.dpi": 90,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "image.cmap": "viridis",
        }
    )


def memory_report() -> str:
    """``memory: 2.0 GiB limit`` (a container's or Binder's limit), or the RAM when none is set.

    A lesson that holds more than the limit is killed part-way ("kernel restarting"), so the
    device line says what the session has (:func:`labkit.runtime.memory_limit_mib`).
    """
    from labkit.runtime import memory_limit_mib

    try:
        limit = memory_limit_mib()
    except ValueError as error:  # a wrong $MEM_LIMIT must not stop the lesson
        return f"memory: UNKNOWN ({error})"
    if limit is not None:
        return f"memory: {limit / 1024:.1f} GiB limit"
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return "memory: no limit"
    return f"memory: {ram:.1f} GiB, no limit"


def device_report() -> str:
    """One line: labkit, Python, TensorFlow/Keras versions, compute devices, memory, data source.

    TensorFlow is only asked about devices when the lesson has already imported it (importing it
    costs about 5 s, and lessons such as clustering do not need it). The notices TensorFlow's C++
    code writes when it finds no GPU ("failed call to cuInit") are dropped
    (:mod:`labkit.native_log`): this line says it instead, and quotes CUDA's error where a GPU
    driver is installed (``/dev/nvidiactl``) but CUDA did not start.
    """
    from labkit import datasets

    parts = [f"labkit {__version__}", f"Python {platform.python_version()}"]
    if "tensorflow" in sys.modules or "keras" in sys.modules:
        import keras
        import tensorflow as tf

        with native_log.filtered_stderr() as notices:  # the first device query starts CUDA
            gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            device = f"{len(gpus)} GPU"
        else:
            device = f"CPU only ({os.cpu_count()} cores, no GPU found: training runs on the CPU)"
            cuda = [line.split("] ", 1)[-1] for line in notices if "cuInit" in line]
            if cuda and os.path.exists("/dev/nvidiactl"):  # a GPU is there, but CUDA failed
                device += f"; a GPU driver is installed but CUDA did not start: {cuda[0]}"
        parts += [f"TensorFlow {tf.__version__}", f"Keras {keras.__version__}", device]
    else:
        parts.append(f"CPU ({os.cpu_count()} cores); TensorFlow not imported")
    parts.append(memory_report())
    try:
        mirror = datasets.mirror_dir()
    except datasets.DataError as error:  # a wrong LABKIT_DATA_MIRROR must not stop the lesson
        mirror = f"UNUSABLE ({error})"
    parts.append(f"data: {datasets.data_dir()}" + (f" + mirror {mirror}" if mirror else ""))
    return " | ".join(parts)


def setup(seed: int = 42, *, quiet: bool = False) -> None:
    """Prepare a lesson: seed the random generators, set the plot style, print a device line.

    Args:
        seed: seeds Python's ``random``, NumPy and, if the lesson imported Keras, Keras and its
            backend (``keras.utils.set_random_seed``), so reruns give the same numbers on the
            same machine (GPU kernels may still differ slightly).
        quiet: skip the one-line report.
    """
    _seed_everything(seed)
    _plot_style()
    if not quiet:
        print(device_report())
