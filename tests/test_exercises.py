"""The exercise checks (labkit.exercises), their worked solutions and the lessons' exercises.

* Every registered check FAILs on a wrong answer, with a hint, without printing the solution,
  and FAILs (no traceback) on an answer of the wrong type (fast, in-process).
* Every registered check FAILs on at least two shortcut answers chosen for that exercise:
  answers that skip the work (tests/shortcut_answers/, one module per lesson).
* Every solution notebook in notebooks/solutions/ runs headless and every check in it prints
  PASS (marked ``notebook``: they train small models).
* Every lesson ends with 2-5 exercises whose ids ("NN.K") are exactly the registered ids
  of that lesson. The lessons are read from notebooks/ (or from the folder in
  ``LABKIT_EXERCISES_LESSONS_DIR``, e.g. patched copies).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import shortcut_answers
import wrong_answers_09_12
import wrong_answers_13_17

from labkit import exercises

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "notebooks" / "solutions"
LESSONS_DIR = Path(os.environ.get("LABKIT_EXERCISES_LESSONS_DIR", REPO / "notebooks"))
LESSON_NUMBERS = range(1, 16)
CHECK_CALL = re.compile(r"""exercises\.check\(\s*["'](\d\d\.\d)["']""")
RESULT_LINE = re.compile(r"^(PASS|FAIL|NOT ATTEMPTED) (\d\d\.\d) —", re.M)


# --------------------------------------------------------------------------------------------
# wrong answers: (factory of the answer, context, strings the FAIL line must not contain)


def _keras_mlp(*hidden):
    import keras
    from keras import layers

    model = keras.Sequential([keras.Input(shape=(28, 28)), layers.Flatten()])
    for units in hidden:
        model.add(layers.Dense(units, activation="relu"))
    model.add(layers.Dense(10, activation="softmax"))
    return model


def _compiled(rate):
    import keras

    model = _keras_mlp(128)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=rate), loss="mse")
    return model


def _flip_block():
    import keras
    from keras import layers

    return keras.Sequential(
        [layers.RandomFlip("horizontal"), layers.RandomRotation(0.05), layers.RandomZoom(0.1)]
    )


def _model_without_augmentation():
    import keras
    from keras import layers

    inputs = keras.Input(shape=(32, 32, 3))
    base = keras.Sequential([keras.Input(shape=(32, 32, 3)), layers.Conv2D(4, 3)], name="base")
    outputs = layers.Dense(3)(layers.GlobalAveragePooling2D()(base(layers.RandomFlip()(inputs))))
    return keras.Model(inputs, outputs)


def _argmax_peak(x, rate):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.argmax(spectrum) * rate / len(x)


def _fft_pitch(frame, rate):
    return _argmax_peak(frame, rate)


def _relative_eyes(image_bgr, faces):
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_eye.xml")
    gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    eyes = []
    for x, y, w, h in faces:  # forgets to add (x, y): boxes relative to the face corner
        eyes += list(cascade.detectMultiScale(gray[y : y + h, x : x + w], 1.1, 10))
    return eyes


def _rgb_mask(image_bgr):
    import cv2

    hsv = cv2.cvtColor(image_bgr, cv2.COLOR_RGB2HSV)  # wrong channel order
    return cv2.inRange(hsv, (100, 80, 50), (130, 255, 255))


def _fixed_canny(blurred):
    import cv2

    return cv2.Canny(blurred, 50, 150)


def _mean_difference(frame_a, frame_b):
    return float(np.mean(np.abs(frame_a.astype(float) - frame_b.astype(float))))


def _unigram_pipeline():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    docs = ["good film", "bad film", "great plot", "awful plot"] * 5
    return make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(docs, [1, 0, 1, 0] * 5)


def _lowest_threshold(y_true, proba, target):
    return float(np.min(proba))


def _ridge_without_scaler(alpha):
    from sklearn import linear_model, pipeline, preprocessing

    return pipeline.make_pipeline(
        preprocessing.PolynomialFeatures(15, include_bias=False), linear_model.Ridge(alpha=alpha)
    )


WRONG_01_07 = {
    "01.1": (lambda: {"best_k": 3, "ari_k2": 0.9, "ari_k3": 0.9}, {}, []),
    "01.2": (lambda: lambda df: df[["longitude", "latitude", "median_income"]].to_numpy(), {}, []),
    "01.3": (lambda: (0.05, 0.45), {}, []),
    "02.1": (lambda: 0.5, {}, []),
    "02.3": (lambda: _lowest_threshold, {}, []),
    "02.4": (lambda: _ridge_without_scaler, {}, []),
    "03.1": (lambda: _rgb_mask, {}, ["cv2.inRange(hsv, ("]),
    "03.2": (lambda: _fixed_canny, {}, ["0.67 * m", "1.33 * m"]),
    "03.3": (lambda: _relative_eyes, {}, ["x + ex"]),
    "03.4": (lambda: _mean_difference, {}, []),
    "04.1": (lambda: r"NE: {<NNP|NNPS>+}", {}, ["<NNP>+<IN>", "<NNP|NNPS>+<IN>"]),
    "04.2": (_unigram_pipeline, {"docs_test": ["good film"], "y_test": [1]}, []),
    "05.1": (lambda: _argmax_peak, {}, ["0.5 * (a - c)", "(a - 2b + c)"]),
    "05.2": (lambda: _fft_pitch, {}, ["np.correlate(frame, frame"]),
    "06.1": (lambda: _keras_mlp(512), {}, ["269,322", "269322"]),
    "06.2": (lambda: {"batch": _compiled(0.05), "stochastic": _compiled(0.05)}, {}, ["0.005"]),
    "07.1": (lambda: ((5, 5, 128), 128 * 9 * 64), {}, ["73856", "73,856", "(3, 3, 128)"]),
    "07.3": (_flip_block, {}, []),
    "08.1": (lambda: 1_000_000, {"n_classes": 12}, ["108,812", "108812"]),
    "08.2": (lambda: (20, 20, 1024), {}, ["(10, 10, 256)"]),
    "08.4": (_model_without_augmentation, {}, []),
}


# Wrong answers for the later lessons live beside this file (not collected as tests themselves).
WRONG = {**WRONG_01_07, **wrong_answers_09_12.WRONG, **wrong_answers_13_17.WRONG}


SHORTCUTS = shortcut_answers.collect()
# Checks that train Keras models on their answers (several seconds each): their shortcut cases
# run in the slow lane (make test), their wrong-type and wrong-answer cases in both.
TRAINING_CHECKS = {"07.4", "09.1", "09.3", "14.2"}
SHORTCUT_CASES = [
    pytest.param(
        exercise_id,
        index,
        id=f"{exercise_id}-{index}",
        marks=[pytest.mark.slow] if exercise_id in TRAINING_CHECKS else [],
    )
    for exercise_id in sorted(SHORTCUTS)
    for index in range(len(SHORTCUTS[exercise_id]))
]


def _run_check(capsys, exercise_id, answer, **context):
    passed = exercises.check(exercise_id, answer, **context)
    return passed, capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# the registry


MAX_EXERCISES = 5  # per lesson: a class session has room for two to five


def test_ids_are_well_formed_and_in_order():
    ids = exercises.ids()
    assert ids, "no exercise is registered"
    assert all(re.fullmatch(r"\d\d\.\d", i) for i in ids), ids
    for lesson in {i[:2] for i in ids}:
        numbers = [int(i[3:]) for i in exercises.ids(int(lesson))]
        assert numbers == list(range(1, len(numbers) + 1)), f"lesson {lesson}: {numbers}"
        # 2 to 5: the serving and Kubernetes lessons add one the learner builds by hand
        assert 2 <= len(numbers) <= MAX_EXERCISES, f"lesson {lesson} has {len(numbers)} exercises"


def test_unknown_id_raises_and_lists_the_valid_ids():
    with pytest.raises(exercises.UnknownExerciseError) as error:
        exercises.check("99.9", 1)
    assert "99.9" in str(error.value) and "01.1" in str(error.value)


def test_none_means_not_attempted(capsys):
    passed, out = _run_check(capsys, "01.1", None)
    assert passed is False and out.startswith("NOT ATTEMPTED 01.1")


def test_describe_says_what_the_answer_is():
    for exercise_id in exercises.ids():
        text = exercises.describe(exercise_id)
        assert text.startswith(exercise_id) and "answer =" in text


def test_wrong_answers_here_are_for_registered_checks():
    # one plain wrong answer per check where it teaches something beyond the shortcut answers
    # (tests/shortcut_answers/ holds at least two per check; a wrong type is tested for all)
    unknown = sorted(set(WRONG) - set(exercises.ids()))
    assert not unknown, f"wrong answers for unregistered ids: {unknown}"


@pytest.mark.parametrize("exercise_id", sorted(WRONG))
def test_wrong_answer_fails_with_a_hint_and_no_solution(exercise_id, capsys):
    make, context, forbidden = WRONG[exercise_id]
    passed, out = _run_check(capsys, exercise_id, make(), **context)
    assert passed is False, out
    assert out.startswith(f"FAIL {exercise_id} — "), out
    assert "Hint: " in out and "Traceback" not in out, out
    for secret in forbidden:
        assert secret not in out, f"{exercise_id} leaks {secret!r}: {out}"


def test_every_registered_check_has_two_shortcut_answers_here():
    too_few = {
        i: len(SHORTCUTS.get(i, [])) for i in exercises.ids() if len(SHORTCUTS.get(i, [])) < 2
    }
    assert not too_few, (
        f"add shortcut answers (at least two per check) in tests/shortcut_answers/: {too_few}"
    )
    unknown = sorted(set(SHORTCUTS) - set(exercises.ids()))
    assert not unknown, f"shortcut answers for unregistered ids: {unknown}"


@pytest.mark.parametrize(("exercise_id", "index"), SHORTCUT_CASES)
def test_shortcut_answer_fails_with_a_hint_and_no_solution(exercise_id, index, capsys):
    shortcut = SHORTCUTS[exercise_id][index]
    answer, context = shortcut.make()
    passed, out = _run_check(capsys, exercise_id, answer, **context)
    assert passed is False, f"{exercise_id} passes a shortcut ({shortcut.name}): {out}"
    assert out.startswith(f"FAIL {exercise_id} — "), out
    assert "Hint: " in out and "Traceback" not in out, out
    for secret in shortcut.forbidden:
        assert secret not in out, f"{exercise_id} leaks {secret!r}: {out}"


@pytest.mark.parametrize("exercise_id", exercises.ids())
def test_wrong_type_fails_and_names_the_expected_type(exercise_id, capsys):
    passed, out = _run_check(capsys, exercise_id, object())
    assert passed is False, out
    assert out.startswith(f"FAIL {exercise_id} — ") and "expected" in out, out


def test_importing_exercises_does_not_import_tensorflow():
    code = (
        "import sys, labkit.exercises; "
        "heavy = {'tensorflow', 'keras', 'cv2', 'nltk', 'sklearn'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# --------------------------------------------------------------------------------------------
# the solutions


def _solution_notebooks() -> list[Path]:
    return sorted(SOLUTIONS.glob("[0-9][0-9]_*_solutions.ipynb"))


def _ids_in_source(path: Path) -> list[str]:
    notebook = nbformat.read(path, as_version=4)
    cells = [c.source for c in notebook.cells if c.cell_type == "code"]
    return [m for source in cells for m in CHECK_CALL.findall(source)]


def test_every_registered_exercise_has_a_solution():
    covered = {i for path in _solution_notebooks() for i in _ids_in_source(path)}
    missing = sorted(set(exercises.ids()) - covered)
    assert not missing, f"no solution in notebooks/solutions/ checks {missing}"


def test_solution_notebooks_are_stored_without_outputs():
    for path in _solution_notebooks():
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name


@pytest.mark.notebook
@pytest.mark.parametrize("path", _solution_notebooks(), ids=lambda p: p.name[:2])
def test_solution_notebook_passes_every_check(path, tmp_path, monkeypatch):
    import papermill

    monkeypatch.setenv("LABKIT_HEADLESS", "1")  # as labkit.runner does: no live widgets/plots
    output = tmp_path / path.name
    papermill.execute_notebook(
        str(path),
        str(output),
        kernel_name="python3",
        cwd=str(SOLUTIONS),
        progress_bar=False,
        execution_timeout=300,
    )
    executed = nbformat.read(output, as_version=4)
    text = "\n".join(
        out.get("text", "")
        for cell in executed.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("name") == "stdout"
    )
    results = RESULT_LINE.findall(text)
    lesson = int(path.name[:2])
    assert sorted(i for _, i in results) == exercises.ids(lesson), results
    not_passed = [line for line in text.splitlines() if re.match(r"(FAIL|NOT ATTEMPTED) ", line)]
    assert all(status == "PASS" for status, _ in results), not_passed


# --------------------------------------------------------------------------------------------
# the lessons


def _lesson(number: int) -> Path:
    found = sorted(LESSONS_DIR.glob(f"{number:02d}_*.ipynb"))
    assert len(found) == 1, f"expected one lesson {number:02d}_*.ipynb in {LESSONS_DIR}: {found}"
    return found[0]


def _exercise_section(path: Path) -> list:
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown" and re.search(r"^#+\s*Exercises\b", cell.source, re.M):
            start = index
    return notebook.cells[start:]


@pytest.mark.parametrize("number", LESSON_NUMBERS, ids=lambda n: f"{n:02d}")
def test_lesson_ends_with_exercises_matching_the_registry(number):
    path = _lesson(number)
    cells = _exercise_section(path)
    text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    text = text[re.search(r"^#+\s*Exercises\b", text, re.M).start() :]
    # numbered exercises: "1. **Title**" list items or "**1. Title**" paragraphs
    numbers = re.findall(r"^(?:(\d)\. \*\*|\*\*(\d)\. )", text, re.M)
    numbers = [int(a or b) for a, b in numbers]
    assert 2 <= len(numbers) <= MAX_EXERCISES, numbers
    assert numbers == list(range(1, len(numbers) + 1)), numbers
    mentioned = sorted(set(CHECK_CALL.findall(text)))
    expected = exercises.ids(number)
    assert mentioned == expected, (
        f"{path.name}: exercises mention checks {mentioned}, registry has {expected} "
        "(run /tmp/ex/patch_lessons.py, or its copy, on the lessons)"
    )
    assert len(numbers) == len(expected), f"{path.name}: {len(numbers)} exercises, ids {expected}"
