"""The limits of ``labkit.serving`` on one request: plain numbers, no imports.

Kept apart from :mod:`labkit.serving.protocol` (NumPy) so that ``labkit serve --help`` and the
``labkit`` command's parser need nothing but the standard library (the Kubernetes-client test
environment has no NumPy).
"""

from __future__ import annotations

__all__ = ["DEFAULT_MAX_PAYLOAD_BYTES", "DEFAULT_MAX_INSTANCES", "MAX_V2_DIMENSIONS"]

DEFAULT_MAX_PAYLOAD_BYTES = 1 << 20
"""Request bodies above this many bytes get HTTP 413 (``--max-payload-bytes``)."""

DEFAULT_MAX_INSTANCES = 1024
"""Instances per request at most (``--max-instances``); more get HTTP 413.

Why a limit: a request's instances run through the model in batches of at most
``--max-batch-size`` (64), so the model's working memory does not grow with the request, but
the decoded request, its answer and the time it holds the model do. Why 1,024: it bounds
those well inside the 2 GiB memory limit of ``k8s/serving/overlays/cpu`` while a client can
still send a useful batch. Measured on 2 cores with lesson 09's LSTM architecture: one request of
1,024 reviews takes about 0.14 s (XLA on), and ``tests/test_serving_hostile.py`` sends the
largest accepted request (1,024 reviews filling the 1 MiB body) beside 32 clients to a server
held to that limit by a memory cgroup: its memory grew by about 3 MiB."""

MAX_V2_DIMENSIONS = 32
"""A v2 tensor's shape has at most this many dimensions (NumPy's own limit is 64)."""
