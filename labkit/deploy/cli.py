"""``labkit deploy``: :func:`run` (render, validate and — when a cluster is configured —
apply), and the command's :func:`add_arguments` and :func:`main` (:mod:`labkit.cli` calls them).

The top layer of :mod:`labkit.deploy`: it only wires :mod:`labkit.deploy.rendering`,
:mod:`labkit.deploy.validation` and :mod:`labkit.deploy.cluster` together. Without a cluster
(no kubeconfig, not in a pod) it says ``rendered and validated, not applied`` and succeeds.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from labkit.deploy.cluster import NOT_APPLIED, ApplyResult, ClusterError, apply, load_cluster
from labkit.deploy.manifests import DEFAULT_MODEL_NAME, ManifestError, _where
from labkit.deploy.rendering import GPU_NODES, OVERLAYS, render
from labkit.deploy.validation import validate
from labkit.files import atomic_write
from labkit.runtime import KUBERNETES_VERSION


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
    gpu_nodes: str = "gpu-operator",
    kubernetes_version: str = KUBERNETES_VERSION,
    timeout: float = 600.0,
    output: str | os.PathLike | None = None,
    apply_if_configured: bool = True,
    create_namespace: bool = False,
    log: Callable[[str], None] = print,
) -> RunResult:
    """Render, validate and — when a cluster is configured — apply (see :func:`apply`).

    Without a cluster (no kubeconfig, not in a pod) it logs a line ending in
    ``rendered and validated, not applied`` and returns with ``applied=False``.

    Args:
        overlay, image, replicas, gpus, namespace, model_name, gpu_nodes: see :func:`render`.
        kubernetes_version: for :func:`validate`.
        timeout: for :func:`apply`.
        output: also write the rendered YAML there (atomically), e.g. for ``kubectl apply -f``.
        create_namespace: create ``namespace`` if it does not exist (see :func:`apply`).
        apply_if_configured: False: never apply (render and validate only).

    Raises:
        ManifestError, ValueError: from :func:`render` / :func:`validate`.
        ClusterError: from :func:`apply`.
    """
    objects = render(overlay, image=image, replicas=replicas, gpus=gpus, namespace=namespace,
                     model_name=model_name, gpu_nodes=gpu_nodes)  # fmt: skip
    validate(objects, kubernetes_version)
    kinds = ", ".join(_where(o) for o in objects)
    log(f"rendered {len(objects)} objects ({kinds}); valid for Kubernetes "
        f"{kubernetes_version} and policy-clean")  # fmt: skip
    if output is not None:
        output = Path(output)
        with atomic_write(output) as file:
            yaml.safe_dump_all(objects, file, sort_keys=False)
        log(f"wrote {output}")
    api_client = load_cluster() if apply_if_configured else None
    if api_client is None:
        why = "no cluster configured (no kubeconfig, not in a pod)"
        if not apply_if_configured:
            why = "applying was not asked for"
        log(f"{why}: {NOT_APPLIED}.")
        return RunResult(objects, applied=False)
    result = apply(objects, namespace=namespace, timeout=timeout, api_client=api_client, log=log,
                   create_namespace=create_namespace)  # fmt: skip
    return RunResult(objects, applied=True, apply_result=result)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``labkit deploy`` options (see :func:`main`)."""
    parser.add_argument("--overlay", choices=sorted(OVERLAYS), default="cpu")
    parser.add_argument("--image", required=True, help="e.g. ghcr.io/org/labkit-serving:0.2.0")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--gpus", type=int, default=1, help="GPUs per pod (gpu, kserve)")
    parser.add_argument(
        "--namespace", default="labkit", help="an existing namespace you may deploy to"
    )
    parser.add_argument(
        "--create-namespace",
        action="store_true",
        help="create --namespace if it is missing (needs the cluster-wide right to)",
    )
    parser.add_argument("--model-name", default=DEFAULT_MODEL_NAME)
    parser.add_argument(
        "--gpu-nodes",
        choices=GPU_NODES,
        default="gpu-operator",
        help="how GPU pods find GPU nodes on your cluster (gpu, kserve; see deploy.render)",
    )
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
            gpu_nodes=args.gpu_nodes,
            kubernetes_version=args.kubernetes_version,
            timeout=args.timeout,
            output=args.output,
            apply_if_configured=not args.render_only,
            create_namespace=args.create_namespace,
        )
    except (ManifestError, ValueError, FileNotFoundError, ClusterError) as error:
        print(f"labkit deploy: {error}", file=sys.stderr)
        return 1
    return 0
