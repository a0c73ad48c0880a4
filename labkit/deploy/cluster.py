"""Talking to a cluster: :func:`load_cluster`, :func:`apply`, :func:`wait_for_rollout` and
:func:`predict_through_service` (:mod:`labkit.deploy.lifecycle` rolls back and deletes).

With the Kubernetes Python client (``kubernetes``) and a kubeconfig or an in-cluster service
account: server-side dry run of every object (``dryRun=All``), server-side apply (field manager
``labkit``; a Deployment an autoscaler scales is applied without ``spec.replicas``), waiting for
the rollout as ``kubectl rollout status`` does (an InferenceService: its ``Ready`` condition for
the current generation), one prediction through the Service via the API server's service proxy
(no port-forward needed). Nothing here
renders or validates (:mod:`labkit.deploy.rendering`, :mod:`labkit.deploy.validation`):
:mod:`labkit.deploy.cli` calls them before :func:`apply`.

Everything works with rights in one namespace only (a Role, as a learner on a shared cluster
has): the Namespace is created only when asked, and a refusal names the right that is missing.

Upstream: server-side apply and its transfer of ``spec.replicas`` to an autoscaler
(https://kubernetes.io/docs/reference/using-api/server-side-apply/#transferring-ownership),
RBAC (https://kubernetes.io/docs/reference/access-authn-authz/rbac/),
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
#: the field manager that keeps ``spec.replicas`` when labkit hands it to an autoscaler
HANDOVER_MANAGER = "labkit-handover-to-hpa"
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


def _status(error: Exception) -> int | None:
    return getattr(error, "status", None)


def _refusal(step: str, obj: dict, error: Exception) -> ClusterError:
    """A refused request as a ClusterError that says what to do (403: which right)."""
    message = _api_message(error)
    where = _where(obj)
    if _status(error) == 403:
        namespace = obj.get("metadata", {}).get("namespace")
        plural = _plural(obj)
        scope = f"in the namespace {namespace}" if namespace else "cluster-wide"
        check = f"kubectl auth can-i patch {plural}" + (f" -n {namespace}" if namespace else "")
        return ClusterError(
            f"{step} of {where} was forbidden: {message}. Your account needs the verbs get and "
            f"patch on {plural} {scope} (check: {check}); ask the cluster's administrator for "
            "a Role with them."
        )
    if _status(error) == 404 and "namespaces" in message and "not found" in message:
        namespace = obj.get("metadata", {}).get("namespace")
        return ClusterError(
            f"{step} of {where} refused: the namespace {namespace} does not exist. Use a "
            "namespace you were given, or create it (labkit deploy --create-namespace; that "
            "needs the right to create namespaces)."
        )
    return ClusterError(f"{step} of {where} refused: {message}")


def _plural(obj: dict) -> str:
    """``deployments.apps``-style resource name for messages (kind -> lower-case plural)."""
    kind = obj.get("kind", "")
    plural = kind.lower() + ("es" if kind.endswith("s") else "s")
    if kind == "HorizontalPodAutoscaler":
        plural = "horizontalpodautoscalers"
    group = obj.get("apiVersion", "v1").rpartition("/")[0]
    return f"{plural}.{group}" if group else plural


def autoscaled(objects: Sequence[dict]) -> set[tuple[str, str]]:
    """``(kind, name)`` of every object a HorizontalPodAutoscaler among ``objects`` scales."""
    return {
        (hpa["spec"]["scaleTargetRef"]["kind"], hpa["spec"]["scaleTargetRef"]["name"])
        for hpa in objects
        if hpa.get("kind") == "HorizontalPodAutoscaler"
    }


def apply_body(obj: dict, scaled: set[tuple[str, str]]) -> dict:
    """What :func:`apply` sends for ``obj``: without ``spec.replicas`` when an autoscaler
    scales it (``scaled``, from :func:`autoscaled`).

    With ``spec.replicas`` in every apply, the field stays labkit's and each apply sets the
    count back to the manifest's, undoing the autoscaler's work; without it, the first apply
    starts one pod and the autoscaler raises it to its ``minReplicas``.
    """
    if (obj.get("kind"), obj.get("metadata", {}).get("name")) not in scaled:
        return obj
    spec = {k: v for k, v in obj.get("spec", {}).items() if k != "replicas"}
    return {**obj, "spec": spec}


def _owns_replicas(live: dict, manager: str) -> bool:
    """Whether ``manager`` applied ``spec.replicas`` of the live object (its managedFields)."""
    for entry in live.get("metadata", {}).get("managedFields") or []:
        fields = entry.get("fieldsV1") or {}
        if entry.get("manager") == manager and "f:replicas" in (fields.get("f:spec") or {}):
            return True
    return False


def apply(
    objects: list[dict],
    *,
    namespace: str,
    timeout: float = 600.0,
    api_client=None,
    instances: Sequence = ("A wonderful film, I loved it.",),
    log: Callable[[str], None] = print,
    create_namespace: bool = False,
) -> ApplyResult:
    """Server-side dry run, server-side apply, wait for the rollout, one prediction.

    1. the Namespace is read; with ``create_namespace`` a missing one is created (that needs
       the cluster-wide right to create namespaces), otherwise a missing one is an error. A
       learner whose rights end at their namespace cannot read it (403): that is fine, the
       dry runs then find out whether it exists;
    2. every object is sent with ``dryRun=All``: the API server runs its validation and
       admission (quotas, policies, webhooks, RBAC) and stores nothing — one refusal stops here;
    3. every object is applied server-side (``PATCH`` ``application/apply-patch+yaml``, field
       manager ``labkit``, conflicts forced: these manifests own their fields). A Deployment an
       autoscaler in ``objects`` scales goes without ``spec.replicas`` (:func:`apply_body`); if
       labkit applied the count before, it is first handed to the field manager
       ``labkit-handover-to-hpa`` at its live value, so dropping it resets nothing (Kubernetes'
       "transferring ownership" recipe);
    4. each Deployment is waited for as ``kubectl rollout status`` does, each InferenceService
       until its ``Ready`` condition is True for the applied generation;
    5. ``instances`` are sent to each Service's ``http`` port through the API server's service
       proxy: ``POST /api/v1/namespaces/NS/services/NAME:http/proxy/v1/models/MODEL:predict``.

    Args:
        objects: validated objects (from :func:`render` + :func:`validate`).
        namespace: where they go (overrides a namespace in the objects).
        timeout: seconds for the rollout and the prediction together.
        api_client: a ``kubernetes.client.ApiClient`` (default :func:`load_cluster`).
        instances: REST v1 instances for the test prediction (empty: no prediction).
        log: called with one line per step (default print).
        create_namespace: create the namespace when it does not exist (``--create-namespace``).

    Returns:
        :class:`ApplyResult`.

    Raises:
        ClusterError: no cluster configured, the namespace missing, an object refused
            (kind/name and the API server's message; for a 403 the right that is missing), a
            rollout not finished within ``timeout``, or the prediction failed.
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
    scaled = autoscaled(objects)

    def resource_of(obj: dict):
        try:
            return dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        except Exception as error:  # e.g. a kind the cluster does not know (no KServe CRDs)
            raise ClusterError(
                f"{_where(obj)}: the cluster does not serve {obj['apiVersion']} {obj['kind']} "
                f"({type(error).__name__}: {error}); is its operator installed (KServe for an "
                "InferenceService)?"
            ) from error

    def send(obj: dict, dry_run: bool, manager: str = FIELD_MANAGER) -> None:
        resource = resource_of(obj)
        try:
            resource.server_side_apply(
                body=obj,
                name=obj["metadata"]["name"],
                namespace=obj["metadata"].get("namespace") if resource.namespaced else None,
                field_manager=manager,
                force_conflicts=True,
                **({"dry_run": "All"} if dry_run else {}),
            )
        except (ApiException, DynamicApiError) as error:
            raise _refusal("server-side dry run" if dry_run else "apply", obj, error) from error

    def read(obj: dict) -> dict | None:
        """The live object, None when it does not exist (or may not be read: 403)."""
        resource = resource_of(obj)
        try:
            live = resource.get(
                name=obj["metadata"]["name"],
                namespace=obj["metadata"].get("namespace") if resource.namespaced else None,
            )
        except (ApiException, DynamicApiError) as error:
            if _status(error) in (403, 404):
                return None
            raise _refusal("reading", obj, error) from error
        return live.to_dict()

    namespace_object = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    exists = _namespace_exists(dynamic, namespace)
    if exists is False:
        if not create_namespace:
            raise ClusterError(
                f"The namespace {namespace} does not exist. Use a namespace you were given "
                "(--namespace), or create it: labkit deploy --create-namespace (needs the "
                "right to create namespaces, which learners on a shared cluster usually lack)."
            )
        send(namespace_object, dry_run=False)
        result.steps.append(("apply", f"Namespace {namespace}"))
        log(f"{'created':>10}: Namespace {namespace}")
    for dry_run in (True, False):
        for obj in objects:
            body = apply_body(obj, scaled)
            if not dry_run and body is not obj:
                live = read(obj)
                if live is not None and _owns_replicas(live, FIELD_MANAGER):
                    handover = {"apiVersion": obj["apiVersion"], "kind": obj["kind"],
                                "metadata": {"name": obj["metadata"]["name"],
                                             "namespace": namespace},
                                "spec": {"replicas": live["spec"]["replicas"]}}  # fmt: skip
                    send(handover, dry_run=False, manager=HANDOVER_MANAGER)
                    result.steps.append(("handover", _where(obj)))
                    log(f"{'handover':>10}: {_where(obj)} spec.replicas to its autoscaler")
            send(body, dry_run)
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


def _namespace_exists(dynamic, namespace: str) -> bool | None:
    """True or False; None when this account may not read namespaces (403)."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import DynamicApiError

    try:
        dynamic.resources.get(api_version="v1", kind="Namespace").get(name=namespace)
    except (ApiException, DynamicApiError) as error:
        if _status(error) == 404:
            return False
        if _status(error) == 403:
            return None
        raise ClusterError(f"reading Namespace {namespace}: {_api_message(error)}") from error
    return True


def _in_namespace(obj: dict, namespace: str) -> dict:
    obj = {**obj, "metadata": {**obj.get("metadata", {})}}
    if obj["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
        obj["metadata"]["namespace"] = namespace
    return obj


def _rolled_out(obj: dict) -> tuple[bool, str]:
    """``kubectl rollout status`` for a Deployment; the Ready condition for KServe."""
    status = obj.get("status") or {}
    if obj["kind"] == "InferenceService":
        generation = obj.get("metadata", {}).get("generation", 0)
        if status.get("observedGeneration", 0) < generation:
            return False, "waiting for KServe to see the new spec"
        predictor = (status.get("components") or {}).get("predictor") or {}
        created = predictor.get("latestCreatedRevision")
        if created and predictor.get("latestReadyRevision") != created:  # Knative mode
            return False, f"revision {created} not ready yet"
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
        ClusterError: not rolled out within ``timeout`` (with the last status), the
            Deployment's progress deadline was exceeded, or the API server refused a read
            (the status and its message).
    """
    api_client = api_client or load_cluster()
    resource = _dynamic(api_client).resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import DynamicApiError

    deadline = time.monotonic() + timeout
    while True:
        try:
            live = resource.get(
                name=obj["metadata"]["name"], namespace=obj["metadata"]["namespace"]
            ).to_dict()
        except (ApiException, DynamicApiError) as error:
            if _status(error) == 404:
                raise ClusterError(
                    f"{_where(obj)} disappeared while waiting for its rollout (deleted?)"
                ) from error
            raise ClusterError(
                f"reading {_where(obj)} while waiting for its rollout: HTTP {_status(error)}: "
                f"{_api_message(error)}"
            ) from error
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
