"""Metrics a lesson reports, and reading them back from an executed notebook.

A lesson calls ``labkit.record("test_accuracy", acc)``. The value is shown in the notebook and
also emitted as a display output with the MIME type :data:`METRIC_MIME`, which papermill stores in
the executed notebook. :func:`read_metrics` collects those outputs, so the runner and the tests
compare what the lesson really computed with the bars in ``notebooks/curriculum.yaml``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from labkit import runtime

METRIC_MIME = "application/vnd.labkit.metric+json"

__all__ = ["METRIC_MIME", "record", "read_metrics"]


def _as_float(name: str, value: Any) -> float:
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # NumPy / TF scalars
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"labkit.record({name!r}, ...) needs a real number, got {type(value).__name__}: "
            f"{value!r}. Pass e.g. float(accuracy)."
        )
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"labkit.record({name!r}, {value}) : the metric is not finite.")
    return value


def record(name: str, value: Any) -> None:
    """Report a metric the lesson achieved, e.g. ``record("test_accuracy", 0.981)``.

    Args:
        name: snake_case metric name; it must match a bar in ``notebooks/curriculum.yaml``
            for the runner to hold it to one.
        value: a real number (Python, NumPy or TensorFlow scalar).

    The metric is shown as ``[labkit.record] name = value``; nothing is returned, so a
    ``record(...)`` call as a cell's last line does not echo the number twice.

    Raises:
        ValueError: the name is empty or not an identifier, or the value is NaN/inf.
        TypeError: the value is not a real number.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(
            f"Metric name {name!r} is not a snake_case identifier (e.g. 'test_accuracy')."
        )
    number = _as_float(name, value)
    in_kernel = runtime.in_kernel()
    text = f"[labkit.record] {name} = {number:.6g}"
    if in_kernel:
        from IPython.display import display

        display({METRIC_MIME: {"name": name, "value": number}, "text/plain": text}, raw=True)
    else:
        print(text)


def read_metrics(notebook: Mapping[str, Any]) -> dict[str, float]:
    """Return ``{name: value}`` of every :func:`record` call in an executed notebook.

    Args:
        notebook: the notebook as a dict or ``nbformat.NotebookNode`` (as papermill writes it).

    Returns:
        Metrics in the order they were recorded; a name recorded twice keeps its last value.
    """
    metrics: dict[str, float] = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) or []:
            data = output.get("data") or {}
            payload = data.get(METRIC_MIME)
            if payload:
                metrics[payload["name"]] = float(payload["value"])
    return metrics
