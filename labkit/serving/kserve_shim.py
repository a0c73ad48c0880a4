"""KServe, imported with ``sys.argv`` hidden from it, and the KServe names labkit uses.

``kserve.model_server`` parses ``sys.argv`` with its own argparse parser when it is imported, so
a plain ``import kserve`` inside ``python -m labkit.serving --model ...`` (or pytest) reads our
flags as its own (``--model`` as an abbreviation of its ``--model_name``). Every labkit module
therefore takes KServe from here: ``from labkit.serving.kserve_shim import kserve`` (and its
attributes, ``kserve.errors``, ``kserve.protocol...``), or one of the names below, never with
``from kserve... import``. Importing this module imports KServe (seconds).
"""

from __future__ import annotations

import sys


def _import_kserve():
    # kserve.model_server parses sys.argv with its own argparse parser when imported; hide our
    # flags from it (e.g. it would read `--model` as an abbreviation of its `--model_name`).
    saved, sys.argv = sys.argv, sys.argv[:1]
    try:
        import kserve
    finally:
        sys.argv = saved
    return kserve


kserve = _import_kserve()
from kserve.errors import InferenceError, InvalidInput  # noqa: E402
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse  # noqa: E402
from kserve.utils.numpy_codec import from_np_dtype  # noqa: E402

__all__ = [
    "kserve",
    "InferenceError",
    "InvalidInput",
    "InferOutput",
    "InferRequest",
    "InferResponse",
    "from_np_dtype",
]
