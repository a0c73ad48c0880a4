"""A lesson in a real browser: JupyterLab + headless Chromium, driven by Playwright.

The test starts JupyterLab on 127.0.0.1 (a free port, a token, throw-away Jupyter config and
runtime folders), opens lesson 01 with its smoke parameters in Debian's Chromium, runs all cells
from the Run menu, and checks what a learner sees: every cell ran without an error, the last
cell's output appeared, and the ipywidgets slider of ``labkit.widgets.interact`` rendered as a
live control that re-runs the function when it moves. A screenshot of the whole notebook lands in
``build/test-smoke/screenshots/<notebook stem>-jupyterlab.png``, which the smoke report
(``build/test-smoke/index.html``, written by tests/test_curriculum.py) shows beside the lesson.

Needs ``playwright`` (Python package; never ``playwright install``) and ``/usr/bin/chromium``
(Debian ``chromium``; ``.ci/run`` installs it). Without them the test is skipped, except in CI
(``CI=true``), where it fails.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from labkit import browser, runner

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = "01_clustering.ipynb"  # fast, and its slider comes from labkit.widgets.interact
SCREENSHOTS = REPO / "build" / "test-smoke" / runner.SCREENSHOTS
KERNEL_IDLE = re.compile(r"Python 3.*\| Idle")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
SERVER_START_S = 60
RUN_ALL_S = 150  # the lesson's smoke run takes about a minute on 2 busy CPU cores
WIDGET_S = 60
VIEWPORT = {"width": 1280, "height": 900}
MAX_SCREENSHOT_HEIGHT = 32_000  # lesson 01 with its outputs is about 20,000 px tall


@pytest.fixture(scope="module")
def browser_ready() -> None:
    missing = browser.missing()
    if missing and IN_CI:
        pytest.fail(f"CI=true but the real-browser test cannot run: {missing}")
    if missing:
        pytest.skip(f"real-browser test needs Chromium and Playwright: {missing}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _smoke_copy(folder: Path) -> Path:
    """Lesson 01 with its smoke parameters injected after its parameters cell, as papermill does."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    lesson = runner.find_lesson(NOTEBOOK)
    notebook = load_notebook_node(str(REPO / "notebooks" / NOTEBOOK))
    notebook = parameterize_notebook(notebook, lesson.parameters("smoke"))
    target = folder / NOTEBOOK
    nbformat.write(notebook, target)
    return target


def _write_lab_settings(config_dir: Path) -> None:
    """User settings for the throw-away JupyterLab: no news pop-up, every cell rendered."""
    settings = config_dir / "lab" / "user-settings" / "@jupyterlab"
    files = {
        # the "receive official Jupyter news?" toast would cover part of the screenshot
        "apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
        # windowing would leave cells scrolled out of view empty in the full-page screenshot
        "notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }
    for name, content in files.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))


def _server_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("LABKIT_HEADLESS", "MPLBACKEND", "JUPYTER_PATH", "JUPYTER_TOKEN"):
        env.pop(name, None)  # a live front end: real widgets, inline figures
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "jupyter-runtime"),
        JUPYTER_DATA_DIR=str(tmp / "jupyter-data"),
        IPYTHONDIR=str(tmp / "ipython"),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        PYTHONUNBUFFERED="1",
    )
    # LABKIT_DATA_MIRROR and LABKIT_DATA_DIR (set by .ci/run) pass through to the kernel.
    return env


@contextmanager
def _jupyterlab(root: Path, tmp: Path):
    """A running JupyterLab server; yields its base URL and token."""
    port, token = _free_port(), secrets.token_hex(16)
    _write_lab_settings(tmp / "jupyter-config")
    log_path = tmp / "jupyterlab.log"
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI runs as root
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            command, env=_server_env(tmp), stdout=log, stderr=subprocess.STDOUT, cwd=root
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited ({server.returncode}):\n{log_path.read_text()}")
            request = urllib.request.Request(
                f"{base}/api/status", headers={"Authorization": f"token {token}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"JupyterLab did not answer in {SERVER_START_S} s:\n{log_path.read_text()}"
                )
            time.sleep(0.5)
        yield base, token, log_path
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _error_outputs(page) -> list[str]:
    return page.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']"
    ).all_inner_texts()


def _run_all_cells(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-item:visible", has_text="Run All Cells").first.click()


def _wait_for_last_output(page, timeout_s: float) -> None:
    """Wait until every code cell ran and the last one has output; fail early on an error."""
    deadline = time.monotonic() + timeout_s
    last_cell = page.locator(".jp-Notebook .jp-CodeCell").last
    while time.monotonic() < deadline:
        errors = _error_outputs(page)
        if errors:
            pytest.fail("a cell raised an error in JupyterLab:\n" + "\n".join(errors)[-3000:])
        prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
        done = prompts and all(p.strip() not in ("[ ]:", "[*]:", "") for p in prompts)
        if done and last_cell.locator(".jp-OutputArea-output").count() > 0:
            return
        time.sleep(1)
    prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
    pytest.fail(f"Run All Cells did not finish in {timeout_s} s; prompts: {prompts}")


def _full_page_screenshot(page, path: Path) -> None:
    """Grow the viewport to the notebook's height, so the screenshot holds every cell."""
    height = page.evaluate(
        """() => {
            const outer = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) '
                + '.jp-WindowedPanel-outer') || document.querySelector('.jp-Notebook');
            return outer.scrollHeight + (window.innerHeight - outer.clientHeight);
        }"""
    )
    page.set_viewport_size(
        {"width": VIEWPORT["width"], "height": int(min(max(height, 900), MAX_SCREENSHOT_HEIGHT))}
    )
    page.wait_for_timeout(1000)  # let JupyterLab lay out the taller window
    page.evaluate(
        """() => document.querySelectorAll('.jp-WindowedPanel-outer')
            .forEach(outer => { outer.scrollTop = 0; })"""
    )
    page.wait_for_timeout(500)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


@pytest.mark.notebook
def test_lesson_runs_in_jupyterlab_with_live_widgets(browser_ready, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    root = tmp_path / "notebooks"
    root.mkdir()
    notebook = _smoke_copy(root)
    screenshot = SCREENSHOTS / f"{notebook.stem}-jupyterlab.png"
    failure_screenshot = SCREENSHOTS / f"{notebook.stem}-failure.png"
    for stale in (screenshot, failure_screenshot):
        stale.unlink(missing_ok=True)

    with _jupyterlab(root, tmp_path) as (base, token, log_path), sync_playwright() as pw:
        chromium = browser.launch(pw)
        try:
            page = chromium.new_page(viewport=VIEWPORT)
            page.set_default_timeout(30_000)
            page.goto(f"{base}/lab/tree/{notebook.name}?token={token}")
            page.locator(".jp-NotebookPanel .jp-Notebook .jp-CodeCell").first.wait_for()
            # the kernel is up when the status bar names it and says Idle (the toolbar's indicator
            # says idle before the kernel even connects)
            expect(page.locator(".jp-StatusBar-Widget").filter(has_text=KERNEL_IDLE)).to_have_count(
                1, timeout=90_000
            )
            _run_all_cells(page)
            _wait_for_last_output(page, RUN_ALL_S)
            expect(page.locator(".jp-StatusBar-Widget").filter(has_text=KERNEL_IDLE)).to_have_count(
                1
            )

            # the last lesson cell (before the exercises' answer cells) printed its summary, and
            # the last answer cell says the exercise is not attempted yet
            outputs = page.locator(".jp-Notebook .jp-CodeCell .jp-OutputArea-output")
            expect(outputs.filter(has_text="land in a cluster of their own digit")).to_have_count(1)
            last_output = page.locator(".jp-Notebook .jp-CodeCell").last.locator(
                ".jp-OutputArea-output"
            )
            expect(last_output.filter(has_text="NOT ATTEMPTED")).to_have_count(1)

            # labkit.widgets.interact rendered a real ipywidgets slider, set to HOUSING_K = 6,
            # with the function's figure below it
            interact = page.locator(".jupyter-widgets.widget-interact").first
            slider = interact.locator(".widget-slider").first
            expect(slider).to_be_visible()
            expect(slider.locator(".widget-readout")).to_have_text("6")
            expect(interact.locator(".widget-output img")).to_have_count(1)
            figure = interact.locator(".widget-output img").first
            first_image = figure.get_attribute("src")

            # moving the slider re-runs the function in the kernel: k = 7 draws a new figure
            slider.locator(".noUi-handle").first.focus()
            page.keyboard.press("ArrowRight")
            expect(slider.locator(".widget-readout")).to_have_text("7")
            deadline = time.monotonic() + WIDGET_S
            while time.monotonic() < deadline:
                images = interact.locator(".widget-output img")
                if images.count() == 1 and images.first.get_attribute("src") != first_image:
                    break
                page.wait_for_timeout(500)
            else:
                pytest.fail(f"moving the slider did not redraw the figure in {WIDGET_S} s")

            assert not _error_outputs(page)
            _full_page_screenshot(page, screenshot)
        except BaseException:  # pytest.fail too: keep a picture of what went wrong
            if "page" in locals():
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(failure_screenshot))
            print(log_path.read_text()[-5000:])
            raise
        finally:
            chromium.close()

    assert screenshot.stat().st_size > 50_000, "the screenshot looks empty"
