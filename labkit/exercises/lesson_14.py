"""Checks for the exercises of lesson 14 · Deploying a model on GPU Kubernetes.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from labkit.exercises import (
    Fail,
    _integer,
    _need,
    _register,
)
from labkit.exercises._shared import _scaled


@_register(
    "14.1",
    "Quota arithmetic",
    expects="an int: GPUs in use at the busiest moment of the rollout",
    verifies="your count of old and surge pods' GPUs",
    hint="count the pods that keep running plus the surge pods: Kubernetes rounds maxSurge "
    "up to whole pods and maxUnavailable down.",
)
def _check_14_1(answer: Any, **context: Any) -> None:
    gpus = _integer(answer, "the number of GPUs")
    _need(gpus != 4, "that is the count before or after the rollout, not during it.")
    _need(gpus == 4 + math.ceil(0.25 * 4), "that is not the number of GPUs at the peak.")


def _gpu_objects(answer: Any, what: str) -> list[dict]:
    if not isinstance(answer, (list, tuple)) or not all(isinstance(o, Mapping) for o in answer):
        raise Fail(f"expected {what} (a list of dicts), got {type(answer).__name__}.")
    _need(bool(answer), "the list is empty.")
    return json.loads(json.dumps(list(answer)))


def _validated(objects: list[dict]) -> None:
    from labkit import deploy

    try:
        deploy.validate(objects, "1.30")
    except deploy.ManifestError as error:
        raise Fail(f"the objects do not validate: {error.problems[0][:200]}") from None


@_register(
    "14.2",
    "Your own variant",
    expects="a list of dicts: the objects deploy.render returned",
    verifies="one valid KServe InferenceService named reviews in team-a that serves the model "
    "as reviews with 2 GPUs per pod",
    hint="deploy.render(overlay, image=..., gpus=..., namespace=..., model_name=...) with the "
    "overlay that wraps the server in KServe; look at spec.predictor.containers[0].resources.",
)
def _check_14_2(answer: Any, **context: Any) -> None:
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


@_register(
    "14.3",
    "Time-slicing",
    expects="an int: the pods the node can schedule",
    verifies="your count of schedulable nvidia.com/gpu units under time-slicing",
    hint="with time-slicing every physical GPU is advertised as `replicas` units of "
    "nvidia.com/gpu, and each pod takes one unit.",
)
def _check_14_3(answer: Any, **context: Any) -> None:
    pods = _integer(answer, "the number of pods")
    _need(pods != 2, "that counts physical GPUs; what does the node advertise?")
    _need(pods == 2 * 4, "that is not the number of units the node advertises.")


@_register(
    "14.4",
    "A rollout that fits the quota",
    expects="a list of dicts: the rendered GPU objects with your rolling-update strategy",
    verifies="the objects validate, and a rolling update of the GPU Deployment needs no extra "
    "GPU yet makes progress at every replica count the autoscaler allows, within a 4-GPU quota",
    hint="set spec.strategy of the Deployment to a RollingUpdate whose maxSurge gives 0 extra "
    "pods and whose maxUnavailable gives at least 1 pod; percentages are rounded (surge up, "
    "unavailable down), so check them at the autoscaler's minimum and maximum.",
)
def _check_14_4(answer: Any, **context: Any) -> str:
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
    counts = {int(dep["spec"].get("replicas", 1))}
    for hpa in hpas:
        counts |= {int(hpa["spec"].get("minReplicas", 1)), int(hpa["spec"]["maxReplicas"])}
    for replicas in sorted(counts):
        surge = _scaled(rolling.get("maxSurge"), replicas, round_up=True)
        unavailable = _scaled(rolling.get("maxUnavailable"), replicas, round_up=False)
        _need(surge == 0, f"with {replicas} replica(s) the rollout still adds {surge} pod(s).")
        _need(
            unavailable >= 1,
            f"with {replicas} replica(s) no pod may be replaced: the rollout cannot progress.",
        )
    peak = max(counts) * gpus
    _need(peak <= 4, f"at the autoscaler's maximum the Deployment needs {peak} GPUs.")
    return f"at most {peak} GPUs during a rollout"
