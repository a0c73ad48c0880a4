# The sentiment model served by labkit.serving (KServe's ModelServer): lesson 13.
# Build from the repository root once lesson 09 has exported the model:
#   buildah bud -f docker/serving.Dockerfile -t labkit-serving .    (or: docker build ...)
# Run: docker run -p 8080:8080 labkit-serving
# Offline (no registry, wheels from a host-side `pip download`): `make image`, i.e.
# docker/build-image.sh, which swaps the base for a debootstrapped Debian with
# `buildah bud --from`, mounts the wheels with --volume and sets the two pip build args below.
FROM python:3.11-slim

# No .pyc files, logs unbuffered (they reach `docker logs` at once), quiet TensorFlow and pip.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# labkit's dependencies with its "serve" extra (KServe, TensorFlow, Keras) at exactly the versions
# of the lock, every file hash-checked (requirements/serving.txt, exported from uv.lock by
# `make lock`). The GPU image of k8s/serving/overlays/gpu:
# --build-arg LOCK=requirements/serving-gpu.txt (TensorFlow with its CUDA libraries from PyPI;
# the node's NVIDIA driver comes in through the device plugin).
ARG LOCK=requirements/serving.txt
# Empty unless given: --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/wheels installs
# from local wheels only (pip reads both from the environment, where RUN sees build args).
ARG PIP_NO_INDEX
ARG PIP_FIND_LINKS
WORKDIR /app
COPY requirements/ requirements/
RUN pip install --require-hashes -r requirements/build.txt \
    && pip install --require-hashes --no-build-isolation -r "${LOCK}"
# Then labkit itself, built here by the locked hatchling (no build isolation: nothing unlocked).
COPY pyproject.toml README.md ./
COPY labkit/ labkit/
RUN pip install --no-deps --no-build-isolation .

# The exported model; another one with --build-arg MODEL=path/to/model.keras.
ARG MODEL=build/models/sentiment_lstm.keras
COPY ${MODEL} /models/model.keras

# Never run as root: a numeric user, so Kubernetes can check runAsNonRoot.
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /tmp labkit
USER 10001:10001
ENV HOME=/tmp

EXPOSE 8080
# Docker's own health check (Kubernetes uses the Deployment's probes instead).
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s CMD ["python", "-c", \
    "import urllib.request as u; u.urlopen('http://127.0.0.1:8080/v1/models/sentiment')"]
# --host 0.0.0.0: listen on the container's network interface, not just its own loopback.
CMD ["python", "-m", "labkit.serving", "--model", "/models/model.keras", "--name", "sentiment", "--host", "0.0.0.0", "--port", "8080"]
