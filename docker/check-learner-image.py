"""Start the learner image the way JupyterHub does, and run lessons inside it.

``docker/build-image.sh --image learner`` (``make learner-image``) calls this after the build;
``tests/test_learner_image.py`` reads what it writes. The container gets what
``k8s/jupyterhub/values.yaml`` gives a learner's pod (read from that file, not repeated here):

* the user ``singleuser.uid`` with group ``singleuser.fsGid`` (not root, not the image's default);
* a writable home at ``singleuser.storage.homeMountPath`` (z2jh's default ``/home/jovyan``), an
  empty folder owned by that user, as a fresh PersistentVolumeClaim is;
* the data mirror ($LABKIT_DATA_MIRROR on this machine) mounted read-only where the values'
  ``extraVolumeMounts`` mount the ``labkit-data`` volume, and ``singleuser.extraEnv`` set.

Inside it, as that user, with ``buildah run`` (chroot isolation, no container engine):

1. ``id -u``, the Python version and ``pip freeze`` (what the lock put in the image), and
   ``jupyterhub-singleuser --version`` (what KubeSpawner starts);
2. ``labkit doctor`` and ``labkit deploy --overlay gpu`` in the home folder, outside any
   checkout: labkit reads the project files its wheel carries;
3. ``labkit run`` of the lessons (default 01 and 14) with their smoke parameters in the image's
   curriculum folder ``/opt/labkit`` (what a Job runs, k8s/training/), held to their bars.

The transcript goes to ``OUT/transcript.txt`` and the run's report (``results.json``,
``index.html`` and the executed notebooks) to ``OUT/run/``. Exit status 0 only when every step
succeeded and every lesson held its bars.

Usage: python docker/check-learner-image.py --tag labkit-learner:latest \
           --out build/image/learner-check
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
VALUES = REPO / "k8s" / "jupyterhub" / "values.yaml"
Z2JH_HOME = "/home/jovyan"  # the chart's default singleuser.storage.homeMountPath
CURRICULUM_IN_IMAGE = "/opt/labkit"
DEFAULT_LESSONS = ("01_clustering", "16_deploy_gpu_kubernetes")


def pod_settings(values_path: Path = VALUES) -> dict:
    """What the zero-to-jupyterhub values give a learner's container: uid, gid, home, env and
    the data mirror's mount (raises KeyError/ValueError naming what is missing)."""
    values = yaml.safe_load(values_path.read_text(encoding="utf-8"))
    single = values["singleuser"]
    storage = single.get("storage", {})
    mounts = {m["name"]: m for m in storage.get("extraVolumeMounts", [])}
    volumes = {v["name"]: v for v in storage.get("extraVolumes", [])}
    if "labkit-data" not in mounts:
        raise ValueError(f"{values_path}: no extraVolumeMounts entry for the labkit-data volume")
    mirror = mounts["labkit-data"]
    read_only = mirror.get("readOnly", False) or volumes.get("labkit-data", {}).get(
        "persistentVolumeClaim", {}
    ).get("readOnly", False)
    return {
        "uid": int(single["uid"]),
        "gid": int(single["fsGid"]),
        "home": storage.get("homeMountPath", Z2JH_HOME),
        "env": {k: str(v) for k, v in (single.get("extraEnv") or {}).items()},
        "mirror_path": mirror["mountPath"],
        "mirror_read_only": bool(read_only),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default="labkit-learner:latest")
    parser.add_argument("--out", default=str(REPO / "build" / "image" / "learner-check"))
    parser.add_argument("--lessons", nargs="*", default=list(DEFAULT_LESSONS))
    args = parser.parse_args(argv)

    mirror = os.environ.get("LABKIT_DATA_MIRROR")
    if not mirror or not Path(mirror).is_dir():
        sys.exit("LABKIT_DATA_MIRROR must name the data mirror folder (it is mounted read-only)")
    pod = pod_settings()
    if pod["env"].get("LABKIT_DATA_MIRROR") != pod["mirror_path"]:
        sys.exit(f"{VALUES}: extraEnv LABKIT_DATA_MIRROR is not the labkit-data mount path")
    buildah = ["buildah"]
    if os.environ.get("BUILDAH_ROOT"):
        buildah += ["--root", os.environ["BUILDAH_ROOT"]]
    out = Path(args.out).resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    transcript = open(out / "transcript.txt", "w", encoding="utf-8")

    def log(text: str, limit: int = 6000) -> None:
        print(text if len(text) <= limit else "..." + text[-limit:], flush=True)
        transcript.write(text + "\n")  # the whole of it
        transcript.flush()

    home = Path(tempfile.mkdtemp(prefix="labkit-learner-home-"))
    os.chown(home, pod["uid"], pod["gid"])  # a fresh home volume, owned by the learner
    container = subprocess.run(
        [*buildah, "from", args.tag], capture_output=True, text=True, check=True
    ).stdout.strip()
    mounts = [
        "--volume", f"{home}:{pod['home']}",
        "--volume", f"{Path(mirror).resolve()}:{pod['mirror_path']}"
        + (":ro" if pod["mirror_read_only"] else ""),
    ]  # fmt: skip
    env = {"HOME": pod["home"], **pod["env"]}
    env_args = [arg for name, value in env.items() for arg in ("--env", f"{name}={value}")]
    log(
        f"container {container} of {args.tag}: user {pod['uid']}:{pod['gid']}, home "
        f"{pod['home']} (empty, writable), mirror {mirror} at {pod['mirror_path']}"
        f"{' read-only' if pod['mirror_read_only'] else ''}, env {env}"
    )

    def run(command: list[str], workdir: str, timeout: float = 300) -> subprocess.CompletedProcess:
        log(f"\n$ ({workdir}) {' '.join(command)}")
        result = subprocess.run(
            [
                *buildah, "run", "--isolation", "chroot", "--user", f"{pod['uid']}:{pod['gid']}",
                "--workingdir", workdir,
                *mounts, *env_args, container, "--", *command,
            ],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        log((result.stdout + result.stderr).rstrip())
        log(f"[exit {result.returncode}]")
        return result

    failures = []
    try:
        steps = [
            (["id", "-u"], pod["home"]),
            (["python", "-c", "import platform; print('python', platform.python_version())"],
             pod["home"]),
            (["python", "-m", "pip", "freeze", "--all"], pod["home"]),
            (["jupyterhub-singleuser", "--version"], pod["home"]),
            (["labkit", "doctor"], pod["home"]),
            (["labkit", "data", "list"], pod["home"]),
            (["labkit", "deploy", "--overlay", "gpu", "--image",
              "registry.example.org/labkit-serving-gpu:0.1.0"], pod["home"]),
        ]  # fmt: skip
        for command, workdir in steps:
            result = run(command, workdir)
            if result.returncode != 0:
                failures.append(" ".join(command))
        report = f"{pod['home']}/learner-check"
        result = run(
            ["labkit", "run", *args.lessons, "--profile", "smoke", "--out", report,
             "--no-screenshots"],
            CURRICULUM_IN_IMAGE, timeout=1800,
        )  # fmt: skip
        if result.returncode != 0:
            failures.append("labkit run")
        if (home / "learner-check").is_dir():
            shutil.copytree(home / "learner-check", out / "run")
    finally:
        subprocess.run([*buildah, "rm", container], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
    results = out / "run" / "results.json"
    if results.is_file():
        for lesson in json.loads(results.read_text())["lessons"]:
            log(
                f"{lesson['notebook']}: {lesson['status']} in {lesson['seconds']:.0f} s, peak "
                f"{lesson['peak_memory_mb'] or 0:.0f} MiB, metrics {lesson['metrics']}"
            )
    else:
        failures.append("no results.json")
    log("\nFAILED: " + "; ".join(failures) if failures else "\nall steps passed")
    transcript.close()
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
