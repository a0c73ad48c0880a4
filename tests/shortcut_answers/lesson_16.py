"""Shortcut answers for lesson 16's checks (deploying on GPU Kubernetes): each must FAIL."""

from __future__ import annotations

import copy
import math
import os
import tempfile
from pathlib import Path

import yaml

from shortcut_answers import Shortcut

IMAGE = "ghcr.io/labkit-org/labkit-serving-gpu:0.1.0"
GPU_OVERLAY = Path(__file__).resolve().parents[2] / "k8s" / "serving" / "overlays" / "gpu"


def _render(overlay, **settings):
    from labkit import deploy

    return deploy.render(overlay, image=IMAGE, **settings)


def _kserve(gpus=2, model_name="reviews"):
    return _render("kserve", gpus=gpus, namespace="team-a", model_name=model_name)


def _renamed_by_hand():
    # the default variant, renamed and moved by hand: the server inside still serves "sentiment"
    objects = _render("kserve", gpus=2)
    objects[0]["metadata"].update(name="reviews", namespace="team-a")
    return objects


def _gpu_objects(replicas=1):
    return _render("gpu", replicas=replicas, gpus=1, namespace="labkit")


def _deployment(objects):
    return next(o for o in objects if o["kind"] == "Deployment")


def _with_strategy(objects, strategy):
    objects = copy.deepcopy(objects)
    _deployment(objects)["spec"]["strategy"] = strategy
    return objects


def _without_strategy():
    objects = _gpu_objects()
    _deployment(objects)["spec"].pop("strategy", None)
    return objects


def _recreate():
    return _with_strategy(_gpu_objects(), {"type": "Recreate"})


def _rendered_unchanged():
    # the overlay's own strategy: no extra GPU, but a serving pod goes before its replacement runs
    return _gpu_objects()


def _surge_too_large():
    # never a pod down, but 4 old + 2 surge pods need 6 GPUs at the autoscaler's maximum
    return _with_strategy(
        _gpu_objects(),
        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2, "maxUnavailable": 0}},
    )


def _surge_without_the_autoscaler():
    # the right knobs for 4 replicas, but the autoscaler (which decides the count) is thrown away
    objects = _with_strategy(
        _gpu_objects(replicas=4),
        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 0}},
    )
    return [o for o in objects if o["kind"] != "HorizontalPodAutoscaler"]


def _autoscaler_capped():
    # the autoscaler's maximum lowered so that a surge of 2 happens to fit 5 GPUs
    objects = _with_strategy(
        _gpu_objects(),
        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2, "maxUnavailable": 0}},
    )
    hpa = next(o for o in objects if o["kind"] == "HorizontalPodAutoscaler")
    hpa["spec"]["maxReplicas"] = 3
    return objects


def kustomization_folder(patch=None, resources=None, files=None):
    """A kustomization folder in a fresh temporary folder: the gpu overlay (or ``resources``),
    ``patch`` (a strategic-merge patch, text) as patch.yaml, and ``files`` {name: text}."""
    folder = Path(tempfile.mkdtemp(prefix="shortcut_16_5_"))
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources or [os.path.relpath(GPU_OVERLAY, folder)],
    }
    if patch is not None:
        (folder / "patch.yaml").write_text(patch)
        kustomization["patches"] = [{"path": "patch.yaml"}]
    for name, text in (files or {}).items():
        (folder / name).write_text(text)
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return folder


def gke_label_merged():
    """The goal's fields in a strategic-merge patch, which *adds* GKE's label to the overlay's
    nodeSelector: the GPU Operator's label stays, and GKE's nodes do not carry it."""
    return kustomization_folder(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: sentiment}\n"
        "spec:\n  template:\n    spec:\n"
        "      nodeSelector: {cloud.google.com/gke-accelerator: nvidia-l4}\n"
        "      containers:\n        - name: server\n"
        "          resources:\n"
        "            requests: {nvidia.com/gpu: 2}\n            limits: {nvidia.com/gpu: 2}\n"
    )


def _finished_manifest():
    # the goal rendered by deploy.render and saved as the folder's resource, with a no-op patch
    objects = _render("gpu", gpus=2, gpu_nodes="gke")
    noop = "- {op: replace, path: /spec/minReplicas, value: 1}\n"
    folder = kustomization_folder(
        resources=["final.yaml"], files={"final.yaml": yaml.safe_dump_all(objects), "p.yaml": noop}
    )
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    kustomization["patches"] = [{"path": "p.yaml", "target": {"kind": "HorizontalPodAutoscaler"}}]
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return folder


_FORBIDDEN_14_5 = (": null", "$patch", "op: remove", "gpu.present: null")

_FORBIDDEN_14_4 = (
    "maxSurge: 1",
    "'maxSurge': 1",
    "maxUnavailable: 0",
    "'maxUnavailable': 0",
)

SHORTCUTS = {
    "16.1": [
        Shortcut(
            "the lesson's peak, typed in",
            lambda: (lambda replicas, gpus_per_pod, max_surge: 5, {}),
            ("ceil(", "= 5"),
        ),
        Shortcut(
            "the surge not rounded up",
            lambda: (
                lambda replicas, gpus_per_pod, max_surge: (
                    int(
                        (replicas + int(float(str(max_surge).rstrip("%")) / 100 * replicas))
                        * gpus_per_pod
                    )
                    if str(max_surge).endswith("%")
                    else (replicas + int(max_surge)) * gpus_per_pod
                ),
                {},
            ),
            ("ceil(",),
        ),
        Shortcut(
            "one GPU per pod, whatever the pods ask for",
            lambda: (
                lambda replicas, gpus_per_pod, max_surge: (
                    replicas
                    + (
                        math.ceil(float(max_surge[:-1]) / 100 * replicas)
                        if isinstance(max_surge, str)
                        else int(max_surge)
                    )
                ),
                {},
            ),
            ("ceil(",),
        ),
        Shortcut(
            "the GPUs before the rollout (no surge pod)",
            lambda: (lambda replicas, gpus_per_pod, max_surge: replicas * gpus_per_pod, {}),
            ("ceil(",),
        ),
    ],
    "16.2": [
        Shortcut("the GPU Deployment instead of KServe", lambda: (_gpu_objects(), {}), ()),
        Shortcut("KServe with one GPU", lambda: (_kserve(gpus=1), {}), ()),
        Shortcut("the default variant renamed by hand", lambda: (_renamed_by_hand(), {}), ()),
    ],
    "16.3": [
        Shortcut("the physical GPUs", lambda: (2, {}), ("8 pods", "= 8", "2 * 4")),
        Shortcut("the time-slicing replicas alone", lambda: (4, {}), ("8 pods", "= 8", "2 * 4")),
        Shortcut("GPUs plus replicas", lambda: (6, {}), ("8 pods", "= 8", "2 * 4")),
    ],
    "16.4": [
        Shortcut(
            "the overlay's strategy, unchanged",
            lambda: (_rendered_unchanged(), {}),
            _FORBIDDEN_14_4,
        ),
        Shortcut(
            "Kubernetes' default strategy (none set)",
            lambda: (_without_strategy(), {}),
            _FORBIDDEN_14_4,
        ),
        Shortcut("Recreate (downtime)", lambda: (_recreate(), {}), _FORBIDDEN_14_4),
        Shortcut("a surge of two pods", lambda: (_surge_too_large(), {}), _FORBIDDEN_14_4),
        Shortcut(
            "a surge, with the autoscaler removed",
            lambda: (_surge_without_the_autoscaler(), {}),
            _FORBIDDEN_14_4,
        ),
        Shortcut(
            "a surge of two, with the autoscaler capped at 3 replicas",
            lambda: (_autoscaler_capped(), {}),
            _FORBIDDEN_14_4,
        ),
    ],
    "16.5": [
        Shortcut(
            "the overlay unchanged (no patch)",
            lambda: (kustomization_folder(), {}),
            _FORBIDDEN_14_5,
        ),
        Shortcut(
            "the finished manifest as the resource, and a patch that changes nothing",
            lambda: (_finished_manifest(), {}),
            _FORBIDDEN_14_5,
        ),
        Shortcut(
            "the rendered objects instead of a folder",
            lambda: (_render("gpu", gpus=2, gpu_nodes="gke"), {}),
            _FORBIDDEN_14_5,
        ),
    ],
}
