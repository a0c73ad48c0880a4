"""labkit.deploy: build context, render, validate and the no-cluster path.

Talking to a cluster (apply, rollout, prediction, rollback, delete) is tested in
tests/test_cluster.py, against the fake API server of tests/fake_kubernetes.py.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from labkit import deploy, paths
from labkit.deploy import admission, manifests, rendering
from labkit.runtime import REQUIRE_GPU_ENV

IMAGE = "registry.example.com/team/labkit-serving:0.2.0"
GPU = "nvidia.com/gpu"


def by_kind(objects, kind):
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


# --------------------------------------------------------------------------- render


@pytest.mark.parametrize(
    ("overlay", "replicas", "gpus"), [("cpu", 3, 1), ("gpu", 2, 2), ("kserve", 2, 4)]
)
def test_render_sets_image_replicas_gpus_namespace(overlay, replicas, gpus):
    objects = deploy.render(overlay, image=IMAGE, replicas=replicas, gpus=gpus, namespace="team-a")
    assert {o["metadata"]["namespace"] for o in objects} == {"team-a"}
    if overlay == "kserve":
        (isvc,) = objects
        predictor = isvc["spec"]["predictor"]
        (container,) = predictor["containers"]
        assert predictor["minReplicas"] == replicas
    else:
        assert sorted(o["kind"] for o in objects) == [
            "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service",
        ]  # fmt: skip
        deployment = by_kind(objects, "Deployment")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert deployment["spec"]["replicas"] == replicas
        assert by_kind(objects, "HorizontalPodAutoscaler")["spec"]["minReplicas"] == replicas
    assert container["image"] == IMAGE
    resources = container["resources"]
    if overlay == "cpu":
        assert GPU not in resources["limits"] and GPU not in resources["requests"]
    else:
        assert resources["limits"][GPU] == resources["requests"][GPU] == gpus
    deploy.validate(objects)  # what render produces is valid and policy-clean


def test_render_digest_and_model_name():
    digest = "sha256:" + "0" * 64
    objects = deploy.render(
        "gpu", image=f"localhost:5000/serving@{digest}", model_name="reviews", namespace="ml"
    )
    deploy.validate(objects)
    assert {o["metadata"]["name"] for o in objects} == {"reviews"}
    deployment = by_kind(objects, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"localhost:5000/serving@{digest}"
    assert container["args"][container["args"].index("--name") + 1] == "reviews"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v1/models/reviews"
    assert by_kind(objects, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["name"] == (
        "reviews"
    )
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert by_kind(objects, "Service")["spec"]["selector"].items() <= labels.items()


def test_kustomize_renders_a_hand_written_folder_with_its_patch(tmp_path):
    # what lesson 16's learner writes: the shared overlay plus a patch of their own
    overlay = paths.project_file(paths.K8S_SERVING, "overlays", "gpu")
    (tmp_path / "kustomization.yaml").write_text(
        f"resources: [{os.path.relpath(overlay, tmp_path)}]\npatches: [{{path: memory.yaml}}]\n"
    )
    (tmp_path / "memory.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: sentiment}\nspec:\n"
        "  template:\n    spec:\n      containers:\n"
        "        - {name: server, resources: {limits: {memory: 12Gi}}}\n"
    )
    objects = deploy.kustomize(tmp_path)
    [deployment] = [o for o in objects if o["kind"] == "Deployment"]
    [server] = deployment["spec"]["template"]["spec"]["containers"]
    assert server["resources"]["limits"]["memory"] == "12Gi"
    # the rest of the overlay is untouched: the same objects as the overlay alone
    plain = deploy.kustomize(overlay)
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        (o["kind"], o["metadata"]["name"]) for o in plain
    ]
    assert server["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_kustomize_names_a_missing_kustomization_and_a_broken_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="no kustomization.yaml"):
        deploy.kustomize(tmp_path)
    (tmp_path / "kustomization.yaml").write_text("resources: [does-not-exist]\n")
    with pytest.raises(deploy.ManifestError, match="does-not-exist"):
        deploy.kustomize(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"overlay": "tpu"}, "choose one of"),
        ({"replicas": 0}, "replicas"),
        ({"overlay": "gpu", "gpus": 0}, "overlay='cpu'"),
        ({"namespace": "Team_A"}, "DNS label"),
        ({"image": "has space:1"}, "image"),
    ],
)
def test_render_rejects_bad_arguments(kwargs, message):
    arguments = {"image": IMAGE, **kwargs}
    with pytest.raises(ValueError, match=message):
        deploy.render(arguments.pop("overlay", "cpu"), **arguments)


# --------------------------------------------------------------------------- validate


@pytest.fixture(scope="module")
def gpu_objects():
    return deploy.render("gpu", image=IMAGE, replicas=1, gpus=1)


def broken(objects, change):
    objects = copy.deepcopy(objects)
    deployment = by_kind(objects, "Deployment")
    change(deployment["spec"]["template"]["spec"]["containers"][0], deployment)
    return objects


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c, d: c["resources"]["requests"].update({GPU: 2}), "request (2) must equal"),
        (lambda c, d: c["resources"].pop("limits"), "resources.limits needs cpu and memory"),
        (lambda c, d: d["spec"]["template"]["spec"].pop("tolerations"), "toleration"),
        (lambda c, d: d["spec"]["template"]["spec"].update(nodeSelector=["gpu"]), "schema"),
        (lambda c, d: c["securityContext"].update(privileged=True), "must not be privileged"),
        (lambda c, d: c["securityContext"].update(runAsUser=0), "runAsUser 0"),
        (lambda c, d: c["securityContext"]["capabilities"].update(drop=[]), "drop must be"),
        (lambda c, d: c["securityContext"].pop("allowPrivilegeEscalation"), "Escalation"),
        (
            lambda c, d: d["spec"]["template"]["spec"]["securityContext"].pop("runAsNonRoot"),
            "runAsNonRoot",
        ),  # fmt: skip
        (lambda c, d: d["spec"]["template"]["spec"].update(hostNetwork=True), "hostNetwork"),
        (lambda c, d: c["readinessProbe"]["httpGet"].update(path="/"), "readinessProbe"),
        (lambda c, d: c.pop("livenessProbe"), "livenessProbe"),
        (
            lambda c, d: d["spec"]["template"]["metadata"]["labels"].update(
                {"app.kubernetes.io/name": "other"}
            ),
            "matches no workload",
        ),  # fmt: skip
        (lambda c, d: c.update(readinessprobe={}), "schema"),  # a typo: strict schema
        (lambda c, d: d["spec"].update(replicas="two"), "schema"),
    ],
)
def test_validate_names_object_and_problem(gpu_objects, change, message):
    with pytest.raises(deploy.ManifestError) as caught:
        deploy.validate(broken(gpu_objects, change))
    assert message in str(caught.value)
    assert any(p.startswith("Deployment labkit/sentiment") for p in caught.value.problems) or (
        "matches no workload" in str(caught.value)
    )


def test_validate_inference_service_and_hpa_limits():
    (isvc,) = deploy.render("kserve", image=IMAGE)
    typo = copy.deepcopy(isvc)
    typo["spec"]["predictor"]["containers"][0]["resource"] = {}  # not a Container field
    with pytest.raises(deploy.ManifestError, match="InferenceService labkit/sentiment: schema"):
        deploy.validate([typo])
    # KServe's CRD schema, not a hand-kept list: a typo at the predictor level, a string count
    # and a scale metric KServe does not have are each refused, with the path
    for change, words in (
        (lambda p: p.update(minReplica=1), "'minReplica' was unexpected"),
        (lambda p: p.update(maxReplicas="4"), "at spec.predictor.maxReplicas"),
        (lambda p: p.update(scaleMetric="gpu"), "'gpu' is not one of"),
    ):
        bad = copy.deepcopy(isvc)
        change(bad["spec"]["predictor"])
        with pytest.raises(deploy.ManifestError, match="KServe InferenceService CRD") as caught:
            deploy.validate([bad])
        assert words in str(caught.value)
    # ... while valid predictor fields the old allowlist refused pass
    fine = copy.deepcopy(isvc)
    fine["spec"]["predictor"].update(priorityClassName="high", runtimeClassName="nvidia")
    deploy.validate([fine])
    gpu_mismatch = copy.deepcopy(isvc)
    gpu_mismatch["spec"]["predictor"]["containers"][0]["resources"]["limits"][GPU] = 2
    with pytest.raises(deploy.ManifestError, match="must equal its limit"):
        deploy.validate([gpu_mismatch])
    too_many = deploy.render("gpu", image=IMAGE, replicas=9)  # the GPU autoscaler stops at 4
    with pytest.raises(deploy.ManifestError, match=r"minReplicas \(9\) <= maxReplicas \(4\)"):
        deploy.validate(too_many)
    with pytest.raises(ValueError, match="no objects"):
        deploy.validate([])


def test_kserve_deployment_mode_is_chosen_and_its_rules_enforced():
    """B1: the mode is an annotation, and each mode's admission rules are checked offline."""
    (standard,) = deploy.render("kserve", image=IMAGE, model_name="reviews", namespace="ml")
    annotations = standard["metadata"]["annotations"]
    assert annotations[manifests.KSERVE_MODE_ANNOTATION] == "Standard"
    predictor = standard["spec"]["predictor"]
    assert predictor["scaleMetric"] in admission.KSERVE_HPA_METRICS
    assert predictor["deploymentStrategy"]["rollingUpdate"] == {"maxSurge": 0,
                                                                "maxUnavailable": 1}  # fmt: skip
    assert deploy.kserve_problems(standard) == []

    # Standard mode: KServe's HPA refuses Knative's metric (the review's B1, second half)
    concurrency = copy.deepcopy(standard)
    concurrency["spec"]["predictor"]["scaleMetric"] = "concurrency"
    with pytest.raises(deploy.ManifestError, match="'concurrency' is refused in Standard mode"):
        deploy.validate([concurrency])
    over = copy.deepcopy(standard)
    over["spec"]["predictor"]["scaleTarget"] = 150
    assert "1-100" in deploy.kserve_problems(over)[0]
    legacy = copy.deepcopy(standard)
    legacy["metadata"]["annotations"][manifests.KSERVE_MODE_ANNOTATION] = "RawDeployment"
    assert "write Standard" in deploy.kserve_problems(legacy)[0]

    # the same predictor in Knative mode: Knative's default feature flags refuse its pod fields
    knative = copy.deepcopy(standard)
    knative["metadata"]["annotations"][manifests.KSERVE_MODE_ANNOTATION] = "Serverless"
    problems = deploy.kserve_problems(knative)
    for words in ("predictor.securityContext.runAsNonRoot", "kubernetes.podspec-securitycontext",
                  "predictor.nodeSelector", "kubernetes.podspec-nodeselector",
                  "predictor.tolerations", "kubernetes.podspec-tolerations",
                  "predictor.scaleMetric 'cpu'", "deploymentStrategy"):  # fmt: skip
        assert any(words in p for p in problems), (words, problems)
    assert all(p.startswith("InferenceService ml/reviews: ") for p in problems)
    # a cluster whose config-features enables the flags admits them (scale metric aside)
    enabled = {flag: "enabled" for flag in admission.KNATIVE_POD_FLAGS.values()}
    left = deploy.kserve_problems(knative, enabled)
    assert left and all("scaleMetric" in p or "deploymentStrategy" in p for p in left), left
    # no annotation: the mode was not chosen, and the install's default (Serverless) applies
    unchosen = copy.deepcopy(standard)
    del unchosen["metadata"]["annotations"][manifests.KSERVE_MODE_ANNOTATION]
    assert "choose the deployment mode on purpose" in deploy.kserve_problems(unchosen)[0]
    other = copy.deepcopy(standard)
    other["metadata"]["annotations"][manifests.KSERVE_MODE_ANNOTATION] = "ModelMesh"
    assert "use Standard or Knative" in deploy.kserve_problems(other)[-1]

    # render(kserve_mode="Knative") fits Knative's defaults, and stays policy-clean
    (fitted,) = deploy.render("kserve", image=IMAGE, kserve_mode="Knative", gpus=2)
    deploy.validate([fitted])
    predictor = fitted["spec"]["predictor"]
    assert not {"securityContext", "nodeSelector", "tolerations", "affinity"} & set(predictor)
    (container,) = predictor["containers"]
    assert container["securityContext"]["runAsNonRoot"] is True
    assert predictor["scaleMetric"] in admission.KSERVE_KPA_METRICS
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/live"  # S10
    for change, words in (
        (lambda c: c.update(lifecycle={}), "containers[0].lifecycle"),
        (lambda c: c["ports"].append({"containerPort": 9000}), "one container port"),
        (lambda c: c["ports"][0].update(containerPort=8012), "8012 is a reserved port"),
        (lambda c: c["ports"][0].update(name="web"), "h2c or http1"),
        (lambda c: c["env"].append({"name": "PORT", "value": "1"}), "reserved environment"),
        (lambda c: c["securityContext"].update(privileged=True), "only privileged: false"),
        (lambda c: c["securityContext"]["capabilities"].update(add=["NET_ADMIN"]),
         "kubernetes.containerspec-addcapabilities"),
        (lambda c: c["securityContext"].update(procMount="Default"), "procMount"),
    ):  # fmt: skip
        bad = copy.deepcopy(fitted)
        change(bad["spec"]["predictor"]["containers"][0])
        assert any(words in p for p in deploy.kserve_problems(bad)), words
    for change, words in (
        (lambda p: p.update(automountServiceAccountToken=True), "only as false"),
        (lambda p: p.update(restartPolicy="Always"), "Knative never allows it"),
        (lambda p: p["volumes"].append({"name": "d", "persistentVolumeClaim": {"claimName": "x"}}),
         "kubernetes.podspec-persistent-volume-claim"),
        (lambda p: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
         "kubernetes.podspec-volumes-hostpath"),
        (lambda p: p["volumes"].append({"name": "n", "nfs": {"server": "s", "path": "/"}}),
         "volumes n: nfs"),
        (lambda p: p.update(deploymentStrategy={"type": "Recreate"}), "only in Standard mode"),
    ):  # fmt: skip
        bad = copy.deepcopy(fitted)
        change(bad["spec"]["predictor"])
        assert any(words in p for p in deploy.kserve_problems(bad)), words
    with pytest.raises(ValueError, match="kserve_mode"):
        deploy.render("kserve", image=IMAGE, kserve_mode="Raw")
    with pytest.raises(ValueError, match="Knative's default feature flags"):
        deploy.render("kserve", image=IMAGE, kserve_mode="Knative", gpu_nodes="gke")


@pytest.mark.parametrize("overlay", ["gpu", "kserve"])
@pytest.mark.parametrize("gpu_nodes", rendering.GPU_NODES)
def test_gpu_node_selection_per_kind_of_cluster(overlay, gpu_nodes):
    """S6: GPU Operator's label only where it exists; GKE, EKS and AKS pools get their own."""
    objects = deploy.render(overlay, image=IMAGE, gpu_nodes=gpu_nodes, model_name="reviews")
    deploy.validate(objects)
    workload = by_kind(objects, "Deployment" if overlay == "gpu" else "InferenceService")
    pod = manifests._pod_spec(workload)
    selector, affinity = pod.get("nodeSelector"), pod.get("affinity")
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert {"key": GPU, "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["containers"][0]["resources"]["limits"][GPU] == 1  # what schedules it anyway
    if gpu_nodes == "gpu-operator":
        assert selector == {"nvidia.com/gpu.present": "true"} and affinity is None
    elif gpu_nodes == "gke":
        (term,) = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
            "nodeSelectorTerms"]  # fmt: skip
        assert term["matchExpressions"] == [
            {"key": "cloud.google.com/gke-accelerator", "operator": "Exists"}
        ]
        assert selector is None and env["LD_LIBRARY_PATH"].startswith("/usr/local/nvidia/lib64")
    elif gpu_nodes == "aks":
        assert selector == {"kubernetes.azure.com/accelerator": "nvidia"}
        assert {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"} in (
            pod["tolerations"]
        )
    else:
        assert selector is None and affinity is None
    assert env[REQUIRE_GPU_ENV] == "1"  # S7: the server refuses to start without a GPU
    with pytest.raises(ValueError, match="gpu_nodes"):
        deploy.render(overlay, image=IMAGE, gpu_nodes="nvidia")


@pytest.mark.parametrize("job", sorted(rendering.TRAINING_JOBS))
@pytest.mark.parametrize("gpu_nodes", rendering.GPU_NODES)
def test_training_jobs_find_the_gpu_nodes_the_serving_pods_find(job, gpu_nodes):
    """S6 for training: the Jobs of k8s/training/ follow --gpu-nodes as the gpu overlay does."""
    learner = "registry.example.com/team/labkit-learner-gpu:0.3.0"
    objects = deploy.render_training(job, image=learner, namespace="team-a", gpu_nodes=gpu_nodes)
    deploy.validate(objects)
    assert {o["metadata"]["namespace"] for o in objects} == {"team-a"}
    training = by_kind(objects, "Job")["spec"]["template"]["spec"]
    serving = by_kind(deploy.render("gpu", image=IMAGE, gpu_nodes=gpu_nodes), "Deployment")
    serving = serving["spec"]["template"]["spec"]
    for field in ("nodeSelector", "affinity", "tolerations"):
        assert training.get(field) == serving.get(field), field
    (container,) = training["containers"]
    assert container["image"] == learner and container["resources"]["limits"][GPU] == 1
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    served = {e["name"]: e.get("value") for e in serving["containers"][0]["env"]}
    assert env.get("LD_LIBRARY_PATH") == served.get("LD_LIBRARY_PATH")  # GKE's driver path
    assert (
        training["restartPolicy"] == "Never" and training["automountServiceAccountToken"] is False
    )


def test_training_jobs_run_to_completion_within_a_deadline_and_refuse_bad_input():
    single = by_kind(deploy.render_training("single-gpu"), "Job")["spec"]
    multi = deploy.render_training("multi-worker")
    spec = by_kind(multi, "Job")["spec"]
    for job in (single, spec):
        assert job["activeDeadlineSeconds"] > 0 and job["ttlSecondsAfterFinished"] > 0
    # every worker at once, one index each, and no retry a running collective cannot take in
    assert spec["completionMode"] == "Indexed" and spec["parallelism"] == spec["completions"]
    assert spec["backoffLimit"] == 0
    service = by_kind(multi, "Service")
    assert service["spec"]["clusterIP"] == "None"  # headless: a DNS name per worker pod
    assert spec["template"]["spec"]["subdomain"] == service["metadata"]["name"]
    claim = by_kind(multi, "PersistentVolumeClaim")["spec"]
    assert claim["accessModes"] == ["ReadWriteMany"] and claim["storageClassName"]
    with pytest.raises(ValueError, match="single-gpu"):
        deploy.render_training("two-gpu")
    with pytest.raises(ValueError, match="gpu_nodes"):
        deploy.render_training(gpu_nodes="nvidia")
    with pytest.raises(ValueError, match="DNS label"):
        deploy.render_training(namespace="Team A")


def test_gpu_rollout_startup_probe_token_and_network_policy():
    """S9, S10, N3: maxSurge 0 on GPUs, startup probes, no API token, ingress on http only."""
    gpu = deploy.render("gpu", image=IMAGE, network_policy=True, namespace="ml")
    deploy.validate(gpu)
    deployment = by_kind(gpu, "Deployment")
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
    }
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["containers"][0]["startupProbe"]["httpGet"]["path"] == "/v2/health/live"
    policy = by_kind(gpu, "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= (
        deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    assert [p["name"] for p in pod["containers"][0]["ports"]] == ["http"]
    assert "NetworkPolicy" not in {o["kind"] for o in deploy.render("cpu", image=IMAGE)}
    with pytest.raises(ValueError, match="KServe creates the pods"):
        deploy.render("kserve", image=IMAGE, network_policy=True)


@pytest.mark.parametrize("replicas", [1, 2])
def test_pdbs_never_block_a_drain(replicas):
    """S3: at every replica count labkit deploy allows, each PDB allows one eviction."""
    for overlay in ("cpu", "gpu"):
        objects = deploy.render(overlay, image=IMAGE, replicas=replicas)
        deploy.validate(objects)
        assert by_kind(objects, "PodDisruptionBudget")["spec"] == {
            "maxUnavailable": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "sentiment"}},
        }
    blocking = copy.deepcopy(objects)
    by_kind(blocking, "PodDisruptionBudget")["spec"] = {
        "minAvailable": replicas,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "sentiment"}},
    }
    with pytest.raises(
        deploy.ManifestError, match="allows no eviction at .* use maxUnavailable: 1"
    ):
        deploy.validate(blocking)
    by_kind(blocking, "PodDisruptionBudget")["spec"].update(minAvailable="50%")
    if replicas == 1:  # 50% of one pod rounds up to one: still no eviction
        with pytest.raises(deploy.ManifestError, match="minAvailable 50%"):
            deploy.validate(blocking)
    else:
        deploy.validate(blocking)


# --------------------------------------------------------------------------- build context


def test_build_context_is_complete_and_atomic(tmp_path):
    model = tmp_path / "model.keras"
    model.write_bytes(b"not really a model, but bytes to copy")
    out = deploy.build_context(model, tmp_path / "context")
    dockerfile = paths.project_file(paths.SERVING_DOCKERFILE)
    assert (out / "Dockerfile").read_text() == dockerfile.read_text()
    assert (out / deploy.MODEL_IN_CONTEXT).read_bytes() == model.read_bytes()
    for name in ("pyproject.toml", "README.md", "requirements/serving.txt", "labkit/__init__.py",
                 "labkit/serving/server.py"):  # fmt: skip
        assert (out / name).is_file(), name
    assert not list(out.rglob("__pycache__"))
    # the Dockerfile's COPY sources exist in the context
    for line in (out / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY ") and "${" not in line:
            for source in line.split()[1:-1]:
                assert (out / source).exists(), line
    # a second build replaces the first; nothing else is left next to it
    model.write_bytes(b"version 2")
    deploy.build_context(model, out)
    assert (out / deploy.MODEL_IN_CONTEXT).read_bytes() == b"version 2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["context", "model.keras"]
    with pytest.raises(FileNotFoundError, match="lesson 09"):
        deploy.build_context(tmp_path / "missing.keras", tmp_path / "other")


# --------------------------------------------------------------------------- no cluster


def no_cluster_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    env.update(KUBECONFIG=str(tmp_path / "does-not-exist.yaml"), HOME=str(tmp_path))
    return env


def test_cli_without_cluster_renders_validates_and_exits_0(tmp_path):
    output = tmp_path / "rendered.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "labkit.cli", "deploy", "--overlay", "gpu", "--image", IMAGE,
         "--replicas", "2", "--gpus", "1", "--namespace", "ml", "--output", str(output)],
        capture_output=True, text=True, timeout=120, env=no_cluster_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if deploy.NOT_APPLIED in line]
    assert len(lines) == 1 and "no cluster configured" in lines[0]
    objects = list(yaml.safe_load_all(output.read_text()))
    assert by_kind(objects, "Deployment")["spec"]["replicas"] == 2
    assert by_kind(objects, "Deployment")["metadata"]["namespace"] == "ml"


def test_cli_renders_the_gpu_node_selection_of_the_cluster_kind(tmp_path):
    output = tmp_path / "rendered.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "labkit.cli", "deploy", "--overlay", "gpu", "--image", IMAGE,
         "--gpu-nodes", "aks", "--render-only", "--output", str(output)],
        capture_output=True, text=True, timeout=120, env=no_cluster_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    pod = by_kind(list(yaml.safe_load_all(output.read_text())), "Deployment")["spec"]["template"]
    assert pod["spec"]["nodeSelector"] == {"kubernetes.azure.com/accelerator": "nvidia"}
    assert {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"} in (
        pod["spec"]["tolerations"]
    )
    wrong = subprocess.run(
        [sys.executable, "-m", "labkit.cli", "deploy", "--image", IMAGE, "--gpu-nodes", "gpu"],
        capture_output=True, text=True, timeout=120, env=no_cluster_env(tmp_path),
    )  # fmt: skip
    assert wrong.returncode == 2 and "gpu-operator" in wrong.stderr  # argparse lists the kinds


def test_cli_reports_bad_manifests_with_exit_1(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "labkit.cli", "deploy", "--overlay", "gpu", "--image", IMAGE,
         "--replicas", "7"],
        capture_output=True, text=True, timeout=120, env=no_cluster_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 1
    assert "HorizontalPodAutoscaler labkit/sentiment" in result.stderr
    assert deploy.NOT_APPLIED not in result.stdout


def test_run_without_cluster(tmp_path, monkeypatch):
    for name, value in no_cluster_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert deploy.load_cluster() is None
    lines = []
    result = deploy.run("cpu", image=IMAGE, log=lines.append)
    assert result.applied is False and result.apply_result is None
    assert len(result.objects) == 4
    assert lines[-1].endswith(f"{deploy.NOT_APPLIED}.")
    with pytest.raises(deploy.ClusterError, match=deploy.NOT_APPLIED):
        deploy.apply(result.objects, namespace="labkit")


# --------------------------------------------------------------------------- layout


def test_the_package_modules_import_only_lower_layers():
    """labkit/deploy/: each module imports only the modules below it (no cycles, issue 18)."""
    import ast

    layers = ["manifests", "context", "rendering", "admission", "policy", "validation",
              "cluster", "lifecycle", "cli"]  # fmt: skip
    folder = Path(deploy.__file__).parent
    assert sorted(p.stem for p in folder.glob("*.py")) == sorted([*layers, "__init__"])
    for index, name in enumerate(layers):
        tree = ast.parse((folder / f"{name}.py").read_text())
        imported = {
            node.module.split(".")[2]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("labkit.deploy.")
        } | {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "labkit.deploy"
            for alias in node.names
        }
        assert not any(  # the package itself: its __init__ imports every module
            isinstance(node, ast.ImportFrom)
            and node.module == "labkit"
            and "deploy" in {a.name for a in node.names}
            for node in ast.walk(tree)
        ), name
        assert imported <= set(layers[:index]), f"{name} imports {imported - set(layers[:index])}"
    assert set(deploy.__all__) <= set(dir(deploy))
