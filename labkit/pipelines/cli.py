"""``python -m labkit.pipelines``: compile the pipeline, or check the committed file is current."""

from __future__ import annotations

from pathlib import Path

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """``python -m labkit.pipelines [--out FILE] [--check]``: compile the pipeline.

    Without ``--out`` it rewrites the project's committed ``k8s/pipelines/sentiment_pipeline.yaml``.
    ``--check`` compiles into a temporary file and compares it with the committed one
    (:func:`ir_differences`): exit 1 with the differences when the pipeline changed.
    """
    import argparse
    import sys
    import tempfile

    from labkit.pipelines import committed_pipeline, compile_pipeline
    from labkit.pipelines.ir import ir_differences

    parser = argparse.ArgumentParser(prog="python -m labkit.pipelines", description=main.__doc__)
    parser.add_argument("--out", help="the file to write (default: the committed pipeline)")
    parser.add_argument(
        "--check", action="store_true", help="compare with the committed pipeline, write nothing"
    )
    args = parser.parse_args(argv)
    if not args.check:
        print(compile_pipeline(args.out))
        return 0
    with tempfile.TemporaryDirectory(prefix="labkit-pipeline-") as tmp:
        fresh = compile_pipeline(args.out or Path(tmp) / "pipeline.yaml")
        committed = committed_pipeline()
        differences = ir_differences(fresh, committed)
    if differences:
        print(
            f"{committed} is not what the source compiles to:\n  "
            + "\n  ".join(differences)
            + "\nRegenerate it with `python -m labkit.pipelines` and commit the result.",
            file=sys.stderr,
        )
        return 1
    print(f"{committed}: the source compiles to the same pipeline")
    return 0
