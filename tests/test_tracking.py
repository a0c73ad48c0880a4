"""labkit.tracking: MLflow runs (params, per-epoch metrics, data versions, models), the Model
Registry, `labkit serve models:/NAME@ALIAS`, and stores that cannot be used.

Every test uses its own SQLite store in a temporary folder (MLFLOW_TRACKING_URI), never the
project's mlruns.db.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import nbformat
import numpy as np
import pytest
import yaml

from labkit import datasets, runner, tracking

mlflow = pytest.importorskip("mlflow")


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh SQLite tracking store; returns its folder."""
    folder = tmp_path / "store"
    folder.mkdir()
    uri = f"sqlite:///{folder / 'mlruns.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)  # the fluent API keeps the URI an earlier test set
    monkeypatch.chdir(tmp_path)
    yield folder
    if mlflow.active_run() is not None:
        mlflow.end_run()


def _data():
    rng = np.random.default_rng(0)
    x = rng.random((300, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 1).astype("float32")
    return x, y


def _model():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6,), name="features"),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- where runs go -----------------------------------------------------------------------------


def test_default_store_is_in_the_project_root_not_the_working_directory(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "notebooks" / "curriculum.yaml").write_text("lessons: []\n")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(project / "notebooks")  # lessons run here
    assert tracking.project_root() == project.resolve()
    assert tracking.tracking_uri() == f"sqlite:///{project.resolve() / 'mlruns.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example.org:5000")
    assert tracking.tracking_uri() == "http://tracking.example.org:5000"


def test_dataset_versions_come_from_the_registry():
    versions = tracking.dataset_versions(["mnist"])
    expected = {f.name: f"sha256:{f.sha256}" for f in datasets.registry()["mnist"].files}
    assert versions == {"mnist": expected}
    with pytest.raises(KeyError, match="No data set 'nope'"):
        tracking.dataset_versions(["nope"])


# --- a tracked training run --------------------------------------------------------------------


def test_run_logs_params_epoch_metrics_data_version_and_model(store):
    import keras

    x, y = _data()
    model = _model()
    with tracking.start_run(
        "test_lesson", "a run", params={"units": 8}, datasets=["mnist"], tags={"kind": "test"}
    ) as run:
        assert run.active and run.run_id
        model.fit(x, y, epochs=3, batch_size=50, validation_split=0.2, verbose=0)
        run.log_metrics({"test_accuracy": 0.75})
        info = run.log_model(model)
    assert not run.active and info is not None

    client = mlflow.MlflowClient()
    logged = client.get_run(run.run_id)
    assert logged.info.status == "FINISHED" and logged.info.run_name == "a run"
    assert logged.data.params["units"] == "8"
    assert logged.data.params["epochs"] == "3"  # autologged from fit()
    # Keras numbers optimizers per process (adam, adam_1, ...): the name depends on test order
    assert logged.data.params["optimizer_name"].split("_")[0] == "adam"
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        history = client.get_metric_history(run.run_id, key)
        assert [m.step for m in history] == [0, 1, 2], key
    assert logged.data.metrics["test_accuracy"] == 0.75
    mnist = datasets.registry()["mnist"]
    for item in mnist.files:
        assert logged.data.tags[f"data.mnist.{item.name}"] == f"sha256:{item.sha256}"
    assert logged.data.tags["kind"] == "test"
    assert [d.dataset.name for d in logged.inputs.dataset_inputs] == ["mnist"]

    # artifacts sit beside the database, not in the working directory
    experiment = client.get_experiment(logged.info.experiment_id)
    assert experiment.artifact_location.startswith((store / "mlartifacts").as_uri())
    assert not (Path.cwd() / "mlruns").exists()

    path = tracking.local_model_path(info.model_uri, store.parent / "download")
    assert path.suffix == ".keras" and path.is_file()
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(reloaded.predict(x[:5], verbose=0), model.predict(x[:5], verbose=0))


def test_autologging_stops_with_the_run(store):
    x, y = _data()
    run = tracking.start_run("test_lesson", "tracked")
    _model().fit(x, y, epochs=1, verbose=0)
    run.end()
    _model().fit(x, y, epochs=1, verbose=0)  # after the run: not tracked
    runs = mlflow.search_runs(experiment_names=["test_lesson"], output_format="list")
    assert [r.info.run_name for r in runs] == ["tracked"]


def test_nested_runs_and_search(store):
    with tracking.start_run("test_lesson", "search", autolog=False) as parent:
        for units in (4, 8):
            with tracking.start_run(
                "test_lesson", f"trial {units}", params={"units": units}, nested=True
            ) as child:
                child.log_metrics({"val_rmse": 10.0 / units})
        assert parent.active
    runs = mlflow.search_runs(
        experiment_names=["test_lesson"],
        filter_string=f"tags.mlflow.parentRunId = '{parent.run_id}'",
        order_by=["metrics.val_rmse ASC"],
    )
    assert list(runs["params.units"]) == ["8", "4"]
    assert list(runs["metrics.val_rmse"]) == [1.25, 2.5]


def test_registered_model_alias_resolves_to_the_version(store):
    import keras

    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=1, verbose=0)
    with tracking.start_run("test_lesson", "v1", autolog=False) as run:
        info = run.log_model(model, registered_model_name="toy")
    client = mlflow.MlflowClient()
    client.set_registered_model_alias("toy", "champion", info.registered_model_version)
    path = tracking.local_model_path("models:/toy@champion", store.parent / "dl")
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(reloaded.predict(x[:3], verbose=0), model.predict(x[:3], verbose=0))
    with pytest.raises(RuntimeError, match="models:/toy@nobody"):
        tracking.local_model_path("models:/toy@nobody")
    with pytest.raises(ValueError, match="not an MLflow model URI"):
        tracking.local_model_path("build/model.keras")

    # without a folder: a temporary one, gone when the process that asked for it exits
    script = (
        "from labkit import tracking\n"
        "path = tracking.local_model_path('models:/toy@champion')\n"
        "assert path.is_file()\n"
        "print(next(p for p in path.parents if p.name.startswith('labkit-model-')))"
    )
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 0, child.stderr
    downloaded = Path(child.stdout.strip().splitlines()[-1])
    assert not downloaded.exists(), f"{downloaded} was left behind"


# --- stores that cannot be used: warn, train anyway --------------------------------------------


def _train_with_broken_store(uri, monkeypatch) -> tuple[tracking.Run, list, float]:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    x, y = _data()
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = tracking.start_run("test_lesson", "broken", params={"a": 1}, datasets=["mnist"])
        history = _model().fit(x, y, epochs=2, verbose=0)
        run.log_metrics({"x": 1.0})
        assert run.log_model(_model()) is None
        run.end()
    assert len(history.history["loss"]) == 2  # training ran
    tracking_warnings = [w for w in caught if issubclass(w.category, tracking.TrackingWarning)]
    return run, tracking_warnings, time.perf_counter() - start


def test_unreachable_server_warns_quickly_and_the_lesson_goes_on(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    run, caught, seconds = _train_with_broken_store(uri, monkeypatch)
    assert not run.active and run.run_id is None
    assert len(caught) == 1 and "tracking is off" in str(caught[0].message)
    assert uri in str(caught[0].message) and "MLFLOW_TRACKING_URI" in str(caught[0].message)
    assert seconds < 30  # no minutes of HTTP retries


def test_store_that_is_not_a_database_or_cannot_be_created(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "garbage.db").write_text("not a database")
    (tmp_path / "a_file").write_text("")
    for uri in (
        f"sqlite:///{tmp_path / 'garbage.db'}",
        f"sqlite:///{tmp_path / 'a_file' / 'mlruns.db'}",  # its folder cannot exist
        "bogus-scheme://nowhere",
    ):
        run, caught, _ = _train_with_broken_store(uri, monkeypatch)
        assert run.run_id is None, uri
        assert len(caught) == 1 and "tracking is off" in str(caught[0].message), uri


def test_read_only_store_warns(tmp_path, monkeypatch):
    folder = tmp_path / "readonly"
    folder.mkdir()
    uri = f"sqlite:///{folder / 'mlruns.db'}"
    # root may write anywhere, so the permission check is what is tested: make the folder
    # read-only and report it so, whoever runs the test
    folder.chmod(0o555)
    real_access = tracking.os.access
    monkeypatch.setattr(
        tracking.os,
        "access",
        lambda path, mode: False if Path(path) == folder else real_access(path, mode),
    )
    try:
        run, caught, _ = _train_with_broken_store(uri, monkeypatch)
    finally:
        folder.chmod(0o755)
    assert run.run_id is None
    assert len(caught) == 1 and "read-only" in str(caught[0].message)


def test_a_logging_failure_during_a_run_warns(store, monkeypatch):
    run = tracking.start_run("test_lesson", "flaky", autolog=False)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(mlflow, "log_metrics", broken)
    with pytest.warns(tracking.TrackingWarning, match="disk full"):
        run.log_metrics({"x": 1.0})
    run.end()
    assert mlflow.MlflowClient().get_run(run.run_id).info.status == "FINISHED"


# --- labkit serve models:/NAME@ALIAS -----------------------------------------------------------


@pytest.mark.slow  # an MLflow registry and a labkit serve process of its own
def test_labkit_serve_a_registered_model_by_alias(store, tmp_path):
    import requests

    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=2, verbose=0)
    with tracking.start_run("test_lesson", "served", autolog=False) as run:
        info = run.log_model(model, registered_model_name="toy")
    mlflow.MlflowClient().set_registered_model_alias(
        "toy", "champion", info.registered_model_version
    )
    port = _free_port()
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "labkit.cli", "serve", "--model", "models:/toy@champion"]
    command += ["--port", str(port), "--no-jit", "--output", "raw"]
    with open(log, "wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        url = f"http://127.0.0.1:{port}/v1/models/toy"  # the name comes from the URI
        while True:
            assert server.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        answer = requests.post(f"{url}:predict", json={"instances": x[:4].tolist()}, timeout=30)
        assert answer.status_code == 200, answer.text
        served = np.array(answer.json()["predictions"], dtype="float32").reshape(4, -1)
        np.testing.assert_allclose(served, model.predict(x[:4], verbose=0), atol=1e-5)
        assert "models:/toy@champion resolved to" in log.read_text()
    finally:
        server.terminate()
        server.wait(30)


def test_labkit_serve_explains_an_unknown_registered_model(store):
    result = subprocess.run(
        [sys.executable, "-m", "labkit.cli", "serve", "--model", "models:/nothing@champion"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "models:/nothing@champion" in result.stderr and "mlruns.db" in result.stderr


# --- the runner keeps smoke runs out of the learner's store ------------------------------------


def test_smoke_runs_track_into_the_output_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("import labkit\nfrom labkit import tracking"),
        nbformat.v4.new_code_cell("X = 1"),
        nbformat.v4.new_code_cell(
            "run = tracking.start_run('99_tiny', 'smoke', params={'x': X}, autolog=False)\n"
            "run.log_metrics({'y': 2.0})\nrun.end()\n"
            "labkit.record('tracked', float(run.run_id is not None))"
        ),
    ]
    notebook.cells[1].metadata["tags"] = ["parameters"]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, tmp_path / "99_tiny.ipynb")
    lesson = {"notebook": "99_tiny.ipynb", "title": "Tiny", "smoke": {"X": 3}, "bars": {}}
    lesson["bars"] = {"tracked": {"smoke": 1, "full": 1, "compare": "=="}}
    (tmp_path / "curriculum.yaml").write_text(yaml.safe_dump({"lessons": [lesson]}))
    out = tmp_path / "out"
    (result,) = runner.run(
        profile="smoke", out_dir=out, curriculum=tmp_path / "curriculum.yaml", log=lambda _: None
    )
    assert result.ok, result.error
    assert "MLFLOW_TRACKING_URI" not in os.environ  # restored after the run
    mlflow.set_tracking_uri(f"sqlite:///{out / 'mlruns.db'}")
    (logged,) = mlflow.search_runs(experiment_names=["99_tiny"], output_format="list")
    assert logged.data.params["x"] == "3" and logged.data.metrics["y"] == 2.0
