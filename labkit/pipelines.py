"""A Kubeflow Pipelines (v2) pipeline: data → train → evaluate → export → deploy.

The pipeline trains a curriculum lesson (default: lesson 08's sentiment model, the model
``labkit.serving`` serves), holds what it recorded to the lesson's bars in
``notebooks/curriculum.yaml`` and, only when every bar is met, exports the model and renders and
validates its Kubernetes deployment. Each step is a lightweight Python component of the KFP SDK
(https://www.kubeflow.org/docs/components/pipelines/user-guides/components/lightweight-python-components/):

1. :func:`fetch_data` — ``labkit.datasets.fetch`` every data set the lesson needs into the
   labkit cache (hash-checked) and writes a ``Dataset`` artifact: a JSON manifest (cache folder,
   files and bytes per data set). On a cluster the cache is a volume every step mounts; the
   data (aclImdb: 50,000 small files, 229 MB) is not copied through the artifact store.
2. :func:`train` — runs the lesson notebook with papermill and the given parameters (the
   lesson's own defaults when empty), its export path pointed into the ``Model`` artifact;
   outputs the executed notebook and the metrics the lesson recorded (``labkit.record``).
3. :func:`evaluate` — ``labkit.runner.check_bars`` against the lesson's bars for a profile;
   outputs ``True`` when every bar is met. The pipeline continues under ``dsl.If(passed)``.
4. :func:`export` — copies the model into the pipeline's model store (the output ``Model``
   artifact) with its SHA-256, size and metrics as metadata (and, if asked, into a folder).
5. :func:`deploy` — ``labkit.deploy.render`` + ``labkit.deploy.validate`` (the Kubernetes schemas
   of ``labkit.runtime.KUBERNETES_VERSION``, strict, and labkit's policy) of the serving manifests
   for the image; writes them as one multi-document YAML artifact.
   Applying them stays a deliberate step (``labkit deploy``).

The components run in the labkit learner image (``docker/learner.Dockerfile``: labkit, the
notebooks and the data registry), so they install nothing at run time
(``install_kfp_package=False``: the image needs ``kfp`` itself). Component functions import
what they use inside their body: KFP ships each function's source to its container.

Compile with ``python -m labkit.pipelines`` (writes ``k8s/pipelines/sentiment_pipeline.yaml``
of the project, :func:`committed_pipeline`, the file to upload in the Kubeflow Pipelines UI;
``--out FILE`` writes elsewhere, ``--check`` compares with the committed file); run on this
machine with :func:`run_locally` (``kfp.local``'s SubprocessRunner: every step a subprocess of
this Python, no cluster and no container engine).
"""

# No `from __future__ import annotations`: KFP reads the component signatures' real types.
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kfp import compiler, dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from labkit.files import atomic_path

PIPELINE_NAME = "labkit-sentiment"
# The learner image (docker/learner.Dockerfile); a placeholder name, like the README's.
IMAGE = "ghcr.io/labkit-org/labkit-learner:0.1.0"
# Where the learner image keeps the curriculum (its WORKDIR /opt/labkit).
IMAGE_NOTEBOOKS_DIR = "/opt/labkit/notebooks"
# The serving image (docker/serving.Dockerfile) the deployment runs.
SERVING_IMAGE = "ghcr.io/labkit-org/labkit-serving:0.1.0"

__all__ = [
    "IMAGE",
    "PIPELINE_NAME",
    "committed_pipeline",
    "compile_pipeline",
    "ir_differences",
    "deploy",
    "evaluate",
    "export",
    "fetch_data",
    "pipeline_tasks",
    "run_locally",
    "sentiment_pipeline",
    "train",
]


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def fetch_data(names: list, data: Output[Dataset]):
    """Fetch and verify data sets into the labkit cache; write a JSON manifest of them.

    Args:
        names: registry names (``datasets/registry.yaml``), e.g. ``["aclimdb"]``.
        data: output artifact: ``{"data_dir": ..., "datasets": {name: {"path", "files",
            "bytes"}}}`` as JSON.

    Raises:
        labkit.datasets.DataUnavailableError: offline without the file in cache or mirror.
    """
    import json
    import os

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
        notebook: file name in ``notebooks_dir``, e.g. ``"08_lstm_sentiment.ipynb"``.
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


@dsl.pipeline(
    name=PIPELINE_NAME,
    description=(
        "Train a labkit lesson with papermill, hold it to its curriculum bars, and only then "
        "export the model and render + validate its Kubernetes deployment."
    ),
)
def sentiment_pipeline(
    notebook: str = "08_lstm_sentiment.ipynb",
    notebooks_dir: str = IMAGE_NOTEBOOKS_DIR,
    datasets: list = ["aclimdb"],  # noqa: B006 (a pipeline default, compiled into the YAML)
    parameters: dict = {},  # noqa: B006 ({} = the notebook's full-size defaults)
    profile: str = "full",
    export_parameter: str = "EXPORT_PATH",
    model_name: str = "sentiment",
    version: str = "0.1.0",
    export_dir: str = "",
    image: str = SERVING_IMAGE,
    overlay: str = "cpu",
    replicas: int = 2,
    gpus: int = 1,
    namespace: str = "labkit",
):
    data_task = fetch_data(names=datasets).set_display_name("data")
    train_task = (
        train(
            notebook=notebook,
            notebooks_dir=notebooks_dir,
            parameters=parameters,
            export_parameter=export_parameter,
            data=data_task.outputs["data"],
        )
        .set_display_name("train")
        .set_cpu_request("2")
        .set_memory_request("4G")
        .set_memory_limit("8G")
    )
    eval_task = evaluate(
        notebook=notebook,
        notebooks_dir=notebooks_dir,
        profile=profile,
        metrics=train_task.outputs["Output"],
    ).set_display_name("evaluate")
    with dsl.If(eval_task.outputs["Output"] == True, name="meets-its-bars"):  # noqa: E712
        export_task = export(
            model=train_task.outputs["model"],
            metrics=train_task.outputs["Output"],
            model_name=model_name,
            version=version,
            export_dir=export_dir,
        ).set_display_name("export")
        deploy(
            image=image,
            overlay=overlay,
            replicas=replicas,
            gpus=gpus,
            namespace=namespace,
            model_name=model_name,
            model_sha256=export_task.outputs["Output"],
        ).set_display_name("deploy")


def committed_pipeline() -> Path:
    """The compiled pipeline committed in the project, ``k8s/pipelines/sentiment_pipeline.yaml``
    (found by :func:`labkit.paths.project_file`)."""
    from labkit import paths

    return paths.project_file(paths.PIPELINE_YAML)


def compile_pipeline(path: str | os.PathLike | None = None) -> Path:
    """Compile :func:`sentiment_pipeline` to KFP's IR YAML (the file the Kubeflow UI uploads).

    Written atomically (:func:`labkit.files.atomic_path`). See
    https://www.kubeflow.org/docs/components/pipelines/user-guides/core-functions/compile-a-pipeline/

    Args:
        path: the file to write (default: ``k8s/pipelines/sentiment_pipeline.yaml`` of the
            project folder, which must be a checkout: the copy inside an installed package is
            read-only).

    Returns:
        The path written.

    Raises:
        ValueError: no ``path`` and labkit runs from its installed package (no checkout).
    """
    from labkit import paths

    if path is None:
        project = paths.project()
        if project.packaged:
            raise ValueError(
                "labkit runs from its installed package, whose files are read-only: give the "
                "file to write (compile_pipeline(path), or python -m labkit.pipelines --out FILE)"
            )
        path = project.root / paths.PIPELINE_YAML
    path = Path(path)
    with atomic_path(path) as tmp:  # keeps the suffix: the compiler picks YAML by it
        compiler.Compiler().compile(sentiment_pipeline, package_path=str(tmp))
    return path


#: top-level IR fields that record which SDK compiled the file, not what the pipeline does
SDK_STAMPS = ("sdkVersion",)


def ir_differences(
    compiled: str | os.PathLike | Mapping[str, Any],
    committed: str | os.PathLike | Mapping[str, Any],
    limit: int = 10,
) -> list[str]:
    """Where two compiled pipelines differ, ignoring the SDK's version stamp (``sdkVersion``).

    A KFP patch release (2.17.0 → 2.17.3) rewrites ``sdkVersion: kfp-2.17.x`` and nothing else;
    that is no change to the pipeline, so it is not reported. Everything else is: tasks,
    components, executors (images, commands, the components' source), parameters.

    Args:
        compiled, committed: IR YAML files or their parsed documents.
        limit: report at most this many differences.

    Returns:
        One line per difference, ``"deploymentSpec.executors.exec-train.container.image:
        'a' != 'b'"``; empty when the pipelines are the same.
    """
    import yaml

    def load(spec):
        if isinstance(spec, Mapping):
            return dict(spec)
        return yaml.safe_load(Path(spec).read_text(encoding="utf-8")) or {}

    left, right = load(compiled), load(committed)
    for stamp in SDK_STAMPS:
        left.pop(stamp, None)
        right.pop(stamp, None)
    found: list[str] = []

    def walk(a: Any, b: Any, where: str) -> None:
        if len(found) >= limit:
            return
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            for key in sorted(set(a) | set(b), key=str):
                here = f"{where}.{key}" if where else str(key)
                if key not in a or key not in b:
                    found.append(f"{here}: only in the {'committed' if key in b else 'compiled'}")
                else:
                    walk(a[key], b[key], here)
                if len(found) >= limit:
                    return
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for index, (x, y) in enumerate(zip(a, b, strict=True)):
                walk(x, y, f"{where}[{index}]")
        elif a != b:
            found.append(f"{where or '(document)'}: {_short(a)} != {_short(b)}")

    walk(left, right, "")
    return found


def _short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def pipeline_tasks(spec: Mapping[str, Any]) -> dict[str, set[str]]:
    """Every task of a compiled pipeline (the parsed YAML) and the tasks it waits for directly.

    A condition (``dsl.If``) is a group, not a task: a task inside it that waits for nothing
    else in the group waits for what the group waits for (as the Kubeflow UI draws it).

    Args:
        spec: the compiled pipeline, e.g. ``yaml.safe_load(committed_pipeline().read_text())``.

    Returns:
        ``{task: {upstream task, ...}}``, e.g. ``{"train": {"fetch-data"}, ...}``.
    """
    components = spec["components"]
    graph: dict[str, set[str]] = {}

    def walk(tasks: Mapping[str, Any], group_upstream: set[str]) -> None:
        groups = {
            name: task
            for name, task in tasks.items()
            if "dag" in components.get(task["componentRef"]["name"], {})
        }
        for name, task in tasks.items():
            upstream = set(task.get("dependentTasks", [])) or group_upstream
            if name in groups:
                walk(components[task["componentRef"]["name"]]["dag"]["tasks"], upstream)
            else:
                graph[name] = upstream

    walk(spec["root"]["dag"]["tasks"], set())
    return graph


def run_locally(
    pipeline_root: str | os.PathLike,
    **arguments: Any,
) -> Path:
    """Run :func:`sentiment_pipeline` on this machine with ``kfp.local``'s SubprocessRunner.

    Each step runs as a subprocess of this Python (``use_venv=False``: no virtual environment,
    no ``pip install``; labkit, papermill and kfp must be importable here). Artifacts and
    outputs go under ``pipeline_root``. Docs:
    https://www.kubeflow.org/docs/components/pipelines/user-guides/core-functions/execute-kfp-pipelines-locally/

    Args:
        pipeline_root: a folder for the run's artifacts (created).
        **arguments: pipeline parameters, e.g. ``notebooks_dir=...``, ``parameters={...}``.

    Returns:
        The run's folder under ``pipeline_root`` (one sub-folder per task, holding its
        artifacts and ``executor_output.json``).

    Raises:
        RuntimeError: a task failed (kfp.local raises; the task's log says why).
    """
    from kfp import local

    root = Path(pipeline_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    before = set(root.iterdir())
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    sentiment_pipeline(**arguments)
    runs = sorted(set(root.iterdir()) - before, key=lambda p: p.stat().st_mtime)
    if not runs:
        raise RuntimeError(f"kfp.local wrote no run folder under {root}")
    return runs[-1]


def main(argv: list[str] | None = None) -> int:
    """``python -m labkit.pipelines [--out FILE] [--check]``: compile the pipeline.

    Without ``--out`` it rewrites the project's committed ``k8s/pipelines/sentiment_pipeline.yaml``.
    ``--check`` compiles into a temporary file and compares it with the committed one
    (:func:`ir_differences`): exit 1 with the differences when the pipeline changed.
    """
    import argparse
    import sys
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m labkit.pipelines", description=main.__doc__)
    parser.add_argument("--out", help="the file to write (default: the committed pipeline)")
    parser.add_argument(
        "--check", action="store_true", help="compare with the committed pipeline, write nothing"
    )
    args = parser.parse_args(argv)
    if not args.check:
        print(compile_pipeline(args.out))
        return 0
    with tempfile.TemporaryDirectory(prefix="labkit-pipeline-") as tmp:
        fresh = compile_pipeline(args.out or Path(tmp) / "pipeline.yaml")
        committed = committed_pipeline()
        differences = ir_differences(fresh, committed)
    if differences:
        print(
            f"{committed} is not what the source compiles to:\n  "
            + "\n  ".join(differences)
            + "\nRegenerate it with `python -m labkit.pipelines` and commit the result.",
            file=sys.stderr,
        )
        return 1
    print(f"{committed}: the source compiles to the same pipeline")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
