"""Checks for the exercises of lesson 16 · Deploying a model on GPU Kubernetes.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from labkit.exercises import (
    Fail,
    _callable,
    _integer,
    _need,
    _register,
)
from labkit.exercises._shared import _scaled
from labkit.runtime import KUBERNETES_VERSION


def _peak_reference(replicas: int, gpus_per_pod: int, max_surge: Any) -> int:
    return (replicas + _scaled(max_surge, replicas, round_up=True)) * gpus_per_pod


@_register(
    "16.1",
    "Quota arithmetic",
    expects="a function peak_gpus(replicas, gpus_per_pod, max_surge) -> int: GPUs in use at the "
    "busiest moment of a rolling update",
    verifies="your function counts the GPUs of the running and the surge pods for fresh random "
    "replica counts, GPUs per pod and maxSurge values (whole numbers and percentages)",
    hint="at the busiest moment every old pod still runs and every surge pod has been created; "
    "reread in section 9 how Kubernetes turns a percentage into whole pods (maxSurge and "
    "maxUnavailable are rounded in different directions).",
)
def _check_16_1(answer: Any, **context: Any) -> str:
    import numpy as np

    peak_gpus = _callable(answer, "a function peak_gpus(replicas, gpus_per_pod, max_surge)")
    rng = np.random.default_rng()  # fresh cases on every call
    surges = ["25%", "10%", "30%", "50%", "100%", 0, 1, 2]
    cases = [(4, 1, "25%")] + [
        (int(rng.integers(1, 13)), int(rng.integers(1, 5)), surges[int(rng.integers(len(surges)))])
        for _ in range(30)
    ]
    cases += [(3, 2, "10%"), (7, 1, "30%"), (5, 3, 0)]  # rounding up, and no surge at all
    for replicas, gpus, surge in cases:
        got = _integer(peak_gpus(replicas, gpus, surge), "the number of GPUs")
        _need(
            got == _peak_reference(replicas, gpus, surge),
            f"for {replicas} replica(s) with {gpus} GPU(s) each and maxSurge {surge!r} your "
            f"function says {got} GPUs, which is not the peak of the rollout.",
        )
    return f"{peak_gpus(4, 1, '25%')} GPUs for the lesson's 4 replicas"


def _gpu_objects(answer: Any, what: str) -> list[dict]:
    if not isinstance(answer, (list, tuple)) or not all(isinstance(o, Mapping) for o in answer):
        raise Fail(f"expected {what} (a list of dicts), got {type(answer).__name__}.")
    _need(bool(answer), "the list is empty.")
    return json.loads(json.dumps(list(answer)))


def _rendered(overlay: str, **settings: Any) -> list[dict] | None:
    """What deploy.render returns for these settings (None where kubectl is missing)."""
    from labkit import deploy

    try:
        return json.loads(json.dumps(deploy.render(overlay, **settings)))
    except FileNotFoundError:
        return None
    except (ValueError, deploy.ManifestError) as error:
        raise Fail(f"these settings cannot be rendered: {str(error)[:200]}") from None


def _without_strategy(objects: list[dict]) -> list[dict]:
    objects = json.loads(json.dumps(objects))
    for o in objects:
        if o.get("kind") == "Deployment":
            o["spec"].pop("strategy", None)
    return objects


def _validated(objects: list[dict]) -> None:
    from labkit import deploy

    try:
        deploy.validate(objects, KUBERNETES_VERSION)
    except deploy.ManifestError as error:
        raise Fail(f"the objects do not validate: {error.problems[0][:200]}") from None


@_register(
    "16.2",
    "Your own variant",
    expects="a list of dicts: the objects deploy.render returned",
    verifies="one valid KServe InferenceService named reviews in team-a that serves the model "
    "as reviews with 2 GPUs per pod",
    hint="deploy.render(overlay, image=..., gpus=..., namespace=..., model_name=...) with the "
    "overlay that wraps the server in KServe; look at spec.predictor.containers[0].resources.",
)
def _check_16_2(answer: Any, **context: Any) -> None:
    from labkit import deploy

    objects = _gpu_objects(answer, "the rendered objects")
    kinds = [o.get("kind") for o in objects]
    _need(kinds == ["InferenceService"], f"the objects are {kinds}, not one KServe service.")
    (isvc,) = objects
    _validated(objects)
    meta = isvc["metadata"]
    _need(meta.get("name") == "reviews", f"the service is named {meta.get('name')!r}.")
    _need(meta.get("namespace") == "team-a", f"the namespace is {meta.get('namespace')!r}.")
    container = isvc["spec"]["predictor"]["containers"][0]
    _need(
        deploy.served_model_name(container) == "reviews",
        "the server inside still serves the model under another name.",
    )
    resources = container["resources"]
    for kind in ("limits", "requests"):
        value = resources.get(kind, {}).get(deploy.GPU)
        if kind == "limits" or value is not None:
            _need(value is not None and int(value) == 2, f"the GPU {kind[:-1]} is {value}.")
    replicas = int(isvc["spec"]["predictor"].get("minReplicas", 1))
    rendered = _rendered(
        "kserve",
        image=container.get("image", ""),
        replicas=replicas,
        gpus=2,
        namespace="team-a",
        model_name="reviews",
    )
    _need(
        rendered is None or rendered == objects,
        "the objects differ from what deploy.render returns for these settings: render them "
        "rather than editing rendered objects by hand.",
    )


@_register(
    "16.3",
    "Time-slicing",
    expects="an int: the pods the node can schedule",
    verifies="your count of schedulable nvidia.com/gpu units under time-slicing",
    hint="time-slicing adds no hardware; it changes how many nvidia.com/gpu units the device "
    "plugin advertises for each physical GPU (section 6). How many units does each pod ask for?",
)
def _check_16_3(answer: Any, **context: Any) -> None:
    pods = _integer(answer, "the number of pods")
    _need(
        pods == 2 * 4,
        "that is not the number of pods the scheduler can place there; reread how time-slicing "
        "advertises a GPU (section 6).",
    )


#: exercise 16.4's namespace quota: the lesson's 4 GPUs plus one kept spare for rollouts
ROLLOUT_QUOTA_GPUS = 5


@_register(
    "16.4",
    "A rollout that keeps serving",
    expects="a list of dicts: the rendered GPU objects with your rolling-update strategy",
    verifies="the objects validate, and a rolling update of the GPU Deployment never takes a "
    "serving pod away before its replacement runs, makes progress, and stays within a "
    f"{ROLLOUT_QUOTA_GPUS}-GPU quota at every replica count from 1 to the autoscaler's maximum",
    hint="a RollingUpdate strategy has two knobs, maxSurge (extra pods, each with its GPUs) and "
    "maxUnavailable (pods that may be missing); percentages are rounded (surge up, unavailable "
    "down), so work out what yours give at one replica and at the autoscaler's maximum, and "
    "what the spare GPU of the quota allows.",
)
def _check_16_4(answer: Any, **context: Any) -> str:
    from labkit import deploy

    objects = _gpu_objects(answer, "the GPU objects")
    deployments = [o for o in objects if o.get("kind") == "Deployment"]
    _need(len(deployments) == 1, "expected the rendered objects with one Deployment.")
    (dep,) = deployments
    _validated(objects)
    container = dep["spec"]["template"]["spec"]["containers"][0]
    gpus = int(container.get("resources", {}).get("limits", {}).get(deploy.GPU, 0))
    _need(gpus >= 1, "the Deployment requests no GPU: render the gpu overlay.")
    strategy = dep["spec"].get("strategy") or {}
    _need(
        strategy.get("type", "RollingUpdate") == "RollingUpdate",
        "Recreate stops every pod first (downtime); keep a rolling update.",
    )
    rolling = strategy.get("rollingUpdate") or {}
    hpas = [o for o in objects if o.get("kind") == "HorizontalPodAutoscaler"]
    _need(
        len(hpas) == 1,
        "the HorizontalPodAutoscaler is missing: keep every rendered object, the strategy must "
        "hold at every replica count it may choose.",
    )
    rendered = _rendered(
        "gpu",
        image=container.get("image", ""),
        replicas=int(dep["spec"].get("replicas", 1)),
        gpus=gpus,
        namespace=dep["metadata"].get("namespace", "labkit"),
        model_name=deploy.served_model_name(container),
    )
    _need(
        rendered is None or _without_strategy(rendered) == _without_strategy(objects),
        "apart from the Deployment's spec.strategy your objects differ from the rendered ones "
        "(replicas, the autoscaler's bounds, ...): change only the strategy of a deep copy.",
    )
    # every count from one pod up to the autoscaler's maximum: its bounds can be changed later
    # (or rendered with another REPLICAS) without touching the strategy.
    # Kubernetes' defaults apply to a field left out: 25% each.
    largest = max(
        [int(dep["spec"].get("replicas", 1))] + [int(h["spec"]["maxReplicas"]) for h in hpas]
    )
    peak = 0
    for replicas in range(1, largest + 1):
        surge = _scaled(rolling.get("maxSurge", "25%"), replicas, round_up=True)
        unavailable = _scaled(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
        _need(
            unavailable == 0,
            f"with {replicas} replica(s) the rollout may stop {unavailable} serving pod(s) "
            "before their replacements run.",
        )
        _need(surge >= 1, f"with {replicas} replica(s) the rollout can never start a new pod.")
        peak = max(peak, (replicas + surge) * gpus)
    _need(
        peak <= ROLLOUT_QUOTA_GPUS,
        f"at its busiest the rollout needs {peak} GPUs, more than the quota's "
        f"{ROLLOUT_QUOTA_GPUS}: the extra pods are refused.",
    )
    return f"at most {peak} GPUs during a rollout, every replica serving"


#: exercise 16.5's goal: the node label of GKE's L4 GPU pools, and the GPUs per pod
GKE_ACCELERATOR = "cloud.google.com/gke-accelerator"
GKE_L4 = "nvidia-l4"
PATCHED_GPUS = 2
_KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_PATCH_FIELDS = ("patches", "patchesStrategicMerge", "patchesJson6902")


def _kustomize(folder: Any, restrict: bool = True) -> list[dict]:
    """``kubectl kustomize folder``, as deploy.render runs it, parsed (labkit.deploy.kustomize)."""
    from labkit import deploy

    try:
        return deploy.kustomize(folder, files_outside=not restrict)
    except (deploy.ManifestError, FileNotFoundError) as error:
        raise Fail(f"kubectl kustomize refused the folder: {str(error)[:200]}") from None


def _without_namespace(objects: list[dict]) -> list[dict]:
    objects = json.loads(json.dumps(objects))
    for o in objects:
        o.get("metadata", {}).pop("namespace", None)
    return objects


def _unpatched(folder: Any, kustomization: dict) -> list[dict]:
    """The learner's kustomization rendered without its patches (resources rebased)."""
    import os
    import tempfile
    from pathlib import Path

    import yaml

    bare = {k: v for k, v in kustomization.items() if k not in _PATCH_FIELDS}
    with tempfile.TemporaryDirectory(prefix="labkit-16-5-") as tmp:
        bare["resources"] = [
            r if "://" in str(r) else os.path.relpath(Path(folder, r).resolve(), tmp)
            for r in kustomization.get("resources") or []
        ]
        (Path(tmp) / "kustomization.yaml").write_text(yaml.safe_dump(bare, sort_keys=False))
        return _kustomize(tmp, restrict=False)


@_register(
    "16.5",
    "Your own patch",
    expects="a folder (a str or Path): your kustomization folder, with kustomization.yaml and "
    "your patch file",
    verifies="kubectl kustomize renders the folder, the objects validate, the rendering without "
    "your patches is the gpu overlay, and your patches give the server 2 GPUs per pod (request "
    "and limit) on GKE nodes labelled cloud.google.com/gke-accelerator: nvidia-l4 only, and "
    "change nothing else",
    hint="resources: the gpu overlay (a relative path from your folder); patches: your patch "
    "file. A strategic-merge patch merges maps and lists by name, so look at what the rendered "
    "nodeSelector and resources hold afterwards (section 4 printed them), not only at your "
    "patch.",
)
def _check_16_5(answer: Any, **context: Any) -> str:
    import os
    from pathlib import Path

    import yaml

    from labkit import deploy, paths

    if isinstance(answer, bool) or not isinstance(answer, (str, os.PathLike)):
        raise Fail(f"expected a folder (a str or Path), got {type(answer).__name__}.")
    folder = Path(answer)
    names = [folder / name for name in _KUSTOMIZATION_NAMES if (folder / name).is_file()]
    _need(bool(names), f"{folder} has no kustomization.yaml: write one into the folder.")
    try:
        kustomization = yaml.safe_load(names[0].read_text()) or {}
    except yaml.YAMLError as error:
        raise Fail(f"kustomization.yaml is not valid YAML: {str(error)[:150]}") from None
    _need(isinstance(kustomization, dict), "kustomization.yaml must hold a mapping.")
    _need(
        any(kustomization.get(field) for field in _PATCH_FIELDS),
        "your kustomization has no patches: the exercise is to change the overlay with a patch.",
    )
    objects = _kustomize(folder)
    _validated(objects)
    overlay = paths.project_file(paths.K8S_SERVING, "overlays", "gpu")
    reference = _without_namespace(_kustomize(overlay))
    _need(
        _without_namespace(_unpatched(folder, kustomization)) == reference,
        "without its patches your kustomization does not render the gpu overlay: point "
        "resources at k8s/serving/overlays/gpu (or a copy) and change it only with patches.",
    )
    deployments = [o for o in objects if o.get("kind") == "Deployment"]
    _need(len(deployments) == 1, "expected one Deployment among the rendered objects.")
    pod = deployments[0]["spec"]["template"]["spec"]
    selector = pod.get("nodeSelector") or {}
    _need(
        selector.get(GKE_ACCELERATOR) == GKE_L4,
        f"the pods' nodeSelector is {selector}: it does not pick GKE's L4 nodes.",
    )
    _need(
        len(selector) == 1,
        f"the pods' nodeSelector is {selector}: GKE's nodes carry only their own label, so "
        "every other label keeps the pods Pending. Your patch must take it away, too.",
    )
    resources = pod["containers"][0].get("resources", {})
    for part in ("requests", "limits"):
        value = resources.get(part, {}).get(deploy.GPU)
        _need(
            value is not None and str(value) == str(PATCHED_GPUS),
            f"the server's GPU {part[:-1]} is {value}, not the goal's.",
        )
    expected = json.loads(json.dumps(reference))
    wanted = next(o for o in expected if o.get("kind") == "Deployment")["spec"]["template"]
    wanted["spec"]["nodeSelector"] = {GKE_ACCELERATOR: GKE_L4}
    for part in ("requests", "limits"):
        wanted["spec"]["containers"][0]["resources"][part][deploy.GPU] = PATCHED_GPUS
    got = _without_namespace(objects)
    for o in got:
        if o.get("kind") == "Deployment":
            limits = o["spec"]["template"]["spec"]["containers"][0]["resources"]
            for part in ("requests", "limits"):
                limits[part][deploy.GPU] = int(limits[part][deploy.GPU])
    _need(
        got == expected,
        "apart from the GPUs and the node selector your patches change other fields too: "
        "keep to the goal.",
    )
    return f"{len(objects)} objects, valid, {PATCHED_GPUS} GPUs per pod on L4 nodes"
