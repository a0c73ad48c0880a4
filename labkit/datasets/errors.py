"""The errors of labkit's data layer: every failure a learner sees is one of these.

:class:`DataUnavailableError` is also a :class:`FileNotFoundError` and
:class:`DataIntegrityError` a :class:`ValueError`, so code that catches the standard types (as
`pooch <https://www.fatiando.org/pooch/latest/api/index.html>`_'s users do) still works.
"""

from __future__ import annotations

__all__ = ["DataError", "DataUnavailableError", "DataIntegrityError", "RegistryError"]


class DataError(Exception):
    """Base class of labkit data errors."""


class DataUnavailableError(DataError, FileNotFoundError):
    """A file is in neither the cache nor the mirror, and could not be downloaded."""


class DataIntegrityError(DataError, ValueError):
    """A file's hash differs from the registry's; the file was not put in the cache."""


class RegistryError(DataError, ValueError):
    """``datasets/registry.yaml`` (or a registry given to :class:`~labkit.datasets.Registry`)
    breaks the schema in :mod:`labkit.datasets.schema`; the message names file, entry and key."""
