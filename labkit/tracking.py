"""Experiment tracking with MLflow: one run per training, its parameters, curves, data and model.

A lesson wraps a training in a run::

    from labkit import tracking

    run = tracking.start_run("06_mlp_mnist", run_name="main MLP",
                             params={"epochs": EPOCHS}, datasets=["mnist"])
    history = model.fit(...)           # MLflow's Keras autologging: fit/optimizer parameters
                                       # and every epoch's loss and metrics
    run.log_metrics({"test_accuracy": test_acc})
    run.log_model(model)               # the model as an MLflow Keras model (model.keras inside)
    run.end()

(or ``with tracking.start_run(...) as run:`` — the run ends with the block). Each lesson is an
MLflow *experiment* named after its notebook; each ``start_run`` a *run* in it.

Where runs go (the *tracking store*):

* ``$MLFLOW_TRACKING_URI`` when it is set — e.g. a team's tracking server
  ``http://mlflow.example.org:5000``; credentials come from the environment as MLflow reads them
  (``MLFLOW_TRACKING_TOKEN``, or ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``),
  never from the repository;
* otherwise an embedded store in the project folder: ``<project>/mlruns.db`` (SQLite) with the
  artifacts (models, summaries) in ``<project>/mlartifacts/``. No server is needed;
  ``make mlflow`` (``mlflow ui --backend-store-uri sqlite:///mlruns.db``) shows it in a browser.

``labkit run --profile smoke`` points ``MLFLOW_TRACKING_URI`` at its output folder
(``build/smoke/mlruns.db``) unless it is set, so test runs never fill a learner's store.

Tracking never stops a lesson: when the store is missing, read-only or unreachable, or MLflow
is not installed, :func:`start_run` warns (``TrackingWarning``) and returns a run that does
nothing, and training goes on; a failure while logging warns the same way.

Sources: MLflow tracking (https://mlflow.org/docs/latest/ml/tracking/), Keras autologging
(``mlflow.keras.autolog``), the Model Registry (https://mlflow.org/docs/latest/ml/model-registry/).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "TrackingWarning",
    "Run",
    "start_run",
    "tracking_uri",
    "project_root",
    "dataset_versions",
    "local_model_path",
    "is_model_uri",
]

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
STORE_FILE = "mlruns.db"
ARTIFACTS_DIR = "mlartifacts"
PROBE_TIMEOUT_S = 3.0  # how long a remote tracking server may take to answer /health
MODEL_URI_SCHEMES = ("models:/", "runs:/")


class TrackingWarning(UserWarning):
    """Tracking is off or a logging call failed; the lesson goes on without it."""


def _warn(message: str) -> None:
    warnings.warn(message, TrackingWarning, stacklevel=3)


# --------------------------------------------------------------------------------------------
# Where the store is


def project_root() -> Path:
    """The folder the local MLflow store goes in: the labkit project folder
    (:func:`labkit.paths.writable_root`: ``$LABKIT_HOME``, the checkout at or above the working
    directory, the checkout labkit is imported from), else the working directory."""
    from labkit import paths

    return paths.writable_root()


def tracking_uri() -> str:
    """The tracking URI runs go to: ``$MLFLOW_TRACKING_URI``, else
    ``sqlite:///<project>/mlruns.db`` (see :func:`project_root`)."""
    configured = os.environ.get(TRACKING_URI_ENV, "").strip()
    if configured:
        return configured
    return f"sqlite:///{project_root() / STORE_FILE}"


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a local ``sqlite:///`` URI, None for any other URI."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :]
    return Path(path if path.startswith("/") else path).expanduser()


def _artifact_location(uri: str, experiment: str) -> str | None:
    """Artifacts of a local SQLite store go beside the database (``mlartifacts/``), not into
    the working directory (MLflow's default ``./mlruns``). Other stores decide themselves."""
    db = _sqlite_path(uri)
    if db is None:
        return None
    return (db.resolve().parent / ARTIFACTS_DIR / experiment).as_uri()


def _check_store(uri: str) -> None:
    """Raise OSError/RuntimeError with a reason when the store cannot take runs (fast)."""
    db = _sqlite_path(uri)
    if db is not None:
        folder = db.resolve().parent
        folder.mkdir(parents=True, exist_ok=True)  # OSError when it cannot be created
        if not os.access(folder, os.W_OK) or (db.exists() and not os.access(db, os.W_OK)):
            raise OSError(f"{db if db.exists() else folder} is read-only")
        return
    if uri.startswith(("http://", "https://")):
        import requests

        try:
            response = requests.get(uri.rstrip("/") + "/health", timeout=PROBE_TIMEOUT_S)
        except requests.RequestException as error:
            raise RuntimeError(
                f"no tracking server answers at {uri} ({type(error).__name__})"
            ) from error
        if response.status_code >= 500:
            raise RuntimeError(f"the tracking server at {uri} answered HTTP {response.status_code}")


# --------------------------------------------------------------------------------------------
# Data set versions


def dataset_versions(names: Iterable[str]) -> dict[str, dict[str, str]]:
    """The version of each registry data set a lesson used: ``{name: {file: "sha256:<hex>"}}``.

    For every file of the data set (or of its alternate, whichever is in the cache) the
    registry's SHA-256; a folder entry gets the SHA-256 of its sorted member list
    (``members-sha256:``); a file the registry has no SHA-256 for gets the hash of the cached
    copy. Nothing is downloaded.

    Raises:
        KeyError: a name is not in ``datasets/registry.yaml`` (the message lists the known ones).
    """
    from labkit import datasets

    registry = datasets.registry()
    versions: dict[str, dict[str, str]] = {}
    for name in names:
        entry = registry[name]
        folder = datasets._cache_folder(entry)
        present = [f for f in (*entry.files, *entry.alternates) if (folder / f.name).exists()]
        chosen = present or list(entry.files)
        files: dict[str, str] = {}
        for item in chosen:
            if item.members is not None:
                listing = "".join(f"{h}  {p}\n" for p, h in sorted(item.members.items()))
                digest = hashlib.sha256(listing.encode()).hexdigest()
                files[item.name] = f"members-sha256:{digest}"
            elif item.sha256:
                files[item.name] = f"sha256:{item.sha256}"
            elif (folder / item.name).is_file():
                files[item.name] = f"sha256:{datasets.file_hash(folder / item.name)}"
            else:
                files[item.name] = f"md5:{item.md5}" if item.md5 else "unknown"
        versions[name] = files
    return versions


# --------------------------------------------------------------------------------------------
# Runs


def _pinned_requirements() -> list[str]:
    """pip requirements of a logged Keras model: the installed Keras and TensorFlow versions.
    Given explicitly, so MLflow does not infer them (that starts a second Python process)."""
    from importlib import metadata

    pins = []
    for package in ("keras", "tensorflow"):
        try:
            pins.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """Hide MLflow's INFO lines (database migrations, experiment creation) and the signature
    hint of log_model; warnings and errors still show."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class Run:
    """One MLflow run (or, when tracking is off, a run that logs nothing).

    Attributes:
        active: True while MLflow is recording this run.
        run_id: MLflow's run id (None when tracking is off).
        experiment: the experiment (lesson) name.
        uri: the tracking URI.
        reason: why tracking is off (None when it is on).
    """

    def __init__(self, experiment: str, uri: str, run_id: str | None, reason: str | None):
        self.experiment, self.uri, self.run_id, self.reason = experiment, uri, run_id, reason
        self.active = run_id is not None
        self._autolog = False

    def __repr__(self) -> str:
        if self.run_id is None:
            return f"<labkit Run: tracking off ({self.reason})>"
        state = "active" if self.active else "ended"
        return f"<labkit Run {self.run_id[:8]} in experiment {self.experiment!r} ({state})>"

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.end("FAILED" if exc_type is not None and exc_type is not KeyboardInterrupt else None)

    def _call(self, what: str, function, *args, **kwargs) -> Any:
        if not self.active:
            return None
        try:
            with _quiet_mlflow():
                return function(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - tracking must never break a lesson
            _warn(f"MLflow could not {what} ({type(error).__name__}: {error}); the lesson goes on.")
            return None

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log hyperparameters (values are stored as strings; ``None`` as ``"None"``)."""
        import mlflow

        self._call("log parameters", mlflow.log_params, dict(params), run_id=self.run_id)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log numbers, e.g. ``{"test_accuracy": 0.98}``; ``step`` for a series (an epoch)."""
        import mlflow

        values = {key: float(value) for key, value in metrics.items()}
        self._call("log metrics", mlflow.log_metrics, values, step=step, run_id=self.run_id)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Attach free-form labels (``{"stage": "baseline"}``)."""
        import mlflow

        client = mlflow.MlflowClient()
        for key, value in tags.items():
            self._call("set a tag", client.set_tag, self.run_id, key, str(value))

    def log_model(self, model, name: str = "model", registered_model_name: str | None = None):
        """Log a Keras model with MLflow's Keras flavor (the ``.keras`` file plus an ``MLmodel``
        description); with ``registered_model_name`` also register it in the Model Registry.

        Returns:
            MLflow's ``ModelInfo`` (``.model_uri``, ``.registered_model_version``), or None
            when tracking is off or logging failed.
        """
        import mlflow

        return self._call(
            "log the model",
            mlflow.keras.log_model,
            model,
            name=name,
            pip_requirements=_pinned_requirements(),
            registered_model_name=registered_model_name,
        )

    def end(self, status: str | None = None) -> None:
        """End the run (``FINISHED``, or ``status`` e.g. ``"FAILED"``) and stop autologging."""
        if not self.active:
            return
        import mlflow

        self.active = False
        active = mlflow.active_run()
        if active is not None and active.info.run_id == self.run_id:
            self._call_always("end the run", mlflow.end_run, status or "FINISHED")
        else:
            client = mlflow.MlflowClient()
            self._call_always("end the run", client.set_terminated, self.run_id, status)
        if self._autolog and mlflow.active_run() is None:  # a parent run keeps autologging
            self._call_always("stop autologging", mlflow.keras.autolog, disable=True)

    def _call_always(self, what: str, function, *args, **kwargs) -> None:
        try:
            with _quiet_mlflow():
                function(*args, **kwargs)
        except Exception as error:  # noqa: BLE001
            _warn(f"MLflow could not {what} ({type(error).__name__}: {error}).")


def start_run(
    experiment: str,
    run_name: str | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    datasets: Iterable[str] = (),
    tags: Mapping[str, Any] | None = None,
    autolog: bool = True,
    nested: bool = False,
) -> Run:
    """Start an MLflow run in the experiment ``experiment`` (use the lesson's notebook name).

    Args:
        experiment: experiment name, created on first use (for the embedded store its
            artifacts go to ``mlartifacts/<experiment>/`` beside the database).
        run_name: a readable name shown in the MLflow UI (default: MLflow picks one).
        params: hyperparameters to log, e.g. ``{"epochs": 10, "train_samples": 60000}``.
        datasets: registry names of the data the run trains on (``["mnist"]``): each is logged
            as an MLflow dataset input (name + a digest) and as tags
            ``data.<name>.<file> = sha256:<hex>`` (see :func:`dataset_versions`).
        tags: extra tags.
        autolog: turn on MLflow's Keras autologging (``mlflow.keras.autolog``) until the run
            ends: every ``fit`` logs its arguments, the optimizer's settings and each epoch's
            loss and metrics (``val_...`` too). Models are logged explicitly with
            :meth:`Run.log_model` (autologging them would infer pip requirements in a second
            Python process, seconds per fit).
        nested: start the run inside the active run (a child run, e.g. one per tuner trial).

    Returns:
        A :class:`Run`, also a context manager. When the store cannot be used (folder missing
        or read-only, server unreachable, MLflow not installed, an unknown URI scheme) it
        warns with a :class:`TrackingWarning` saying why and returns a run that does nothing.

    Raises:
        KeyError: a name in ``datasets`` is not in the data registry (a programming error,
            not a store problem).
    """
    versions = dataset_versions(datasets)  # bad registry names raise, tracking or not
    uri = tracking_uri()
    try:
        import mlflow
    except ImportError:
        _warn("MLflow is not installed (pip install mlflow); tracking is off for this run.")
        return Run(experiment, uri, None, "MLflow is not installed")
    try:
        _check_store(uri)
        with _quiet_mlflow():
            mlflow.set_tracking_uri(uri)
            client = mlflow.MlflowClient()
            found = client.get_experiment_by_name(experiment)
            if found is None:
                location = _artifact_location(uri, experiment)
                experiment_id = client.create_experiment(experiment, artifact_location=location)
            else:
                experiment_id = found.experiment_id
            active = mlflow.active_run()
            if active is not None and not nested:
                mlflow.end_run()  # a run left open by an earlier cell, e.g. one that failed
            all_tags = {
                f"data.{n}.{f}": v for n, files in versions.items() for f, v in files.items()
            }
            all_tags.update({k: str(v) for k, v in (tags or {}).items()})
            if versions:
                all_tags["datasets"] = ",".join(versions)
            run = mlflow.start_run(
                experiment_id=experiment_id, run_name=run_name, nested=nested, tags=all_tags
            )
    except Exception as error:  # noqa: BLE001 - any store problem: warn, train without tracking
        reason = f"{type(error).__name__}: {error}"
        _warn(
            f"Experiment tracking is off for this run: the MLflow store {uri} cannot be used "
            f"({reason}). The lesson goes on without it. Set {TRACKING_URI_ENV} to a writable "
            f"store (e.g. sqlite:///$HOME/mlruns.db) or a reachable server to track runs."
        )
        return Run(experiment, uri, None, reason)

    result = Run(experiment, uri, run.info.run_id, None)
    if params:
        result.log_params(params)
    if versions:
        result._call("log the data sets", _log_inputs, versions)
    if autolog:
        result._call(
            "turn on Keras autologging",
            mlflow.keras.autolog,
            log_models=False,
            log_datasets=False,
            log_model_signatures=False,
            silent=True,
        )
        result._autolog = True
    return result


def _log_inputs(versions: Mapping[str, Mapping[str, str]]) -> None:
    """One MLflow dataset input per registry data set: its name and a 16-hex digest of its
    file hashes (MLflow's digest field is short; the full hashes are the run's tags)."""
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset

    from labkit import datasets

    registry = datasets.registry()
    inputs = []
    for name, files in versions.items():
        digest = hashlib.sha256(
            "".join(f"{f}={v}\n" for f, v in sorted(files.items())).encode()
        ).hexdigest()[:16]
        url = next((f.url for f in registry[name].files if f.url), None) or "labkit-registry"
        source = _source(url)
        inputs.append(MetaDataset(source=source, name=name, digest=digest))
    for dataset in inputs:
        mlflow.log_input(dataset, context="training")


def _source(url: str):
    if url.startswith(("http://", "https://")):
        from mlflow.data.http_dataset_source import HTTPDatasetSource

        return HTTPDatasetSource(url)
    from mlflow.data.dataset_source_registry import resolve_dataset_source

    return resolve_dataset_source(url)


# --------------------------------------------------------------------------------------------
# Registered models


def is_model_uri(value: str) -> bool:
    """True for an MLflow model URI (``models:/NAME@ALIAS``, ``models:/NAME/VERSION``,
    ``runs:/RUN_ID/PATH``), False for a file path."""
    return str(value).startswith(MODEL_URI_SCHEMES)


def local_model_path(model_uri: str, dst_path: str | os.PathLike | None = None) -> Path:
    """Resolve an MLflow model URI to a local ``.keras`` file (downloading it if needed).

    ``models:/sentiment@champion`` is the registered model ``sentiment``'s version that carries
    the alias ``champion``; ``models:/sentiment/3`` a fixed version. The tracking store is
    :func:`tracking_uri` (``$MLFLOW_TRACKING_URI`` or the project's ``mlruns.db``).

    Args:
        model_uri: the URI.
        dst_path: folder to download into (default: a new temporary folder, removed when
            this Python process exits: MLflow's own default is never removed).

    Returns:
        Path of the model's ``.keras`` file (``data/model.keras`` in MLflow's Keras flavor).

    Raises:
        ValueError: not a model URI, or no ``.keras`` file in the model (e.g. not a Keras model).
        RuntimeError: MLflow cannot resolve it (no such model, version or alias; store
            unreachable); the message says which URI and store.
    """
    if not is_model_uri(model_uri):
        raise ValueError(
            f"{model_uri!r} is not an MLflow model URI; use models:/NAME@ALIAS, "
            "models:/NAME/VERSION or runs:/RUN_ID/model."
        )
    uri = tracking_uri()
    if dst_path is None:
        dst_path = tempfile.mkdtemp(prefix="labkit-model-")
        atexit.register(shutil.rmtree, dst_path, ignore_errors=True)
    try:
        import mlflow

        with _quiet_mlflow():
            mlflow.set_tracking_uri(uri)
            folder = mlflow.artifacts.download_artifacts(
                artifact_uri=model_uri, dst_path=str(dst_path)
            )
    except Exception as error:
        raise RuntimeError(
            f"MLflow could not resolve {model_uri} in the tracking store {uri}: "
            f"{type(error).__name__}: {error}. Check the name and alias (mlflow ui, or "
            f"MlflowClient().search_model_versions()) and {TRACKING_URI_ENV}."
        ) from error
    candidates = sorted(Path(folder).rglob("*.keras"))
    if not candidates:
        raise ValueError(
            f"{model_uri} (downloaded to {folder}) holds no .keras file: labkit serves Keras "
            "models logged with mlflow.keras.log_model (labkit.tracking.Run.log_model)."
        )
    return candidates[0]
