"""From a saved model to Kubernetes (the whole of it in :mod:`labkit.deploy.cluster` for now).

This first step only moves ``labkit/deploy.py`` into the package, so that its history follows;
the next commit cuts it into modules by responsibility (issue 18).
"""

from labkit.deploy import cluster as _module

globals().update({k: v for k, v in vars(_module).items() if not k.startswith("__")})
__all__ = list(_module.__all__)
del _module
