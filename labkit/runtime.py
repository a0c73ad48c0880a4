"""What many labkit modules need to know about where they run, defined once.

- :data:`KUBERNETES_VERSION`: the Kubernetes minor version labkit renders and validates manifests
  for by default (``labkit.deploy``, ``labkit.pipelines``, the lesson 12 and 14 checks). The tests
  also validate against the oldest and newest versions ``kubernetes-validate`` knows.
- :data:`HEADLESS_ENV` and :func:`in_live_frontend`: whether plots and widgets can update live in
  a browser, or must draw once (``labkit run``, papermill, CI, the pipeline's steps).
- :func:`in_kernel`: whether code runs inside an IPython kernel at all (rich display output).
- :data:`REQUIRE_GPU_ENV`: set by the GPU serving manifests (``labkit.deploy`` renders them),
  read by ``labkit.serving``, which then refuses to start without a GPU.

This module imports only the standard library, so that any other module may import it.
"""

from __future__ import annotations

import os

__all__ = ["KUBERNETES_VERSION", "HEADLESS_ENV", "REQUIRE_GPU_ENV", "in_kernel", "in_live_frontend"]

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
