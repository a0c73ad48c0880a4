"""Plots the lessons share: training curves, image grids, confusion matrices.

Every function draws one new figure and returns it (``matplotlib.figure.Figure``); in a notebook
the inline backend shows it at the end of the cell, so end the call with ``;`` to show it once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from labkit.runtime import HEADLESS_ENV, in_kernel, in_live_frontend

__all__ = [
    "plot_history",
    "plot_image_grid",
    "plot_confusion_matrix",
    "live_training_curves",
    "HEADLESS_ENV",
]


def _history_dict(history: Any) -> dict[str, list[float]]:
    """A Keras ``History`` or its ``.history`` dict → ``{metric: [value per epoch]}``."""
    values = getattr(history, "history", history)
    if not isinstance(values, Mapping):
        raise TypeError(
            "plot_history expects a keras History (the return value of model.fit) or its "
            f".history dict, got {type(history).__name__}."
        )
    return {str(k): [float(x) for x in v] for k, v in values.items()}


def _is_runs(history: Any) -> bool:
    """True for ``{label: History or dict}``, i.e. several runs to overlay."""
    if hasattr(history, "history") or not isinstance(history, Mapping) or not history:
        return False
    return all(hasattr(v, "history") or isinstance(v, Mapping) for v in history.values())


def plot_history(
    history: Any,
    metrics: Sequence[str] | None = None,
    title: str | None = None,
):
    """Plot learning curves per epoch: one panel per metric, training and validation together.

    Args:
        history: the ``History`` returned by ``model.fit`` (or its ``.history`` dict), or a dict
            ``{label: History}`` to overlay several runs (e.g. one per activation function).
        metrics: metric names to plot, e.g. ``("loss", "accuracy")`` (training curve solid, the
            matching ``val_`` curve dashed) or ``("val_accuracy",)``. Default: every training
            metric found in the history.
        title: figure title.

    Returns:
        The figure, one subplot per metric, x axis = epoch (starting at 1).

    Raises:
        KeyError: a requested metric is in none of the histories (the message lists those there).
    """
    runs = (
        {str(k): _history_dict(v) for k, v in history.items()}
        if _is_runs(history)
        else {"": _history_dict(history)}
    )
    available = sorted({k for h in runs.values() for k in h})
    if metrics is None:
        metrics = [k for k in available if not k.startswith("val_")] or available
    metrics = list(metrics)
    missing = [m for m in metrics if m not in available]
    if missing:
        raise KeyError(f"Metric(s) {missing} not in the history; it has {available}.")

    fig, axes = plt.subplots(1, len(metrics), figsize=(5.0 * len(metrics), 3.8), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes[0], metrics, strict=True):
        for i, (label, values) in enumerate(runs.items()):
            color = colors[i % len(colors)]
            series = [(metric, "-")]
            if not metric.startswith("val_") and f"val_{metric}" in values:
                series.append((f"val_{metric}", "--"))
            for key, style in series:
                if key not in values:
                    continue
                y = values[key]
                name = "validation" if key.startswith("val_") else "training"
                if label:
                    name = f"{label} ({name})" if len(series) > 1 else label
                ax.plot(range(1, len(y) + 1), y, style, color=color, label=name, marker=".")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_image_grid(
    images: Any,
    labels: Sequence[Any] | None = None,
    predictions: Sequence[Any] | None = None,
    class_names: Sequence[str] | None = None,
    ncols: int = 8,
    title: str | None = None,
    cmap: str = "gray",
):
    """Show images in a grid, each titled with its label (and prediction, red when wrong).

    Args:
        images: array (n, height, width) for grayscale or (n, height, width, 3) RGB; uint8
            0..255 or floats (shown with their own min/max), or a list of such arrays.
        labels: n true labels (ints, or strings), optional.
        predictions: n predicted labels, optional; a title reads ``"7 (pred 1)"``.
        class_names: maps integer labels to names, e.g. Fashion-MNIST's ``["T-shirt/top", ...]``.
        ncols: images per row.
        title: figure title.
        cmap: colour map for grayscale images.

    Returns:
        The figure.

    Raises:
        ValueError: no images, or ``labels``/``predictions`` of a different length.
    """
    images = list(images)
    n = len(images)
    if n == 0:
        raise ValueError("plot_image_grid got no images.")
    for name, seq in (("labels", labels), ("predictions", predictions)):
        if seq is not None and len(seq) != n:
            raise ValueError(f"{name} has {len(seq)} entries for {n} images.")

    def name_of(value: Any) -> str:
        value = value.item() if hasattr(value, "item") else value
        if class_names is not None and isinstance(value, int | np.integer):
            return str(class_names[int(value)])
        return str(value)

    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.5 * ncols, 1.7 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        image = np.asarray(images[i])
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        ax.imshow(image, cmap=cmap if image.ndim == 2 else None)
        caption, color = "", "black"
        if labels is not None:
            caption = name_of(labels[i])
        if predictions is not None:
            predicted = name_of(predictions[i])
            if labels is not None and predicted != caption:
                color = "red"
            caption = f"{caption} (pred {predicted})" if labels is not None else predicted
        if caption:
            ax.set_title(caption, fontsize="small", color=color)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(
    y_true: Any,
    y_pred: Any,
    class_names: Sequence[str] | None = None,
    normalize: bool = False,
    title: str | None = None,
):
    """Draw the confusion matrix: rows are true classes, columns predicted classes.

    Args:
        y_true: true class labels, shape (n,), ints or strings.
        y_pred: predicted class labels, shape (n,).
        class_names: display names in label order; default the sorted labels themselves.
        normalize: show each row as fractions of that true class (per-class recall on the
            diagonal) instead of counts.
        title: axes title.

    Returns:
        The figure. Computed with ``sklearn.metrics.confusion_matrix``.

    Raises:
        ValueError: ``y_true`` and ``y_pred`` differ in length, or ``class_names`` does not
            match the number of classes.
    """
    from sklearn.metrics import confusion_matrix

    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels but y_pred has {y_pred.size}.")
    classes = np.unique(np.concatenate([y_true, y_pred]))
    if class_names is not None and len(class_names) < len(classes):
        raise ValueError(f"{len(class_names)} class names for {len(classes)} classes.")
    matrix = confusion_matrix(y_true, y_pred, labels=classes).astype(float)
    if normalize:
        matrix = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    names = (
        [
            str(class_names[int(c)] if np.issubdtype(classes.dtype, np.integer) else c)
            for c in classes
        ]
        if class_names is not None
        else [str(c) for c in classes]
    )
    size = max(4.0, 0.55 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), value in np.ndenumerate(matrix):
        text = f"{value:.2f}" if normalize else f"{int(value)}"
        ax.text(
            j,
            i,
            text,
            ha="center",
            va="center",
            fontsize="x-small",
            color="white" if value > threshold else "black",
        )
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.grid(False)
    ax.set_title(
        title or ("confusion matrix (row-normalized)" if normalize else "confusion matrix")
    )
    fig.tight_layout()
    return fig


def live_training_curves(
    metrics: Sequence[str] = ("loss", "accuracy"),
    title: str | None = None,
    live: bool | None = None,
):
    """A Keras callback that draws the learning curves while ``model.fit`` runs.

    In JupyterLab the figure (one panel per metric, training solid, validation dashed, as in
    :func:`plot_history`) is redrawn in place after every epoch. Headless (papermill under
    ``labkit run``, which sets ``LABKIT_HEADLESS=1``, or a plain script) it draws one figure when
    training ends. The history is also kept on the callback as ``.history`` and the last figure
    as ``.figure``.

    Args:
        metrics: metric names as Keras logs them (``"loss"``, ``"accuracy"``, ...); those the
            model does not log are left out.
        title: figure title.
        live: force live redrawing on (True) or off (False); default: detect the frontend.

    Returns:
        A ``keras.callbacks.Callback``: ``model.fit(..., callbacks=[live_training_curves()])``.
    """
    import keras
    import matplotlib.pyplot as plt

    class LiveTrainingCurves(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.live = in_live_frontend() if live is None else live
            self.history: dict[str, list[float]] = {}
            self.figure = None
            self._handle = None

        def _draw(self):
            wanted = [m for m in metrics if m in self.history]
            if not wanted:
                return None
            figure = plot_history(self.history, metrics=wanted, title=title)
            self.figure = figure
            return figure

        def on_train_begin(self, logs=None):
            self.history, self._handle = {}, None

        def on_epoch_end(self, epoch, logs=None):
            for key, value in (logs or {}).items():
                self.history.setdefault(key, []).append(float(value))
            if not self.live:
                return
            from IPython.display import display

            figure = self._draw()
            if figure is None:
                return
            if self._handle is None:
                self._handle = display(figure, display_id=True)
            else:
                self._handle.update(figure)
            plt.close(figure)

        def on_train_end(self, logs=None):
            if self.live:
                return
            figure = self._draw()
            if figure is not None and in_kernel():
                from IPython.display import display

                display(figure)
                plt.close(figure)

    return LiveTrainingCurves()
