"""Every lesson in notebooks/curriculum.yaml runs with its smoke parameters and meets its bars.

Runs through the same code as `labkit run` (labkit.runner.run_lesson), so each lesson is also
held to curriculum.yaml's resource limits (peak memory under Binder's 2 GB). What the lessons
write under build/ (models, tuner trials) goes to a fresh temporary folder per session, and a
lesson that reads another's output (12-14 serve lesson 09's model) runs after it, in any test
order. Executed notebooks and the report (build/test-smoke/index.html, with the JupyterLab
screenshot tests/test_browser.py takes) go to build/test-smoke/ for inspection.
"""

from __future__ import annotations

import pytest

from labkit import runner

LESSONS = runner.load_curriculum()


def test_curriculum_lists_lessons_with_bars():
    assert LESSONS, "curriculum.yaml lists no lessons"
    # every run, smoke and full (what a learner runs), is held to Binder's memory: mybinder.org
    # gives 2 GiB in all, of which the Jupyter server holds about 100 MiB
    for lesson in LESSONS:
        [memory] = [b for b in lesson.resource_bars if b.metric == "peak_memory_mb"]
        assert memory.compare == "<=", lesson.notebook
        assert memory.limit("smoke") <= 1948 and memory.limit("full") <= 1948, lesson.notebook
    for lesson in LESSONS:
        assert lesson.objectives, f"{lesson.notebook}: no objectives"
        assert any(b.limit("smoke") is not None for b in lesson.bars), lesson.notebook
        assert any(b.limit("full") is not None for b in lesson.bars), lesson.notebook


@pytest.fixture(scope="session")
def smoke_build(tmp_path_factory):
    """A fresh folder for what the smoke runs write (models, tuner trials, lesson outputs).

    Each lesson's ``../build/`` path parameters are moved into it, so no run reads a file that
    an earlier session (or a learner's full run) left in the repository's ``build/``.
    """
    return tmp_path_factory.mktemp("build")


@pytest.fixture(scope="session")
def smoke_report(repo):
    """Every lesson's result, in curriculum order; build/test-smoke/index.html at session end.

    Written when the session ends, so it shows the JupyterLab screenshot of
    tests/test_browser.py whichever of the two runs first.
    """
    results: dict[str, runner.LessonResult] = {}
    yield results
    if results:
        ordered = [results[lesson.stem] for lesson in LESSONS if lesson.stem in results]
        report = runner.write_report(ordered, "smoke", repo / "build" / "test-smoke")
        print(f"smoke report: {report}")


def _smoke_run(lesson, repo, smoke_build, smoke_report) -> runner.LessonResult:
    """Run the lesson once per session, after the lessons whose output it reads."""
    if lesson.stem not in smoke_report:
        for earlier in runner.prerequisites(lesson, LESSONS, "smoke"):
            _smoke_run(earlier, repo, smoke_build, smoke_report)
        moved = {
            name: f"{smoke_build}/{path.removeprefix(runner.BUILD_PREFIX)}"
            for name, path in runner.build_paths(lesson, "smoke").items()
        }
        smoke_report[lesson.stem] = runner.run_lesson(
            lesson, "smoke", repo / "build" / "test-smoke", render_html=False, overrides=moved
        )
    return smoke_report[lesson.stem]


@pytest.mark.notebook
@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.stem for lesson in LESSONS])
def test_lesson_smoke_run_meets_its_bars(lesson, repo, smoke_build, smoke_report):
    for earlier in runner.prerequisites(lesson, LESSONS, "smoke"):
        assert _smoke_run(earlier, repo, smoke_build, smoke_report).error is None, (
            f"{lesson.notebook} reads the output of {earlier.notebook}, which failed"
        )
    result = _smoke_run(lesson, repo, smoke_build, smoke_report)
    assert result.error is None, f"{lesson.notebook} failed:\n{result.error}"
    report = {c.metric: (c.value, c.compare, c.bar) for c in result.checks}
    assert result.checks and all(c.passed for c in result.checks), (
        f"{lesson.notebook} missed a bar (metric: value, comparison, bar): {report}"
    )
    _assert_no_tensorflow_startup_notices(repo / "build" / "test-smoke" / result.output)
    print(f"{lesson.notebook}: {result.seconds:.1f} s, {result.peak_memory_mb:,.0f} MiB, {report}")


def _assert_no_tensorflow_startup_notices(executed):
    """No TensorFlow C++ notice in red under any cell: a learner's first sight (native_log)."""
    import re

    import nbformat

    from labkit import native_log

    notebook = nbformat.read(executed, as_version=4)
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            # stderr in red, and stdout too: a task log a cell prints may quote a subprocess's
            for line in output.get("text", "").splitlines():
                text = line.strip()
                matched = any(re.search(p, text) for p in native_log.TENSORFLOW_NOTICES)
                assert not matched, f"{executed.name} cell {index} shows TensorFlow's {line!r}"


def test_the_serving_lessons_serve_the_model_lesson_09_exports():
    # the dependency the smoke runs above follow, derived from the shared path (not listed)
    [lstm] = [lesson for lesson in LESSONS if "EXPORT_PATH" in lesson.smoke]
    export = lstm.smoke["EXPORT_PATH"]
    served = [lesson.stem for lesson in LESSONS if lesson.smoke.get("MODEL_PATH") == export]
    assert len(served) == 3, served
    for lesson in LESSONS:
        needs = [n.stem for n in runner.prerequisites(lesson, LESSONS, "smoke")]
        assert needs == ([lstm.stem] if lesson.stem in served else []), (lesson.stem, needs)


def test_smoke_runs_keep_their_files_under_build_smoke(repo):
    # A smoke run (make test, CI) must never replace what a learner's full run wrote, e.g. the
    # sentiment model lesson 09 trained for an hour: every build/ path parameter is overridden.
    import papermill

    for lesson in LESSONS:
        defaults = papermill.inspect_notebook(str(repo / "notebooks" / lesson.notebook))
        smoke = lesson.parameters("smoke")
        for name, spec in defaults.items():
            if "../build/" not in str(spec["default"]):
                continue
            assert str(smoke.get(name, "")).startswith("../build/smoke/"), (
                f"{lesson.notebook}: smoke parameters must set {name} under ../build/smoke/ "
                f"(its default {spec['default']} belongs to full runs)"
            )
