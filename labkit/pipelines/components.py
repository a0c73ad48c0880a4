"""The five steps of :func:`labkit.pipelines.sentiment_pipeline`: KFP v2 lightweight components.

:func:`fetch_data` (data sets into the labkit cache, a JSON manifest), :func:`train` (the lesson
notebook under papermill), :func:`evaluate` (its recorded metrics against the lesson's bars),
:func:`export` (the model into the pipeline's model store, with its SHA-256) and :func:`deploy`
(the serving manifests, rendered and validated); :mod:`labkit.pipelines` describes each. Every
component runs in the labkit learner image (:data:`IMAGE`, ``install_kfp_package=False``: it
installs nothing at run time) and imports what it uses inside its body: KFP ships each
function's source to its container, where this module is not imported. So a change to a body
(docstring included) changes the compiled pipeline: regenerate it (``python -m
labkit.pipelines``). Source:
https://www.kubeflow.org/docs/components/pipelines/user-guides/components/lightweight-python-components/
"""

# No `from __future__ import annotations`: KFP reads the component signatures' real types.
from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

# The learner image (docker/learner.Dockerfile); a placeholder name, like the README's.
IMAGE = "ghcr.io/labkit-org/labkit-learner:0.1.0"
# Where the learner image keeps the curriculum (its WORKDIR /opt/labkit).
IMAGE_NOTEBOOKS_DIR = "/opt/labkit/notebooks"
# The serving image (docker/serving.Dockerfile) the deployment runs.
SERVING_IMAGE = "ghcr.io/labkit-org/labkit-serving:0.1.0"
# Where fetch-data and train mount the data volume (a PersistentVolumeClaim), and the cache on it.
DATA_MOUNT = "/labkit-data"
DATA_DIR = f"{DATA_MOUNT}/cache"

__all__ = [
    "DATA_DIR",
    "DATA_MOUNT",
    "IMAGE",
    "IMAGE_NOTEBOOKS_DIR",
    "SERVING_IMAGE",
    "deploy",
    "evaluate",
    "export",
    "fetch_data",
    "train",
]


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def fetch_data(names: list, data: Output[Dataset], data_dir: str = ""):
    """Fetch and verify data sets into the labkit cache; write a JSON manifest of them.

    Args:
        names: registry names (``datasets/registry.yaml``), e.g. ``["aclimdb"]``.
        data: output artifact: ``{"data_dir": ..., "datasets": {name: {"path", "files",
            "bytes"}}}`` as JSON.
        data_dir: the cache folder to fill (``LABKIT_DATA_DIR``): on a cluster a folder on the
            volume the train step also mounts; ``""`` (default): labkit's own (a local run).

    Raises:
        labkit.datasets.DataUnavailableError: offline without the file in cache or mirror.
    """
    import json
    import os

    if data_dir:
        os.environ["LABKIT_DATA_DIR"] = data_dir  # before labkit reads it
    from labkit import datasets

    if not names:
        raise ValueError("names is empty: give the registry names of the lesson's data sets")
    entries = {}
    for name in names:
        folder = datasets.fetch(name)
        files = [p for p in folder.rglob("*") if p.is_file()]
        entries[name] = {
            "path": str(folder),
            "files": len(files),
            "bytes": sum(p.stat().st_size for p in files),
        }
    manifest = {"data_dir": str(datasets.data_dir()), "datasets": entries}
    tmp = data.path + ".part"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
    os.replace(tmp, data.path)
    data.metadata["datasets"] = list(names)
    data.metadata["bytes"] = sum(e["bytes"] for e in entries.values())


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train(
    notebook: str,
    notebooks_dir: str,
    parameters: dict,
    export_parameter: str,
    data: Input[Dataset],
    executed: Output[dsl.Artifact],
    model: Output[Model],
    metrics: Output[Metrics],
) -> dict:
    """Run a lesson notebook with papermill; return the metrics it recorded.

    Args:
        notebook: file name in ``notebooks_dir``, e.g. ``"09_lstm_sentiment.ipynb"``.
        notebooks_dir: the curriculum folder (the notebook's working directory).
        parameters: papermill parameters (``{}``: the notebook's own full-size defaults);
            whole-number floats become int (a KFP dict holds numbers as doubles).
        export_parameter: the notebook parameter that names the exported model file; it is set
            to ``<model artifact>/model.keras``.
        data: the manifest from :func:`fetch_data`; its cache folder becomes
            ``LABKIT_DATA_DIR`` of the run.

    Returns:
        ``{metric: value}`` from the executed notebook (``labkit.record``), also logged to
        ``metrics`` (the Kubeflow UI shows and compares them).

    Raises:
        papermill.PapermillExecutionError: a cell raised (the message has its traceback).
        FileNotFoundError: the notebook, or the model it should have exported, is missing.
    """
    import json
    import os
    from pathlib import Path

    import nbformat
    import papermill

    from labkit.record import read_metrics
    from labkit.runtime import HEADLESS_ENV

    source = Path(notebooks_dir) / notebook
    if not source.is_file():
        raise FileNotFoundError(f"{source} does not exist: check notebook and notebooks_dir")
    manifest = json.loads(Path(data.path).read_text(encoding="utf-8"))
    os.environ["LABKIT_DATA_DIR"] = manifest["data_dir"]  # the kernel inherits the environment
    os.environ[HEADLESS_ENV] = "1"  # widgets and live plots draw once (no browser here)
    Path(model.path).mkdir(parents=True, exist_ok=True)
    model_file = Path(model.path) / "model.keras"
    # KFP passes a dict parameter as a protobuf Struct, whose numbers are all doubles: 300
    # arrives as 300.0. Whole numbers become int again (a float like 0.005 stays a float).
    values = {
        name: int(value) if isinstance(value, float) and value.is_integer() else value
        for name, value in parameters.items()
    }
    values[export_parameter] = str(model_file)
    print(f"papermill {source.name} with {values}", flush=True)
    papermill.execute_notebook(
        str(source),
        executed.path,
        parameters=values,
        cwd=str(source.parent),
        kernel_name="python3",
        progress_bar=False,
        log_output=False,
    )
    if not model_file.is_file():
        raise FileNotFoundError(f"{notebook} did not write {export_parameter} = {model_file}")
    recorded = read_metrics(nbformat.read(executed.path, as_version=4))
    for name, value in recorded.items():
        metrics.log_metric(name, value)
    model.metadata["framework"] = "keras"
    model.metadata["notebook"] = notebook
    return recorded


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate(
    notebook: str,
    notebooks_dir: str,
    profile: str,
    metrics: dict,
    report: Output[Metrics],
) -> bool:
    """Hold the recorded metrics to the lesson's bars in ``curriculum.yaml`` for a profile.

    Uses ``labkit.runner.check_bars`` (a bar whose metric was not recorded fails). Logs each
    metric and its bar to ``report``.

    Returns:
        True when every bar is met. The log has one line per bar, e.g.
        ``lstm_test_accuracy 0.702 >= 0.57 ok``. (One output, not a NamedTuple: kfp.local 2.17
        cannot resolve a ``dsl.If`` on a named output of a multi-output task: the condition
        reads as false and everything under it is skipped.)

    Raises:
        labkit.runner.CurriculumError: the notebook or profile is not in the curriculum.
        ValueError: the lesson has no bar for the profile (nothing to hold the model to).
    """
    import math
    from pathlib import Path

    from labkit import runner

    lesson = runner.find_lesson(notebook, Path(notebooks_dir) / "curriculum.yaml")
    if profile not in runner.PROFILES:
        raise runner.CurriculumError(f"profile {profile!r}: use one of {runner.PROFILES}")
    checks = runner.check_bars(lesson, metrics, profile)
    if not checks:
        raise ValueError(f"{notebook} has no {profile} bars: nothing to evaluate against")
    lines = []
    for check in checks:
        value = math.nan if check.value is None else float(check.value)
        report.log_metric(check.metric, value)
        report.log_metric(f"{check.metric}_bar", check.bar)
        lines.append(
            f"{check.metric} {value:.4g} {check.compare} {check.bar:g} "
            f"{'ok' if check.passed else 'MISSED'}"
        )
    passed = all(check.passed for check in checks)
    summary = "; ".join(lines)
    print(("PASSED: " if passed else "MISSED A BAR: ") + summary, flush=True)
    return passed


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def export(
    model: Input[Model],
    metrics: dict,
    model_name: str,
    version: str,
    export_dir: str,
    exported: Output[Model],
) -> str:
    """Publish the trained model: the pipeline's model store, and optionally a folder.

    Copies ``model.keras`` into the output ``Model`` artifact (on a cluster: the artifact store,
    e.g. MinIO or S3, under the run) with metadata: name, version, SHA-256, bytes and the
    metrics. With ``export_dir`` set it also writes ``<export_dir>/<model_name>-<version>.keras``
    (atomically: a temporary file, then ``os.replace``).

    Returns:
        The model file's SHA-256 (hex): the deployment is labelled with it.
    """
    import hashlib
    import os
    import shutil
    from pathlib import Path

    source = Path(model.path) / "model.keras"
    if not source.is_file():
        raise FileNotFoundError(f"no model.keras in the trained model artifact {model.path}")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    Path(exported.path).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, Path(exported.path) / "model.keras")
    exported.metadata.update(
        {
            "name": model_name,
            "version": version,
            "sha256": digest,
            "bytes": source.stat().st_size,
            "framework": "keras",
            **{f"metric_{k}": float(v) for k, v in metrics.items()},
        }
    )
    if export_dir:
        target = Path(export_dir) / f"{model_name}-{version}.keras"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".keras.part")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
        print(f"exported {target} ({digest[:12]})", flush=True)
    return digest


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def deploy(
    image: str,
    overlay: str,
    replicas: int,
    gpus: int,
    namespace: str,
    model_name: str,
    model_sha256: str,
    manifests: Output[dsl.Artifact],
) -> int:
    """Render and validate the serving manifests; write them as multi-document YAML.

    ``labkit.deploy.render(overlay, image=..., replicas=..., gpus=..., namespace=...,
    model_name=...)``, each object annotated with ``labkit/model-sha256``, then
    ``labkit.deploy.validate(objects)`` for :data:`labkit.runtime.KUBERNETES_VERSION`.

    Returns:
        The number of validated objects (e.g. Service, Deployment, PDB, HPA: 4).

    Raises:
        labkit.deploy.ManifestError: an object breaks the schema or the policy.
        ValueError: a bad image, count or name (the message says what fits).
    """
    import os

    import yaml

    from labkit import deploy as kube
    from labkit.runtime import KUBERNETES_VERSION

    objects = kube.render(
        overlay,
        image=image,
        replicas=replicas,
        gpus=gpus,
        namespace=namespace,
        model_name=model_name,
    )
    for obj in objects:
        obj.setdefault("metadata", {}).setdefault("annotations", {})["labkit/model-sha256"] = (
            model_sha256
        )
    kube.validate(objects, kubernetes_version=KUBERNETES_VERSION)
    tmp = manifests.path + ".part"
    with open(tmp, "w", encoding="utf-8") as f:
        yaml.safe_dump_all(objects, f, sort_keys=False)
    os.replace(tmp, manifests.path)
    kinds = [f"{o['kind']}/{o['metadata']['name']}" for o in objects]
    manifests.metadata["objects"] = kinds
    print(f"validated {len(objects)} objects: {', '.join(kinds)}", flush=True)
    return len(objects)
