"""``labkit deploy``: :func:`run` (render, validate and — when a cluster is configured —
apply), and the command's :func:`add_arguments` and :func:`main` (:mod:`labkit.cli` calls them).

The top layer of :mod:`labkit.deploy`: it only wires :mod:`labkit.deploy.rendering`,
:mod:`labkit.deploy.validation` and :mod:`labkit.deploy.cluster` together. Without a cluster
(no kubeconfig, not in a pod) it says ``rendered and validated, not applied`` and succeeds.
``--rollback`` and ``--delete`` act on what a deploy applied, through
:mod:`labkit.deploy.lifecycle`.
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
from labkit.deploy.lifecycle import delete, rollback
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
    parser.add_argument(
        "--image",
        help="e.g. ghcr.io/org/labkit-serving:0.2.0 (--rollback, --delete: not needed)",
    )
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
    after = parser.add_mutually_exclusive_group()
    after.add_argument(
        "--rollback",
        action="store_true",
        help="roll the overlay's Deployment back to its previous revision (kubectl rollout undo)",
    )
    parser.add_argument(
        "--to-revision", type=int, help="with --rollback: this revision instead of the previous"
    )
    after.add_argument(
        "--delete", action="store_true", help="delete what the overlay applies (kubectl delete -f)"
    )


# names only: what --rollback and --delete render to find the objects (the image is not read)
_ANY_IMAGE = "labkit-serving:any"


def after_deploy(args: argparse.Namespace, *, log: Callable[[str], None] = print) -> None:
    """``labkit deploy --rollback`` / ``--delete``: act on the objects the overlay renders.

    The overlay, ``--namespace`` and ``--model-name`` name the objects, as they did for the
    deploy (the image is not needed). ``--rollback`` rolls the overlay's Deployment back to its
    previous revision, or ``--to-revision``, and waits for the rollout
    (:func:`labkit.deploy.lifecycle.rollback`); ``--delete`` deletes the objects, already gone
    being fine (:func:`labkit.deploy.lifecycle.delete`).

    Raises:
        ClusterError: no cluster configured; the kserve overlay with ``--rollback`` (an
            InferenceService keeps no revisions to go back to); what the API server refused.
    """
    objects = render(args.overlay, image=args.image or _ANY_IMAGE, namespace=args.namespace,
                     model_name=args.model_name, gpu_nodes=args.gpu_nodes)  # fmt: skip
    api_client = load_cluster()
    if api_client is None:
        raise ClusterError("no cluster configured (no kubeconfig, not in a pod): nothing to do")
    if args.delete:
        deleted = delete(objects, namespace=args.namespace, api_client=api_client)
        for name in deleted:
            log(f"{'deleted':>10}: {name}")
        if not deleted:
            log(f"nothing to delete in namespace {args.namespace}")
        return
    deployments = [o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"]
    if not deployments:
        raise ClusterError(
            f"--rollback: the {args.overlay} overlay has no Deployment (an InferenceService keeps "
            "no revisions to go back to): deploy the previous image again with --image"
        )
    for name in deployments:
        revision = rollback(name, namespace=args.namespace, to_revision=args.to_revision,
                            api_client=api_client, timeout=args.timeout)  # fmt: skip
        log(f"{'rolled back':>10}: Deployment {args.namespace}/{name} to revision {revision}")


def main(args: argparse.Namespace) -> int:
    """``labkit deploy``: 0 when rendered and validated (and applied, if a cluster is set up).

    With ``--rollback`` or ``--delete``: 0 when done (see :func:`after_deploy`). 1: an error
    (its message on stderr); 2: the options do not fit together.
    """
    if args.to_revision is not None and not args.rollback:
        print("labkit deploy: --to-revision goes with --rollback", file=sys.stderr)
        return 2
    if args.rollback or args.delete:
        try:
            after_deploy(args)
        except (ManifestError, ValueError, ClusterError) as error:
            print(f"labkit deploy: {error}", file=sys.stderr)
            return 1
        return 0
    if not args.image:
        print(
            "labkit deploy: --image is needed to deploy, e.g. --image "
            "ghcr.io/org/labkit-serving:0.2.0 (the serving image you built and pushed)",
            file=sys.stderr,
        )
        return 2
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
