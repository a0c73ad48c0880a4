"""labkit.record and labkit.plots."""

from __future__ import annotations

import math

import numpy as np
import pytest

import labkit
from labkit import plots
from labkit.record import METRIC_MIME, read_metrics, record


def test_record_returns_a_float_and_rejects_bad_values(capsys):
    assert record("test_accuracy", np.float32(0.5)) is None
    assert "test_accuracy = 0.5" in capsys.readouterr().out
    with pytest.raises(ValueError, match="snake_case"):
        record("test accuracy", 0.5)
    with pytest.raises(ValueError, match="not finite"):
        record("loss", math.nan)
    with pytest.raises(TypeError, match="real number"):
        record("loss", "0.3")
    with pytest.raises(TypeError):
        record("loss", True)


def test_read_metrics_reads_the_display_outputs_and_keeps_the_last():
    def output(name, value):
        return {
            "output_type": "display_data",
            "data": {METRIC_MIME: {"name": name, "value": value}, "text/plain": "x"},
        }

    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": "hi"},
            {"cell_type": "code", "outputs": [output("a", 1.0), {"output_type": "stream"}]},
            {"cell_type": "code", "outputs": [output("b", 2), output("a", 3.0)]},
        ]
    }
    assert read_metrics(notebook) == {"a": 3.0, "b": 2.0}


def test_setup_seeds_numpy_and_reports(capsys):
    labkit.setup(seed=7)
    first = np.random.rand(3)
    labkit.setup(seed=7)
    assert np.array_equal(first, np.random.rand(3))
    assert "labkit" in capsys.readouterr().out


def test_plot_history_one_panel_per_metric_with_validation_dashed():
    history = {
        "loss": [1.0, 0.5],
        "val_loss": [1.1, 0.7],
        "accuracy": [0.5, 0.8],
        "val_accuracy": [0.4, 0.7],
    }
    fig = plots.plot_history(history)
    assert [ax.get_title() for ax in fig.axes] == ["accuracy", "loss"]
    styles = [line.get_linestyle() for line in fig.axes[1].lines]
    assert styles == ["-", "--"]
    assert list(fig.axes[1].lines[1].get_ydata()) == [1.1, 0.7]


def test_plot_history_overlays_runs_and_names_missing_metrics():
    runs = {"relu": {"val_accuracy": [0.9, 0.95]}, "tanh": {"val_accuracy": [0.8, 0.9]}}
    fig = plots.plot_history(runs, metrics=("val_accuracy",))
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["relu", "tanh"]
    with pytest.raises(KeyError, match="accuracy"):
        plots.plot_history(runs, metrics=("accuracy",))


def test_plot_image_grid_marks_wrong_predictions_red():
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    fig = plots.plot_image_grid(images, labels=[1, 2, 3], predictions=[1, 7, 3], ncols=3)
    titles = [(ax.get_title(), ax.title.get_color()) for ax in fig.axes]
    assert titles[1] == ("2 (pred 7)", "red") and titles[0][1] == "black"
    with pytest.raises(ValueError, match="labels"):
        plots.plot_image_grid(images, labels=[1])


def test_plot_confusion_matrix_counts_and_normalizes():
    y_true, y_pred = [0, 0, 1, 1], [0, 1, 1, 1]
    fig = plots.plot_confusion_matrix(y_true, y_pred, class_names=["cat", "dog"])
    image = fig.axes[0].images[0].get_array()
    assert image.tolist() == [[1, 1], [0, 2]]
    fig = plots.plot_confusion_matrix(y_true, y_pred, normalize=True)
    assert fig.axes[0].images[0].get_array().tolist() == [[0.5, 0.5], [0.0, 1.0]]


def test_live_training_curves_records_every_epoch_and_draws_the_logged_metrics():
    import keras

    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    curves = plots.live_training_curves(metrics=("loss", "accuracy", "auc"), live=False)

    model.fit(x, y, epochs=3, validation_split=0.25, verbose=0, callbacks=[curves])

    assert len(curves.history["loss"]) == 3 and len(curves.history["val_accuracy"]) == 3
    assert [ax.get_title() for ax in curves.figure.axes] == ["loss", "accuracy"]  # no auc logged


def test_widgets_interact_headless_runs_the_function_once_with_starting_values(monkeypatch, capsys):
    import ipywidgets

    from labkit import widgets

    monkeypatch.setenv("LABKIT_HEADLESS", "1")
    calls = []
    result = widgets.interact(
        lambda k, method: calls.append((k, method)) or k * 2,
        k=ipywidgets.IntSlider(value=6, min=2, max=10),
        method=["kmeans", "dbscan"],
    )
    assert calls == [(6, "kmeans")] and result == 12
    assert "k=6 (IntSlider)" in capsys.readouterr().out
    with pytest.raises(ValueError, match="cannot be turned into a widget"):
        widgets.interact(lambda k: k, k=object())
