"""Shared test set-up: an isolated data cache, and the mirror when one is configured."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

try:  # absent only in the small environment tests/test_lock.py runs the deploy tests in
    import matplotlib
except ImportError:
    pass
else:
    matplotlib.use("Agg")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def data_available() -> bool:
    """True when lessons can get their data: a mirror is set, or downloads are allowed."""
    return bool(os.environ.get("LABKIT_DATA_MIRROR")) or os.environ.get("LABKIT_OFFLINE") != "1"
