"""The container build context of the serving image: :func:`build_context`.

A folder with ``Dockerfile`` (a copy of ``docker/serving.Dockerfile``), the project files the
image installs (``pyproject.toml``, ``README.md``, ``requirements/``), the running labkit
package's source and the model, ready for ``buildah bud -t IMAGE DIR`` or ``docker build -t
IMAGE DIR`` with no build arguments. The lowest layer of :mod:`labkit.deploy`: it needs no
Kubernetes. Upstream: the build context (https://docs.docker.com/build/concepts/context/),
``buildah bud`` (https://github.com/containers/buildah/blob/main/docs/buildah-build.1.md).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from labkit.files import replace_folder, staging_folder

#: the running labkit package: build contexts copy its source
PACKAGE_DIR = Path(__file__).resolve().parent.parent
#: project files a build context needs besides the Dockerfile (found by labkit.paths)
CONTEXT_FILES = ("pyproject.toml", "README.md", "requirements")
MODEL_IN_CONTEXT = "build/models/sentiment_lstm.keras"  # serving.Dockerfile's default ARG MODEL


def build_context(model_path: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Write a container build context for ``docker/serving.Dockerfile`` around one model file.

    The folder holds ``Dockerfile`` (a copy of ``docker/serving.Dockerfile``), ``pyproject.toml``,
    ``README.md``, ``requirements/`` (the hashed lock the image installs), ``labkit/`` (the
    running package's source, without caches) and the model at ``build/models/
    sentiment_lstm.keras`` (the Dockerfile's default ``MODEL``), so that
    ``buildah bud -t IMAGE OUT_DIR`` or ``docker build -t IMAGE OUT_DIR`` builds the serving
    image with no build arguments. It is written into a temporary sibling folder and renamed into
    place, so ``out_dir`` is never half-written; an existing ``out_dir`` is replaced.

    Args:
        model_path: a saved Keras model (``.keras`` file), e.g. lesson 09's export.
        out_dir: the folder to create (its parent is created too).

    Returns:
        ``out_dir`` as a resolved :class:`~pathlib.Path`.

    Raises:
        FileNotFoundError: the model file is missing.
        labkit.paths.ProjectNotFoundError: a project file (the Dockerfile, ``pyproject.toml``,
            ``requirements/``) is missing; the message says where labkit looked.
        ValueError: ``model_path`` is not a ``.keras`` file.
    """
    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(
            f"No model file at {model_path}: export one with model.save('....keras') first "
            "(lesson 09 writes build/models/sentiment_lstm.keras)."
        )
    if model_path.suffix != ".keras":
        raise ValueError(f"{model_path} is not a .keras file: save the model with model.save().")
    from labkit import paths

    dockerfile = paths.project_file(paths.SERVING_DOCKERFILE)
    needed = [paths.project_file(name) for name in CONTEXT_FILES]
    out_dir = Path(out_dir).resolve()
    with staging_folder(out_dir, suffix=".staging") as staging:
        shutil.copy2(dockerfile, staging / "Dockerfile")
        for source in needed:
            if source.is_dir():
                shutil.copytree(source, staging / source.name)
            else:
                shutil.copy2(source, staging / source.name)
        shutil.copytree(
            PACKAGE_DIR,
            staging / "labkit",
            ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc", ".ipynb_checkpoints", paths.PACKAGED_DIR.name
            ),
        )
        (staging / MODEL_IN_CONTEXT).parent.mkdir(parents=True)
        shutil.copy2(model_path, staging / MODEL_IN_CONTEXT)
        replace_folder(staging, out_dir)
    return out_dir
