"""The curriculum: ``notebooks/curriculum.yaml`` read against a strict schema, lessons, bars.

``notebooks/curriculum.yaml`` lists the lessons in order. Per lesson: ``notebook``, ``title``,
``objectives``, ``smoke`` (papermill parameters for CI: offline mirror, CPU, about a minute),
optional ``full`` overrides and ``bars``: ``{metric: {smoke: x, full: y}}``. A bar is a lower
limit unless it says ``compare: "<="`` (an upper limit, e.g. a loss) or ``compare: "=="`` (an
exact count). The top-level ``resources`` limits what every run may use (:data:`RESOURCES`).

The file is validated with pydantic (https://docs.pydantic.dev/latest/concepts/models/) with
unknown keys forbidden and numbers taken strictly, so that a typo (``smok:``, ``compre:``) or a
quoted number is an error naming the file, the lesson and the key, never a bar silently
ignored. This module also reads a lesson's ``parameters`` cell (:func:`parameter_names`) and
checks ``labkit run -p NAME VALUE`` overrides against it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "PROFILES",
    "COMPARISONS",
    "RESOURCES",
    "CurriculumError",
    "Bar",
    "Lesson",
    "Check",
    "default_curriculum",
    "load_curriculum",
    "find_lesson",
    "check_bars",
    "check_resources",
    "parse_parameter",
    "parameter_names",
    "check_overrides",
]

PROFILES = ("smoke", "full")
COMPARISONS = {
    ">=": lambda value, bar: value >= bar,
    "<=": lambda value, bar: value <= bar,
    "==": lambda value, bar: math.isclose(value, bar, rel_tol=0, abs_tol=1e-9),
}
# What curriculum.yaml's top-level `resources` may limit, measured by ResourceMonitor.
RESOURCES = {
    "peak_memory_mb": "highest memory (PSS) of the kernel and its children together, MiB",
}


def default_curriculum() -> Path:
    """``notebooks/curriculum.yaml`` of the project folder (:func:`labkit.paths.project`)."""
    from labkit import paths

    return paths.project_file(paths.CURRICULUM)


class CurriculumError(ValueError):
    """curriculum.yaml is malformed, or a requested notebook/profile is not in it."""


@dataclass(frozen=True)
class Bar:
    """The value a recorded metric must reach in each profile."""

    metric: str
    limits: Mapping[str, float]
    compare: str = ">="

    def limit(self, profile: str) -> float | None:
        return self.limits.get(profile)


@dataclass(frozen=True)
class Lesson:
    """One curriculum entry."""

    notebook: str
    title: str
    objectives: tuple[str, ...]
    smoke: Mapping[str, Any]
    bars: tuple[Bar, ...]
    full: Mapping[str, Any] = field(default_factory=dict)
    # limits on what a run may use, e.g. peak_memory_mb <= 1900 in smoke and full (Binder's 2 GB)
    resource_bars: tuple[Bar, ...] = ()

    @property
    def stem(self) -> str:
        return Path(self.notebook).stem

    def parameters(self, profile: str) -> dict[str, Any]:
        """Papermill parameters for a profile (``full`` = the notebook's defaults + overrides)."""
        if profile not in PROFILES:
            raise CurriculumError(f"Unknown profile {profile!r}; use one of {PROFILES}.")
        return dict(self.smoke if profile == "smoke" else self.full)


@dataclass
class Check:
    metric: str
    value: float | None
    bar: float
    compare: str
    passed: bool


def _schema():
    """The pydantic models of curriculum.yaml (built on first use: pydantic is imported lazily)."""
    from typing import Literal

    from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

    strict = ConfigDict(extra="forbid", strict=True)

    class BarSpec(BaseModel):
        model_config = strict
        smoke: float | None = None
        full: float | None = None
        compare: Literal[">=", "<=", "=="] | None = None

        @model_validator(mode="after")
        def _one_limit(self):
            if self.smoke is None and self.full is None:
                raise ValueError("a bar needs a limit for smoke, full or both")
            return self

    def _identifiers(names: Iterable[str], what: str) -> None:
        bad = [n for n in names if not n.isidentifier()]
        if bad:
            raise ValueError(f"{what} must be Python identifiers: {bad}")

    class LessonSpec(BaseModel):
        model_config = strict
        notebook: str = Field(pattern=r"^[A-Za-z0-9_.-]+\.ipynb$")
        title: str = Field(min_length=1)
        objectives: list[str] = []
        smoke: dict[str, Any] = {}
        full: dict[str, Any] = {}
        bars: dict[str, BarSpec] = {}

        @field_validator("smoke", "full")
        @classmethod
        def _parameter_names(cls, value):
            _identifiers(value, "parameter names")
            return value

        @field_validator("bars")
        @classmethod
        def _metric_names(cls, value):
            _identifiers(value, "metric names (labkit.record)")
            return value

    class CurriculumSpec(BaseModel):
        model_config = strict
        resources: dict[Literal[tuple(RESOURCES)], BarSpec] = {}  # type: ignore[valid-type]
        lessons: list[LessonSpec] = Field(min_length=1)

    return CurriculumSpec, {"lesson": LessonSpec, "bar": BarSpec, "top": CurriculumSpec}


def _where(document: Any, loc: tuple) -> str:
    """'lesson 09_lstm_sentiment.ipynb, key bars.lstm_test_accuracy.smok' for an error's loc."""
    if len(loc) >= 2 and loc[0] == "lessons" and isinstance(loc[1], int):
        entries = document.get("lessons") if isinstance(document, Mapping) else None
        entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else {}
        name = entry.get("notebook") if isinstance(entry, Mapping) else None
        lesson = f"lesson {name}" if name else f"lesson {loc[1] + 1} (lessons[{loc[1]}])"
        key = ".".join(str(part) for part in loc[2:])
        return f"{lesson}, key {key}" if key else lesson
    return "key " + ".".join(str(part) for part in loc) if loc else "the top level"


def _allowed(loc: tuple, models: Mapping[str, Any]) -> list[str]:
    """The keys the schema allows where an unknown key ``loc[-1]`` was found."""
    parent = loc[:-1]
    if not parent:
        model = models["top"]
    elif parent[0] == "lessons" and len(parent) == 2:
        model = models["lesson"]
    elif (parent[0] == "lessons" and len(parent) == 4 and parent[2] == "bars") or (
        parent[0] == "resources" and len(parent) == 2
    ):
        model = models["bar"]
    else:
        return []
    return list(model.model_fields)


def _problems(path: Path, document: Any, error: Any, models: Mapping[str, Any]) -> list[str]:
    lines = []
    for problem in error.errors(include_url=False):
        loc, kind = tuple(problem["loc"]), problem["type"]
        # a union's branches add their type names to the loc ('float', 'none', ...): drop them
        loc = tuple(p for p in loc if not (isinstance(p, str) and p in {"float", "none", "[key]"}))
        where = _where(document, loc)
        if kind == "extra_forbidden":
            allowed = ", ".join(_allowed(loc, models))
            text = f"unknown key {loc[-1]!r}" + (f" (allowed: {allowed})" if allowed else "")
            if loc and loc[0] == "resources" and len(loc) == 2:
                text = f"unknown resource {loc[-1]!r} (known: {', '.join(RESOURCES)})"
        elif kind == "missing":
            text = "missing (every lesson needs 'notebook' and 'title')"
        elif kind == "literal_error" and loc and loc[-1] == "compare":
            text = f"compare must be one of {list(COMPARISONS)}, got {problem.get('input')!r}"
        elif kind == "literal_error" and loc and loc[0] == "resources":
            text = f"unknown resource (known: {', '.join(RESOURCES)})"
        elif kind.startswith(("float", "dict", "list", "string", "model")):
            got = problem.get("input")
            text = f"{problem['msg'].lower()}, got {got!r} ({type(got).__name__})"
            if kind == "string_type" and isinstance(got, Mapping):
                text += " — an unquoted ': ' makes YAML read a mapping: put the text in quotes"
        else:
            text = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{path}: {where}: {text}")
    return lines


def load_curriculum(path: str | os.PathLike | None = None) -> list[Lesson]:
    """Read ``notebooks/curriculum.yaml`` (default: :func:`default_curriculum`), strictly.

    Returns:
        The lessons, in the file's order.

    Raises:
        CurriculumError: the file is missing or not YAML; a key is unknown (a typo such as
            ``smok`` or ``compre``) or missing (``notebook``, ``title``); a bar's limit is not
            a number, it has none, or its ``compare`` is not one of :data:`COMPARISONS`; a
            parameter or metric name is not an identifier; two lessons name the same notebook;
            or a lesson's notebook file does not exist. The message names the file, the lesson
            and the key, one line per problem.
    """
    import yaml
    from pydantic import ValidationError

    path = Path(path or default_curriculum())
    if not path.is_file():
        raise CurriculumError(f"No curriculum file at {path}.")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise CurriculumError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(document, Mapping):
        raise CurriculumError(f"{path}: expected a mapping with 'lessons' (and 'resources').")
    spec_class, models = _schema()
    try:
        spec = spec_class.model_validate(document)
    except ValidationError as error:
        raise CurriculumError("\n".join(_problems(path, document, error, models))) from None
    seen: set[str] = set()
    problems = []
    for entry in spec.lessons:
        if entry.notebook in seen:
            problems.append(f"{path}: lesson {entry.notebook}: listed twice")
        seen.add(entry.notebook)
        if not (path.parent / entry.notebook).is_file():
            problems.append(f"{path}: lesson {entry.notebook}: the notebook file does not exist")
    if problems:
        raise CurriculumError("\n".join(problems))

    def bar(metric: str, b: Any, default_compare: str) -> Bar:
        limits = {p: float(getattr(b, p)) for p in PROFILES if getattr(b, p) is not None}
        return Bar(metric, limits, b.compare or default_compare)

    # a resource limit is an upper limit unless it says otherwise
    resource_bars = tuple(bar(m, b, "<=") for m, b in spec.resources.items())
    return [
        Lesson(
            notebook=entry.notebook,
            title=entry.title,
            objectives=tuple(entry.objectives),
            smoke=dict(entry.smoke),
            full=dict(entry.full),
            bars=tuple(bar(m, b, ">=") for m, b in entry.bars.items()),
            resource_bars=resource_bars,
        )
        for entry in spec.lessons
    ]


def check_bars(lesson: Lesson, metrics: Mapping[str, float], profile: str) -> list[Check]:
    """Compare recorded metrics with the lesson's bars for a profile.

    A bar whose metric was not recorded fails (value None): a lesson that stops recording is
    a regression, not a pass.
    """
    return _check(lesson.bars, metrics, profile)


def check_resources(lesson: Lesson, usage: Mapping[str, float], profile: str) -> list[Check]:
    """Compare what a run used (e.g. ``{"peak_memory_mb": 1530.2}``) with curriculum.yaml's
    ``resources`` limits for a profile. Smoke and full runs must fit mybinder.org's 2 GB."""
    return _check(lesson.resource_bars, usage, profile)


def parse_parameter(value: str) -> Any:
    """A ``-p NAME VALUE`` value as papermill's ``-p`` reads it.

    ``"7"`` is the int 7, ``"0.5"`` a float, ``"True"``/``"False"`` a bool, ``"None"`` None;
    anything else stays a string (papermill's CLI, ``papermill.cli._resolve_type``).
    """
    constants = {"True": True, "False": False, "None": None}
    if value in constants:
        return constants[value]
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def parameter_names(notebook: str | os.PathLike) -> set[str]:
    """The names the notebook's ``parameters`` cell assigns (papermill's tag), in no order.

    Read with :mod:`ast`, not ``papermill.inspect_notebook``: papermill skips a line whose
    comment holds an ``=`` ("None = all 60,000"), so it would miss real parameters.

    Raises:
        CurriculumError: the notebook has no cell tagged ``parameters``.
    """
    import ast

    import nbformat

    cells = nbformat.read(str(notebook), as_version=4).cells
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        raise CurriculumError(f"{Path(notebook).name} has no cell tagged 'parameters'.")
    names: set[str] = set()
    for cell in tagged:
        for node in ast.parse(cell.source).body:
            targets = (
                node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            )
            names |= {target.id for target in targets if isinstance(target, ast.Name)}
    return names


def check_overrides(notebook: str | os.PathLike, overrides: Mapping[str, Any]) -> None:
    """Refuse overrides that name no parameter of the notebook's ``parameters`` cell.

    Papermill injects any name it is given, so a typo (``-p SEDD 7``) would run the lesson with
    its defaults and report them as the overridden run.

    Raises:
        CurriculumError: a name is not in the parameters cell; the message lists the names.
    """
    if not overrides:
        return
    known = parameter_names(notebook)
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise CurriculumError(
            f"{Path(notebook).name} has no parameter {', '.join(unknown)} in its parameters "
            f"cell; it has: {', '.join(sorted(known)) or 'none'}."
        )


def _check(bars: Iterable[Bar], values: Mapping[str, float], profile: str) -> list[Check]:
    checks = []
    for bar in bars:
        limit = bar.limit(profile)
        if limit is None:
            continue
        value = values.get(bar.metric)
        passed = value is not None and COMPARISONS[bar.compare](value, limit)
        checks.append(Check(bar.metric, value, limit, bar.compare, passed))
    return checks


def find_lesson(name: str, curriculum: str | os.PathLike | None = None) -> Lesson:
    """One lesson of curriculum.yaml by file name or stem (``"09_lstm_sentiment"`` works).

    Raises:
        CurriculumError: no such lesson (the message lists the lessons).
    """
    [lesson] = _select(load_curriculum(curriculum), [name])
    return lesson


BUILD_PREFIX = "../build/"  # path parameters under the repository's build/ (relative to notebooks/)


def build_paths(lesson: Lesson, profile: str) -> dict[str, str]:
    """The lesson's parameters for a profile that name a path under ``build/``.

    Returns:
        ``{parameter name: path}``, each path as written (relative to ``notebooks/``, starting
        with ``../build/``), e.g. ``{"EXPORT_PATH": "../build/smoke/models/sentiment_lstm.keras"}``.
    """
    return {
        name: value
        for name, value in lesson.parameters(profile).items()
        if isinstance(value, str) and value.startswith(BUILD_PREFIX)
    }


def prerequisites(lesson: Lesson, lessons: Iterable[Lesson], profile: str) -> list[Lesson]:
    """Earlier lessons that write a ``build/`` path this lesson reads, in curriculum order.

    A ``build/`` path is written by the first lesson that names it and read by the later ones:
    lessons 13, 15 and 16 serve the model lesson 09 exports (their ``MODEL_PATH`` is 09's
    ``EXPORT_PATH``). Run these first for the lesson to use their output rather than a fallback
    (they train a small stand-in when 09's model is missing).

    Raises:
        CurriculumError: the lesson is not in ``lessons``.
    """
    ordered = list(lessons)
    if lesson not in ordered:
        raise CurriculumError(f"{lesson.notebook} is not among the lessons given.")
    writer: dict[str, Lesson] = {}
    for each in ordered:
        for path in build_paths(each, profile).values():
            writer.setdefault(path, each)
    needed = {id(writer[p]) for p in build_paths(lesson, profile).values() if writer[p] != lesson}
    return [each for each in ordered if id(each) in needed]


def _select(lessons: list[Lesson], notebooks: Iterable[str] | None) -> list[Lesson]:
    if not notebooks:
        return lessons
    by_name = {}
    for lesson in lessons:
        by_name[lesson.notebook] = by_name[lesson.stem] = lesson
    chosen = []
    for requested in notebooks:
        key = Path(requested).name
        lesson = by_name.get(key) or by_name.get(Path(key).stem)
        if lesson is None:
            raise CurriculumError(
                f"{requested} is not in curriculum.yaml; lessons: "
                f"{', '.join(lesson.notebook for lesson in lessons)}."
            )
        chosen.append(lesson)
    return chosen
