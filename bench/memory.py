"""``make bench-memory``: lessons in their full profile inside a 2 GiB memory cgroup, as on Binder.

mybinder.org gives a session 2 GB: the Jupyter server, the kernel and whatever the kernel starts
share it, and the kernel is killed when they go over ("kernel restarting", the lesson half run).
This benchmark puts ``labkit run --profile full`` (standing in for the Jupyter server; it holds
about as much, some 140 MiB) and the lesson's kernel into a cgroup v1 memory group limited to
``--limit-mib`` (2048), swap included, one lesson per group, one lesson after the other.

A lesson passes when it ran to the end, met its bars and its peak memory bar (curriculum.yaml's
``resources``: the kernel's PSS, as ``labkit run`` measures it), and the kernel killed nothing in
its group. Per lesson it records: status, seconds, the kernel's peak PSS, the group's peak usage
(``memory.max_usage_in_bytes``, which includes page cache the kernel could have reclaimed), the
out-of-memory kills (``memory.oom_control``'s ``oom_kill``), the parameters the lesson ran with
and its recorded metrics. It writes ``bench/results/memory.json`` and exits 1 when a lesson fails.

Needs root and cgroup v1's memory controller at ``/sys/fs/cgroup/memory`` (both exist on the CI
machines); the kernel documents the files read here in
https://docs.kernel.org/admin-guide/cgroup-v1/memory.html.

Usage::

    python bench/memory.py 07 08            # lessons by number or notebook name
    python bench/memory.py --limit-mib 2048 --profile full   # every lesson (hours on 2 cores)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CGROUP_MEMORY = Path("/sys/fs/cgroup/memory")
DEFAULT_LIMIT_MIB = 2048  # mybinder.org's limit per session


class CgroupUnavailable(RuntimeError):
    """No writable cgroup v1 memory controller (not root, or a cgroup v2-only machine)."""


@contextlib.contextmanager
def memory_cgroup(limit_bytes: int, name: str, root: Path = CGROUP_MEMORY) -> Iterator[Path]:
    """A fresh cgroup v1 memory group limited to ``limit_bytes`` (swap included); removed after.

    Raises:
        CgroupUnavailable: ``root`` has no memory controller or this process may not write it.
    """
    if not (root / "memory.limit_in_bytes").exists():
        raise CgroupUnavailable(f"no cgroup v1 memory controller at {root}")
    if os.geteuid() != 0:
        raise CgroupUnavailable("making a memory cgroup needs root (sudo make bench-memory)")
    group = root / f"{name}-{os.getpid()}"
    group.mkdir()
    try:
        (group / "memory.limit_in_bytes").write_text(str(limit_bytes))
        swap = group / "memory.memsw.limit_in_bytes"
        if swap.exists():  # no swapping out of the limit: Binder's pods have no swap
            swap.write_text(str(limit_bytes))
        yield group
    finally:
        for pid in (group / "cgroup.procs").read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        for _ in range(50):  # the group can be removed once its last process is gone
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def oom_kills(group: Path) -> int:
    """Processes the kernel killed for going over the group's limit (``oom_kill`` in
    ``memory.oom_control``; kernels before 4.13 lack it: then ``under_oom`` or the failure count
    of the memory+swap limit stands in)."""
    fields = dict(
        line.split() for line in (group / "memory.oom_control").read_text().splitlines() if line
    )
    if "oom_kill" in fields:
        return int(fields["oom_kill"])
    failures = group / "memory.memsw.failcnt"
    return int(fields.get("under_oom", 0)) or int(failures.read_text() if failures.exists() else 0)


def run_in_group(command: Sequence[str], group: Path, **popen: object) -> int:
    """Run ``command`` with its process (and so all its children) in ``group``; its exit code."""

    def join_group() -> None:  # in the child, before exec: children inherit the cgroup
        (group / "cgroup.procs").write_text(str(os.getpid()))

    return subprocess.run(command, preexec_fn=join_group, check=False, **popen).returncode


def lesson_notebooks(selection: Sequence[str], curriculum: Path) -> list[str]:
    """Notebook names for ``07``, ``7``, ``09_lstm_sentiment`` or ``09_lstm_sentiment.ipynb``
    (all lessons when empty).

    Raises:
        SystemExit: a selection that names no lesson, or more than one.
    """
    import yaml

    notebooks = [entry["notebook"] for entry in yaml.safe_load(curriculum.read_text())["lessons"]]
    if not selection:
        return notebooks
    chosen = []
    for item in selection:
        key = item.removesuffix(".ipynb")
        if key.isdigit():
            key = f"{int(key):02d}_"
        found = [n for n in notebooks if n.removesuffix(".ipynb") == key or n.startswith(key)]
        if len(found) != 1:
            raise SystemExit(
                f"{item!r} names {len(found)} lessons of {curriculum}; use a number (07) or a "
                f"notebook name ({notebooks[0]})."
            )
        chosen += found
    return chosen


def run_lesson_limited(
    notebook: str,
    *,
    limit_mib: float,
    profile: str,
    out: Path,
    curriculum: Path,
    parameters: Sequence[tuple[str, str]] = (),
    cgroup_root: Path = CGROUP_MEMORY,
) -> dict:
    """One lesson with ``labkit run`` inside a fresh memory group of ``limit_mib``.

    Returns:
        The measurement: notebook, status ("passed", "failed", "missed_bar" as ``labkit run``
        says, or "killed" when the kernel killed a process of the group), seconds, the kernel's
        peak PSS in MiB, the group's peak usage in MiB, OOM kills, parameters and metrics.
    """
    command = [
        sys.executable,
        "-m",
        "labkit.cli",
        "run",
        "--profile",
        profile,
        "--out",
        str(out),
        "--curriculum",
        str(curriculum),
        "--no-screenshots",
    ]
    for name, value in parameters:
        command += ["-p", name, value]
    command.append(notebook)
    results_file = out / "results.json"
    results_file.unlink(missing_ok=True)
    with memory_cgroup(int(limit_mib * 2**20), "labkit-bench-memory", cgroup_root) as group:
        start = time.perf_counter()
        exit_code = run_in_group(command, group, cwd=REPO)
        seconds = time.perf_counter() - start
        kills = oom_kills(group)
        group_peak = int((group / "memory.max_usage_in_bytes").read_text()) / 2**20
    run = {}
    if results_file.exists():
        (run,) = json.loads(results_file.read_text())["lessons"]
    status = run.get("status", "failed")
    if kills:
        status = "killed"
    return {
        "notebook": notebook,
        "status": status,
        "exit_code": exit_code,
        "seconds": round(seconds, 1),
        "kernel_peak_pss_mib": run.get("peak_memory_mb"),
        "group_peak_usage_mib": round(group_peak, 1),
        "oom_kills": kills,
        "parameters": run.get("parameters"),
        "metrics": run.get("metrics"),
        "error": (run.get("error") or "")[-1500:] or None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers or notebooks (default: all)")
    parser.add_argument("--limit-mib", type=float, default=DEFAULT_LIMIT_MIB)
    parser.add_argument("--profile", default="full", choices=("smoke", "full"))
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[])
    parser.add_argument("--curriculum", type=Path, default=REPO / "notebooks" / "curriculum.yaml")
    parser.add_argument("--run-dir", type=Path, default=REPO / "build" / "bench-memory")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "memory.json")
    args = parser.parse_args(argv)

    notebooks = lesson_notebooks(args.lessons, args.curriculum)
    measurements = []
    for notebook in notebooks:
        print(f"[bench-memory] {notebook} ({args.profile}) in {args.limit_mib:,.0f} MiB ...")
        try:
            m = run_lesson_limited(
                notebook,
                limit_mib=args.limit_mib,
                profile=args.profile,
                out=args.run_dir,
                curriculum=args.curriculum,
                parameters=[tuple(p) for p in args.parameter],
            )
        except CgroupUnavailable as error:
            print(f"[bench-memory] cannot limit memory here: {error}", file=sys.stderr)
            return 2
        measurements.append(m)
        print(
            f"[bench-memory] {notebook}: {m['status']} in {m['seconds']:.0f} s, kernel peak "
            f"{m['kernel_peak_pss_mib'] or 0:,.0f} MiB PSS, group peak "
            f"{m['group_peak_usage_mib']:,.0f} MiB, {m['oom_kills']} OOM kills"
        )
    report = {
        "limit_mib": args.limit_mib,
        "profile": args.profile,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "lessons": measurements,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(args.out)
    print(f"[bench-memory] wrote {args.out}")
    failed = [m["notebook"] for m in measurements if m["status"] != "passed"]
    if failed:
        print(f"[bench-memory] FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
