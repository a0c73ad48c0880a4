"""``python -m labkit.pipelines``: see :func:`labkit.pipelines.cli.main`."""

from labkit.pipelines.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
