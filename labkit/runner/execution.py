"""Execute the curriculum headless with papermill, hold recorded metrics to their bars, report.

``notebooks/curriculum.yaml`` lists the lessons in order. Per lesson: ``notebook``, ``title``,
``objectives``, ``smoke`` (papermill parameters for CI: offline mirror, CPU, about a minute) and
``bars``: ``{metric: {smoke: x, full: y}}``. A bar is a lower limit unless it says
``compare: "<="`` (an upper limit, e.g. a loss) or ``compare: "=="`` (an exact count).
The ``full`` profile runs the notebook's own defaults (its ``parameters`` cell).
``overrides`` (``labkit run -p NAME VALUE``, papermill's ``-p``) replace any parameter of the
lesson on top of the profile, e.g. ``-p SEED 7`` to re-run a result with another seed.

:func:`run` executes lessons into ``OUT/``, writes ``OUT/results.json`` and ``OUT/index.html``
(linking an HTML rendering of each executed notebook) and returns the results; the CLI
(``labkit run``) and the curriculum tests both call it.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from labkit.record import read_metrics
from labkit.runtime import HEADLESS_ENV

PROFILES = ("smoke", "full")
COMPARISONS = {
    ">=": lambda value, bar: value >= bar,
    "<=": lambda value, bar: value <= bar,
    "==": lambda value, bar: math.isclose(value, bar, rel_tol=0, abs_tol=1e-9),
}
# Seconds one cell may run before the lesson counts as stalled: smoke lessons take about a
# minute in all, full ones may train for many minutes in one cell.
CELL_TIMEOUT_S = {"smoke": 300, "full": 4 * 3600}
SCREENSHOTS = "screenshots"  # under the output folder: <stem>.png, <stem>-<view>.png
# What curriculum.yaml's top-level `resources` may limit, measured by ResourceMonitor.
RESOURCES = {
    "peak_memory_mb": "highest resident memory of the kernel and its children, MiB",
}


def default_out_dir(profile: str) -> Path:
    """``build/<profile>`` of the project folder, or of the working directory when labkit runs
    from its installed package (:func:`labkit.paths.writable_root`)."""
    from labkit import paths

    return paths.writable_root() / "build" / profile


def default_curriculum() -> Path:
    """``notebooks/curriculum.yaml`` of the project folder (:func:`labkit.paths.project`)."""
    from labkit import paths

    return paths.project_file(paths.CURRICULUM)


__all__ = [
    "Bar",
    "Lesson",
    "LessonResult",
    "find_lesson",
    "load_curriculum",
    "check_bars",
    "check_resources",
    "run_lesson",
    "run",
    "write_report",
]


class CurriculumError(ValueError):
    """curriculum.yaml is malformed, or a requested notebook/profile is not in it."""


@dataclass(frozen=True)
class Bar:
    """The value a recorded metric must reach in each profile."""

    metric: str
    limits: Mapping[str, float]
    compare: str = ">="

    def limit(self, profile: str) -> float | None:
        return self.limits.get(profile)


@dataclass(frozen=True)
class Lesson:
    """One curriculum entry."""

    notebook: str
    title: str
    objectives: tuple[str, ...]
    smoke: Mapping[str, Any]
    bars: tuple[Bar, ...]
    full: Mapping[str, Any] = field(default_factory=dict)
    # limits on what a run may use, e.g. peak_memory_mb <= 2000 in smoke (Binder's 2 GB)
    resource_bars: tuple[Bar, ...] = ()

    @property
    def stem(self) -> str:
        return Path(self.notebook).stem

    def parameters(self, profile: str) -> dict[str, Any]:
        """Papermill parameters for a profile (``full`` = the notebook's defaults + overrides)."""
        if profile not in PROFILES:
            raise CurriculumError(f"Unknown profile {profile!r}; use one of {PROFILES}.")
        return dict(self.smoke if profile == "smoke" else self.full)


@dataclass
class Check:
    metric: str
    value: float | None
    bar: float
    compare: str
    passed: bool


@dataclass
class LessonResult:
    """What happened when a lesson ran: status, time, metrics and the bars they met."""

    notebook: str
    title: str
    profile: str
    status: str  # "passed", "failed" (error) or "missed_bar"
    seconds: float
    parameters: dict[str, Any]
    metrics: dict[str, float]
    checks: list[Check]
    error: str | None = None
    attempts: int = 1
    output: str | None = None
    html: str | None = None
    cpu_seconds: float | None = None  # user + system CPU time of the kernel and its children
    peak_memory_mb: float | None = None  # highest resident memory (RSS) they held together

    @property
    def ok(self) -> bool:
        return self.status == "passed"


def _parse_bar(lesson: str, metric: str, spec: Any, default_compare: str = ">=") -> Bar:
    if not isinstance(spec, Mapping):
        raise CurriculumError(
            f"{lesson}: bar for {metric!r} must be a mapping like {{smoke: 0.9, full: 0.98}}."
        )
    compare = spec.get("compare", default_compare)
    if compare not in COMPARISONS:
        raise CurriculumError(
            f"{lesson}: bar {metric!r} compare must be one of {list(COMPARISONS)}."
        )
    limits = {p: float(spec[p]) for p in PROFILES if spec.get(p) is not None}
    unknown = set(spec) - {*PROFILES, "compare"}
    if unknown:
        raise CurriculumError(f"{lesson}: bar {metric!r} has unknown keys {sorted(unknown)}.")
    return Bar(metric, limits, compare)


def load_curriculum(path: str | os.PathLike | None = None) -> list[Lesson]:
    """Read ``notebooks/curriculum.yaml`` (default: :func:`default_curriculum`).

    Raises:
        CurriculumError: a lesson lacks ``notebook``/``title``, its notebook file is missing, or
            a bar is malformed.
    """
    import yaml

    path = Path(path or default_curriculum())
    if not path.is_file():
        raise CurriculumError(f"No curriculum file at {path}.")
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    resources = document.get("resources") or {}
    unknown = set(resources) - set(RESOURCES)
    if unknown:
        raise CurriculumError(
            f"{path}: unknown resources {sorted(unknown)}; known: {sorted(RESOURCES)}."
        )
    # a resource limit is an upper limit unless it says otherwise
    resource_bars = tuple(_parse_bar("resources", m, s, "<=") for m, s in resources.items())
    lessons = []
    for entry in document.get("lessons", []):
        name = entry.get("notebook")
        if not name or not entry.get("title"):
            raise CurriculumError(f"{path}: every lesson needs 'notebook' and 'title': {entry}")
        if not (path.parent / name).is_file():
            raise CurriculumError(f"{path}: lesson notebook {name} does not exist.")
        lessons.append(
            Lesson(
                notebook=name,
                title=entry["title"],
                objectives=tuple(entry.get("objectives") or ()),
                smoke=dict(entry.get("smoke") or {}),
                full=dict(entry.get("full") or {}),
                bars=tuple(_parse_bar(name, m, s) for m, s in (entry.get("bars") or {}).items()),
                resource_bars=resource_bars,
            )
        )
    return lessons


def check_bars(lesson: Lesson, metrics: Mapping[str, float], profile: str) -> list[Check]:
    """Compare recorded metrics with the lesson's bars for a profile.

    A bar whose metric was not recorded fails (value None): a lesson that stops recording is
    a regression, not a pass.
    """
    return _check(lesson.bars, metrics, profile)


def check_resources(lesson: Lesson, usage: Mapping[str, float], profile: str) -> list[Check]:
    """Compare what a run used (e.g. ``{"peak_memory_mb": 1530.2}``) with curriculum.yaml's
    ``resources`` limits for a profile. Smoke runs must fit mybinder.org's 2 GB of memory."""
    return _check(lesson.resource_bars, usage, profile)


def parse_parameter(value: str) -> Any:
    """A ``-p NAME VALUE`` value as papermill's ``-p`` reads it.

    ``"7"`` is the int 7, ``"0.5"`` a float, ``"True"``/``"False"`` a bool, ``"None"`` None;
    anything else stays a string (papermill's CLI, ``papermill.cli._resolve_type``).
    """
    constants = {"True": True, "False": False, "None": None}
    if value in constants:
        return constants[value]
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def parameter_names(notebook: str | os.PathLike) -> set[str]:
    """The names the notebook's ``parameters`` cell assigns (papermill's tag), in no order.

    Read with :mod:`ast`, not ``papermill.inspect_notebook``: papermill skips a line whose
    comment holds an ``=`` ("None = all 60,000"), so it would miss real parameters.

    Raises:
        CurriculumError: the notebook has no cell tagged ``parameters``.
    """
    import ast

    import nbformat

    cells = nbformat.read(str(notebook), as_version=4).cells
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        raise CurriculumError(f"{Path(notebook).name} has no cell tagged 'parameters'.")
    names: set[str] = set()
    for cell in tagged:
        for node in ast.parse(cell.source).body:
            targets = (
                node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            )
            names |= {target.id for target in targets if isinstance(target, ast.Name)}
    return names


def check_overrides(notebook: str | os.PathLike, overrides: Mapping[str, Any]) -> None:
    """Refuse overrides that name no parameter of the notebook's ``parameters`` cell.

    Papermill injects any name it is given, so a typo (``-p SEDD 7``) would run the lesson with
    its defaults and report them as the overridden run.

    Raises:
        CurriculumError: a name is not in the parameters cell; the message lists the names.
    """
    if not overrides:
        return
    known = parameter_names(notebook)
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise CurriculumError(
            f"{Path(notebook).name} has no parameter {', '.join(unknown)} in its parameters "
            f"cell; it has: {', '.join(sorted(known)) or 'none'}."
        )


def _check(bars: Iterable[Bar], values: Mapping[str, float], profile: str) -> list[Check]:
    checks = []
    for bar in bars:
        limit = bar.limit(profile)
        if limit is None:
            continue
        value = values.get(bar.metric)
        passed = value is not None and COMPARISONS[bar.compare](value, limit)
        checks.append(Check(bar.metric, value, limit, bar.compare, passed))
    return checks


def find_lesson(name: str, curriculum: str | os.PathLike | None = None) -> Lesson:
    """One lesson of curriculum.yaml by file name or stem (``"08_lstm_sentiment"`` works).

    Raises:
        CurriculumError: no such lesson (the message lists the lessons).
    """
    [lesson] = _select(load_curriculum(curriculum), [name])
    return lesson


def _select(lessons: list[Lesson], notebooks: Iterable[str] | None) -> list[Lesson]:
    if not notebooks:
        return lessons
    by_name = {}
    for lesson in lessons:
        by_name[lesson.notebook] = by_name[lesson.stem] = lesson
    chosen = []
    for requested in notebooks:
        key = Path(requested).name
        lesson = by_name.get(key) or by_name.get(Path(key).stem)
        if lesson is None:
            raise CurriculumError(
                f"{requested} is not in curriculum.yaml; lessons: "
                f"{', '.join(lesson.notebook for lesson in lessons)}."
            )
        chosen.append(lesson)
    return chosen


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


def _render_html(executed: Path) -> Path:
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(executed, as_version=4)
    body, _ = HTMLExporter().from_notebook_node(notebook)
    target = executed.with_suffix(".html")
    tmp = target.with_suffix(".html.part")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, target)
    return target


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


def _screenshot(page: Path, png: Path) -> None:
    from labkit import browser

    try:
        browser.screenshot_html(page, png)
    except Exception as exc:  # a picture for the report; never a reason to fail a lesson
        print(f"[labkit run] no screenshot of {page.name}: {type(exc).__name__}: {exc}")


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _screenshot_cells(out: Path, stem: str) -> str:
    """Thumbnails of ``out/screenshots/<stem>.png`` and ``<stem>-<view>.png`` (e.g. the
    JupyterLab picture tests/test_browser.py takes), each linking to the full picture."""
    folder = out / SCREENSHOTS
    pictures = sorted(folder.glob(f"{stem}.png")) + sorted(folder.glob(f"{stem}-*.png"))
    return "".join(
        f'<a href="{SCREENSHOTS}/{html.escape(p.name)}" title="{html.escape(p.stem)}">'
        f'<img class="shot" src="{SCREENSHOTS}/{html.escape(p.name)}" '
        f'alt="screenshot {html.escape(p.stem)}" loading="lazy"></a>'
        for p in pictures
        if not p.stem.endswith("-failure")
    )


def _index_html(results: list[LessonResult], profile: str, out: Path) -> str:
    rows = []
    for r in results:
        checks = (
            "<br>".join(
                f"{'✔' if c.passed else '✘'} {html.escape(c.metric)} = "
                f"{'not recorded' if c.value is None else f'{c.value:.4g}'} "
                f"(bar {html.escape(c.compare)} {c.bar:g})"
                for c in r.checks
            )
            or "no bars"
        )
        link = (
            f'<a href="{html.escape(r.html)}">{html.escape(r.notebook)}</a>'
            if r.html
            else html.escape(r.notebook)
        )
        error = f"<pre>{html.escape(r.error[-2000:])}</pre>" if r.error else ""
        rows.append(
            f'<tr class="{r.status}"><td>{link}</td><td>{html.escape(r.title)}</td>'
            f"<td>{r.status}</td><td>{r.seconds:.1f}</td><td>{r.cpu_seconds or 0:.1f}</td>"
            f"<td>{r.peak_memory_mb or 0:,.0f}</td><td>{checks}{error}</td>"
            f"<td>{_screenshot_cells(out, Path(r.notebook).stem)}</td></tr>"
        )
    passed = sum(r.ok for r in results)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>labkit curriculum: {profile}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: .4em .7em; vertical-align: top; text-align: left; }}
tr.passed td:nth-child(3) {{ color: #1a7f37; }}
tr.failed td:nth-child(3), tr.missed_bar td:nth-child(3) {{ color: #cf222e; font-weight: bold; }}
pre {{ white-space: pre-wrap; max-width: 60em; }}
img.shot {{ width: 180px; height: 240px; object-fit: cover; object-position: top;
  border: 1px solid #ccc; margin: 0 .3em .3em 0; }}
</style></head><body>
<h1>labkit curriculum — profile <code>{profile}</code></h1>
<p>{passed} of {len(results)} lessons passed. Each lesson links to its executed notebook;
a screenshot opens the whole page as a learner sees it.</p>
<table><tr><th>notebook</th><th>lesson</th><th>status</th><th>seconds</th>
<th>CPU seconds</th><th>peak memory (MiB)</th><th>metrics vs bars and limits</th>
<th>screenshots</th></tr>
{chr(10).join(rows)}
</table></body></html>
"""


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
        notebooks: file names or stems from curriculum.yaml (``05_mlp_mnist`` works).
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


def write_report(results: list[LessonResult], profile: str, out: str | os.PathLike) -> Path:
    """Write ``out/results.json`` and the report ``out/index.html`` (status, time, CPU, peak
    memory, metrics vs bars, screenshots found in ``out/screenshots/``); returns the report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(
        out / "results.json",
        {"profile": profile, "lessons": [asdict(r) for r in results]},
    )
    report = out / "index.html"
    part = report.with_suffix(".html.part")
    part.write_text(_index_html(results, profile, out), encoding="utf-8")
    os.replace(part, report)
    return report
