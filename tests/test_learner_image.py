"""The learner image (docker/learner.Dockerfile, the JupyterHub image) built and run, offline.

``docker/build-image.sh --image learner`` (``make learner-image``) builds it with buildah from a
debootstrapped base and the hashed lock (requirements/learner.txt), then
``docker/check-learner-image.py`` starts it as ``k8s/jupyterhub/values.yaml`` starts a learner's
server: the values' uid and fsGid, an empty writable home, the data mirror mounted read-only
where the values mount it, ``LABKIT_DATA_MIRROR`` from their ``extraEnv``. Inside it run
``jupyterhub-singleuser --version``, ``labkit doctor``, ``labkit data list``,
``labkit deploy --overlay gpu`` (outside any checkout) and lessons 01 and 16 with their smoke
parameters, held to their bars. That is the JupyterHub path proven without a cluster.

It needs root, Debian's ``buildah`` and ``debootstrap`` and the data mirror
(``LABKIT_DATA_MIRROR``); ``.ci/run`` provides them. Without them the test is skipped, except in
CI (``CI=true``), where it fails. Cold it takes about 10 minutes on 2 cores and ~8 GB of disk;
later runs reuse build/image/ and buildah's layer cache.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from locked_env import image_pins, locked_pins

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
TAG = "labkit-learner:latest"
LESSONS = ("01_clustering.ipynb", "16_deploy_gpu_kubernetes.ipynb")


@pytest.fixture(scope="module")
def checked(repo, tmp_path_factory):
    """Build the image and run the check; (transcript text, results.json, pod settings)."""
    missing = [tool for tool in ("buildah", "debootstrap") if not shutil.which(tool)]
    if os.geteuid() != 0:
        missing.append("root (debootstrap and buildah's chroot isolation)")
    if not os.environ.get("LABKIT_DATA_MIRROR"):
        missing.append("LABKIT_DATA_MIRROR (the data mirror the lessons read)")
    if missing:
        message = f"building and running the learner image needs {', '.join(missing)}"
        if IN_CI:
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    out = tmp_path_factory.mktemp("learner-check")
    env = {**os.environ, "PYTHON": sys.executable, "LABKIT_IMAGE_CHECK_OUT": str(out)}
    result = subprocess.run(
        [str(repo / "docker" / "build-image.sh"), "--image", "learner", "--tag", TAG],
        cwd=repo, env=env, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    output = result.stdout + result.stderr
    transcript = out / "transcript.txt"
    assert transcript.is_file(), output[-6000:]
    text = transcript.read_text()
    assert result.returncode == 0, text[-8000:] + output[-3000:]
    sys.path.insert(0, str(repo / "docker"))
    try:
        from importlib import import_module

        pod = import_module("check-learner-image").pod_settings()
    finally:
        sys.path.remove(str(repo / "docker"))
    return text, json.loads((out / "run" / "results.json").read_text()), pod


def step(text: str, command: str) -> tuple[str, int]:
    """The output and exit status of one command of the transcript."""
    match = re.search(
        rf"^\$ \((\S+)\) {re.escape(command)}\n(.*?)^\[exit (\d+)\]$", text, re.M | re.S
    )
    assert match, f"`{command}` did not run in the image"
    return match.group(2), int(match.group(3))


@pytest.mark.slow
def test_started_as_jupyterhub_starts_it(checked):
    text, _, pod = checked
    values = yaml.safe_load(
        (Path(__file__).parent.parent / "k8s/jupyterhub/values.yaml").read_text()
    )
    assert pod["uid"] == values["singleuser"]["uid"] and pod["uid"] != 0
    output, status = step(text, "id -u")
    assert status == 0 and output.strip() == str(pod["uid"])
    assert f"mirror {os.environ['LABKIT_DATA_MIRROR']} at {pod['mirror_path']} read-only" in text
    output, status = step(text, "jupyterhub-singleuser --version")
    assert status == 0 and re.fullmatch(r"5\.\d+\.\d+", output.strip()), output


@pytest.mark.slow
def test_the_image_holds_exactly_the_lock(checked, repo):
    text, _, _ = checked
    output, _ = step(text, "python -c import platform; print('python', platform.python_version())")
    python = output.split()[-1]
    freeze, status = step(text, "python -m pip freeze --all")
    assert status == 0
    installed = image_pins(freeze)
    expected = locked_pins(repo / "requirements" / "learner.txt", python)
    wrong = {n: (installed.get(n), v) for n, v in expected.items() if installed.get(n) != v}
    assert wrong == {}, f"(in the image, in the lock) differ: {wrong}"
    extra = set(installed) - set(expected) - {"labkit"}
    assert extra == set(), f"installed but not locked: {extra}"
    assert installed["labkit"]


@pytest.mark.slow
def test_labkit_works_outside_any_checkout(checked):
    text, _, _ = checked
    output, status = step(text, "labkit doctor")
    assert status == 0 and "MISSING" not in output, output
    output, status = step(text, "labkit data list")
    assert status == 0 and "mnist" in output
    (command,) = [
        line.split(") ", 1)[1] for line in text.splitlines()
        if line.startswith("$ ") and line.split(") ", 1)[1].startswith("labkit deploy")
    ]  # fmt: skip
    assert f"({checked[2]['home']})" in text  # run in the home folder, no checkout above it
    output, status = step(text, command)
    assert status == 0 and "rendered and validated, not applied" in output, output


@pytest.mark.slow
def test_lessons_01_and_14_hold_their_smoke_bars_in_the_image(checked):
    _, results, _ = checked
    assert results["profile"] == "smoke"
    lessons = {lesson["notebook"]: lesson for lesson in results["lessons"]}
    assert set(lessons) == set(LESSONS)
    for name, lesson in lessons.items():
        assert lesson["status"] == "passed", (name, lesson["error"], lesson["checks"])
        assert lesson["checks"] and all(check["passed"] for check in lesson["checks"]), name
