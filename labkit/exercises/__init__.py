"""Automatic checks for the exercises at the end of every lesson.

Every exercise has an id ``"NN.K"``: the lesson number and the exercise's number in that lesson
(``"06.1"`` is the first exercise of lesson 06). In a notebook::

    from labkit import exercises

    exercises.check("06.1", answer)          # prints PASS/FAIL with a hint, returns True/False
    exercises.describe("06.1")                # what `answer` must be for this exercise
    exercises.ids()                           # every registered id, in curriculum order

:func:`check` prints one line, ``PASS 05.1 — <what was verified>`` or
``FAIL 05.1 — <what is wrong> Hint: <hint>``, and never prints the solution. A wrong type of
answer is a FAIL that says which type is expected; ``None`` means "not attempted yet". Only an
unknown id raises (:class:`UnknownExerciseError`, listing the valid ids).

Checks are cheap: they never train a network. Where an exercise involves training they look at
the artefact (architecture, parameter count, a metric on data the learner passes along as
``**context``); where it asks for a function they compare its behaviour on fresh inputs with a
reference implemented here. Heavy libraries (TensorFlow, OpenCV, NLTK, scikit-learn) are
imported inside the checks that need them, so ``import labkit.exercises`` stays fast.

Worked solutions live in ``notebooks/solutions/``; ``tests/test_exercises.py`` runs them (every
check must PASS) and feeds every check a wrong answer (it must FAIL without leaking the solution).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Exercise",
    "UnknownExerciseError",
    "check",
    "describe",
    "get",
    "ids",
]

SEED = 42  # the seed every lesson uses; references below reproduce the lessons' set-ups


class UnknownExerciseError(KeyError):
    """The exercise id is not registered. The message lists the valid ids."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0])


class Fail(Exception):
    """Raised inside a check: the answer is wrong. The message says what is wrong (no solution)."""


@dataclass(frozen=True)
class Exercise:
    """One registered exercise.

    Attributes:
        id: ``"NN.K"``.
        title: the exercise's short title, as in the lesson.
        expects: what ``answer`` must be (shown on a type error and by :func:`describe`).
        verifies: what a PASS means (printed after ``PASS NN.K —``).
        hint: printed after a FAIL; never contains the solution.
        func: ``func(answer, **context) -> str | None``; raises :class:`Fail` on a wrong answer
            and returns an optional detail appended to the PASS line (e.g. a measured accuracy).
    """

    id: str
    title: str
    expects: str
    verifies: str
    hint: str
    func: Callable[..., str | None]


_REGISTRY: dict[str, Exercise] = {}


def _register(exercise_id: str, title: str, *, expects: str, verifies: str, hint: str):
    def decorator(func: Callable[..., str | None]) -> Callable[..., str | None]:
        if exercise_id in _REGISTRY:
            raise ValueError(f"exercise {exercise_id} registered twice")
        _REGISTRY[exercise_id] = Exercise(exercise_id, title, expects, verifies, hint, func)
        return func

    return decorator


def _sort_key(exercise_id: str) -> tuple[int, int]:
    lesson, number = exercise_id.split(".")
    return int(lesson), int(number)


def ids(lesson: int | str | None = None) -> list[str]:
    """Registered exercise ids in curriculum order, optionally only those of one lesson (e.g. 5)."""
    found = sorted(_REGISTRY, key=_sort_key)
    if lesson is not None:
        found = [i for i in found if _sort_key(i)[0] == int(lesson)]
    return found


def get(exercise_id: str) -> Exercise:
    """The :class:`Exercise` registered under ``exercise_id`` (e.g. ``"06.1"``).

    Raises:
        UnknownExerciseError: no such id; the message lists the valid ids.
    """
    key = str(exercise_id).strip()
    if key not in _REGISTRY:
        raise UnknownExerciseError(
            f"Unknown exercise id {exercise_id!r}. Exercise ids are 'NN.K' (lesson.exercise); "
            f"valid ids: {', '.join(ids())}."
        )
    return _REGISTRY[key]


def describe(exercise_id: str) -> str:
    """One paragraph: the exercise's title, what ``answer`` must be and what the check verifies."""
    ex = get(exercise_id)
    return f"{ex.id} {ex.title}: answer = {ex.expects}. The check verifies {ex.verifies}."


def check(exercise_id: str, answer: Any, **context: Any) -> bool:
    """Check an answer to exercise ``exercise_id``; print one PASS/FAIL line; return True on PASS.

    Args:
        exercise_id: ``"NN.K"``, e.g. ``"06.1"`` (see :func:`ids`).
        answer: what the exercise asks for (:func:`describe` says what that is). ``None`` prints
            "not attempted yet" and returns False.
        **context: extra objects some checks need, named in the exercise text (e.g. the test
            set: ``X_test=..., y_test=...``).

    Returns:
        True when the answer passed. A wrong answer, a wrong type or an answer that raises when
        the check uses it prints FAIL (with a hint) and returns False; it never raises.

    Raises:
        UnknownExerciseError: ``exercise_id`` is not registered (the message lists valid ids).
    """
    ex = get(exercise_id)
    if answer is None:
        print(f"NOT ATTEMPTED {ex.id} — set answer to {ex.expects}, then run the check again.")
        return False
    try:
        detail = ex.func(answer, **context)
    except Fail as failure:
        print(f"FAIL {ex.id} — {failure} Hint: {ex.hint}")
        return False
    except Exception as error:  # the learner's code raised inside the check: say so, no traceback
        message = str(error).splitlines()[0][:200] if str(error) else ""
        print(
            f"FAIL {ex.id} — using your answer raised {type(error).__name__}"
            f"{': ' + message if message else ''}. Expected: {ex.expects}. Hint: {ex.hint}"
        )
        return False
    print(f"PASS {ex.id} — {ex.verifies}" + (f" ({detail})" if detail else ""))
    return True


# --------------------------------------------------------------------------------------------
# helpers shared by the checks


def _need(condition: bool, message: str) -> None:
    if not condition:
        raise Fail(message)


def _number(answer: Any, what: str) -> float:
    if isinstance(answer, bool) or not isinstance(answer, (int, float, np.integer, np.floating)):
        raise Fail(f"expected {what} (a number), got {type(answer).__name__}.")
    value = float(answer)
    _need(math.isfinite(value), f"{what} must be a finite number.")
    return value


def _integer(answer: Any, what: str) -> int:
    if isinstance(answer, bool) or not isinstance(answer, (int, np.integer)):
        raise Fail(f"expected {what} (an int), got {type(answer).__name__}.")
    return int(answer)


def _callable(answer: Any, what: str) -> Callable[..., Any]:
    if not callable(answer):
        raise Fail(f"expected {what} (a function), got {type(answer).__name__}.")
    return answer


def _mapping(answer: Any, keys: tuple[str, ...], what: str) -> Mapping[str, Any]:
    if not isinstance(answer, Mapping):
        raise Fail(f"expected {what} (a dict), got {type(answer).__name__}.")
    missing = [k for k in keys if k not in answer]
    _need(not missing, f"the dict lacks the key(s) {missing}; it needs {list(keys)}.")
    return answer


def _shape(answer: Any, length: int, what: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(n) for n in answer)
    except (TypeError, ValueError):
        raise Fail(f"expected {what} (a tuple of {length} ints), got {answer!r}.") from None
    _need(len(shape) == length, f"expected {length} numbers in {what}, got {len(shape)}.")
    return shape


def _keras_model(answer: Any, what: str = "a Keras model") -> Any:
    import keras

    if not isinstance(answer, keras.Model):
        raise Fail(f"expected {what} (keras.Model), got {type(answer).__name__}.")
    return answer


def _context(context: Mapping[str, Any], *names: str) -> list[Any]:
    missing = [n for n in names if context.get(n) is None]
    _need(
        not missing,
        f"this check needs {', '.join(missing)} passed along: "
        f"check(..., answer, {', '.join(f'{n}={n}' for n in names)}).",
    )
    return [context[n] for n in names]


# The checks, one module per lesson; importing them fills the registry.
from labkit.exercises import (  # noqa: E402, F401
    lesson_01,
    lesson_02,
    lesson_03,
    lesson_04,
    lesson_05,
    lesson_06,
    lesson_07,
    lesson_08,
    lesson_09,
    lesson_10,
    lesson_11,
    lesson_12,
    lesson_13,
    lesson_14,
    lesson_15,
    lesson_16,
    lesson_17,
)
