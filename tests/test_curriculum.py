"""Every lesson in notebooks/curriculum.yaml runs with its smoke parameters and meets its bars.

Runs through the same code as `labkit run` (labkit.runner.run_lesson), so each lesson is also
held to curriculum.yaml's resource limits (peak memory under Binder's 2 GB). Executed notebooks
and the report (build/test-smoke/index.html, with the JupyterLab screenshot tests/test_browser.py
takes) go to build/test-smoke/ for inspection.
"""

from __future__ import annotations

import pytest

from labkit import runner

LESSONS = runner.load_curriculum()


def test_curriculum_lists_lessons_with_bars():
    assert LESSONS, "curriculum.yaml lists no lessons"
    # every smoke run is held to Binder's memory: mybinder.org gives 2 GiB in all
    for lesson in LESSONS:
        [memory] = [b for b in lesson.resource_bars if b.metric == "peak_memory_mb"]
        assert memory.compare == "<=" and memory.limit("smoke") <= 2048, lesson.notebook
    for lesson in LESSONS:
        assert lesson.objectives, f"{lesson.notebook}: no objectives"
        assert any(b.limit("smoke") is not None for b in lesson.bars), lesson.notebook
        assert any(b.limit("full") is not None for b in lesson.bars), lesson.notebook


@pytest.fixture(scope="module")
def smoke_report(repo):
    """Collects every lesson's result; writes build/test-smoke/index.html when the module ends."""
    results: list[runner.LessonResult] = []
    yield results
    if results:
        report = runner.write_report(results, "smoke", repo / "build" / "test-smoke")
        print(f"smoke report: {report}")


@pytest.mark.notebook
@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.stem for lesson in LESSONS])
def test_lesson_smoke_run_meets_its_bars(lesson, repo, smoke_report):
    result = runner.run_lesson(lesson, "smoke", repo / "build" / "test-smoke", render_html=False)
    smoke_report.append(result)
    assert result.error is None, f"{lesson.notebook} failed:\n{result.error}"
    report = {c.metric: (c.value, c.compare, c.bar) for c in result.checks}
    assert result.checks and all(c.passed for c in result.checks), (
        f"{lesson.notebook} missed a bar (metric: value, comparison, bar): {report}"
    )
    print(f"{lesson.notebook}: {result.seconds:.1f} s, {result.peak_memory_mb:,.0f} MiB, {report}")


def test_smoke_runs_keep_their_files_under_build_smoke(repo):
    # A smoke run (make test, CI) must never replace what a learner's full run wrote, e.g. the
    # sentiment model lesson 08 trained for an hour: every build/ path parameter is overridden.
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
