"""labkit as a learner's image installs it: the wheel, non-editable, in a fresh environment.

The environment is built from the learner image's lock (requirements/learner.txt, hash-checked)
with Python 3.12 where this machine has it (the lock covers 3.11 and 3.12; the dev environment
is 3.11), then labkit's wheel is installed into it without its checkout. Every command runs
from a folder outside the checkout, with no ``LABKIT_HOME``: labkit must find its curriculum,
data registry, manifests and Dockerfile in what the wheel carries (labkit/paths.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest
import yaml
from locked_env import build_wheel, find_python, locked_venv, python_version

from labkit import paths, pipelines

IMAGE = "registry.example.org/team/labkit-serving-gpu:0.3.0"
pytestmark = pytest.mark.slow  # a fresh environment of the whole lock: minutes


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python of the fresh environment, a working folder outside the checkout)."""
    python = os.environ.get("LABKIT_WHEEL_PYTHON") or find_python("3.12") or sys.executable
    venv = locked_venv("wheel", "learner.txt", python)
    wheel = build_wheel(tmp_path_factory.mktemp("wheel"))
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("labkit/_project/notebooks/curriculum.yaml",
                   "labkit/_project/datasets/registry.yaml",
                   "labkit/_project/k8s/serving/overlays/gpu/kustomization.yaml",
                   "labkit/_project/docker/serving.Dockerfile",
                   "labkit/_project/requirements/serving.txt"):  # fmt: skip
        assert needed in names, f"the wheel lacks {needed}"
    assert not [n for n in names if "__pycache__" in n or ".ipynb_checkpoints" in n]
    bin_python = str(venv / "bin" / "python")
    subprocess.run(
        [bin_python, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall",
         str(wheel)],
        check=True,
    )  # fmt: skip
    return venv, tmp_path_factory.mktemp("elsewhere")


def run(installed, *args, **kwargs):
    venv, cwd = installed
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "VIRTUAL_ENV", "LABKIT_HOME", "LABKIT_REGISTRY"))
    }  # fmt: skip
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=600, **kwargs
    )


def test_labkit_is_the_installed_package_reading_its_own_files(installed):
    venv, _ = installed
    result = run(
        installed, "python", "-c",
        "import labkit, labkit.paths as p; print(labkit.__file__); print(p.project().found_by)",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    module, found_by = result.stdout.split("\n")[:2]
    assert module.startswith(str(venv)) and "site-packages" in module, module
    assert found_by == "installed package"


def test_doctor_and_data_list(installed):
    doctor = run(installed, "labkit", "doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    version = python_version(str(installed[0] / "bin" / "python"))
    assert f"on Python {version}" in doctor.stdout
    assert "MISSING" not in doctor.stdout
    assert "_project (found by: installed package)" in doctor.stdout
    listing = run(installed, "labkit", "data", "list")
    assert listing.returncode == 0, listing.stderr
    registry = yaml.safe_load(paths.project_file(paths.REGISTRY).read_text())
    for name in registry["datasets"]:
        assert name in listing.stdout, name


def test_deploy_renders_and_validates_the_gpu_overlay(installed, tmp_path):
    result = run(installed, "labkit", "deploy", "--overlay", "gpu", "--image", IMAGE, "--gpus", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rendered and validated, not applied" in result.stdout
    # the same objects as the checkout renders
    code = (
        "import json, sys; from labkit import deploy; "
        f"json.dump(deploy.render('gpu', image={IMAGE!r}, gpus=2), sys.stdout)"
    )
    installed_objects = run(installed, "python", "-c", code)
    assert installed_objects.returncode == 0, installed_objects.stderr
    from labkit import deploy

    assert yaml.safe_load(installed_objects.stdout) == deploy.render("gpu", image=IMAGE, gpus=2)


def test_build_context_from_the_installed_package(installed, tmp_path):
    model = tmp_path / "model.keras"
    model.write_bytes(b"bytes of a model")
    code = f"from labkit import deploy; print(deploy.build_context({str(model)!r}, 'context'))"
    result = run(installed, "python", "-c", code)
    assert result.returncode == 0, result.stderr
    context = installed[1] / "context"
    for name in ("Dockerfile", "pyproject.toml", "README.md", "requirements/serving.txt",
                 "labkit/deploy/__init__.py", "build/models/sentiment_lstm.keras"):  # fmt: skip
        assert (context / name).is_file(), name
    assert not (context / "labkit" / "_project").exists()  # the package's source, not its data


def test_the_pipeline_compiles_to_the_committed_one(installed):
    result = run(installed, "python", "-m", "labkit.pipelines", "--out", "pipeline.yaml")
    assert result.returncode == 0, result.stderr
    fresh = installed[1] / "pipeline.yaml"
    assert pipelines.ir_differences(fresh, pipelines.committed_pipeline()) == []
    # without --out there is no checkout to write into: a clear error, nothing written
    refused = run(installed, "python", "-m", "labkit.pipelines")
    assert refused.returncode != 0 and "--out FILE" in refused.stderr
    check = run(installed, "python", "-m", "labkit.pipelines", "--check")
    assert check.returncode == 0, check.stderr


def test_a_wrong_labkit_home_is_an_error_that_says_what_to_set(installed, tmp_path):
    result = run(
        installed, "env", f"LABKIT_HOME={tmp_path}", "labkit", "deploy", "--overlay", "cpu",
        "--image", IMAGE,
    )  # fmt: skip
    assert result.returncode != 0
    assert "LABKIT_HOME" in result.stderr and "notebooks/curriculum.yaml" in result.stderr
    assert "Traceback" not in result.stderr
