"""Talking to a cluster: :func:`load_cluster`, :func:`apply`, :func:`wait_for_rollout`,
:func:`predict_through_service`, :func:`rollback` and :func:`delete`.

With the Kubernetes Python client (``kubernetes``) and a kubeconfig or an in-cluster service
account: server-side dry run of every object (``dryRun=All``), server-side apply (field manager
``labkit``), waiting for the rollout as ``kubectl rollout status`` does (an InferenceService:
its ``Ready`` condition), one prediction through the Service via the API server's service proxy
(no port-forward needed), ``kubectl rollout undo`` and ``kubectl delete -f``. Nothing here
renders or validates (:mod:`labkit.deploy.rendering`, :mod:`labkit.deploy.validation`):
:mod:`labkit.deploy.cli` calls them before :func:`apply`.

Upstream: server-side apply (https://kubernetes.io/docs/reference/using-api/server-side-apply/),
dry run (https://kubernetes.io/docs/reference/using-api/api-concepts/#dry-run), Deployment
rollout status and rollback (https://kubernetes.io/docs/concepts/workloads/controllers/deployment/),
the service proxy (https://kubernetes.io/docs/tasks/access-application-cluster/access-cluster-services/),
the Python client (https://github.com/kubernetes-client/python).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from labkit.deploy.manifests import (
    DEFAULT_MODEL_NAME,
    ClusterError,
    _pod_spec,
    _where,
    served_model_name,
)

FIELD_MANAGER = "labkit"
NOT_APPLIED = "rendered and validated, not applied"
_SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


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
