# The labkit learner image for NVIDIA GPUs: docker/learner.Dockerfile with TensorFlow's CUDA
# libraries, for the GPU profile of k8s/jupyterhub/values.yaml and k8s/training/. Build:
#   buildah bud -f docker/learner-gpu.Dockerfile -t labkit-learner-gpu .
# Alone:        docker run --gpus all -p 8888:8888 labkit-learner-gpu
# Base: python:3.11-slim plus `pip install ".[gpu]"` (tensorflow[and-cuda]: CUDA and cuDNN as
# pip wheels), not a tensorflow/tensorflow:*-gpu image: the TensorFlow version then comes from
# pyproject.toml as in every other install, the Python version is the CPU image's, and the
# host needs only the NVIDIA driver and container toolkit.
# JupyterHub's KubeSpawner starts `jupyterhub-singleuser` instead of the CMD below.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_FORCE_GPU_ALLOW_GROWTH=true

# git: nbgitpuller clones and pulls the curriculum with it. Debian's security updates replace
# package versions, so an exact pin would break the build. A jovyan-like user (uid 1000, group
# users = 100), as in the Jupyter Docker Stacks.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 1000 --gid 100 --create-home --shell /bin/bash jovyan

# labkit's dependencies (lessons, JupyterLab) with its "gpu", "serve" and "pipelines" extras, and its
# "hub" extra: jupyterhub for `jupyterhub-singleuser` (same major version as the hub of the
# zero-to-jupyterhub chart 4.x) and nbgitpuller for "git-pull" links. Exactly the versions of the
# lock, every file hash-checked (requirements/learner-gpu.txt, exported from uv.lock by `make lock`).
# Offline builds (docker/build-image.sh): --build-arg PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels.
ARG PIP_NO_INDEX
ARG PIP_FIND_LINKS
WORKDIR /opt/labkit
COPY requirements/ requirements/
RUN pip install --require-hashes -r requirements/build.txt \
    && pip install --require-hashes --no-build-isolation -r requirements/learner-gpu.txt

# labkit itself, built by the locked hatchling. Its wheel carries the project files labkit reads
# (curriculum, data registry, k8s/, docker/: labkit/paths.py), so lesson 16 and the pipeline's
# deploy step work from any working directory.
COPY pyproject.toml README.md ./
COPY labkit/ labkit/
COPY notebooks/ notebooks/
COPY datasets/ datasets/
COPY k8s/ k8s/
COPY docker/ docker/
RUN pip install --no-deps --no-build-isolation . \
    && mkdir -p build && chown -R 1000:100 /opt/labkit

# /opt/labkit is also a complete project folder (owned by the learner user): a Job runs a lesson
# there with papermill (k8s/training/), and the pipeline's train step runs lesson 09 from it.
# Learners normally work in ~/labkit, cloned by nbgitpuller, which labkit then reads instead.

USER 1000:100
ENV HOME=/home/jovyan \
    SHELL=/bin/bash
WORKDIR /home/jovyan

EXPOSE 8888
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser"]
