"""k8s/training/multi-worker run for real: two local workers, MultiWorkerMirroredStrategy.

The Job's own code does the work: its shell part builds each worker's ``TF_CONFIG`` from
``JOB_COMPLETION_INDEX`` (as in the cluster), the cluster's DNS names are then mapped to free
ports on 127.0.0.1 (one per worker, in the same order), and the Python program embedded in the
manifest is fed to ``python -`` as the Job does, with its sizes made small through the
environment variables it reads. Both workers run on CPU and share one model folder (the
ReadWriteMany claim); each has its own scratch folder (the pod's emptyDir).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from labkit import datasets

JOB = "k8s/training/multi-worker/job.yaml"
TIMEOUT_S = 300  # both workers together; about 45 s on a busy 2-core machine
SMALL = {  # a few steps on a few hundred reviews
    "MAX_PER_CLASS": "100",
    "EPOCHS": "1",
    "VOCAB_SIZE": "2000",
    "SEQUENCE_LENGTH": "64",
    "EMBEDDING_DIM": "8",
    "UNITS": "8",
    "BATCH_SIZE": "32",
}
REVIEWS = ["A wonderful, moving film. I loved it.", "Dull and far too long; a waste of time."]


def job_script(repo: Path) -> tuple[dict, str, str]:
    """The manifest's container env, its shell part and its embedded Python program."""
    job = yaml.safe_load((repo / JOB).read_text())
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    script = container["args"][0]
    shell, rest = script.split("exec python - <<'PY'\n")
    return env, shell, rest.split("\nPY")[0]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(shell: str, env: dict, index: int) -> dict:
    """What the Job's shell part exports as TF_CONFIG for the worker with this index."""
    result = subprocess.run(
        [shutil.which("bash") or "/bin/bash", "-c", shell + 'printf "%s" "$TF_CONFIG"\n'],
        env={**env, "JOB_COMPLETION_INDEX": str(index), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


# two TensorFlow processes training together: most of a minute of both cores, so it runs in
# make test's second lane (beside the lessons), not in make test-fast
@pytest.mark.slow
def test_the_jobs_training_runs_on_two_local_workers(repo, tmp_path):
    if datasets.status("aclimdb") == "download":
        pytest.fail(
            "no IMDB reviews in the cache or $LABKIT_DATA_MIRROR: set the mirror (no download)"
        )
    manifest_env, shell, program = job_script(repo)
    workers = int(manifest_env["WORKERS"])
    assert workers == 2
    ports = free_ports(workers)
    local = dict(zip(tf_config(shell, manifest_env, 0)["cluster"]["worker"], ports, strict=True))

    models = tmp_path / "models"  # the shared (ReadWriteMany) claim
    models.mkdir()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CONFIG", "MLFLOW_"))}
    base.update(manifest_env)
    base.update(
        SMALL,
        LABKIT_OFFLINE="1",  # the cache or the mirror, never a download
        MODEL_DIR=str(models),
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlruns.db'}",
        CUDA_VISIBLE_DEVICES="",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONUNBUFFERED="1",
    )
    for name in ("LABKIT_DATA_MIRROR", "LABKIT_DATA_DIR"):  # this machine's, not the pod's
        if os.environ.get(name):
            base[name] = os.environ[name]
        else:
            base.pop(name)

    processes, logs = [], []
    for index in range(workers):
        config = tf_config(shell, manifest_env, index)
        assert config["task"] == {"type": "worker", "index": index}
        config["cluster"]["worker"] = [f"127.0.0.1:{local[h]}" for h in config["cluster"]["worker"]]
        scratch = tmp_path / f"worker-{index}" / "scratch"  # the pod's emptyDir
        scratch.mkdir(parents=True)
        env = {**base, "SCRATCH_DIR": str(scratch), "TF_CONFIG": json.dumps(config)}
        log = tmp_path / f"worker-{index}.log"
        logs.append(log)
        with log.open("w") as out:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-"],
                    stdin=subprocess.PIPE,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    text=True,
                    cwd=repo,  # the Job's workingDir: the curriculum
                )
            )
        processes[-1].stdin.write(program)
        processes[-1].stdin.close()

    def outputs() -> str:  # the end of both workers' logs, long lines (tensors in errors) cut
        tails = ("\n".join(line[:300] for line in log.read_text().splitlines()) for log in logs)
        return "\n".join(f"--- worker {i}:\n{tail[-6000:]}" for i, tail in enumerate(tails))

    deadline = time.monotonic() + TIMEOUT_S
    try:
        for index, process in enumerate(processes):
            try:
                process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"worker {index} still running after {TIMEOUT_S} s\n{outputs()}")
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    codes = [process.returncode for process in processes]
    assert codes == [0] * workers, f"exit codes {codes}\n{outputs()}"

    # the chief's copy is the model; worker 1's went to its scratch folder
    chief = models / "sentiment_lstm_multiworker.keras"
    assert sorted(p.name for p in models.iterdir()) == [chief.name], outputs()
    assert (tmp_path / "worker-1" / "scratch" / "worker-1.keras").is_file()
    assert not list((tmp_path / "worker-0" / "scratch").glob("*.keras"))

    # the saved model loads in a fresh process and gives probabilities; worker 1 trained the
    # same model (same vocabulary, same weights: the updates were all-reduced)
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            CHECK,
            str(chief),
            str(tmp_path / "worker-1/scratch/worker-1.keras"),
        ],
        input=json.dumps(REVIEWS),
        env={**base, "TF_CONFIG": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr[-4000:]
    result = json.loads(check.stdout.splitlines()[-1])
    probabilities = result["probabilities"]
    assert len(probabilities) == len(REVIEWS)
    assert all(0.0 <= p <= 1.0 for p in probabilities), probabilities
    assert result["same_vocabulary"] and result["same_weights"], result


CHECK = """
import json, sys
import keras, numpy as np, tensorflow as tf
import labkit.text  # registers the model's standardization

chief, other = (keras.saving.load_model(path) for path in sys.argv[1:3])
reviews = tf.constant(json.loads(sys.stdin.read()))[:, None]
print(json.dumps({
    "probabilities": chief.predict(reviews, verbose=0).ravel().tolist(),
    "same_vocabulary": chief.get_layer("vectorizer").get_vocabulary()
    == other.get_layer("vectorizer").get_vocabulary(),
    "same_weights": all(
        np.allclose(a, b, atol=1e-6)
        for a, b in zip(chief.get_weights(), other.get_weights(), strict=True)
    ),
}))
"""
