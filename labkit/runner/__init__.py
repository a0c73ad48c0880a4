"""Execute the curriculum headless with papermill, hold recorded metrics to their bars, report.

Three layers, each importing only the ones before it:

- :mod:`labkit.runner.curriculum` — ``notebooks/curriculum.yaml`` read against a strict schema
  (lessons, their smoke parameters, bars, resource limits) and the lessons' ``parameters`` cells;
- :mod:`labkit.runner.report` — what a run produced (:class:`LessonResult`), written as
  ``results.json`` and ``index.html``;
- :mod:`labkit.runner.execution` — papermill execution of each lesson, measured
  (:class:`ResourceMonitor`), into ``OUT/``, then the report.

The ``full`` profile runs the notebook's own defaults (its ``parameters`` cell); ``overrides``
(``labkit run -p NAME VALUE``, papermill's ``-p``) replace any parameter of the lesson on top of
the profile, e.g. ``-p SEED 7`` to re-run a result with another seed. The CLI (``labkit run``)
and the curriculum tests both call :func:`run`.
"""

from labkit.runner.curriculum import (
    BUILD_PREFIX,
    COMPARISONS,
    PROFILES,
    RESOURCES,
    Bar,
    Check,
    CurriculumError,
    Lesson,
    build_paths,
    check_bars,
    check_overrides,
    check_resources,
    default_curriculum,
    find_lesson,
    load_curriculum,
    parameter_names,
    parse_parameter,
    prerequisites,
)
from labkit.runner.execution import (
    CELL_TIMEOUT_S,
    ResourceMonitor,
    default_out_dir,
    run,
    run_lesson,
)
from labkit.runner.report import SCREENSHOTS, LessonResult, write_report

__all__ = [
    "PROFILES",
    "BUILD_PREFIX",
    "COMPARISONS",
    "RESOURCES",
    "CELL_TIMEOUT_S",
    "SCREENSHOTS",
    "CurriculumError",
    "Bar",
    "Check",
    "Lesson",
    "LessonResult",
    "ResourceMonitor",
    "default_curriculum",
    "default_out_dir",
    "load_curriculum",
    "find_lesson",
    "check_bars",
    "check_resources",
    "parse_parameter",
    "parameter_names",
    "check_overrides",
    "build_paths",
    "prerequisites",
    "run_lesson",
    "run",
    "write_report",
]
