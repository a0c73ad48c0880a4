"""Where labkit finds the project files its code reads: one lookup, used by every module.

labkit's code reads files that live beside the package in the repository:
``notebooks/curriculum.yaml`` and the lessons (:mod:`labkit.runner`, :mod:`labkit.pipelines`),
``datasets/registry.yaml`` (:mod:`labkit.datasets`), ``k8s/serving/`` and
``docker/serving.Dockerfile`` (:mod:`labkit.deploy`), ``k8s/pipelines/`` and the manifests the
exercise checks compare with (:mod:`labkit.exercises`). They are all taken from one *project
folder*, the first of:

1. ``$LABKIT_HOME``, when set: a labkit checkout or a copy of its files. It is an error when it
   lacks them (a typo is not silently replaced by another copy).
2. The nearest folder at or above the working directory that holds ``notebooks/curriculum.yaml``:
   the clone a learner works in (``~/labkit`` on JupyterHub, where lessons run in
   ``notebooks/``), so that the manifests a learner edits are the ones labkit renders.
3. The checkout labkit is imported from (an editable install: ``make lab``, Binder).
4. The copy inside the installed package, ``labkit/_project/``, which the wheel build puts
   there (``[tool.hatch.build.targets.wheel]`` in ``pyproject.toml``): ``pip install labkit``
   or the learner image, outside any checkout. It is read-only: what labkit writes (the MLflow
   store, ``build/``) then goes to the working directory (:func:`writable_root`).

Python's packaging guide on data files:
https://packaging.python.org/en/latest/guides/distributing-package-files/
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "HOME_ENV",
    "CURRICULUM",
    "REGISTRY",
    "K8S_SERVING",
    "K8S_TRAINING",
    "SERVING_DOCKERFILE",
    "PIPELINE_YAML",
    "Project",
    "ProjectNotFoundError",
    "project",
    "project_file",
    "writable_root",
]

HOME_ENV = "LABKIT_HOME"

# The project files labkit's code reads, relative to the project folder.
#: the lessons, their smoke parameters and bars (labkit.runner); it marks a project folder
CURRICULUM = Path("notebooks") / "curriculum.yaml"
#: every data set and weight file (labkit.datasets)
REGISTRY = Path("datasets") / "registry.yaml"
#: the kustomize tree labkit.deploy renders (base, overlays/cpu, overlays/gpu, kserve)
K8S_SERVING = Path("k8s") / "serving"
#: the training Jobs (single-gpu, multi-worker), rendered by labkit.deploy.render_training
K8S_TRAINING = Path("k8s") / "training"
#: the serving image's Dockerfile, copied into build contexts (labkit.deploy.build_context)
SERVING_DOCKERFILE = Path("docker") / "serving.Dockerfile"
#: the compiled Kubeflow pipeline (labkit.pipelines), committed for upload to a cluster
PIPELINE_YAML = Path("k8s") / "pipelines" / "sentiment_pipeline.yaml"
PACKAGE_DIR = Path(__file__).resolve().parent
#: where the wheel puts its copy of the project files
PACKAGED_DIR = PACKAGE_DIR / "_project"


class ProjectNotFoundError(FileNotFoundError):
    """No labkit project folder was found, or it lacks a file labkit needs."""


@dataclass(frozen=True)
class Project:
    """The project folder labkit reads from.

    Attributes:
        root: the folder (absolute).
        found_by: how it was chosen: ``"LABKIT_HOME"``, ``"working directory"``,
            ``"checkout"`` or ``"installed package"``.
    """

    root: Path
    found_by: str

    @property
    def packaged(self) -> bool:
        """True for the read-only copy inside the installed package."""
        return self.found_by == "installed package"

    def __str__(self) -> str:
        return f"{self.root} (found by: {self.found_by})"


def project() -> Project:
    """The project folder, found as the module docstring says (nothing is cached: a changed
    working directory or ``$LABKIT_HOME`` counts at once).

    Raises:
        ProjectNotFoundError: ``$LABKIT_HOME`` is set but has no ``notebooks/curriculum.yaml``,
            or no project folder exists at all (labkit installed without its files).
    """
    configured = os.environ.get(HOME_ENV, "").strip()
    if configured:
        root = Path(configured).expanduser().resolve()
        if not (root / CURRICULUM).is_file():
            raise ProjectNotFoundError(
                f"{HOME_ENV}={configured} is not a labkit project folder: {root / CURRICULUM} is "
                f"missing. Point {HOME_ENV} at a labkit checkout (the folder with notebooks/, "
                f"datasets/, k8s/ and docker/), or unset it to use the files installed with labkit."
            )
        return Project(root, HOME_ENV)
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / CURRICULUM).is_file():
            return Project(folder, "working directory")
    checkout = PACKAGE_DIR.parent
    if (checkout / CURRICULUM).is_file() and (checkout / "pyproject.toml").is_file():
        return Project(checkout, "checkout")
    if (PACKAGED_DIR / CURRICULUM).is_file():
        return Project(PACKAGED_DIR, "installed package")
    raise ProjectNotFoundError(
        f"labkit's project files (notebooks/, datasets/, k8s/, docker/) were found neither at or "
        f"above the working directory {here}, nor beside the package ({checkout}), nor inside it "
        f"({PACKAGED_DIR}). Set {HOME_ENV} to a labkit checkout, run from inside one, or "
        "reinstall labkit from its wheel (pip install labkit)."
    )


def project_file(*parts: str | os.PathLike) -> Path:
    """A file or folder of the project, e.g. ``project_file("k8s", "serving")``.

    Args:
        *parts: the path relative to the project folder.

    Returns:
        The absolute path; it exists.

    Raises:
        ProjectNotFoundError: no project folder, or the path is not in it (the message names
            the folder, how it was found and what to set).
    """
    where = project()
    path = where.root.joinpath(*parts)
    if not path.exists():
        relative = Path(*parts).as_posix()
        raise ProjectNotFoundError(
            f"{relative} is missing from the labkit project folder {where}. Restore it (git "
            f"checkout -- {relative}), or set {HOME_ENV} to a complete labkit checkout."
        )
    return path


def writable_root() -> Path:
    """Where labkit writes project-level files (``mlruns.db``, ``build/``): the project folder,
    or the working directory when the project is the read-only copy inside the package (or
    there is none).

    Raises:
        ProjectNotFoundError: ``$LABKIT_HOME`` is set to a folder that is not a project.
    """
    try:
        where = project()
    except ProjectNotFoundError:
        if os.environ.get(HOME_ENV, "").strip():
            raise
        return Path.cwd().resolve()
    return Path.cwd().resolve() if where.packaged else where.root
