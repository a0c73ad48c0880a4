"""What many labkit modules need to know about where they run, defined once.

- :data:`KUBERNETES_VERSION`: the Kubernetes minor version labkit renders and validates manifests
  for by default (``labkit.deploy``, ``labkit.pipelines``, the lesson 13 and 16 checks). The tests
  also validate against the oldest and newest versions ``kubernetes-validate`` knows.
- :data:`HEADLESS_ENV` and :func:`in_live_frontend`: whether plots and widgets can update live in
  a browser, or must draw once (``labkit run``, papermill, CI, the pipeline's steps).
- :func:`in_kernel`: whether code runs inside an IPython kernel at all (rich display output).
- :data:`REQUIRE_GPU_ENV`: set by the GPU serving manifests (``labkit.deploy`` renders them),
  read by ``labkit.serving``, which then refuses to start without a GPU.
- :func:`memory_limit_mib`: the memory this process may use (a container's or Binder's limit), so
  that a lesson can pick parameters that fit and ``labkit.setup()`` can say what it has.

This module imports only the standard library, so that any other module may import it.
"""

from __future__ import annotations

import os

__all__ = [
    "KUBERNETES_VERSION",
    "HEADLESS_ENV",
    "REQUIRE_GPU_ENV",
    "MEMORY_LIMIT_ENV",
    "in_kernel",
    "in_live_frontend",
    "memory_limit_mib",
]

#: Default Kubernetes ``major.minor`` for rendering and strict validation (a version
#: kubernetes-validate ships schemas for; see ``kubernetes-validate --help``).
KUBERNETES_VERSION = "1.30"

#: Set (to anything non-empty) by ``labkit run`` and the pipeline's steps: live plots and widgets
#: draw once at the end instead of on every epoch or change.
HEADLESS_ENV = "LABKIT_HEADLESS"

#: ``"1"`` in the GPU serving manifests (k8s/serving/overlays/gpu, k8s/serving/kserve with
#: GPUs): ``labkit.serving`` exits at start-up when TensorFlow sees no GPU, instead of holding
#: a GPU and serving on the CPU.
REQUIRE_GPU_ENV = "LABKIT_REQUIRE_GPU"

#: The memory limit in bytes that JupyterHub's spawners (KubeSpawner, so mybinder.org and
#: zero-to-jupyterhub) give the single-user server in its environment
#: (https://jupyterhub.readthedocs.io/en/stable/reference/spawners.html, "Memory limits").
MEMORY_LIMIT_ENV = "MEM_LIMIT"

# cgroup v1 writes "no limit" as the largest page-aligned int64, v2 as "max".
_CGROUP_V1_UNLIMITED = 1 << 62


def in_kernel() -> bool:
    """True inside an IPython shell or kernel (Jupyter, papermill, ``ipython``); False otherwise."""
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python without IPython installed
        return False
    return get_ipython() is not None


def in_live_frontend() -> bool:
    """True in a Jupyter kernel with a frontend attached, unless ``$LABKIT_HEADLESS`` is set.

    A ``ZMQInteractiveShell`` is the kernel JupyterLab, Notebook and papermill talk to; papermill
    runs are headless because :mod:`labkit.runner` sets :data:`HEADLESS_ENV` for the kernel.
    """
    if os.environ.get(HEADLESS_ENV):
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def _cgroup_limit(cgroup_root: str, proc_cgroup: str) -> int | None:
    """The memory limit of this process's cgroup, v2 or v1, in bytes, or None."""
    try:
        with open(proc_cgroup, encoding="utf-8") as lines:
            entries = [line.rstrip("\n").split(":", 2) for line in lines]
    except OSError:
        return None
    limits = []
    for _, controllers, path in (e for e in entries if len(e) == 3):
        if controllers == "":  # cgroup v2: memory.max in the process's group
            names = ("memory.max",)
            folders = (f"{cgroup_root}{path}", cgroup_root, f"{cgroup_root}/unified{path}")
        elif "memory" in controllers.split(","):  # cgroup v1: the memory controller
            names = ("memory.limit_in_bytes",)
            # inside a container the group is mounted at the root; on a host, at its path
            folders = (f"{cgroup_root}/memory{path}", f"{cgroup_root}/memory")
        else:
            continue
        for folder in folders:
            try:
                with open(f"{folder.rstrip('/')}/{names[0]}", encoding="utf-8") as value:
                    text = value.read().strip()
            except OSError:
                continue
            if text.isdigit() and int(text) < _CGROUP_V1_UNLIMITED:
                limits.append(int(text))
            break
    return min(limits) if limits else None


def memory_limit_mib(
    *, cgroup_root: str = "/sys/fs/cgroup", proc_cgroup: str = "/proc/self/cgroup"
) -> float | None:
    """The memory this process may use, in MiB, or None when nothing limits it below the RAM.

    The smallest of: the memory limit of the process's cgroup (v2 ``memory.max``, v1
    ``memory.limit_in_bytes``: what a container's limit sets, and what the kernel enforces by
    killing a process of the group) and ``$MEM_LIMIT`` (bytes, :data:`MEMORY_LIMIT_ENV`: what
    JupyterHub's spawners, mybinder.org's among them, tell the server). A limit at or above the
    machine's physical memory limits nothing and counts as None. mybinder.org gives a session
    2 GB (https://mybinder.readthedocs.io/en/latest/about/about.html#how-much-memory-am-i-given).

    Args:
        cgroup_root, proc_cgroup: where the cgroup file systems and this process's cgroup list
            are (tests point them at a fake tree).

    Returns:
        MiB (2**20 bytes) as a float, e.g. 2048.0, or None.

    Raises:
        ValueError: ``$MEM_LIMIT`` is set but is not a whole number of bytes.
    """
    limits = []
    cgroup = _cgroup_limit(cgroup_root, proc_cgroup)
    if cgroup is not None:
        limits.append(cgroup)
    env = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    if env:
        if not env.isdigit():
            raise ValueError(
                f"${MEMORY_LIMIT_ENV}={env!r} is not a memory limit in bytes (e.g. 2147483648 "
                f"for 2 GiB): fix or unset it."
            )
        if int(env) > 0:
            limits.append(int(env))
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not every platform has these names
        physical = None
    limits = [limit for limit in limits if physical is None or limit < physical]
    return min(limits) / 2**20 if limits else None
