"""Executing lessons: papermill runs each notebook headless, measured, and held to its bars.

:func:`run_lesson` executes one lesson (its profile's parameters plus ``-p`` overrides) with
papermill (https://papermill.readthedocs.io), while :class:`ResourceMonitor` samples the
kernel's CPU time and memory; :func:`run` runs a selection of the curriculum and writes the
report (:mod:`labkit.runner.report`). The CLI (``labkit run``) and the curriculum tests both
call :func:`run`/:func:`run_lesson`.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from labkit.record import read_metrics
from labkit.runner.curriculum import (
    PROFILES,
    CurriculumError,
    Lesson,
    _select,
    check_bars,
    check_overrides,
    check_resources,
    default_curriculum,
    load_curriculum,
)
from labkit.runner.report import SCREENSHOTS, LessonResult, _render_html, _screenshot, write_report
from labkit.runtime import HEADLESS_ENV

__all__ = ["CELL_TIMEOUT_S", "ResourceMonitor", "default_out_dir", "run_lesson", "run"]

# Seconds one cell may run before the lesson counts as stalled: smoke lessons take about a
# minute in all, full ones may train for many minutes in one cell.
CELL_TIMEOUT_S = {"smoke": 300, "full": 4 * 3600}


def default_out_dir(profile: str) -> Path:
    """``build/<profile>`` of the project folder, or of the working directory when labkit runs
    from its installed package (:func:`labkit.paths.writable_root`)."""
    from labkit import paths

    return paths.writable_root() / "build" / profile


def _process_memory(process) -> int:
    """Bytes a process holds: its PSS where the OS reports one (Linux), else its RSS."""
    import psutil

    try:
        return process.memory_full_info().pss
    except (AttributeError, psutil.AccessDenied):
        return process.memory_info().rss


class ResourceMonitor:
    """Sample the CPU time and memory of this process's children (the lesson's kernel).

    A background thread sums, every ``interval`` seconds, the memory of all child processes
    (recursively: the kernel and anything it starts, e.g. a model server) and keeps the highest
    sum, in MiB; it also keeps each child's last user + system CPU time. Binder gives a notebook
    2 GB of memory, so the runner reports this peak per lesson.

    Memory is the proportional set size (PSS) on Linux: a page shared by n processes counts
    1/n in each, so the sum is the memory the group holds, as the container's memory limit
    sees it. Summing resident set sizes (RSS, used where PSS is unavailable) counts libraries
    that a kernel and its model server both map (TensorFlow's, hundreds of MiB) twice.
    A short-lived child between two samples is missed: the peak is a lower bound.

    Uses psutil (https://psutil.readthedocs.io). Use as a context manager.
    """

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak_memory_mb = 0.0
        self._cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="labkit-monitor", daemon=True)

    @property
    def cpu_seconds(self) -> float:
        return sum(self._cpu.values())

    def _sample(self) -> None:
        import psutil

        total = 0
        for child in psutil.Process().children(recursive=True):
            try:
                with child.oneshot():
                    total += _process_memory(child)
                    times = child.cpu_times()
                    self._cpu[child.pid] = times.user + times.system
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        self.peak_memory_mb = max(self.peak_memory_mb, total / 2**20)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> ResourceMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


def run_lesson(
    lesson: Lesson,
    profile: str,
    out_dir: str | os.PathLike,
    *,
    notebooks_dir: str | os.PathLike | None = None,
    kernel_name: str = "python3",
    render_html: bool = True,
    screenshot: bool = False,
    cell_timeout: float | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> LessonResult:
    """Execute one lesson with papermill and check its bars and resource limits.

    The executed notebook is written to ``out_dir/<notebook>`` (and an HTML rendering beside
    it); cells run with the notebooks folder as working directory.

    Args:
        screenshot: also picture the HTML rendering in headless Chromium
            (``out_dir/screenshots/<stem>.png``, :func:`labkit.browser.screenshot_html`); needs
            ``render_html``. A missing browser or a failed picture never fails the lesson.
        cell_timeout: seconds one cell may run (default: :data:`CELL_TIMEOUT_S` for the profile).
            A cell that times out is retried once, in a fresh kernel.
        overrides: parameters that replace the profile's (``-p NAME VALUE``); the result's
            ``parameters`` holds what the lesson ran with.

    Raises:
        CurriculumError: an override names no parameter of the lesson (:func:`check_overrides`).
    """
    if cell_timeout is None:
        cell_timeout = CELL_TIMEOUT_S[profile]
    import papermill

    notebooks_dir = Path(notebooks_dir or default_curriculum().parent)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    source, output = notebooks_dir / lesson.notebook, out_dir / lesson.notebook
    check_overrides(source, overrides or {})
    parameters = {**lesson.parameters(profile), **(overrides or {})}
    started = time.perf_counter()
    # the kernel inherits these: live plots draw once, at the end (headless); smoke runs track
    # experiments in their output folder, never in a learner's MLflow store (labkit.tracking),
    # unless the user set a tracking URI
    kernel_env = {HEADLESS_ENV: "1"}
    if profile == "smoke" and not os.environ.get("MLFLOW_TRACKING_URI"):
        kernel_env["MLFLOW_TRACKING_URI"] = f"sqlite:///{out_dir.resolve() / 'mlruns.db'}"
    attempts = 0
    with _environment(kernel_env), ResourceMonitor() as monitor:
        while True:
            attempts += 1
            try:
                papermill.execute_notebook(
                    str(source),
                    str(output),
                    parameters=parameters,
                    kernel_name=kernel_name,
                    cwd=str(notebooks_dir),
                    progress_bar=False,
                    execution_timeout=cell_timeout,
                )
                error = None
                break
            except Exception as exc:  # papermill's execution error carries the cell's traceback
                error = f"{type(exc).__name__}: {exc}"
                # A cell that never answers (a rare stall of the kernel's message loop, seen with
                # widget cells) gets one more try; a cell that raised does not.
                if not isinstance(exc, TimeoutError) or attempts >= 2:
                    break
    seconds = time.perf_counter() - started

    metrics: dict[str, float] = {}
    if output.is_file():
        import nbformat

        metrics = read_metrics(nbformat.read(output, as_version=4))
    checks = check_bars(lesson, metrics, profile)
    peak_memory_mb = round(monitor.peak_memory_mb, 1)
    checks += check_resources(lesson, {"peak_memory_mb": peak_memory_mb}, profile)
    status = "failed" if error else ("passed" if all(c.passed for c in checks) else "missed_bar")
    rendered = None
    if render_html and output.is_file():
        rendered = _render_html(output).name
        if screenshot:
            _screenshot(out_dir / rendered, out_dir / SCREENSHOTS / f"{lesson.stem}.png")
    return LessonResult(
        notebook=lesson.notebook,
        title=lesson.title,
        profile=profile,
        status=status,
        seconds=round(seconds, 1),
        parameters=parameters,
        metrics=metrics,
        checks=checks,
        error=error,
        attempts=attempts,
        output=output.name if output.is_file() else None,
        html=rendered,
        cpu_seconds=round(monitor.cpu_seconds, 1),
        peak_memory_mb=peak_memory_mb,
    )


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the block; restore what was there before."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run(
    notebooks: Iterable[str] | None = None,
    profile: str = "smoke",
    out_dir: str | os.PathLike | None = None,
    *,
    curriculum: str | os.PathLike | None = None,
    render_html: bool = True,
    screenshots: bool | None = None,
    overrides: Mapping[str, Any] | None = None,
    log=print,
) -> list[LessonResult]:
    """Run lessons (default: the whole curriculum, in order) and write the report.

    Args:
        notebooks: file names or stems from curriculum.yaml (``06_mlp_mnist`` works).
        profile: ``"smoke"`` or ``"full"``.
        out_dir: where executed notebooks, ``results.json`` and ``index.html`` go (default
            ``build/<profile>`` of the project folder, :func:`labkit.paths.writable_root`).
        screenshots: picture each executed lesson in headless Chromium for the report; None
            (default) does so when Chromium and Playwright are installed.
        overrides: parameters that replace the profile's in every selected lesson (``labkit
            run -p SEED 7``); each must be a parameter of every selected lesson.

    Returns:
        One :class:`LessonResult` per lesson, in curriculum order.

    Raises:
        CurriculumError: unknown profile or notebook, or an override that a selected lesson
            does not have (checked for all lessons before any runs).
    """
    if profile not in PROFILES:
        raise CurriculumError(f"Unknown profile {profile!r}; use one of {PROFILES}.")
    curriculum_path = Path(curriculum or default_curriculum())
    lessons = _select(load_curriculum(curriculum_path), notebooks)
    for lesson in lessons:
        check_overrides(curriculum_path.parent / lesson.notebook, overrides or {})
    out = Path(out_dir or default_out_dir(profile))
    out.mkdir(parents=True, exist_ok=True)
    if screenshots is None or screenshots:
        from labkit import browser

        problem = browser.missing() if render_html else "the HTML rendering is off"
        if problem:
            log(f"[labkit run] no screenshots in the report: {problem}")
        screenshots = not problem
    results = []
    for lesson in lessons:
        log(f"[labkit run] {lesson.notebook} ({profile}) ...")
        result = run_lesson(
            lesson,
            profile,
            out,
            notebooks_dir=curriculum_path.parent,
            render_html=render_html,
            screenshot=screenshots,
            overrides=overrides,
        )
        summary = ", ".join(
            f"{c.metric}={c.value if c.value is None else round(c.value, 4)} "
            f"({'ok' if c.passed else 'MISSED'} {c.compare} {c.bar:g})"
            for c in result.checks
        )
        log(
            f"[labkit run] {lesson.notebook}: {result.status} in {result.seconds:.1f} s "
            f"(CPU {result.cpu_seconds:.1f} s, peak memory {result.peak_memory_mb:,.0f} MiB); "
            f"{summary}"
        )
        if result.error:
            log(result.error[-3000:])
        results.append(result)
    write_report(results, profile, out)
    return results
