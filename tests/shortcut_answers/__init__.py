"""Shortcut answers for the exercise checks: answers that skip the work, each of which must FAIL.

A learner who wants a PASS without doing an exercise has shortcuts: typing plausible numbers
instead of running the experiment, passing the test labels as predictions, a constant or
untrained model, a model fitted on the test set, the lesson's unchanged baseline, a function
that special-cases the inputs the lesson shows. ``tests/test_exercises.py`` feeds every
registered check at least two shortcuts chosen for that exercise (``SHORTCUTS[id]``) and each
must print FAIL, with a hint and without the solution.

One module per lesson (``lesson_NN.py``), each defining ``SHORTCUTS: dict[str, list[Shortcut]]``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Shortcut:
    """One answer that skips the work.

    Attributes:
        name: what the shortcut is, in a few words ("the test labels as scores").
        make: ``make() -> (answer, context)``: the answer and the ``**context`` to pass along.
        forbidden: strings the FAIL line must not contain (they would give the solution away).
    """

    name: str
    make: Callable[[], tuple[Any, Mapping[str, Any]]]
    forbidden: tuple[str, ...] = field(default=())


def collect() -> dict[str, list[Shortcut]]:
    """Every lesson module's ``SHORTCUTS``, merged (a missing module contributes none)."""
    found: dict[str, list[Shortcut]] = {}
    for number in range(1, 18):  # lessons 01-17
        try:
            module = importlib.import_module(f"shortcut_answers.lesson_{number:02d}")
        except ModuleNotFoundError as error:
            if error.name != f"shortcut_answers.lesson_{number:02d}":
                raise
            continue
        for exercise_id, shortcuts in module.SHORTCUTS.items():
            found.setdefault(exercise_id, []).extend(shortcuts)
    return found
