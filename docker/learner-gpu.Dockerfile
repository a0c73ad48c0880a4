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

# labkit (lesson dependencies, JupyterLab) with the "gpu" and "serve" extras; jupyterhub for
# `jupyterhub-singleuser` (same major version as the hub of the zero-to-jupyterhub chart 4.x)
# and nbgitpuller for "git-pull" links. pyproject.toml bounds labkit's own dependencies.
WORKDIR /opt/labkit
COPY pyproject.toml README.md ./
COPY labkit/ labkit/
# No == pins (DL3013): pyproject.toml bounds labkit's dependencies, the two others get ranges.
# hadolint ignore=DL3013
RUN pip install ".[gpu,serve,pipelines]" "jupyterhub>=5,<6" "nbgitpuller>=1.2"

# The curriculum: notebooks and the data registry (installed labkit finds it via
# LABKIT_REGISTRY). Learners normally work in ~/labkit, cloned by nbgitpuller; this copy lets a
# Job run a lesson with papermill (k8s/training/).
COPY --chown=1000:100 notebooks/ notebooks/
COPY --chown=1000:100 datasets/ datasets/
# k8s/: lesson 14 and the pipeline's deploy step (labkit.pipelines) render k8s/serving
COPY --chown=1000:100 k8s/ k8s/
RUN mkdir -p build && chown 1000:100 build
ENV LABKIT_REGISTRY=/opt/labkit/datasets/registry.yaml

USER 1000:100
ENV HOME=/home/jovyan \
    SHELL=/bin/bash
WORKDIR /home/jovyan

EXPOSE 8888
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser"]
