"""labkit.runner (papermill execution, bars, report) and the labkit command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import yaml

from labkit import cli, runner

TINY = [
    ("code", "import labkit\nlabkit.setup(quiet=True)"),
    ("parameters", "ACCURACY = 0.5  # None = no accuracy (a comment with =)\nFAIL = False"),
    ("code", "assert not FAIL, 'asked to fail'\nlabkit.record('test_accuracy', ACCURACY)"),
]


@pytest.fixture
def tiny_curriculum(tmp_path):
    """A one-lesson curriculum whose notebook records the parameter it is given."""
    notebook = nbformat.v4.new_notebook()
    for kind, source in TINY:
        cell = nbformat.v4.new_code_cell(source)
        if kind == "parameters":
            cell.metadata["tags"] = ["parameters"]
        notebook.cells.append(cell)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, tmp_path / "99_tiny.ipynb")

    def write(smoke, bar, resources=None):
        curriculum = {
            "resources": resources or {},
            "lessons": [
                {
                    "notebook": "99_tiny.ipynb",
                    "title": "Tiny",
                    "smoke": smoke,
                    "bars": {"test_accuracy": bar},
                }
            ],
        }
        path = tmp_path / "curriculum.yaml"
        path.write_text(yaml.safe_dump(curriculum))
        return path

    return write


def test_run_records_metrics_bars_and_report(tiny_curriculum, tmp_path):
    path = tiny_curriculum({"ACCURACY": 0.93}, {"smoke": 0.9, "full": 0.98})
    results = runner.run(
        profile="smoke",
        out_dir=tmp_path / "out",
        curriculum=path,
        screenshots=False,
        log=lambda *_: None,
    )

    assert [r.status for r in results] == ["passed"]
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    lesson = report["lessons"][0]
    assert lesson["metrics"] == {"test_accuracy": 0.93}
    assert lesson["checks"][0]["bar"] == 0.9 and lesson["checks"][0]["passed"]
    assert lesson["parameters"] == {"ACCURACY": 0.93} and lesson["seconds"] > 0
    assert lesson["cpu_seconds"] > 0 and lesson["peak_memory_mb"] > 10  # its kernel was seen
    index = (tmp_path / "out" / "index.html").read_text()
    assert "peak memory (MiB)" in index
    assert '<a href="99_tiny.html">' in index and (tmp_path / "out" / "99_tiny.html").is_file()


def test_missed_bar_and_failing_cell_are_reported(tiny_curriculum, tmp_path):
    path = tiny_curriculum({"ACCURACY": 0.5}, {"smoke": 0.9})
    [missed] = runner.run(
        profile="smoke", out_dir=tmp_path / "a", curriculum=path, log=lambda *_: None
    )
    assert missed.status == "missed_bar" and not missed.checks[0].passed

    path = tiny_curriculum({"FAIL": True}, {"smoke": 0.9})
    [failed] = runner.run(
        profile="smoke", out_dir=tmp_path / "b", curriculum=path, log=lambda *_: None
    )
    assert failed.status == "failed" and "asked to fail" in failed.error
    assert failed.checks[0].value is None  # never recorded: the bar fails too


def test_peak_memory_over_the_curriculum_limit_misses_a_bar(tiny_curriculum, tmp_path):
    limit = {"peak_memory_mb": {"smoke": 1, "compare": "<="}}  # 1 MiB: no kernel fits
    path = tiny_curriculum({"ACCURACY": 0.93}, {"smoke": 0.9}, resources=limit)
    [result] = runner.run(
        profile="smoke", out_dir=tmp_path / "out", curriculum=path, log=lambda *_: None
    )
    assert result.status == "missed_bar"
    memory = next(c for c in result.checks if c.metric == "peak_memory_mb")
    assert not memory.passed and memory.bar == 1 and memory.value == result.peak_memory_mb
    assert "peak_memory_mb" in (tmp_path / "out" / "index.html").read_text()

    roomy = tiny_curriculum(
        {"ACCURACY": 0.93}, {"smoke": 0.9}, resources={"peak_memory_mb": {"smoke": 1e6}}
    )
    [lesson] = runner.load_curriculum(roomy)
    assert runner.check_resources(lesson, {"peak_memory_mb": 500.0}, "smoke")[0].passed

    unknown = tiny_curriculum({}, {"smoke": 0.9}, resources={"gpu_hours": {"smoke": 1}})
    with pytest.raises(runner.CurriculumError, match="resources.gpu_hours: unknown resource"):
        runner.load_curriculum(unknown)


def test_report_shows_each_lessons_screenshots(tiny_curriculum, tmp_path):
    out = tmp_path / "out"
    shots = out / runner.SCREENSHOTS
    shots.mkdir(parents=True)
    for name in ("99_tiny.png", "99_tiny-jupyterlab.png", "99_tiny-failure.png"):
        (shots / name).write_bytes(b"\x89PNG")
    path = tiny_curriculum({"ACCURACY": 0.93}, {"smoke": 0.9})
    runner.run(
        profile="smoke", out_dir=out, curriculum=path, screenshots=False, log=lambda *_: None
    )
    index = (out / "index.html").read_text()
    assert '<img class="shot" src="screenshots/99_tiny.png"' in index
    assert '<img class="shot" src="screenshots/99_tiny-jupyterlab.png"' in index
    assert "99_tiny-failure.png" not in index  # a failed test's picture is not the lesson


def test_run_screenshots_each_executed_lesson_in_chromium(tiny_curriculum, tmp_path):
    from labkit import browser

    missing = browser.missing()
    if missing and os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI=true but Chromium cannot run: {missing}")
    if missing:
        pytest.skip(f"needs Chromium and Playwright: {missing}")
    path = tiny_curriculum({"ACCURACY": 0.93}, {"smoke": 0.9})
    runner.run(profile="smoke", out_dir=tmp_path / "out", curriculum=path, log=lambda *_: None)
    png = tmp_path / "out" / runner.SCREENSHOTS / "99_tiny.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000
    assert 'src="screenshots/99_tiny.png"' in (tmp_path / "out" / "index.html").read_text()


def test_check_bars_directions():
    lesson = runner.Lesson(
        notebook="x.ipynb",
        title="x",
        objectives=(),
        smoke={},
        bars=(
            runner.Bar("loss", {"smoke": 0.5}, "<="),
            runner.Bar("faces", {"smoke": 2}, "=="),
            runner.Bar("acc", {"full": 0.9}),
        ),
    )
    checks = runner.check_bars(lesson, {"loss": 0.4, "faces": 2.0}, "smoke")
    assert [(c.metric, c.passed) for c in checks] == [("loss", True), ("faces", True)]
    checks = runner.check_bars(lesson, {"loss": 0.6, "faces": 3.0}, "smoke")
    assert [c.passed for c in checks] == [False, False]
    assert runner.check_bars(lesson, {}, "full")[0].value is None


def test_unknown_notebook_and_profile_are_named(tmp_path, tiny_curriculum):
    path = tiny_curriculum({}, {"smoke": 0.1})
    with pytest.raises(runner.CurriculumError, match="99_tiny.ipynb"):
        runner.run(["nope"], curriculum=path, out_dir=tmp_path)
    with pytest.raises(runner.CurriculumError, match="smoke"):
        runner.run(profile="fast", curriculum=path, out_dir=tmp_path)


def test_cli_run_exit_codes(tiny_curriculum, tmp_path, capsys):
    # in this process (labkit.cli.main is what the labkit script calls; the installed script
    # itself is test_installed_labkit_command_runs_a_lesson_with_p's)
    def cli_run(*args):
        code = cli.main(["run", *args, "--out", str(tmp_path / "o")])
        return code, capsys.readouterr()

    path = tiny_curriculum({"ACCURACY": 0.95}, {"smoke": 0.9})
    assert cli_run("--curriculum", str(path))[0] == 0
    path = tiny_curriculum({"ACCURACY": 0.5}, {"smoke": 0.9})
    code, missed = cli_run("--curriculum", str(path))
    assert code == 1 and "MISSED" in missed.out
    code, unknown = cli_run("nope", "--curriculum", str(path))
    assert code == 2 and "not in curriculum.yaml" in unknown.err
    code, typo = cli_run("--curriculum", str(path), "-p", "ACCURACCY", "0.95")
    assert code == 2 and "no parameter ACCURACCY" in typo.err


def test_overrides_replace_the_profiles_parameters_and_are_recorded(tiny_curriculum, tmp_path):
    path = tiny_curriculum({"ACCURACY": 0.5}, {"smoke": 0.9})
    [result] = runner.run(
        profile="smoke",
        out_dir=tmp_path / "out",
        curriculum=path,
        overrides={"ACCURACY": 0.97},
        log=lambda *_: None,
    )
    assert result.status == "passed" and result.metrics == {"test_accuracy": 0.97}
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    assert report["lessons"][0]["parameters"] == {"ACCURACY": 0.97}


def test_an_override_the_lesson_does_not_have_is_refused_before_anything_runs(
    tiny_curriculum, tmp_path
):
    path = tiny_curriculum({"ACCURACY": 0.95}, {"smoke": 0.9})
    with pytest.raises(runner.CurriculumError, match=r"no parameter ACCURACCY.*ACCURACY, FAIL"):
        runner.run(curriculum=path, out_dir=tmp_path / "o", overrides={"ACCURACCY": 0.1})
    assert not (tmp_path / "o" / "99_tiny.ipynb").exists()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("7", 7),
        ("-3", -3),
        ("0.5", 0.5),
        ("1e-3", 1e-3),
        ("True", True),
        ("None", None),
        ("relu", "relu"),
        ("build/x.keras", "build/x.keras"),
    ],
)
def test_parameter_values_are_read_as_papermill_reads_them(text, value):
    parsed = runner.parse_parameter(text)
    assert parsed == value and type(parsed) is type(value)


def test_installed_labkit_command_runs_a_lesson_with_p(tiny_curriculum, tmp_path):
    script = Path(sys.executable).with_name("labkit")  # the console script pip installed
    assert script.is_file(), f"no labkit script beside {sys.executable}"
    path = tiny_curriculum({"ACCURACY": 0.5}, {"smoke": 0.9})
    out = tmp_path / "o"
    run = [str(script), "run", "--curriculum", str(path), "--out", str(out)]
    passed = subprocess.run([*run, "-p", "ACCURACY", "0.95"], capture_output=True, text=True)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert json.loads((out / "results.json").read_text())["lessons"][0]["metrics"] == {
        "test_accuracy": 0.95
    }


def test_data_fetch_offline_without_mirror_fails_fast_and_says_what_to_do(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "LABKIT_DATA_MIRROR"}
    env.update(LABKIT_DATA_DIR=str(tmp_path / "empty"), LABKIT_OFFLINE="1")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "labkit.cli", "data", "fetch", "mnist"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 1
    assert "https://storage.googleapis.com/cvdf-datasets/mnist/" in result.stderr
    assert "LABKIT_DATA_MIRROR" in result.stderr
    assert time.monotonic() - started < 30


def _installed_labkit() -> str:
    """The ``labkit`` console script pip installed beside this interpreter (not ``python -m``)."""
    script = Path(sys.executable).with_name("labkit")
    assert script.is_file(), f"no labkit script beside {sys.executable}: is labkit installed?"
    return str(script)


def test_data_list_shows_each_data_set_with_where_it_would_come_from(tmp_path):
    from labkit import datasets

    mirror = tmp_path / "mirror"
    for item in datasets.registry()["mnist"].files:  # where the mirror keeps MNIST's files
        (mirror / item.mirror).parent.mkdir(parents=True, exist_ok=True)
        (mirror / item.mirror).write_bytes(b"")
    env = {
        **os.environ,
        "LABKIT_DATA_DIR": str(tmp_path / "cache"),
        "LABKIT_DATA_MIRROR": str(mirror),
    }
    listing = subprocess.run(
        [_installed_labkit(), "data", "list"], capture_output=True, text=True, env=env
    )
    assert listing.returncode == 0, listing.stderr
    rows = {line.split()[0]: line for line in listing.stdout.splitlines() if line.strip()}
    assert {"mnist", "aclimdb", "fashion_mnist"} <= set(rows)
    # an empty cache and a mirror that holds only MNIST's files: MNIST from the mirror (hashes
    # are checked when it is fetched), IMDB from its upstream
    assert " mirror " in rows["mnist"] and " download " in rows["aclimdb"], listing.stdout


@pytest.mark.slow  # the installed command, which starts TensorFlow to list the devices
def test_doctor_reports_versions_devices_and_the_data_folders(tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "LABKIT_DATA_DIR": str(cache), "LABKIT_DATA_MIRROR": str(tmp_path)}
    doctor = subprocess.run(
        [_installed_labkit(), "doctor"], capture_output=True, text=True, env=env
    )
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    report = doctor.stdout
    assert f"Python {sys.version_info.major}.{sys.version_info.minor}" in report, report
    assert "MISSING" not in report, report
    assert "tensorflow" in report and "devices: CPU" in report, report
    assert f"data cache:  {cache}" in report and f"data mirror: {tmp_path}" in report, report
    assert " download" in report.split("data mirror:")[1], "the empty mirror holds nothing"


def test_a_stalled_cell_times_out_and_is_retried_once(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("import time\ntime.sleep(60)")]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, tmp_path / "98_stall.ipynb")
    lesson = runner.Lesson("98_stall.ipynb", "stall", (), {}, ())

    result = runner.run_lesson(
        lesson, "smoke", tmp_path / "out", notebooks_dir=tmp_path, render_html=False, cell_timeout=2
    )

    assert result.status == "failed" and result.attempts == 2
    assert "Timeout" in result.error or "timed out" in result.error


def test_resource_monitor_sees_a_childs_memory_and_cpu_time():
    # a child that holds 300 MiB (written, so resident) and burns CPU for about a second
    script = (
        "import time\n"
        "block = bytearray(300 * 2**20)\n"
        "block[:: 4096] = b'x' * len(block[:: 4096])\n"
        "end = time.process_time() + 1.0\n"
        "while time.process_time() < end:\n"
        "    pass\n"
        "time.sleep(0.5)\n"
    )
    with runner.ResourceMonitor(interval=0.05) as monitor:
        subprocess.run([sys.executable, "-c", script], check=True)
    assert monitor.peak_memory_mb >= 290
    assert monitor.cpu_seconds >= 0.9


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PSS is reported on Linux")
def test_resource_monitor_counts_memory_two_processes_share_once():
    # 300 MiB written, then fork(): parent and child share every page (copy-on-write), as a
    # kernel and its model server share TensorFlow's libraries. RSS would count it twice.
    script = (
        "import os, time\n"
        "block = bytearray(300 * 2**20)\n"
        "block[:: 4096] = b'x' * len(block[:: 4096])\n"
        "pid = os.fork()\n"
        "time.sleep(1.5)\n"
        "if pid: os.waitpid(pid, 0)\n"
    )
    with runner.ResourceMonitor(interval=0.05) as monitor:
        subprocess.run([sys.executable, "-c", script], check=True)
    assert 290 <= monitor.peak_memory_mb < 450
