"""labkit.paths: the one lookup of the project folder (LABKIT_HOME, working directory, checkout,
the wheel's copy) and its errors. The wheel's copy itself is exercised by tests/test_wheel.py."""

from __future__ import annotations

import pytest

from labkit import datasets, deploy, paths, runner


def project(folder):
    (folder / "notebooks").mkdir(parents=True)
    (folder / "notebooks" / "curriculum.yaml").write_text("lessons: []\n")
    return folder


@pytest.fixture(autouse=True)
def no_home(monkeypatch):
    monkeypatch.delenv(paths.HOME_ENV, raising=False)


def test_labkit_home_comes_first(tmp_path, monkeypatch):
    home = project(tmp_path / "home")
    monkeypatch.chdir(project(tmp_path / "clone") / "notebooks")
    monkeypatch.setenv(paths.HOME_ENV, str(home))
    assert paths.project() == paths.Project(home.resolve(), "LABKIT_HOME")
    assert paths.writable_root() == home.resolve()


def test_a_labkit_home_without_the_curriculum_is_an_error_not_another_copy(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "typo"))
    with pytest.raises(paths.ProjectNotFoundError, match="LABKIT_HOME=.*typo.*curriculum.yaml"):
        paths.project()
    with pytest.raises(paths.ProjectNotFoundError):
        paths.writable_root()  # never writes somewhere else instead


def test_the_clone_a_learner_works_in_comes_before_the_installed_checkout(tmp_path, monkeypatch):
    clone = project(tmp_path / "labkit")
    monkeypatch.chdir(clone / "notebooks")
    assert paths.project() == paths.Project(clone.resolve(), "working directory")
    (clone / "k8s" / "serving" / "overlays" / "cpu").mkdir(parents=True)
    with pytest.raises(paths.ProjectNotFoundError, match="kustomization.yaml is missing from"):
        deploy.render("cpu", image="example.org/a:1")  # the clone's manifests, not the checkout's
    with pytest.raises(paths.ProjectNotFoundError, match=r"datasets/registry.yaml .*LABKIT_HOME"):
        datasets.Registry.load()
    assert runner.default_curriculum() == clone.resolve() / "notebooks" / "curriculum.yaml"


def test_elsewhere_the_checkout_labkit_is_imported_from(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = paths.project()
    assert found.found_by == "checkout"
    assert found.root == paths.PACKAGE_DIR.parent
    assert paths.project_file(paths.K8S_SERVING, "overlays", "gpu").is_dir()


def test_the_packaged_copy_is_read_only(tmp_path, monkeypatch):
    package = tmp_path / "site-packages" / "labkit"
    project(package / "_project")
    monkeypatch.setattr(paths, "PACKAGE_DIR", package)
    monkeypatch.setattr(paths, "PACKAGED_DIR", package / "_project")
    monkeypatch.chdir(tmp_path)
    found = paths.project()
    assert found.packaged and found.root == package / "_project"
    assert paths.writable_root() == tmp_path.resolve()  # build/ and mlruns.db go here


def test_nothing_found_says_what_to_set(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "PACKAGE_DIR", tmp_path / "site-packages" / "labkit")
    monkeypatch.setattr(paths, "PACKAGED_DIR", tmp_path / "site-packages" / "labkit" / "_project")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(paths.ProjectNotFoundError, match="Set LABKIT_HOME to a labkit checkout"):
        paths.project()
    assert paths.writable_root() == tmp_path.resolve()
