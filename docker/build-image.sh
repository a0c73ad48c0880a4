#!/usr/bin/env bash
# Build a labkit image offline with buildah, then check it. Needs root and Debian's `buildah`
# and `debootstrap` (apt-get install -y buildah debootstrap); no container registry and no
# Docker engine. Two images:
#
#   --image serving (default, `make image`): docker/serving.Dockerfile, the model server. The
#       check runs the image's CMD and asks /v2/health/ready and one /v1/models/sentiment:predict.
#   --image learner (`make learner-image`): docker/learner.Dockerfile, the JupyterHub image. The
#       check (docker/check-learner-image.py) starts it as k8s/jupyterhub/values.yaml does and
#       runs lessons 01 and 16 in it, held to their smoke bars.
#
#   1. base image: a minimal Debian bookworm (debootstrap --variant=minbase, python3 3.11 and
#      python3-venv) with a virtual environment on PATH at /opt/venv, so `python` and `pip`
#      mean what they mean in python:3.11-slim. It replaces the Dockerfile's FROM through
#      `buildah bud --from` (the Dockerfile itself still says python:3.11-slim for online builds).
#   2. wheels: `pip download --require-hashes` of the image's lock (requirements/serving.txt or
#      requirements/learner.txt), run inside the base image so that its Python picks the files
#      (PyPI is reachable here, registries are not). The build mounts them at /wheels and the
#      image's pip installs the same lock from them, hash-checked, with PIP_NO_INDEX=1
#      PIP_FIND_LINKS=/wheels (build arguments of the Dockerfiles).
#   3. model (serving only): build/models/sentiment_lstm.keras (lesson 09) when present, else a
#      small stand-in trained with labkit.text.load_sentiment_model (needs the IMDB data:
#      LABKIT_DATA_MIRROR).
#   4. `buildah bud --isolation chroot`, then the check.
#
# Caches (reused when present; `rm -rf build/image` starts over): build/image/ holds the
# rootfs tarball, the wheels (both images' locks) and a stand-in model; the images live in
# buildah's storage (`buildah images`; default /var/lib/containers/storage, BUILDAH_ROOT
# overrides it).
#
# Usage: docker/build-image.sh [--image serving|learner] [--no-check] [--tag NAME]
# Environment: PYTHON (host python for pip download, the stand-in and the checks; default
#   .venv/bin/python), DEBIAN_MIRROR (default http://deb.debian.org/debian), LABKIT_IMAGE_DIR
#   (default build/image), BUILDAH_ROOT (buildah storage root), STORAGE_DRIVER (buildah's:
#   overlay by default, vfs where overlay does not work), MODEL (a .keras file inside the
#   repository), LABKIT_DATA_MIRROR (the data mirror: the stand-in model, and the learner check
#   mounts it read-only).
set -euo pipefail

cd "$(dirname "$0")/.."
REPO=$PWD
IMAGE=serving
TAG=
CHECK=1
while [ $# -gt 0 ]; do
    case "$1" in
        --image) IMAGE=${2:?--image needs serving or learner}; shift ;;
        --no-check) CHECK=0 ;;
        --tag) TAG=${2:?--tag needs a name}; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-image.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

case "$IMAGE" in
    serving | learner) ;;
    *) echo "build-image.sh: --image $IMAGE: choose serving or learner" >&2; exit 2 ;;
esac
DOCKERFILE=docker/$IMAGE.Dockerfile
LOCK=requirements/$IMAGE.txt
TAG=${TAG:-labkit-$IMAGE:latest}
IMAGE_DIR=${LABKIT_IMAGE_DIR:-build/image}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
BASE=localhost/labkit-base:$SUITE
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
BUILDAH=(buildah)
if [ -n "${BUILDAH_ROOT:-}" ]; then BUILDAH+=(--root "$BUILDAH_ROOT"); fi
export BUILDAH_ISOLATION=chroot    # no user namespaces or OCI runtime needed

say() { printf '\n==> [%4ds] %s\n' "$SECONDS" "$*"; }
die() { printf 'build-image.sh: error: %s\n' "$*" >&2; exit 1; }

# --- preconditions ------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "run as root (debootstrap and buildah's chroot isolation need it)"
for tool in buildah debootstrap; do
    command -v "$tool" >/dev/null \
        || die "$tool is missing: apt-get install -y --no-install-recommends buildah debootstrap"
done
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null \
    || die "PYTHON=$PYTHON is not a Python >= 3.11 (set PYTHON=...)"
mkdir -p "$IMAGE_DIR"
DRIVER=$("${BUILDAH[@]}" info --format '{{.store.GraphDriverName}}' 2>/dev/null || echo '?')
echo "buildah $(buildah --version | awk '{print $3}'), storage driver $DRIVER, image $TAG," \
    "caches in $IMAGE_DIR"
# overlay: a layer cache per Dockerfile step is cheap. vfs (STORAGE_DRIVER=vfs, where overlay is
# unavailable, e.g. on an overlay root) copies the whole tree per layer: one layer only.
LAYERS=--layers
if [ "$DRIVER" = vfs ]; then LAYERS=--layers=false; fi

# --- 1. base image: debootstrapped Debian with a venv on PATH ---------------------------------
ROOTFS_TAR=$IMAGE_DIR/$SUITE-minbase.tar
if "${BUILDAH[@]}" inspect --type image "$BASE" >/dev/null 2>&1; then
    say "base image: $BASE exists"
else
    if [ -f "$ROOTFS_TAR" ]; then
        say "rootfs: cached $ROOTFS_TAR"
    else
        say "rootfs: debootstrap --variant=minbase $SUITE from $DEBIAN_MIRROR"
        ROOTFS=$(mktemp -d "$IMAGE_DIR/rootfs.XXXXXX")
        trap 'rm -rf "$ROOTFS"' EXIT
        debootstrap --variant=minbase --include=python3,python3-venv \
            "$SUITE" "$ROOTFS" "$DEBIAN_MIRROR" >"$IMAGE_DIR/debootstrap.log" 2>&1 \
            || die "debootstrap failed; last lines of $IMAGE_DIR/debootstrap.log:
$(tail -n 15 "$IMAGE_DIR/debootstrap.log")"
        rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
            "$ROOTFS"/dev/* "$ROOTFS"/proc/* "$ROOTFS"/sys/* "$ROOTFS"/run/* "$ROOTFS"/tmp/*
        tar --numeric-owner --xattrs -C "$ROOTFS" -cf "$ROOTFS_TAR.partial" .
        mv "$ROOTFS_TAR.partial" "$ROOTFS_TAR"
        rm -rf "$ROOTFS"
        trap - EXIT
        echo "rootfs: $(du -h "$ROOTFS_TAR" | cut -f1)"
    fi
    say "base image: $BASE from $ROOTFS_TAR, venv at /opt/venv"
    ctr=$("${BUILDAH[@]}" from scratch)
    trap '"${BUILDAH[@]}" rm "$ctr" >/dev/null 2>&1 || true' EXIT
    "${BUILDAH[@]}" add "$ctr" "$ROOTFS_TAR" /
    "${BUILDAH[@]}" run "$ctr" -- python3 -m venv /opt/venv
    "${BUILDAH[@]}" config --env PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env LANG=C.UTF-8 --cmd python3 \
        --label org.opencontainers.image.description="Debian $SUITE minbase, Python 3.11 venv at /opt/venv" \
        "$ctr"
    "${BUILDAH[@]}" commit --quiet --rm "$ctr" "$BASE" >/dev/null
    trap - EXIT
fi

# --- 2. files: every file of the image's lock, hash-checked (pip and hatchling included) -------
[ -f "$LOCK" ] || die "$LOCK is missing: make lock-export writes it from uv.lock"
WHEELS=$IMAGE_DIR/wheels
KEY=$( (cat requirements/build.txt "$LOCK"; "${BUILDAH[@]}" images --noheading --format '{{.ID}}' "$BASE") \
    | sha256sum | cut -c1-16)   # the lock or the base changed = download again
STAMP_FILE=$WHEELS/.complete-$IMAGE
if [ -f "$STAMP_FILE" ] && [ "$(cat "$STAMP_FILE")" = "$KEY" ]; then
    say "wheels: $LOCK cached in $WHEELS ($(find "$WHEELS" -type f -name '*.*' | wc -l) files)"
else
    say "wheels: pip download --require-hashes -r $LOCK, run in $BASE (its Python decides)"
    mkdir -p "$WHEELS"
    rm -f "$STAMP_FILE"
    # The base image's Python 3.11 picks the files: the lock's markers (e.g. python_full_version
    # < '3.11.5') are evaluated for the image, not for this host. The lock lists every package,
    # so --no-deps. pip is first brought to the lock's version in this throw-away container, so
    # that it reads this host's pip cache (mounted; the files `make` already downloaded for
    # .venv are not fetched again). chroot isolation shares this host's network (PyPI); the
    # files land in $WHEELS, which the build mounts read-only at /wheels. This host's trust store
    # and proxy go in too: where a TLS-inspecting proxy stands between here and PyPI, pip in the
    # container needs the same CA bundle as pip on the host.
    NET_ARGS=()
    CA=${PIP_CERT:-$("$PYTHON" -m pip config get global.cert 2>/dev/null || true)}
    CA=${CA:-/etc/ssl/certs/ca-certificates.crt}
    if [ -f "$CA" ]; then
        NET_ARGS+=(--volume "$(realpath "$CA"):/etc/labkit-host-ca.crt:ro"
            --env PIP_CERT=/etc/labkit-host-ca.crt)
    fi
    for var in HTTPS_PROXY https_proxy HTTP_PROXY http_proxy NO_PROXY no_proxy PIP_INDEX_URL; do
        if [ -n "${!var:-}" ]; then NET_ARGS+=(--env "$var=${!var}"); fi
    done
    PIP_CACHE=$("$PYTHON" -m pip cache dir 2>/dev/null || true)
    if [ -n "$PIP_CACHE" ]; then
        mkdir -p "$PIP_CACHE"
        NET_ARGS+=(--volume "$PIP_CACHE:/root/.cache/pip")
    fi
    ctr=$("${BUILDAH[@]}" from "$BASE")
    trap '"${BUILDAH[@]}" rm "$ctr" >/dev/null 2>&1 || true' EXIT
    "${BUILDAH[@]}" run --volume "$REPO/$WHEELS:/wheels" --volume "$REPO/requirements:/requirements:ro" \
        ${NET_ARGS[@]+"${NET_ARGS[@]}"} "$ctr" -- sh -ec "
        pip install --quiet --disable-pip-version-check --require-hashes -r /requirements/build.txt
        pip download --quiet --disable-pip-version-check --no-deps --require-hashes --dest /wheels \
            -r /requirements/build.txt -r /$LOCK" >"$IMAGE_DIR/pip-download-$IMAGE.log" 2>&1 \
        || die "pip download failed (PyPI reachable?); last lines of $IMAGE_DIR/pip-download-$IMAGE.log:
$(tail -n 15 "$IMAGE_DIR/pip-download-$IMAGE.log")"
    "${BUILDAH[@]}" rm "$ctr" >/dev/null
    trap - EXIT
    echo "$KEY" >"$STAMP_FILE"
    echo "$(find "$WHEELS" -type f -name '*.*' | wc -l) files, $(du -sh "$WHEELS" | cut -f1)"
fi

# --- 3. the model (serving image) -------------------------------------------------------------
MODEL_ARGS=()
if [ "$IMAGE" = serving ]; then
    MODEL=${MODEL:-build/models/sentiment_lstm.keras}
    if [ ! -f "$MODEL" ]; then
        STAND_IN=$IMAGE_DIR/model/sentiment_standin.keras    # .dockerignore lets build/image/model in
        if [ -f "$STAND_IN" ]; then
            say "model: $MODEL is missing; using the cached stand-in $STAND_IN"
        else
            say "model: $MODEL is missing (lesson 09 not run); training a small stand-in"
            TF_CPP_MIN_LOG_LEVEL=2 "$PYTHON" - "$MODEL" "$STAND_IN" <<'EOF'
import sys

from labkit import datasets, text

(texts, labels), _ = datasets.load_imdb_reviews(max_per_class=1000)
text.load_sentiment_model(
    sys.argv[1], stand_in_path=sys.argv[2], stand_in_texts=texts, stand_in_labels=labels,
    epochs=1,
)
EOF
        fi
        MODEL=$STAND_IN
    fi
    case "$(realpath "$MODEL")" in
        "$REPO"/*) MODEL=$(realpath --relative-to="$REPO" "$MODEL") ;;
        *) die "MODEL=$MODEL must be inside the repository (it is the build context)" ;;
    esac
    MODEL_ARGS=(--build-arg MODEL="$MODEL")
fi

# --- 4. the image ----------------------------------------------------------------------------
say "build: buildah bud --isolation chroot --from $BASE -f $DOCKERFILE -t $TAG"
"${BUILDAH[@]}" bud --isolation chroot "$LAYERS" --format docker \
    --from "$BASE" \
    --volume "$REPO/$WHEELS:/wheels:ro" \
    --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/wheels \
    ${MODEL_ARGS[@]+"${MODEL_ARGS[@]}"} \
    -f "$DOCKERFILE" -t "$TAG" .
# Earlier builds' layers, no longer tagged, would pile up (3-4 GB each): drop them.
"${BUILDAH[@]}" rmi --prune >/dev/null 2>&1 || true
"${BUILDAH[@]}" images --format '{{.Name}}:{{.Tag}} {{.ID}} {{.Size}}' "$TAG"

# --- 5. run the server inside it and ask it ---------------------------------------------------
if [ "$CHECK" = 0 ]; then say "done (check skipped)"; exit 0; fi
if [ "$IMAGE" = learner ]; then
    say "check: docker/check-learner-image.py $TAG (as k8s/jupyterhub/values.yaml starts it)"
    "$PYTHON" docker/check-learner-image.py --tag "$TAG" \
        --out "${LABKIT_IMAGE_CHECK_OUT:-$IMAGE_DIR/learner-check}"
    say "done: $TAG built, and lessons ran in it (report: $IMAGE_DIR/learner-check)"
    exit 0
fi
PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The image's own CMD, with the free port instead of 8080 (chroot isolation shares the host's
# network, where 8080 may be taken).
mapfile -t CMD < <("${BUILDAH[@]}" inspect --type image "$TAG" | "$PYTHON" -c 'import json, sys
config = json.load(sys.stdin)["OCIv1"]["config"]
cmd = (config.get("Entrypoint") or []) + config["Cmd"]
cmd[cmd.index("--port") + 1] = sys.argv[1]
print("\n".join(cmd))' "$PORT")
[ "${#CMD[@]}" -gt 0 ] || die "could not read the CMD of $TAG (buildah inspect)"
say "check: buildah run $TAG (as its USER) -- ${CMD[*]}"
ctr=$("${BUILDAH[@]}" from "$TAG")
LOG=$IMAGE_DIR/server.log
server=
cleanup() {
    if [ -n "$server" ]; then kill -TERM -- "-$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    "${BUILDAH[@]}" rm "$ctr" >/dev/null 2>&1 || true
}
trap cleanup EXIT
echo "the image's user: uid $("${BUILDAH[@]}" run "$ctr" -- id -u)"
setsid "${BUILDAH[@]}" run "$ctr" -- "${CMD[@]}" >"$LOG" 2>&1 &
server=$!
"$PYTHON" - "$PORT" "$server" "$LOG" <<'EOF'
import json, os, sys, time, urllib.request

port, pid, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
base = f"http://127.0.0.1:{port}"
start = time.monotonic()
while True:
    try:
        with urllib.request.urlopen(base + "/v2/health/ready", timeout=5) as reply:
            print(f"GET /v2/health/ready -> {reply.status} {reply.read().decode()}"
                  f" after {time.monotonic() - start:.1f} s")
            break
    except OSError:
        pass
    try:  # `buildah run` still running (not exited, not a zombie)?
        with open(f"/proc/{pid}/stat") as stat:
            alive = stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        alive = False
    if not alive or time.monotonic() - start > 240:
        sys.exit(f"server not ready ({'exited' if not alive else 'timeout'}); log:\n"
                 + open(log, errors="replace").read()[-3000:])
    time.sleep(1)
body = {"instances": ["A moving, beautifully acted film. I loved every minute of it.",
                      "Two hours of my life I will never get back. Dull and far too long."]}
request = urllib.request.Request(base + "/v1/models/sentiment:predict", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
with urllib.request.urlopen(request, timeout=30) as reply:
    predictions = json.load(reply)["predictions"]
print("POST /v1/models/sentiment:predict ->", json.dumps(predictions))
assert len(predictions) == 2 and all("label" in p for p in predictions), predictions
EOF
kill -TERM -- "-$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
server=
say "done: $TAG built and its server answered (log: $LOG)"
