"""labkit's policy for workloads: :func:`policy_problems`.

What the project asks of every object beyond what the API server checks: CPU and memory
requests and limits, ``nvidia.com/gpu`` request equal to its limit with the GPU toleration,
no root, no privilege escalation, no mounted service-account token, the model server's
probes, selectors that match, PodDisruptionBudgets that allow a node drain, autoscalers that
target something, and (through :mod:`labkit.deploy.admission`) KServe's and Knative's rules.

Upstream: resource management (https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/),
extended resources and GPUs (https://kubernetes.io/docs/tasks/manage-gpus/scheduling-gpus/),
the restricted Pod Security Standard (https://kubernetes.io/docs/concepts/security/pod-security-standards/),
disruption budgets (https://kubernetes.io/docs/tasks/run-application/configure-pdb/).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from labkit.deploy.admission import kserve_mode, kserve_problems
from labkit.deploy.manifests import GPU, _pod_labels, _pod_spec, _where, served_model_name

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "InferenceService"}
SERVING_KINDS = {"Deployment", "InferenceService"}


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
