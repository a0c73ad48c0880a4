"""Wrong answers for the exercise checks of lessons 13-17 (tests/test_exercises.py).

Per exercise id: (a factory returning the wrong answer, the **context to pass, strings that must
not appear in the FAIL message because they would give the solution away).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def _deployment_wrong_unit():
    import yaml

    path = REPO / "k8s" / "serving" / "base" / "manifests" / "deployment.yaml"
    deployment = yaml.safe_load(path.read_text())
    deployment["spec"]["replicas"] = 3
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["resources"]["limits"]["memory"] = "3G"  # decimal gigabytes, not 3 GiB
    return deployment


def _seconds_per_request_speedup(latencies_ms, n_reviews, seconds):
    # compares seconds per request instead of reviews per second
    return (seconds / n_reviews * 1000) / np.mean(latencies_ms)


def _quarter_router(request_id):
    digest = int(hashlib.sha256(request_id.encode()).hexdigest(), 16)
    return "sentiment-v2" if digest % 100 < 25 else "sentiment"  # 25%, not 10%


def _list_only_app(predict):
    # checks that instances is a non-empty list, but not that its items are strings
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()

    @app.post("/predict")
    def predict_route(body: dict):
        instances = body.get("instances")
        if not isinstance(instances, list) or not instances:
            return JSONResponse(status_code=400, content={"error": "instances must be a list"})
        return {"predictions": predict(instances)}

    return app


def _drift_frames():
    import pandas as pd

    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {"words": rng.integers(20, 600, 2000), "unknown_share": rng.uniform(0, 0.1, 2000)}
    )
    short = rng.random(200) < 0.3
    live = pd.DataFrame(
        {
            "words": np.where(short, 8, rng.integers(20, 600, 200)),
            "unknown_share": rng.uniform(0, 0.1, 200),
        }
    )
    return reference, live


def _dynamic_range_flatbuffer():
    import contextlib
    import io

    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input(shape=(4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
    )
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]  # weights only: float activations
    with contextlib.redirect_stdout(io.StringIO()):
        return converter.convert()


def _regression_data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4)).astype("float32")
    return x, (x @ np.array([1.0, -0.5, 0.3, 0.2]) + 2).astype("float32")


def _random_search_tuner():
    import tempfile

    import keras
    import keras_tuner

    def build(hp):
        model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)])
        model.compile(loss="mse")
        return model

    return keras_tuner.RandomSearch(
        build,
        objective=keras_tuner.Objective("val_rmse", direction="min"),
        max_trials=1,
        directory=tempfile.mkdtemp(prefix="wrong_13_3_"),
        overwrite=True,
    )


def _peak_rounding_surge_down(replicas, gpus_per_pod, max_surge):
    if isinstance(max_surge, str):
        return (replicas + int(float(max_surge[:-1]) / 100 * replicas)) * gpus_per_pod
    return (replicas + int(max_surge)) * gpus_per_pod


def _render(overlay, **kwargs):
    from labkit import deploy

    return deploy.render(overlay, image="ghcr.io/labkit-org/labkit-serving-gpu:0.1.0", **kwargs)


def _kserve_one_gpu():
    return _render("kserve", gpus=1, namespace="team-a", model_name="reviews")


def _gpu_with_percent_strategy():
    objects = _render("gpu", replicas=1, gpus=1, namespace="labkit")
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    # 0% surge, 25% unavailable: a serving pod goes first at 4 replicas, stuck at 1 (rounds to 0)
    deployment["spec"]["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "25%"},
    }
    return objects


def _tasks_ignoring_the_gate(metrics, profile):
    return {"fetch-data", "train", "evaluate", "export", "deploy"}


def _accuracy_upside_down(run_dir, texts, labels):
    import keras
    import tensorflow as tf

    model = keras.models.load_model(Path(run_dir) / "train" / "model" / "model.keras")
    probs = model.predict(tf.constant(list(texts))[:, None], verbose=0).ravel()
    return float(np.mean((probs < 0.5).astype(int) == np.asarray(labels)))  # classes swapped


def _compiled_pipeline_unchanged():
    return str(REPO / "k8s" / "pipelines" / "sentiment_pipeline.yaml")


def _report_of_the_unbroken_file():
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="wrong_15_4_"))
    copy = folder / "test.yml"
    text = (REPO / ".github" / "workflows" / "test.yml").read_text()
    copy.write_text(text.replace("github.ref }}", "github.reff }}"))
    return {"copy": str(copy), "report": ""}  # actionlint's report of the original file


WRONG: dict = {
    "13.1": (lambda: "a", {}, []),
    "13.2": (lambda: _seconds_per_request_speedup, {}, []),
    "13.3": (_deployment_wrong_unit, {}, ['"3Gi"', "'3Gi'", "3072Mi"]),
    "13.4": (lambda: _quarter_router, {}, ["% 100 < 10"]),
    "13.5": (lambda: _list_only_app, {}, ["all(isinstance(", "isinstance(item, str)"]),
    "15.1": (
        lambda: {"psi_words": 0.05, "psi_unknown_share": 0.01, "fires": False},
        dict(zip(("reference", "live"), _drift_frames(), strict=True)),
        [],
    ),
    "14.1": (lambda: {"a", "c"}, {}, ['{"a", "d", "e"}', "a, d, e", "'d'"]),
    "14.2": (
        _random_search_tuner,
        dict(zip(("x_val", "y_val"), _regression_data(), strict=True)),
        [],
    ),
    "15.2": (
        _dynamic_range_flatbuffer,
        dict(zip(("x_val", "y_val"), _regression_data(), strict=True)),
        [],
    ),
    # rounds the surge down, as maxUnavailable is rounded. The check's cases are random, so the
    # message may say "your function says 5 GPUs" for one of them: the leak would be the
    # lesson's own answer (its PASS line says "5 GPUs for the lesson's 4 replicas").
    "16.1": (
        lambda: _peak_rounding_surge_down,
        {},
        ["GPUs for the lesson's 4 replicas", "= 5", "ceil("],
    ),
    "16.2": (_kserve_one_gpu, {}, []),
    "16.3": (lambda: 2, {}, ["8 pods", "= 8"]),
    "16.4": (_gpu_with_percent_strategy, {}, ["maxSurge: 1", "'maxUnavailable': 0"]),
    # a strategic-merge patch that adds GKE's label: the overlay's GPU Operator label stays
    "16.5": (
        lambda: __import__("shortcut_answers.lesson_16").lesson_16.gke_label_merged(),
        {},
        [": null", "$patch", "op: remove"],
    ),
    "17.1": (lambda: _tasks_ignoring_the_gate, {}, []),
    "17.2": (lambda: _accuracy_upside_down, {}, []),
    "17.3": (_compiled_pipeline_unchanged, {}, []),
    "17.4": (_report_of_the_unbroken_file, {}, ['property "reff" is not defined']),
}
