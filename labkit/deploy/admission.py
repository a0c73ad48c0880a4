"""What KServe's and Knative's admission would refuse in an InferenceService, offline:
:func:`kserve_mode` and :func:`kserve_problems`.

The API server's schema check of the InferenceService CRD is in :mod:`labkit.deploy.validation`;
this module holds the rules the admission webhooks add per deployment mode. Standard mode:
KServe's HPA metrics and targets (kserve ``pkg/apis/serving/v1beta1``
``validateScalingHPACompExtension``). Knative mode: Knative's pod-spec field masks and feature
flags (knative/serving ``pkg/apis/serving/fieldmask.go``, ``k8s_validation.go``, the defaults in
``config/core/configmaps/features.yaml``; https://knative.dev/docs/serving/configuration/feature-flags/)
and KServe's KPA metrics (``validateScalingKPACompExtension``). Deployment modes: kserve
``pkg/constants`` (``DeploymentModeType``, ``ParseDeploymentMode``).
"""

from __future__ import annotations

from labkit.deploy.manifests import KSERVE_MODE_ANNOTATION, KSERVE_MODES, _where

#: predictor fields that are KServe's own (ComponentExtensionSpec, model formats), not PodSpec's
KSERVE_COMPONENT_FIELDS = {
    "annotations", "autoScaling", "batcher", "canaryTrafficPercent", "containerConcurrency",
    "deploymentStrategy", "huggingface", "labels", "lightgbm", "logger", "maxReplicas",
    "minReplicas", "model", "name", "onnx", "paddle", "pmml", "pytorch", "scaleMetric",
    "scaleMetricType", "scaleTarget", "sklearn", "storageContainerName", "storageUris",
    "tensorflow", "timeout", "triton", "workerSpec", "xgboost",
}  # fmt: skip


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
