"""Headless Chromium for labkit: pictures of executed lessons for the ``labkit run`` report.

Debian's ``chromium`` package driven by Playwright for Python (``playwright`` from PyPI, never
``playwright install``: labkit downloads no browser). ``tests/test_browser.py`` uses the same
launch settings to run a lesson in JupyterLab.

Upstream: https://playwright.dev/python/docs/api/class-browsertype#browser-type-launch
"""

from __future__ import annotations

import os
from pathlib import Path

from labkit.files import atomic_path

__all__ = ["CHROMIUM_ENV", "LAUNCH_ARGS", "chromium_path", "missing", "launch", "screenshot_html"]

CHROMIUM_ENV = "LABKIT_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
# No sandbox (CI runs as root), small /dev/shm in containers, no GPU, and none of Chromium's
# background connections: this machine's network is closed and they only add noise.
LAUNCH_ARGS = (
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def chromium_path() -> str:
    """The Chromium executable: ``$LABKIT_CHROMIUM``, else Debian's ``/usr/bin/chromium``."""
    return os.environ.get(CHROMIUM_ENV, DEFAULT_CHROMIUM)


def missing() -> str | None:
    """Why a headless browser cannot run here (what to install), or None when it can."""
    problems = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the Python package playwright is not installed (pip install playwright)")
    path = chromium_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        problems.append(
            f"{path} is missing (apt-get install --no-install-recommends chromium; "
            f"or set {CHROMIUM_ENV})"
        )
    return "; ".join(problems) or None


def launch(playwright):
    """Start headless Chromium from a running ``sync_playwright()``; returns the Browser.

    Raises:
        RuntimeError: Chromium or Playwright is missing (the message says what to install).
    """
    problem = missing()
    if problem:
        raise RuntimeError(f"Cannot start a headless browser: {problem}")
    return playwright.chromium.launch(
        executable_path=chromium_path(), headless=True, args=list(LAUNCH_ARGS)
    )


def screenshot_html(
    html: str | os.PathLike,
    png: str | os.PathLike,
    *,
    width: int = 1280,
    max_height: int = 12_000,
    scale: float = 0.5,
) -> Path:
    """Screenshot a local HTML page (an executed lesson rendered by nbconvert) to a PNG.

    Args:
        html: the page, a local file.
        png: where the picture goes; written atomically (:func:`labkit.files.atomic_path`).
        width: viewport width in CSS pixels.
        max_height: the picture holds the top ``max_height`` CSS pixels of the page at most.
        scale: device pixels per CSS pixel; 0.5 keeps a long lesson's PNG near a megabyte.

    Returns:
        The PNG's path (``width * scale`` pixels wide).

    Raises:
        FileNotFoundError: ``html`` does not exist.
        RuntimeError: Chromium or Playwright is missing.
    """
    from playwright.sync_api import sync_playwright

    html, png = Path(html).resolve(), Path(png)
    if not html.is_file():
        raise FileNotFoundError(f"No HTML page to screenshot at {html}.")
    png.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(png) as part, sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page(
                viewport={"width": width, "height": 900}, device_scale_factor=scale
            )
            # nbconvert's page asks CDNs for MathJax and require.js; offline they fail fast, and
            # the notebook itself (text, code, figures as data: URIs) is in the file
            page.goto(html.as_uri(), wait_until="domcontentloaded")
            page.wait_for_timeout(300)
            height = min(page.evaluate("document.body.scrollHeight"), max_height)
            page.set_viewport_size({"width": width, "height": max(int(height), 900)})
            page.screenshot(path=str(part), type="png")
        finally:
            browser.close()
    return png
