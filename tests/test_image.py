"""The serving image built for real, offline: ``docker/build-image.sh`` (``make image``).

The script debootstraps a Debian bookworm base, downloads the files of the serving lock
(``requirements/serving.txt``, hash-checked) with that base's own pip, builds
``docker/serving.Dockerfile`` with ``buildah bud --isolation chroot --from <that base>`` and runs
the image's own CMD with ``buildah run``, then asks ``/v2/health/ready`` and
``/v1/models/sentiment:predict``; the image holds exactly the lock's versions. It needs root
and Debian's ``buildah`` and ``debootstrap`` (``.ci/run`` installs them); without them the test
is skipped, except in CI (``CI=true``), where it fails. Cold (nothing cached) it takes about
5 minutes on 2 cores and ~5 GB of disk; later runs reuse build/image/ and buildah's layer cache.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from locked_env import image_pins, locked_pins

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
TAG = "labkit-serving:latest"


def test_build_script_and_dockerfile_agree(repo):
    """The build arguments the script passes are declared by the Dockerfile (else buildah
    ignores them and pip would go to PyPI), and the script parses as bash."""
    script = (repo / "docker" / "build-image.sh").read_text()
    dockerfile = (repo / "docker" / "serving.Dockerfile").read_text()
    passed = set(re.findall(r"--build-arg (\w+)=", script))
    assert passed == {"PIP_NO_INDEX", "PIP_FIND_LINKS", "MODEL"}
    declared = set(re.findall(r"^ARG (\w+)", dockerfile, flags=re.M))
    assert passed <= declared, passed - declared
    learner = (repo / "docker" / "learner.Dockerfile").read_text()
    assert passed - {"MODEL"} <= set(re.findall(r"^ARG (\w+)", learner, flags=re.M))
    assert "set -euo pipefail" in script and "--isolation chroot" in script
    # the stand-in model lives under build/image/model, which .dockerignore must let in
    assert "!build/image/model" in (repo / ".dockerignore").read_text().split()
    result = subprocess.run(["bash", "-n", str(repo / "docker" / "build-image.sh")])
    assert result.returncode == 0


@pytest.mark.slow
def test_serving_image_builds_offline_and_serves(repo):
    missing = [tool for tool in ("buildah", "debootstrap") if not shutil.which(tool)]
    if os.geteuid() != 0:
        missing.append("root (debootstrap and buildah's chroot isolation)")
    if missing:
        message = (
            f"building the image needs {', '.join(missing)}: apt-get install -y buildah debootstrap"
        )
        if IN_CI:
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)

    env = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(
        [str(repo / "docker" / "build-image.sh"), "--tag", TAG],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]

    # the server in the image answered: ready, then one prediction per review
    assert re.search(r"GET /v2/health/ready -> 200 .*\"ready\": ?true", output), output[-3000:]
    (line,) = [line for line in output.splitlines() if line.startswith("POST /v1/models/")]
    predictions = json.loads(line.split("->", 1)[1])
    assert len(predictions) == 2
    for prediction in predictions:
        assert prediction["label"] in {"positive", "negative"}
        probabilities = prediction["probabilities"]
        assert set(probabilities) == {"positive", "negative"}
        assert abs(sum(probabilities.values()) - 1) < 1e-4
        assert prediction["probability"] == max(probabilities.values())
    assert "the image's user: uid 10001" in output  # never root

    # the image's configuration: as the Dockerfile says, on the debootstrapped base
    inspect = subprocess.run(
        ["buildah", "inspect", "--type", "image", TAG], capture_output=True, text=True, check=True
    )
    image = json.loads(inspect.stdout)
    container = subprocess.run(
        ["buildah", "from", TAG], capture_output=True, text=True, check=True
    ).stdout.strip()
    config = image["Docker"]["config"]
    assert config["User"] == "10001:10001"
    assert config["Healthcheck"]["Test"][:2] == ["CMD", "python"]
    assert config["Cmd"][:3] == ["python", "-m", "labkit.serving"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert any(var.startswith("PATH=/opt/venv/bin:") for var in config["Env"])
    # exactly the lock's versions (requirements/serving.txt, its markers for the image's Python)
    try:
        python, freeze = (
            subprocess.run(
                ["buildah", "run", "--isolation", "chroot", container, "--", "python", *args],
                capture_output=True,
                text=True,
                check=True,
            ).stdout  # fmt: skip
            for args in (
                ["-c", "import platform; print(platform.python_version())"],
                ["-m", "pip", "freeze", "--all"],
            )
        )
    finally:
        subprocess.run(["buildah", "rm", container], capture_output=True, check=True)
    python = python.strip()
    installed = image_pins(freeze)
    expected = locked_pins(repo / "requirements" / "serving.txt", python)
    wrong = {n: (installed.get(n), v) for n, v in expected.items() if installed.get(n) != v}
    assert wrong == {}, f"(in the image, in the lock) differ: {wrong}"
    assert set(installed) - set(expected) == {"labkit"}
    # no container is left behind by the check
    containers = subprocess.run(
        ["buildah", "containers", "--json"], capture_output=True, text=True, check=True
    )
    names = [c.get("imagename", "") for c in json.loads(containers.stdout or "null") or []]
    assert not any("labkit-serving" in name for name in names), names
