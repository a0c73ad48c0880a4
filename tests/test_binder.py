"""binder/: the repo2docker configuration that mybinder.org builds the learner image from.

repo2docker only reads ``binder/`` when that folder exists (the root ``environment.yml`` is then
ignored). These tests run repo2docker's own detection and Dockerfile generation without building
(``--no-build``: no container engine needed) and check that it picks Python 3.11 and our
``postBuild``, and that ``postBuild`` installs labkit from pyproject.toml (no second dependency list
that could drift) and pre-fetches the curriculum's data.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import urllib.parse

import pytest
from packaging.specifiers import SpecifierSet

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
BINDER_REPO = "labkit-org/labkit"  # placeholder GitHub org/repo, as the README says


def _require_repo2docker() -> None:
    try:
        import repo2docker  # noqa: F401
    except ImportError:
        if IN_CI:
            pytest.fail("CI=true but jupyter-repo2docker is not installed (the dev extra has it)")
        pytest.skip("jupyter-repo2docker is not installed (pip install jupyter-repo2docker)")


@pytest.fixture(scope="module")
def dockerfile(repo) -> str:
    """The Dockerfile repo2docker generates for the repository, as mybinder.org would."""
    _require_repo2docker()
    env = dict(os.environ, DOCKER_HOST="unix:///nonexistent/docker.sock")  # prove: no engine
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "repo2docker",
            "--no-build",
            "--debug",
            "--user-id",
            "1000",  # mybinder.org's user, not whoever runs the tests
            "--user-name",
            "jovyan",
            str(repo),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, f"repo2docker --no-build failed:\n{result.stderr[-4000:]}"
    assert "FROM " in result.stdout, f"no Dockerfile on stdout:\n{result.stdout[-2000:]}"
    return result.stdout


def test_repo2docker_picks_the_binder_folder_and_python_311(repo, monkeypatch):
    _require_repo2docker()
    from repo2docker.app import Repo2Docker
    from repo2docker.buildpacks import PythonBuildPack

    monkeypatch.chdir(repo)  # buildpacks detect relative to the working directory
    app = Repo2Docker()
    picked = next(
        bp for bp in (cls(base_image=app.base_image) for cls in app.buildpacks) if bp.detect()
    )
    assert type(picked) is PythonBuildPack, f"repo2docker picked {type(picked).__name__}"
    assert picked.binder_dir == "binder"
    assert picked.python_version == "3.11"
    assert picked.get_post_build_scripts() == ["binder/postBuild"]


def test_generated_dockerfile_runs_postbuild_with_python_311(dockerfile):
    from escapism import unescape  # repo2docker escapes the names of the files it copies in

    # the conda environment repo2docker builds from is its Python 3.11 lock file
    copied = re.findall(r"^COPY \S+ build_script_files/(\S+)-[0-9a-f]{6} ", dockerfile, re.M)
    names = [unescape(name, escape_char="-") for name in copied]  # less the "-<hash>" suffix
    assert any("/environment.py-3.11-linux-64.lock" in name for name in names), names
    assert "RUN ./binder/postBuild" in dockerfile
    # postBuild runs as the notebook user on a copy of the repository that user owns, so that
    # `pip install --editable .` can write its metadata next to pyproject.toml
    copy = re.search(r"^COPY --chown=(\S+) src/ \$\{REPO_DIR\}/$", dockerfile, re.M)
    assert copy and copy.group(1) == "1000:1000", "the repository is not owned by the user"
    before_postbuild = dockerfile[: dockerfile.index("RUN ./binder/postBuild")]
    assert re.findall(r"^USER (\S+)$", before_postbuild, re.M)[-1] == "${NB_USER}"
    # binder/ overrides the root files: the root environment.yml (conda) is not used
    assert "environment.yml" not in dockerfile


def test_postbuild_installs_the_lock_then_labkit_and_prefetches_data(repo):
    postbuild = repo / "binder" / "postBuild"
    assert os.access(postbuild, os.X_OK), "binder/postBuild must be executable"
    text = postbuild.read_text()
    lines = text.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert "set -euo pipefail" in lines, "postBuild must stop at the first failing command"
    syntax = subprocess.run(["bash", "-n", str(postbuild)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr

    # labkit's dependencies come from the hashed lock exported from uv.lock (pyproject.toml's
    # extras), then labkit itself, editable, without dependencies of its own
    locks = re.findall(r"pip install .*--require-hashes .*-r (requirements/[\w.-]+\.txt)", text)
    assert locks[:1] == ["requirements/build.txt"] and len(locks) == 2, locks  # build tools first
    header = (repo / locks[1]).read_text().splitlines()[1]
    assert "--extra serve" in header and "--extra pipelines" in header, header
    assert "--extra hub" not in header  # Binder's own jupyterhub-singleuser must stay
    assert re.search(r"pip install .*--no-deps --no-build-isolation --editable \.$", text, re.M)
    assert text.index("--require-hashes") < text.index("--editable")
    # ... and from nowhere else: no second dependency list in binder/ that could drift
    for name in ("requirements.txt", "environment.yml", "Pipfile", "setup.py", "install.R"):
        assert not (repo / "binder" / name).exists(), f"binder/{name} would duplicate pyproject"

    # the data sets are fetched at build time, with a command the CLI really has
    assert re.search(r"^labkit data fetch\b", text, re.M)
    fetch_help = subprocess.run(
        [sys.executable, "-m", "labkit.cli", "data", "fetch", "--help"],
        capture_output=True,
        text=True,
    )
    assert fetch_help.returncode == 0, fetch_help.stderr


def test_runtime_matches_requires_python(repo):
    runtime = (repo / "binder" / "runtime.txt").read_text().strip()
    assert runtime == "python-3.11"
    pyproject = tomllib.loads((repo / "pyproject.toml").read_text())
    assert "3.11" in SpecifierSet(pyproject["project"]["requires-python"])


def test_readme_binder_badge_opens_an_existing_lesson(repo):
    readme = (repo / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((https://mybinder\.org/v2/gh/[^)\s]+)\)", readme)
    assert links, "README.md has no mybinder.org link"
    for link in links:
        url = urllib.parse.urlsplit(link)
        assert url.path.startswith(f"/v2/gh/{BINDER_REPO}/"), link
        urlpath = urllib.parse.parse_qs(url.query)["urlpath"][0]
        assert urlpath.startswith("lab/tree/"), link
        assert (repo / urlpath.removeprefix("lab/tree/")).is_file(), f"{link}: no such notebook"
    assert "https://mybinder.org/badge_logo.svg" in readme
