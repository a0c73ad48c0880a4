"""A Kubeflow Pipelines (v2) pipeline: data → train → evaluate → export → deploy.

The pipeline trains a curriculum lesson (default: lesson 09's sentiment model, the model
``labkit.serving`` serves), holds what it recorded to the lesson's bars in
``notebooks/curriculum.yaml`` and, only when every bar is met, exports the model and renders and
validates its Kubernetes deployment. Each step is a lightweight Python component of the KFP SDK
(https://www.kubeflow.org/docs/components/pipelines/user-guides/components/lightweight-python-components/):

1. :func:`fetch_data` — ``labkit.datasets.fetch`` every data set the lesson needs into the
   labkit cache (hash-checked) and writes a ``Dataset`` artifact: a JSON manifest (cache folder,
   files and bytes per data set). On a cluster the cache is on a volume that this step and
   ``train`` mount (the PersistentVolumeClaim ``data_volume`` at ``/labkit-data``, cache
   ``/labkit-data/cache``: ``kfp.kubernetes.mount_pvc``); the data (aclImdb: 50,000 small
   files, 229 MB) is not copied through the artifact store. The claim must exist in the run's
   namespace: ReadWriteMany, or ReadWriteOnce when both steps land on one node.
2. :func:`train` — runs the lesson notebook with papermill and the given parameters (the
   lesson's own defaults when empty), its export path pointed into the ``Model`` artifact;
   outputs the executed notebook and the metrics the lesson recorded (``labkit.record``).
   It asks for ``train_gpus`` NVIDIA GPUs (0: CPU only; GPU nodes' ``nvidia.com/gpu`` taint is
   tolerated) and is stopped after :data:`TRAIN_TIMEOUT_S` (``activeDeadlineSeconds``).
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

The images run as uid 1000: KFP v2's launcher writes to ``/gcs``, ``/minio`` and ``/s3``, which
works for a non-root user only on a Kubeflow Pipelines backend with kubeflow/pipelines#10857
(emptyDir mounts for those folders, 2024); use a backend released after it.

Compile with ``python -m labkit.pipelines`` (writes ``k8s/pipelines/sentiment_pipeline.yaml``
of the project, :func:`committed_pipeline`, the file to upload in the Kubeflow Pipelines UI;
``--out FILE`` writes elsewhere, ``--check`` compares with the committed file); run on this
machine with :func:`run_locally` (``kfp.local``'s SubprocessRunner: every step a subprocess of
this Python, no cluster and no container engine).

The package: :mod:`labkit.pipelines.components` (the five components and the images they run
in), :mod:`labkit.pipelines.ir` (differences between compiled pipelines, their task graph),
:mod:`labkit.pipelines.cli` (``python -m labkit.pipelines``). This module defines the pipeline,
compiles and runs it, and re-exports the others' names: ``pipelines.train``,
``pipelines.ir_differences``, ``pipelines.IMAGE``.
"""

# No `from __future__ import annotations`: KFP reads the pipeline signature's real types.
import os
from pathlib import Path
from typing import Any

from kfp import compiler, dsl, kubernetes

from labkit.files import atomic_path
from labkit.pipelines.cli import main  # noqa: F401 (python -m labkit.pipelines)
from labkit.pipelines.components import (
    DATA_DIR,
    DATA_MOUNT,
    IMAGE,
    IMAGE_NOTEBOOKS_DIR,
    SERVING_IMAGE,
    deploy,
    evaluate,
    export,
    fetch_data,
    train,
)
from labkit.pipelines.ir import (  # noqa: F401
    SDK_STAMPS,
    ir_differences,
    pipeline_tasks,
    read_pipeline,
)

PIPELINE_NAME = "labkit-sentiment"
#: seconds the train step may run before Kubernetes stops it (lesson 09's full profile took
#: 709-1,191 s on 2 CPU cores; a GPU is faster)
TRAIN_TIMEOUT_S = 4 * 3600

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
    "read_pipeline",
    "run_locally",
    "sentiment_pipeline",
    "train",
]


@dsl.pipeline(
    name=PIPELINE_NAME,
    description=(
        "Train a labkit lesson with papermill, hold it to its curriculum bars, and only then "
        "export the model and render + validate its Kubernetes deployment."
    ),
)
def sentiment_pipeline(
    notebook: str = "09_lstm_sentiment.ipynb",
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
    data_volume: str = "labkit-data",
    data_dir: str = DATA_DIR,
    train_gpus: int = 0,
):
    data_task = fetch_data(names=datasets, data_dir=data_dir).set_display_name("data")
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
        .set_accelerator_type("nvidia.com/gpu")
        .set_accelerator_limit(train_gpus)
    )
    # the data cache is a volume both steps mount (kfp.local ignores these settings)
    for task in (data_task, train_task):
        kubernetes.mount_pvc(task, pvc_name=data_volume, mount_path=DATA_MOUNT)
    kubernetes.add_toleration(train_task, key="nvidia.com/gpu", operator="Exists",
                              effect="NoSchedule")  # fmt: skip
    kubernetes.set_timeout(train_task, TRAIN_TIMEOUT_S)
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
        **arguments: pipeline parameters, e.g. ``notebooks_dir=...``, ``parameters={...}``
            (``data_dir`` defaults to ``""`` here: labkit's own data cache).

    Returns:
        The run's folder under ``pipeline_root`` (one sub-folder per task, holding its
        artifacts and ``executor_output.json``).

    Raises:
        RuntimeError: a task failed (kfp.local raises; the task's log says why).
    """
    from kfp import local

    arguments.setdefault("data_dir", "")  # labkit's own cache here, not the cluster's volume
    root = Path(pipeline_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    before = set(root.iterdir())
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    sentiment_pipeline(**arguments)
    runs = sorted(set(root.iterdir()) - before, key=lambda p: p.stat().st_mtime)
    if not runs:
        raise RuntimeError(f"kfp.local wrote no run folder under {root}")
    return runs[-1]
