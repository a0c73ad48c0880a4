"""The report of a run: ``results.json`` and ``index.html`` (status, time, CPU, memory, bars).

:class:`LessonResult` is what one executed lesson produced; :func:`write_report` writes
``OUT/results.json`` (machine-readable, read by the tests and the pipeline) and ``OUT/index.html``
(for people: a table linking each lesson's HTML rendering, nbconvert's ``HTMLExporter``, with
thumbnails of the screenshots in ``OUT/screenshots/``).
"""

from __future__ import annotations

import html
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from labkit.files import atomic_write
from labkit.runner.curriculum import Check

__all__ = ["SCREENSHOTS", "LessonResult", "write_report"]

SCREENSHOTS = "screenshots"  # under the output folder: <stem>.png, <stem>-<view>.png


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
    peak_memory_mb: float | None = None  # highest memory (PSS, MiB) they held together

    @property
    def ok(self) -> bool:
        return self.status == "passed"


def _render_html(executed: Path) -> Path:
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(executed, as_version=4)
    body, _ = HTMLExporter().from_notebook_node(notebook)
    target = executed.with_suffix(".html")
    with atomic_write(target, "w", encoding="utf-8") as f:
        f.write(body)
    return target


def _screenshot(page: Path, png: Path) -> None:
    from labkit import browser

    try:
        browser.screenshot_html(page, png)
    except Exception as exc:  # a picture for the report; never a reason to fail a lesson
        print(f"[labkit run] no screenshot of {page.name}: {type(exc).__name__}: {exc}")


def _write_json(path: Path, data: Any) -> None:
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=2) + "\n")


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
    with atomic_write(report, "w", encoding="utf-8") as f:
        f.write(_index_html(results, profile, out))
    return report
