"""labkit.deploy against a cluster's rules: apply, rollout, prediction, rollback, delete.

NO REAL CLUSTER IS USED HERE (none can run on these machines). The tests talk to
tests/fake_kubernetes.py: a local HTTP server that answers the routes the Kubernetes Python
client uses and follows the API server's rules labkit depends on: server-side apply's field
ownership and conflicts, strict validation of the merged object, generations that the
controllers observe a read later, namespaces that must exist, and a learner's RBAC that ends at
their namespace. Each rule is also checked on its own here, so a test that passes proves what a
real API server would do with what labkit sends, as far as these rules reach.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fake_kubernetes import CONTROLLER, FakeKubernetesAPI

from labkit import deploy
from labkit.deploy import cluster

IMAGE = "registry.example.com/team/labkit-serving:0.2.0"
GPU = "nvidia.com/gpu"
DEPLOYMENT = "/apis/apps/v1/namespaces/ml/deployments/sentiment"
QUIET = {"log": lambda line: None}


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(cluster.time, "sleep", lambda seconds: None)


@pytest.fixture
def fake_api():
    with FakeKubernetesAPI() as api:
        yield api


def _patches(fake, dry_run=None):
    patches = [r for r in fake.requests if r["method"] == "PATCH"]
    if dry_run is None:
        return patches
    return [r for r in patches if (r["query"].get("dryRun") == "All") == dry_run]


# ------------------------------------------------------------------ the fake follows the rules


def test_the_fake_resets_a_field_its_only_owner_stops_applying_and_refuses_unknown_fields(fake_api):
    """The server-side apply rules the tests below depend on, shown with plain client calls."""
    dynamic = cluster._dynamic(fake_api.api_client())
    deployments = dynamic.resources.get(api_version="apps/v1", kind="Deployment")
    [body] = [o for o in deploy.render("cpu", image=IMAGE, replicas=2, namespace="ml")
              if o["kind"] == "Deployment"]  # fmt: skip
    apply = {"name": "sentiment", "namespace": "ml", "field_manager": "someone"}
    deployments.server_side_apply(body=body, **apply)
    assert deployments.get(name="sentiment", namespace="ml").spec.replicas == 2
    fake_api.scale(DEPLOYMENT, 3)  # the autoscaler takes the field
    deployments.server_side_apply(body=body, force_conflicts=True, **apply)
    assert deployments.get(name="sentiment", namespace="ml").spec.replicas == 2  # taken back
    without = {**body, "spec": {k: v for k, v in body["spec"].items() if k != "replicas"}}
    deployments.server_side_apply(body=without, **apply)
    assert deployments.get(name="sentiment", namespace="ml").spec.replicas == 1  # released: reset
    # another manager's field with another value: a conflict unless forced
    fake_api.scale(DEPLOYMENT, 3)
    with pytest.raises(Exception, match="conflict") as conflict:
        deployments.server_side_apply(body=body, **apply)
    assert conflict.value.status == 409
    unknown = {**body, "spec": {**body["spec"], "replica": 2}}
    with pytest.raises(Exception, match="replica") as invalid:
        deployments.server_side_apply(body=unknown, force_conflicts=True, **apply)
    assert invalid.value.status == 422


# ----------------------------------------------------------------------------------- apply


def test_apply_sequence_against_fake_api(fake_api):
    """Dry run of all, then apply, rollout wait, predict; the namespace is only read."""
    objects = deploy.render("gpu", image=IMAGE, replicas=2, gpus=1, namespace="ml")
    deploy.validate(objects)
    result = deploy.apply(objects, namespace="ml", api_client=fake_api.api_client(), timeout=30,
                          **QUIET)  # fmt: skip
    kinds = ["Service", "Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler"]
    names = [f"{kind} ml/sentiment" for kind in kinds]
    assert result.steps == (
        [("dry-run", n) for n in names]
        + [("apply", n) for n in names]
        + [("rollout", "Deployment ml/sentiment"), ("predict", "Service ml/sentiment")]
    )
    assert result.predictions == [{"label": "positive", "probability": 0.9}]
    assert fake_api.requests[0]["path"] != "/api/v1/namespaces/ml" or fake_api.requests[0][
        "method"] == "GET"  # fmt: skip
    patches = _patches(fake_api)
    assert all(r["content_type"] == "application/apply-patch+yaml" for r in patches)
    assert all(r["query"]["fieldManager"] == "labkit" for r in patches)
    assert all(r["query"]["force"].lower() == "true" for r in patches)
    assert not [r for r in patches if r["path"] == "/api/v1/namespaces/ml"]  # it exists
    dry, real = patches[:4], patches[4:]
    assert [r["query"].get("dryRun") for r in dry] == ["All"] * 4
    assert [r["query"].get("dryRun") for r in real] == [None] * 4
    assert (
        [r["path"] for r in dry]
        == [r["path"] for r in real]
        == [
            "/api/v1/namespaces/ml/services/sentiment",
            DEPLOYMENT,
            "/apis/policy/v1/namespaces/ml/poddisruptionbudgets/sentiment",
            "/apis/autoscaling/v2/namespaces/ml/horizontalpodautoscalers/sentiment",
        ]
    )
    sent = real[1]["body"]
    assert "replicas" not in sent["spec"]  # the HPA owns the count
    container = sent["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE and container["resources"]["limits"][GPU] == 1
    order = [(r["method"], r["path"]) for r in fake_api.requests]
    last_apply = max(i for i, r in enumerate(fake_api.requests) if r["method"] == "PATCH")
    reads = [i for i, (m, p) in enumerate(order) if m == "GET" and p == DEPLOYMENT]
    polls = [i for i in reads if i > last_apply]
    assert len(polls) == 3  # observedGeneration lagging, an old pod left, rolled out
    assert len(reads) == 4  # and one before the apply: does labkit own spec.replicas there?
    (predict,) = [i for i, (m, _) in enumerate(order) if m == "POST"]
    assert predict > polls[-1]
    assert order[predict][1] == (
        "/api/v1/namespaces/ml/services/sentiment:http/proxy/v1/models/sentiment:predict"
    )
    assert fake_api.requests[predict]["body"] == {"instances": ["A wonderful film, I loved it."]}


def test_an_apply_keeps_the_replica_count_the_autoscaler_chose(fake_api):
    objects = deploy.render("cpu", image=IMAGE, replicas=2, namespace="ml")
    api_client = fake_api.api_client()
    deploy.apply(objects, namespace="ml", api_client=api_client, instances=(), **QUIET)
    assert fake_api.objects[DEPLOYMENT]["spec"]["replicas"] == 1  # created; the HPA raises it
    fake_api.scale(DEPLOYMENT, 4)  # load came: the HPA scaled out
    new = deploy.render("cpu", image=IMAGE.replace("0.2.0", "0.3.0"), replicas=2, namespace="ml")
    deploy.apply(new, namespace="ml", api_client=api_client, instances=(), **QUIET)
    live = fake_api.objects[DEPLOYMENT]
    assert live["spec"]["replicas"] == 4, "the apply took the pod count back from the HPA"
    assert live["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":0.3.0")
    assert ("spec", "replicas") in fake_api.managers[DEPLOYMENT][CONTROLLER]


def test_a_count_labkit_applied_before_is_handed_over_not_reset(fake_api):
    # a Deployment applied with spec.replicas (as labkit did before, or kubectl apply -k)
    objects = deploy.render("cpu", image=IMAGE, replicas=3, namespace="ml")
    dynamic = cluster._dynamic(fake_api.api_client())
    [old] = [o for o in objects if o["kind"] == "Deployment"]
    dynamic.resources.get(api_version="apps/v1", kind="Deployment").server_side_apply(
        body=old, name="sentiment", namespace="ml", field_manager="labkit", force_conflicts=True
    )
    result = deploy.apply(objects, namespace="ml", api_client=fake_api.api_client(),
                          instances=(), **QUIET)  # fmt: skip
    assert ("handover", "Deployment ml/sentiment") in result.steps
    assert fake_api.objects[DEPLOYMENT]["spec"]["replicas"] == 3  # never fell to 1
    owners = fake_api.managers[DEPLOYMENT]
    assert ("spec", "replicas") in owners[cluster.HANDOVER_MANAGER]
    assert ("spec", "replicas") not in owners["labkit"]


def test_a_deployment_without_autoscaler_keeps_its_replicas_in_the_apply(fake_api):
    objects = [o for o in deploy.render("cpu", image=IMAGE, replicas=2, namespace="ml")
               if o["kind"] != "HorizontalPodAutoscaler"]  # fmt: skip
    deploy.apply(objects, namespace="ml", api_client=fake_api.api_client(), instances=(), **QUIET)
    assert fake_api.objects[DEPLOYMENT]["spec"]["replicas"] == 2
    assert cluster.autoscaled(objects) == set()


def test_apply_stops_when_the_dry_run_is_refused(fake_api, monkeypatch):
    """A refused dry run means nothing is applied for real."""
    original = fake_api.answer

    def refuse_hpa_dry_run(r):
        if r["query"].get("dryRun") == "All" and "horizontalpodautoscalers" in r["path"]:
            return 422, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                         "reason": "Invalid", "code": 422,
                         "message": "spec.maxReplicas: exceeds quota"}  # fmt: skip
        return original(r)

    monkeypatch.setattr(fake_api, "answer", refuse_hpa_dry_run)
    objects = deploy.render("cpu", image=IMAGE, namespace="ml")
    with pytest.raises(deploy.ClusterError, match="HorizontalPodAutoscaler ml/sentiment.*quota"):
        deploy.apply(objects, namespace="ml", api_client=fake_api.api_client(), **QUIET)
    assert _patches(fake_api, dry_run=False) == []
    assert DEPLOYMENT not in fake_api.objects


def test_an_unknown_field_is_refused_by_the_dry_run_with_the_servers_message(fake_api):
    objects = deploy.render("cpu", image=IMAGE, namespace="ml")
    for obj in objects:
        if obj["kind"] == "Service":
            obj["spec"]["portz"] = obj["spec"]["ports"]  # a typo validate() would catch too
    with pytest.raises(deploy.ClusterError, match=r"dry run of Service ml/sentiment.*portz"):
        deploy.apply(objects, namespace="ml", api_client=fake_api.api_client(), **QUIET)
    assert _patches(fake_api, dry_run=False) == []


# ------------------------------------------------------------------ namespaces and rights


def test_a_missing_namespace_is_an_error_unless_creating_it_was_asked():
    objects = deploy.render("cpu", image=IMAGE, namespace="course")
    with FakeKubernetesAPI(namespaces=("default",)) as fake:
        with pytest.raises(
            deploy.ClusterError, match="namespace course does not exist.*--create-namespace"
        ):
            deploy.apply(objects, namespace="course", api_client=fake.api_client(), **QUIET)
        assert _patches(fake) == []
        result = deploy.apply(objects, namespace="course", api_client=fake.api_client(),
                              instances=(), create_namespace=True, **QUIET)  # fmt: skip
        assert result.steps[0] == ("apply", "Namespace course")
        assert "course" in fake.namespaces
        assert "/apis/apps/v1/namespaces/course/deployments/sentiment" in fake.objects


def test_a_learner_with_rights_only_in_their_namespace_can_deploy():
    objects = deploy.render("cpu", image=IMAGE, namespace="ml")
    with FakeKubernetesAPI(namespace_only="ml") as fake:
        result = deploy.apply(objects, namespace="ml", api_client=fake.api_client(), **QUIET)
        assert result.predictions and DEPLOYMENT in fake.objects
        [read] = [r for r in fake.requests if r["path"] == "/api/v1/namespaces/ml"]
        assert read["method"] == "GET"  # forbidden (403), and that is fine: never written


def test_a_forbidden_request_names_the_missing_right():
    objects = deploy.render("cpu", image=IMAGE, namespace="other")
    with FakeKubernetesAPI(namespace_only="ml", namespaces=("ml", "other")) as fake:
        with pytest.raises(deploy.ClusterError) as error:
            deploy.apply(objects, namespace="other", api_client=fake.api_client(), **QUIET)
    message = str(error.value)
    assert "server-side dry run of Service other/sentiment was forbidden" in message
    assert 'cannot patch resource "services"' in message  # the API server's own words
    assert "kubectl auth can-i patch services -n other" in message and "Role" in message


def test_creating_a_namespace_without_the_right_says_so():
    objects = deploy.render("cpu", image=IMAGE, namespace="new")
    with FakeKubernetesAPI(namespace_only="ml") as fake:
        # the namespace cannot even be read: the dry runs find out that it is missing
        with pytest.raises(deploy.ClusterError, match="namespace new does not exist|forbidden"):
            deploy.apply(objects, namespace="new", api_client=fake.api_client(),
                         create_namespace=True, **QUIET)  # fmt: skip


# ---------------------------------------------------------------------------- rollout wait


def _deployment(generation=2, observed=2, replicas=2, updated=2, total=2, available=2, **extra):
    return {"kind": "Deployment",
            "metadata": {"name": "s", "namespace": "ml", "generation": generation},
            "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "updatedReplicas": updated,
                       "replicas": total, "availableReplicas": available, **extra}}  # fmt: skip


@pytest.mark.parametrize(
    ("state", "why"),
    [
        (_deployment(observed=1), "controller to see the new spec"),
        (_deployment(updated=1), "1 of 2 new replicas updated"),
        (_deployment(total=3), "1 old replicas pending termination"),
        (_deployment(available=1), "1 of 2 updated replicas available"),
        (_deployment(), "2 of 2 replicas available"),
    ],
)
def test_deployment_rollout_states_read_as_kubectl_rollout_status(state, why):
    done, message = cluster._rolled_out(state)
    assert done == (why.startswith("2 of 2")) and why in message


def test_a_progress_deadline_stops_the_wait():
    deadline = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    stuck = _deployment(updated=1, conditions=[deadline])
    with pytest.raises(deploy.ClusterError, match="progress deadline"):
        cluster._rolled_out(stuck)


def _isvc(generation, observed, ready, created=None, latest_ready=None):
    condition = {"type": "Ready", "status": "True" if ready else "False"}
    status = {"observedGeneration": observed, "conditions": [condition]}
    if created:
        status["components"] = {
            "predictor": {"latestCreatedRevision": created, "latestReadyRevision": latest_ready}
        }
    return {"kind": "InferenceService", "metadata": {"generation": generation}, "status": status}


@pytest.mark.parametrize(
    ("state", "done"),
    [
        (_isvc(2, 1, ready=True), False),  # Ready, but for the old spec
        (_isvc(2, 2, ready=True, created="p-00002", latest_ready="p-00001"), False),  # Knative
        (_isvc(2, 2, ready=False), False),
        (_isvc(2, 2, ready=True, created="p-00002", latest_ready="p-00002"), True),
        (_isvc(2, 2, ready=True), True),  # Standard mode: no revisions
    ],
)
def test_an_inference_service_is_rolled_out_only_for_its_new_generation(state, done):
    assert cluster._rolled_out(state)[0] is done


def test_an_inference_service_update_waits_for_the_new_revision():
    objects = deploy.render("kserve", image=IMAGE, namespace="ml")
    with FakeKubernetesAPI(kserve=True) as fake:
        api_client = fake.api_client()
        deploy.apply(objects, namespace="ml", api_client=api_client, instances=(), **QUIET)
        new = deploy.render("kserve", image=IMAGE.replace("0.2.0", "0.3.0"), namespace="ml")
        deploy.apply(new, namespace="ml", api_client=api_client, instances=(), **QUIET)
        path = "/apis/serving.kserve.io/v1beta1/namespaces/ml/inferenceservices/sentiment"
        polls = [r for r in fake.requests if r["method"] == "GET" and r["path"] == path]
        # each apply: old generation seen, new revision not ready, then ready
        assert len(polls) == 6, len(polls)
        assert fake.objects[path]["metadata"]["generation"] == 2


def test_an_inference_service_without_kserve_installed_says_so(fake_api):
    objects = deploy.render("kserve", image=IMAGE, namespace="ml")
    with pytest.raises(
        deploy.ClusterError, match="does not serve serving.kserve.io/v1beta1.*KServe"
    ):
        deploy.apply(objects, namespace="ml", api_client=fake_api.api_client(), **QUIET)


def test_a_rollout_that_never_ends_times_out_with_its_last_status():
    objects = deploy.render("cpu", image=IMAGE, namespace="ml")
    with FakeKubernetesAPI(stall=True) as fake:
        with pytest.raises(deploy.ClusterError, match=r"not rolled out after 1 s: .*replicas"):
            deploy.apply(objects, namespace="ml", api_client=fake.api_client(), timeout=1, **QUIET)


def test_an_api_error_while_waiting_says_what_happened(fake_api, monkeypatch):
    objects = deploy.render("cpu", image=IMAGE, namespace="ml")
    original = fake_api.answer

    def unavailable_after_the_apply(r):
        applied = [p for p in _patches(fake_api, dry_run=False) if p["path"] == DEPLOYMENT]
        if r["method"] == "GET" and r["path"] == DEPLOYMENT and applied:
            return 503, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                         "code": 503, "message": "etcdserver: request timed out"}  # fmt: skip
        return original(r)

    monkeypatch.setattr(fake_api, "answer", unavailable_after_the_apply)
    with pytest.raises(deploy.ClusterError, match="while waiting for its rollout: HTTP 503: etcd"):
        deploy.apply(objects, namespace="ml", api_client=fake_api.api_client(), **QUIET)


# ------------------------------------------------------------------ rollback, delete, kubeconfig


def test_rollback_and_delete_against_fake_api(fake_api):
    """Rollback writes revision 1's pod template back; delete removes all."""
    api_client = fake_api.api_client()
    objects = deploy.render("cpu", image=IMAGE, namespace="ml")
    deploy.apply(objects, namespace="ml", api_client=api_client, instances=(), **QUIET)
    revision = deploy.rollback("sentiment", namespace="ml", api_client=api_client, timeout=30)
    assert revision == 1
    (json_patch,) = [
        r for r in fake_api.requests if r["content_type"] == "application/json-patch+json"
    ]
    template = json_patch["body"][0]["value"]
    assert template["spec"]["containers"][0]["image"] == "registry.example.com/s:0.1.0"
    assert "pod-template-hash" not in template["metadata"]["labels"]
    listing = [r for r in fake_api.requests if r["path"].endswith("/replicasets")]
    assert listing[0]["query"]["labelSelector"] == "app.kubernetes.io/name=sentiment"
    with pytest.raises(deploy.ClusterError, match="revision 5 not found"):
        deploy.rollback("sentiment", namespace="ml", to_revision=5, api_client=api_client)

    deleted = deploy.delete(objects, namespace="ml", api_client=api_client)
    assert deleted == [
        "HorizontalPodAutoscaler ml/sentiment", "PodDisruptionBudget ml/sentiment",
        "Deployment ml/sentiment", "Service ml/sentiment",
    ]  # fmt: skip
    assert deploy.delete(objects, namespace="ml", api_client=api_client) == []  # already gone


def test_kubeconfig_is_found_and_used(fake_api, tmp_path, monkeypatch):
    """A kubeconfig that points at the fake API server: load_cluster and deploy.run use it."""
    kubeconfig = fake_api.write_kubeconfig(tmp_path / "config")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}{os.pathsep}{kubeconfig}")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    api_client = deploy.load_cluster()
    assert api_client.configuration.host == fake_api.url
    result = deploy.run("cpu", image=IMAGE, namespace="ml", timeout=30, **QUIET)
    assert result.applied and result.apply_result.predictions
    assert len(_patches(fake_api)) == 8  # 4 dry runs + 4 applies; the namespace exists
    Path(kubeconfig).write_text("clusters: [")  # broken YAML: a clear error, not "no cluster"
    with pytest.raises(deploy.ClusterError, match="does not load"):
        deploy.load_cluster()


def _point_kubeconfig_at(fake, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(fake.write_kubeconfig(tmp_path / "config")))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)


def test_cli_rollback_and_delete_name_what_they_did_and_what_does_not_fit(
    tmp_path, monkeypatch, capsys
):
    """labkit deploy --rollback / --delete: the objects by overlay, namespace and model name."""
    from labkit import cli

    def labkit_deploy(*args):
        code = cli.main(["deploy", *args])
        out = capsys.readouterr()
        return code, out.out + out.err

    code, out = labkit_deploy("--overlay", "cpu", "--namespace", "ml")  # no --image
    assert code == 2 and "--image is needed to deploy" in out, out
    code, out = labkit_deploy("--to-revision", "1", "--delete")
    assert code == 2 and "--to-revision goes with --rollback" in out, out
    with pytest.raises(SystemExit):  # argparse: not both
        cli.main(["deploy", "--rollback", "--delete"])
    capsys.readouterr()
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    code, out = labkit_deploy("--delete", "--namespace", "ml")
    assert code == 1 and "no cluster configured" in out, out

    with FakeKubernetesAPI(kserve=True) as fake:
        _point_kubeconfig_at(fake, tmp_path, monkeypatch)
        assert labkit_deploy("--image", IMAGE, "--namespace", "ml", "--timeout", "30")[0] == 0
        code, out = labkit_deploy("--rollback", "--to-revision", "5", "--namespace", "ml")
        assert code == 1 and "revision 5 not found (kept: [1, 2])" in out, out
        code, out = labkit_deploy("--rollback", "--namespace", "ml")
        assert code == 0 and "Deployment ml/sentiment to revision 1" in out, out
        code, out = labkit_deploy("--overlay", "kserve", "--rollback", "--namespace", "ml")
        assert code == 1 and "no Deployment" in out and "again with --image" in out, out
        code, out = labkit_deploy("--delete", "--namespace", "ml")
        assert code == 0 and "deleted: Deployment ml/sentiment" in out, out
        code, out = labkit_deploy("--delete", "--namespace", "ml")
        assert code == 0 and "nothing to delete in namespace ml" in out, out
