"""notebooks/curriculum.yaml is read strictly: a typo is an error naming file, lesson and key.

A hand-written reader used to skip what it did not know, so ``smok: 0.9`` silently meant "no
smoke bar" and a YAML slip (an objective with a colon read as a mapping) went unnoticed.
"""

from __future__ import annotations

import textwrap

import pytest

from labkit import runner

GOOD = """
resources:
  peak_memory_mb: {smoke: 1900, compare: "<="}
lessons:
  - notebook: 01_demo.ipynb
    title: A demo lesson
    objectives: [Read a curriculum]
    smoke: {EPOCHS: 1, SEED: 42}
    bars:
      test_accuracy: {smoke: 0.5, full: 0.9}
      errors: {smoke: 3, compare: "=="}
"""


def _curriculum(tmp_path, text: str):
    (tmp_path / "01_demo.ipynb").write_text("{}", encoding="utf-8")
    (tmp_path / "02_other.ipynb").write_text("{}", encoding="utf-8")
    path = tmp_path / "curriculum.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _error(tmp_path, text: str) -> str:
    path = _curriculum(tmp_path, text)
    with pytest.raises(runner.CurriculumError) as caught:
        runner.load_curriculum(path)
    message = str(caught.value)
    assert str(path) in message, message
    return message


def test_the_real_curriculum_loads_with_every_objective_a_sentence():
    lessons = runner.load_curriculum()
    assert len(lessons) >= 15
    for lesson in lessons:
        assert lesson.objectives and all(isinstance(o, str) for o in lesson.objectives), lesson
        assert all(bar.limits for bar in lesson.bars), lesson.notebook


def test_a_good_curriculum_gives_lessons_bars_and_resource_limits(tmp_path):
    (lesson,) = runner.load_curriculum(_curriculum(tmp_path, GOOD))
    assert lesson.smoke == {"EPOCHS": 1, "SEED": 42}
    bars = {bar.metric: bar for bar in lesson.bars}
    assert bars["test_accuracy"].limits == {"smoke": 0.5, "full": 0.9}
    assert bars["test_accuracy"].compare == ">=" and bars["errors"].compare == "=="
    (memory,) = lesson.resource_bars
    assert memory.metric == "peak_memory_mb" and memory.compare == "<="


def test_a_typo_in_a_bar_key_names_the_lesson_the_key_and_the_allowed_keys(tmp_path):
    message = _error(tmp_path, GOOD.replace("{smoke: 0.5, full: 0.9}", "{smok: 0.5, full: 0.9}"))
    assert "lesson 01_demo.ipynb" in message and "bars.test_accuracy.smok" in message, message
    assert "unknown key 'smok'" in message and "smoke, full, compare" in message, message


def test_an_unknown_lesson_key_is_refused(tmp_path):
    message = _error(tmp_path, GOOD.replace("    bars:\n", "    bar:\n", 1))
    assert "lesson 01_demo.ipynb, key bar:" in message and "unknown key 'bar'" in message, message


def test_a_quoted_number_or_a_bad_comparison_is_refused(tmp_path):
    message = _error(tmp_path, GOOD.replace("smoke: 0.5,", 'smoke: "0.5",'))
    assert "bars.test_accuracy.smoke" in message and "'0.5'" in message, message
    message = _error(tmp_path, GOOD.replace('compare: "=="', 'compare: "="'))
    assert "bars.errors.compare" in message and "'>=', '<=', '=='" in message, message


def test_a_bar_without_a_limit_and_an_objective_that_is_not_text_are_refused(tmp_path):
    message = _error(tmp_path, GOOD.replace("{smoke: 0.5, full: 0.9}", '{compare: ">="}'))
    assert "bars.test_accuracy" in message and "needs a limit" in message, message
    message = _error(tmp_path, GOOD.replace("[Read a curriculum]", "[Read: a curriculum]"))
    assert "key objectives.0" in message and "valid string" in message, message


def test_missing_title_unknown_resource_and_bad_names_are_refused(tmp_path):
    message = _error(tmp_path, GOOD.replace("    title: A demo lesson\n", ""))
    assert "lesson 01_demo.ipynb, key title: missing" in message, message
    message = _error(tmp_path, GOOD.replace("peak_memory_mb:", "peak_memory_gb:"))
    assert "peak_memory_gb" in message and "peak_memory_mb" in message, message
    message = _error(tmp_path, GOOD.replace("EPOCHS: 1", "EPOCH S: 1"))
    assert "key smoke" in message and "identifiers" in message, message
    message = _error(
        tmp_path, GOOD.replace("notebook: 01_demo.ipynb", "notebook: ../01_demo.ipynb")
    )
    assert "key notebook" in message, message


def test_a_missing_or_repeated_notebook_is_refused(tmp_path):
    message = _error(tmp_path, GOOD.replace("01_demo.ipynb", "03_missing.ipynb"))
    assert "lesson 03_missing.ipynb: the notebook file does not exist" in message, message
    twice = GOOD + textwrap.indent(GOOD.split("lessons:\n", 1)[1], "")
    message = _error(tmp_path, twice)
    assert "lesson 01_demo.ipynb: listed twice" in message, message


def test_prerequisites_are_the_earlier_lessons_that_write_what_a_lesson_reads():
    from labkit.runner import CurriculumError, Lesson, build_paths, prerequisites

    model = "../build/smoke/models/m.keras"
    train = Lesson("01_train.ipynb", "t", (), {"EXPORT_PATH": model, "SEED": 1}, ())
    other = Lesson("02_other.ipynb", "o", (), {"OUTPUT_DIR": "../build/smoke/lessons/02"}, ())
    serve = Lesson("03_serve.ipynb", "s", (), {"MODEL_PATH": model, "TEXT": "../x"}, ())
    lessons = [train, other, serve]
    assert build_paths(serve, "smoke") == {"MODEL_PATH": model}  # not ../x: outside build/
    assert prerequisites(serve, lessons, "smoke") == [train]
    assert prerequisites(train, lessons, "smoke") == []  # the writer comes first
    assert prerequisites(other, lessons, "smoke") == []
    with pytest.raises(CurriculumError, match="03_serve.ipynb is not among"):
        prerequisites(serve, [train, other], "smoke")


def test_two_lessons_that_read_one_path_do_not_need_each_other():
    from labkit.runner import Lesson, prerequisites

    model = "../build/smoke/models/m.keras"
    train = Lesson("01_train.ipynb", "t", (), {"EXPORT_PATH": model}, ())
    serve = Lesson("02_serve.ipynb", "s", (), {"MODEL_PATH": model}, ())
    monitor = Lesson("03_monitor.ipynb", "m", (), {"MODEL_PATH": model}, ())
    assert prerequisites(monitor, [train, serve, monitor], "smoke") == [train]
