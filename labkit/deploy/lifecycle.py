"""After the apply: :func:`rollback` (what ``kubectl rollout undo`` does) and :func:`delete`
(``kubectl delete -f``), with the Kubernetes Python client.

Upstream: Deployment rollback
(https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#rolling-back-a-deployment),
cascading deletion (https://kubernetes.io/docs/concepts/architecture/garbage-collection/).
"""

from __future__ import annotations

from labkit.deploy.cluster import (
    _api_message,
    _dynamic,
    _in_namespace,
    load_cluster,
    wait_for_rollout,
)
from labkit.deploy.manifests import ClusterError, _where


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
