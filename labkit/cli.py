"""The ``labkit`` command: ``doctor``, ``data list|fetch|verify``, ``run``, ``serve``, ``deploy``.

Examples::

    labkit doctor
    labkit data list
    labkit data fetch mnist fashion_mnist      # or no names: everything the curriculum uses
    labkit data verify
    labkit run notebooks/06_mlp_mnist.ipynb --profile full --out build/full
    labkit run 06_mlp_mnist -p SEED 7 --out build/seed-7   # any parameter, as papermill -p
    labkit serve --model build/models/sentiment_lstm.keras --name sentiment --port 8080
    labkit deploy --overlay gpu --image ghcr.io/labkit-org/labkit-serving-gpu:0.2.0 --gpus 1
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
from collections.abc import Sequence


def _doctor(_args: argparse.Namespace) -> int:
    from labkit import __version__, datasets

    print(f"labkit {__version__} on Python {platform.python_version()} ({sys.executable})")
    problems = 0
    for module in (
        "tensorflow",
        "keras",
        "numpy",
        "sklearn",
        "pandas",
        "matplotlib",
        "cv2",
        "nltk",
        "pooch",
        "papermill",
        "ipywidgets",
        "jupyterlab",
    ):
        try:
            imported = importlib.import_module(module)
            print(f"  {module:<11} {getattr(imported, '__version__', '?')}")
        except Exception as error:  # a broken install shows as a line, not a traceback
            problems += 1
            print(f"  {module:<11} MISSING ({type(error).__name__}: {error})")
    try:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        print(f"devices: CPU ({os.cpu_count()} cores)" + (f", {len(gpus)} GPU(s)" if gpus else ""))
    except Exception:
        pass
    from labkit import paths

    try:
        print(f"project:     {paths.project()}  ({paths.HOME_ENV})")
    except paths.ProjectNotFoundError as error:
        problems += 1
        print(f"project:     ERROR {error}")
    print(f"data cache:  {datasets.data_dir()}  ({datasets.DATA_DIR_ENV})")
    try:
        mirror = datasets.mirror_dir()
    except datasets.DataError as error:
        problems += 1
        print(f"data mirror: ERROR {error}")
        mirror = None
    else:
        print(f"data mirror: {mirror or 'not set'}  ({datasets.MIRROR_ENV})")
    for name in datasets.registry():
        where = datasets.status(name)
        print(f"  {name:<38} {where}")
    if problems:
        print(f"{problems} problem(s) found.")
    return 1 if problems else 0


def _curriculum_datasets() -> list[str]:
    from labkit import datasets, runner

    lessons = {lesson.stem for lesson in runner.load_curriculum()}
    return [
        name
        for name, entry in datasets.registry().items()
        if any(stem in lessons for stem in entry.used_by)
    ]


def _data(args: argparse.Namespace) -> int:
    from labkit import datasets

    reg = datasets.registry()
    if args.data_command == "list":
        for name, entry in reg.items():
            size = f"{entry.size / 1e6:8.1f} MB" if entry.size else "        ?"
            print(f"{name:<38} {size}  {datasets.status(name):<20} {entry.title}")
            if args.verbose:
                print(f"    licence: {entry.licence}\n    cite: {entry.citation}")
        return 0
    if args.data_command == "fetch":
        names = args.names or _curriculum_datasets()
        failed = 0
        for name in names:
            try:
                path = datasets.fetch(name)
            except (KeyError, datasets.DataError) as error:
                failed += 1
                message = error.args[0] if isinstance(error, KeyError) else str(error)
                print(f"labkit data fetch {name}: {message}", file=sys.stderr)
            else:
                print(f"{name}: {path}")
        return 1 if failed else 0
    if args.data_command == "verify":
        problems = datasets.verify_cache()
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"cache {datasets.data_dir()}: {'OK' if not problems else 'PROBLEMS'}")
        return 1 if problems else 0
    raise AssertionError(args.data_command)


def _run(args: argparse.Namespace) -> int:
    from labkit import runner

    try:
        results = runner.run(
            args.notebooks,
            profile=args.profile,
            out_dir=args.out,
            curriculum=args.curriculum,
            screenshots=False if args.no_screenshots else None,
            overrides={name: runner.parse_parameter(value) for name, value in args.parameters},
        )
    except runner.CurriculumError as error:
        print(f"labkit run: {error}", file=sys.stderr)
        return 2
    bad = [r for r in results if not r.ok]
    out = args.out or runner.default_out_dir(args.profile)
    print(f"{len(results) - len(bad)} of {len(results)} lessons passed; report: {out}/index.html")
    return 1 if bad else 0


def _serve(args: argparse.Namespace) -> int:
    from labkit.serving import server

    return server.run(args)


def _deploy(args: argparse.Namespace) -> int:
    from labkit import deploy

    return deploy.main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    doctor = commands.add_parser("doctor", help="versions, devices and data availability")
    doctor.set_defaults(func=_doctor)

    data = commands.add_parser("data", help="list, fetch or verify data sets")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    listing = data_commands.add_parser("list", help="every registry entry and where it is")
    listing.add_argument("-v", "--verbose", action="store_true", help="licence and citation")
    fetch = data_commands.add_parser(
        "fetch", help="get data sets into the cache (default: all the curriculum uses)"
    )
    fetch.add_argument("names", nargs="*", help="registry names (see `labkit data list`)")
    data_commands.add_parser("verify", help="re-hash every cached file")
    data.set_defaults(func=_data)

    run = commands.add_parser("run", help="execute lessons headless and check their bars")
    run.add_argument("notebooks", nargs="*", help="notebooks (default: the whole curriculum)")
    run.add_argument("--profile", choices=("smoke", "full"), default="smoke")
    run.add_argument("--out", help="output folder (default build/<profile>)")
    run.add_argument("--curriculum", help="curriculum file (default notebooks/curriculum.yaml)")
    run.add_argument(
        "-p",
        "--parameter",
        dest="parameters",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set a parameter of the lessons' parameters cell, over the profile's value, as "
        "papermill -p does (e.g. -p SEED 7); repeatable",
    )
    run.add_argument(
        "--no-screenshots",
        action="store_true",
        help="no Chromium screenshots in the report (default: taken when Chromium is installed)",
    )
    run.set_defaults(func=_run)

    from labkit.serving.server import add_arguments as add_serve_arguments

    serve = commands.add_parser(
        "serve",
        help="serve a saved Keras model over HTTP with KServe (same as python -m labkit.serving)",
    )
    add_serve_arguments(serve)
    serve.set_defaults(func=_serve)

    from labkit.deploy import add_arguments as add_deploy_arguments

    deploy = commands.add_parser(
        "deploy",
        help="render k8s/serving manifests, validate them offline, apply if a cluster is set up",
    )
    add_deploy_arguments(deploy)
    deploy.set_defaults(func=_deploy)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from labkit.paths import ProjectNotFoundError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ProjectNotFoundError as error:  # a missing project file: say where labkit looked
        print(f"labkit {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
