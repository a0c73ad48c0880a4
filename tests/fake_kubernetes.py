"""A fake Kubernetes API server for tests/test_cluster.py. NOT a real cluster.

A small local HTTP server that answers the routes the Kubernetes Python client uses for
labkit.deploy (discovery, server-side apply, GET, JSON patch, DELETE, the service proxy), and
follows the API server's rules where labkit's correctness depends on them, so that a test
fails where a real cluster would refuse or misbehave:

- **Server-side apply** (https://kubernetes.io/docs/reference/using-api/server-side-apply/):
  every field manager owns the fields it applied (``metadata.managedFields``, ``fieldsV1``
  format). A field another manager owns, applied with another value and without ``force``, is
  a 409 Conflict; a field a manager applied before and leaves out of its next apply is removed
  when no other manager owns it (so ``spec.replicas`` falls back to 1). Lists are atomic.
- **Strict validation**: the merged object of a built-in kind must pass
  ``kubernetes_validate`` (strict: unknown fields refused) for Kubernetes 1.30, else 422, as the
  API server's strict field validation does; a dry run is validated and not stored.
- **Generations**: ``metadata.generation`` grows only when ``spec`` changes;
  ``status.observedGeneration`` lags one read behind it, and a Deployment's replicas roll out
  over the next reads (or never, with ``stall=True``).
- **Namespaces and RBAC**: objects go only into namespaces that exist (404 ``namespaces "x" not
  found`` otherwise). With ``namespace_only="ml"`` the caller has a Role in ``ml`` and nothing
  else (https://kubernetes.io/docs/reference/access-authn-authz/rbac/): any request outside it,
  Namespaces included, is 403 with the API server's message.
- **Autoscaler**: :meth:`scale` changes ``spec.replicas`` as the HorizontalPodAutoscaler does
  (an update through ``/scale`` by ``kube-controller-manager``, which takes the field's
  ownership).
- KServe's ``serving.kserve.io/v1beta1`` is discovered only with ``kserve=True``; an
  InferenceService reports Ready for its generation, with Knative's revisions, a read later.

What it does not do: admission webhooks, quotas, defaulting beyond the above, watches,
resourceVersion conflicts. ReplicaSets for rollback are synthesized (revisions 1 and 2).
"""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml

KUBERNETES_VERSION = "1.30"
CONTROLLER = "kube-controller-manager"

# group/version -> (plural, kind, namespaced)
BUILT_IN = {
    "v1": [("namespaces", "Namespace", False), ("services", "Service", True),
           ("pods", "Pod", True)],
    "apps/v1": [("deployments", "Deployment", True), ("replicasets", "ReplicaSet", True)],
    "autoscaling/v2": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "networking.k8s.io/v1": [("networkpolicies", "NetworkPolicy", True)],
}  # fmt: skip
KSERVE = {"serving.kserve.io/v1beta1": [("inferenceservices", "InferenceService", True)]}
IDENTITY = (("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace"))


def status(code: int, reason: str, message: str, **details: Any) -> tuple[int, dict]:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
            "code": code, "message": message}  # fmt: skip
    if details:
        body["details"] = details
    return code, body


def leaves(obj: Any, prefix: tuple = ()) -> dict[tuple, Any]:
    """``{path: value}`` of every leaf (a scalar or a list: lists are atomic here)."""
    if isinstance(obj, dict) and obj:
        out = {}
        for key, value in obj.items():
            out.update(leaves(value, (*prefix, key)))
        return out
    return {prefix: obj}


def _set(obj: dict, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        obj = obj.setdefault(key, {})
    obj[path[-1]] = copy.deepcopy(value)


def _remove(obj: dict, path: tuple) -> None:
    parents = []
    for key in path[:-1]:
        if not isinstance(obj.get(key), dict):
            return
        parents.append((obj, key))
        obj = obj[key]
    obj.pop(path[-1], None)
    for parent, key in reversed(parents):  # drop the maps the removal left empty
        if parent[key] == {}:
            del parent[key]


def fields_v1(paths: set[tuple]) -> dict:
    """The API server's ``fieldsV1`` tree: ``{"f:spec": {"f:replicas": {}}}``."""
    tree: dict = {}
    for path in paths:
        node = tree
        for key in path:
            node = node.setdefault(f"f:{key}", {})
    return tree


class FakeKubernetesAPI:
    """See the module docstring. ``requests`` records every request, in order."""

    def __init__(self, *, namespaces=("default", "labkit", "ml"), namespace_only=None,
                 kserve=False, stall=False):  # fmt: skip
        self.requests: list[dict] = []
        self.objects: dict[str, dict] = {}  # path -> live object (without status)
        self.managers: dict[str, dict[str, set[tuple]]] = {}  # path -> manager -> paths
        self.reads: dict[str, int] = {}  # path -> reads since its generation changed
        self.namespaces = set(namespaces)
        self.namespace_only = namespace_only
        self.stall = stall
        self.resources = {**BUILT_IN, **(KSERVE if kserve else {})}
        self.lock = threading.Lock()
        for name in self.namespaces:
            self.objects[f"/api/v1/namespaces/{name}"] = {
                "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}  # fmt: skip
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                record = {
                    "method": self.command,
                    "path": url.path,
                    "query": {k: v[0] for k, v in parse_qs(url.query).items()},
                    "content_type": self.headers.get("Content-Type"),
                    "body": yaml.safe_load(raw) if raw else None,
                }
                with fake.lock:
                    fake.requests.append(record)
                    code, body = fake.answer(record)
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PATCH = do_POST = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # ------------------------------------------------------------------ routes

    def answer(self, r: dict) -> tuple[int, Any]:
        path, method = r["path"], r["method"]
        if path == "/version":
            return 200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"]}
        if path == "/apis":
            return 200, self._groups()
        group_version = path.removeprefix("/api/").removeprefix("/apis/")
        if group_version in self.resources:
            return 200, self._resource_list(group_version)
        route = self._route(path)
        if route is None:
            return status(
                404, "NotFound", f"the server could not find the requested resource ({path})"
            )
        group_version, plural, namespace, name, rest = route
        forbidden = self._forbidden(method, group_version, plural, namespace, name)
        if forbidden:
            return forbidden
        if rest == "proxy" and method == "POST":
            return 200, {"predictions": [{"label": "positive", "probability": 0.9}]
                         * len(r["body"]["instances"])}  # fmt: skip
        if namespace is not None and namespace not in self.namespaces:
            return status(404, "NotFound", f'namespaces "{namespace}" not found',
                          name=namespace, kind="namespaces")  # fmt: skip
        if plural == "replicasets" and name is None and method == "GET":
            return 200, {"kind": "ReplicaSetList", "apiVersion": "apps/v1", "metadata": {},
                         "items": self.replica_sets()}  # fmt: skip
        if method == "PATCH" and r["content_type"] == "application/apply-patch+yaml":
            return self._apply(path, r)
        if method == "PATCH" and r["content_type"] == "application/json-patch+json":
            return self._json_patch(path, r["body"])
        if method == "GET":
            return self._get(path, plural, name)
        if method == "DELETE":
            if self.objects.pop(path, None) is None:
                return status(404, "NotFound", f'{plural} "{name}" not found')
            self.managers.pop(path, None)
            if plural == "namespaces":
                self.namespaces.discard(name)
            return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}
        return status(405, "MethodNotAllowed", f"{method} {path} is not supported here")

    def _groups(self) -> dict:
        groups = [gv.split("/") for gv in self.resources if "/" in gv]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
             "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}}
            for g, v in groups]}  # fmt: skip

    def _resource_list(self, group_version: str) -> dict:
        return {"kind": "APIResourceList", "groupVersion": group_version, "resources": [
            {"name": plural, "singularName": kind.lower(), "kind": kind,
             "namespaced": namespaced,
             "verbs": ["create", "delete", "get", "list", "patch", "update"]}
            for plural, kind, namespaced in self.resources[group_version]]}  # fmt: skip

    def _route(self, path: str):
        """(group/version, plural, namespace, name, subresource) of a resource path."""
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 2:
            group_version, rest = parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            group_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            return None
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest:
            return None
        plural, name, sub = rest[0], (rest[1] if len(rest) > 1 else None), rest[2:]
        if plural == "namespaces" and namespace is None:
            pass  # the Namespace object itself: /api/v1/namespaces/NAME
        elif group_version not in self.resources or plural.split(":")[0] not in {
            p for p, _, _ in self.resources[group_version]
        }:
            return None
        if plural == "services" and name and ":" in name:  # services/NAME:PORT/proxy/...
            name = name.split(":")[0]
        return group_version, plural, namespace, name, ("proxy" if "proxy" in sub else None)

    def _forbidden(self, method, group_version, plural, namespace, name):
        if self.namespace_only is None or namespace == self.namespace_only:
            return None
        verb = {"GET": "get" if name else "list", "PATCH": "patch", "POST": "create",
                "DELETE": "delete"}[method]  # fmt: skip
        group = group_version.rpartition("/")[0]
        where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        return status(
            403, "Forbidden",
            f'{plural}{"." + group if group else ""} "{name}" is forbidden: User "learner" '
            f'cannot {verb} resource "{plural}" in API group "{group}" {where}',
            name=name, group=group, kind=plural,
        )  # fmt: skip

    # -------------------------------------------------------------- semantics

    def _apply(self, path: str, r: dict) -> tuple[int, Any]:
        body, query = r["body"], r["query"]
        manager = query.get("fieldManager")
        if not manager:
            return status(400, "BadRequest", "PATCH of type apply requires fieldManager")
        force = query.get("force", "false").lower() == "true"
        live = copy.deepcopy(self.objects.get(path) or {})
        owners = copy.deepcopy(self.managers.get(path, {}))
        applied = {p: v for p, v in leaves(body).items() if p not in IDENTITY}
        conflicts = [
            (other, p) for other, owned in owners.items() if other != manager
            for p in owned & set(applied) if leaves(live).get(p) != applied[p]
        ]  # fmt: skip
        if conflicts and not force:
            other, p = conflicts[0]
            return status(409, "Conflict", f'Apply failed with 1 conflict: conflict with "{other}"'
                          f": .{'.'.join(p)}")  # fmt: skip
        merged = live or {"apiVersion": body["apiVersion"], "kind": body["kind"],
                          "metadata": {"name": body["metadata"]["name"]}}  # fmt: skip
        if body["metadata"].get("namespace"):
            merged["metadata"]["namespace"] = body["metadata"]["namespace"]
        for p in owners.get(manager, set()) - set(applied):
            if not any(p in owned for other, owned in owners.items() if other != manager):
                _remove(merged, p)  # released by its only owner: gone (defaults apply)
        for p, value in applied.items():
            _set(merged, p, value)
        for other in owners:
            if other != manager:
                owners[other] -= set(applied)
        owners[manager] = set(applied)
        if merged["kind"] == "Deployment":
            merged.setdefault("spec", {}).setdefault("replicas", 1)  # the API server's default
        invalid = self._invalid(merged)
        if invalid:
            return status(422, "Invalid", f'{merged["kind"]} "{merged["metadata"]["name"]}" is '
                          f"invalid: {invalid}")  # fmt: skip
        metadata = merged["metadata"]
        old_spec = (self.objects.get(path) or {}).get("spec")
        metadata.setdefault("uid", f"uid-{len(self.objects)}")
        metadata["generation"] = metadata.get("generation", 0) + (
            1 if old_spec != merged.get("spec") or path not in self.objects else 0
        )
        if query.get("dryRun") == "All":
            return 200, self._with_status(path, merged, owners, count=False)
        if metadata["generation"] != (self.objects.get(path) or {}).get("metadata", {}).get(
            "generation"
        ):
            self.reads[path] = 0
        self.objects[path] = merged
        self.managers[path] = {m: p for m, p in owners.items() if p}
        if merged["kind"] == "Namespace":
            self.namespaces.add(metadata["name"])
        return 200, self._with_status(path, merged, self.managers[path], count=False)

    def _invalid(self, obj: dict) -> str | None:
        if obj["apiVersion"] not in BUILT_IN:
            return None
        import kubernetes_validate

        document = copy.deepcopy(obj)
        document["metadata"] = {k: v for k, v in document["metadata"].items()
                                if k not in ("uid", "generation", "managedFields")}  # fmt: skip
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            return str(error).splitlines()[0]
        return None

    def _json_patch(self, path: str, operations: list) -> tuple[int, Any]:  # rollback
        live = self.objects.get(path)
        if live is None:
            return status(404, "NotFound", f"{path} not found")
        for op in operations:
            assert op["op"] == "replace" and op["path"] == "/spec/template", op
            live["spec"]["template"] = op["value"]
        live["metadata"]["generation"] += 1
        self.reads[path] = 0
        return 200, self._with_status(path, live, self.managers.get(path, {}), count=False)

    def _get(self, path: str, plural: str, name: str | None) -> tuple[int, Any]:
        live = self.objects.get(path)
        if live is None:
            return status(404, "NotFound", f'{plural} "{name}" not found', name=name, kind=plural)
        return 200, self._with_status(path, live, self.managers.get(path, {}), count=True)

    def _with_status(self, path, live, owners, *, count: bool) -> dict:
        """The object as a GET returns it: managedFields and a status that catches up."""
        obj = copy.deepcopy(live)
        obj["metadata"]["managedFields"] = [
            {"manager": m, "operation": "Update" if m == CONTROLLER else "Apply",
             "apiVersion": obj["apiVersion"], "fieldsType": "FieldsV1",
             "fieldsV1": fields_v1(p)}
            for m, p in sorted(owners.items())
        ]  # fmt: skip
        if count:
            self.reads[path] = self.reads.get(path, 0) + 1
        reads = self.reads.get(path, 0)
        generation = obj["metadata"].get("generation", 1)
        seen = generation if reads >= 2 else generation - 1  # the controller lags one read
        done = reads >= 3 and not self.stall
        if obj["kind"] == "Deployment":
            want = obj["spec"].get("replicas", 1)
            obj["status"] = {
                "observedGeneration": seen,
                "replicas": want + (0 if done else 1),  # an old pod until the rollout ends
                "updatedReplicas": want if done else 0,
                "availableReplicas": want if done else 0,
            }
            obj["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "2"
        elif obj["kind"] == "InferenceService":
            revision = f"{obj['metadata']['name']}-predictor-{generation:05d}"
            previous = f"{obj['metadata']['name']}-predictor-{generation - 1:05d}"
            obj["status"] = {
                "observedGeneration": seen,
                # the old revision stays Ready while the new one starts
                "conditions": [{"type": "Ready", "status": "True" if done or generation > 1
                                else "False"}],
                "components": {"predictor": {"latestCreatedRevision": revision,
                                             "latestReadyRevision": revision if done
                                             else previous}},
            }  # fmt: skip
        return obj

    def scale(self, path: str, replicas: int) -> None:
        """What the HorizontalPodAutoscaler does: ``spec.replicas`` through ``/scale``."""
        with self.lock:
            live = self.objects[path]
            live["spec"]["replicas"] = replicas
            owners = self.managers.setdefault(path, {})
            for owned in owners.values():
                owned.discard(("spec", "replicas"))
            owners.setdefault(CONTROLLER, set()).add(("spec", "replicas"))

    def replica_sets(self) -> list[dict]:
        deployments = [o for o in self.objects.values() if o["kind"] == "Deployment"]
        items = []
        for deployment in deployments:
            for revision, tag in ((1, "0.1.0"), (2, "0.2.0")):
                template = copy.deepcopy(deployment["spec"]["template"])
                template["metadata"]["labels"]["pod-template-hash"] = f"hash{revision}"
                template["spec"]["containers"][0]["image"] = f"registry.example.com/s:{tag}"
                items.append({
                    "apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {
                        "name": f"sentiment-hash{revision}",
                        "namespace": deployment["metadata"]["namespace"],
                        "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                        "ownerReferences": [{
                            "apiVersion": "apps/v1", "kind": "Deployment",
                            "name": deployment["metadata"]["name"],
                            "uid": deployment["metadata"]["uid"],
                        }],
                    },
                    "spec": {"selector": deployment["spec"]["selector"], "template": template},
                })  # fmt: skip
        return items

    # ------------------------------------------------------------------ life

    def __enter__(self) -> FakeKubernetesAPI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def write_kubeconfig(self, path, context: str = "fake"):
        """A kubeconfig at ``path`` whose current context is this server (bearer token)."""
        from pathlib import Path

        path = Path(path)
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": context,
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {"token": "fake-token"}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        }))  # fmt: skip
        return path

    def api_client(self):
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.url
        configuration.api_key = {"authorization": "Bearer fake-token"}
        return client.ApiClient(configuration)
