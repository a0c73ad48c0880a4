"""docs/architecture.md stays true: its layers, paths, names and lesson table match the code.

* Layers: every module and package of labkit/ is in exactly one row of the layers table; every
  labkit import (also those inside functions) goes to the same or a lower layer, except the
  upward imports the document lists; the foundation imports only the standard library at
  import time; inside labkit/datasets/, labkit/deploy/ and labkit/runner/ the document names
  every module, in an order where each imports only the ones named before it.
* Names: every repository path the document names exists (``NN`` placeholders: for every
  lesson), every ``labkit.x.y`` name is defined in the code, every environment variable occurs
  in labkit/, every ``make`` target is in the Makefile, every test function named exists.
* Lessons: the table has one row per lesson of notebooks/curriculum.yaml (number, notebook,
  title); every helper a row names is referenced in that notebook's code cells, and every labkit
  module the notebook's code uses is named in its row.

Static checks only (ast over labkit/ and the notebooks' code cells): nothing is imported or run.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import nbformat
import pytest

from labkit import runner

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "architecture.md"
LABKIT = REPO / "labkit"
NOTEBOOKS = REPO / "notebooks"
LESSONS = runner.load_curriculum()
# The packages whose inner modules the document names in their import order.
ORDERED_PACKAGES = ("datasets", "deploy", "runner")


# --------------------------------------------------------------------------------------------
# reading the document


def _doc() -> str:
    assert DOC.is_file(), f"{DOC.relative_to(REPO)} is missing"
    return DOC.read_text(encoding="utf-8")


def _section(number: int) -> str:
    """The text of the ``## <number>. ...`` section."""
    parts = re.split(r"^## ", _doc(), flags=re.M)
    found = [p for p in parts if p.startswith(f"{number}.")]
    assert len(found) == 1, f"docs/architecture.md: expected one section '## {number}. ...'"
    return found[0]


def _table(text: str, first_header: str) -> list[list[str]]:
    """The rows (cells stripped) of the first table in ``text`` whose header starts so."""
    rows, inside = [], False
    for line in text.splitlines():
        if not line.startswith("|"):
            if inside:
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not inside:
            inside = cells[0] == first_header
            continue
        if not set("".join(cells)) <= set("-: "):
            rows.append(cells)
    assert rows, f"docs/architecture.md: no table with the header '{first_header} | ...'"
    return rows


def _ticked(text: str) -> list[str]:
    """The inline code spans of ``text`` (fenced blocks left out)."""
    return re.findall(r"`([^`\n]+)`", re.sub(r"^```.*?^```", "", text, flags=re.M | re.S))


# --------------------------------------------------------------------------------------------
# reading labkit/


def _unit_of_name(dotted: str) -> str:
    """The layer unit of a labkit module name: ``labkit.x`` (a top-level module or package) or
    ``labkit`` (the package's own ``__init__``)."""
    parts = dotted.split(".")
    if len(parts) > 1 and ((LABKIT / f"{parts[1]}.py").is_file() or (LABKIT / parts[1]).is_dir()):
        return f"labkit.{parts[1]}"
    return "labkit"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_files() -> list[Path]:
    return sorted(p for p in LABKIT.rglob("*.py") if "_project" not in p.parts)


def _top_level_units() -> set[str]:
    units = {"labkit"} | {f"labkit.{p.stem}" for p in LABKIT.glob("*.py") if p.stem != "__init__"}
    units |= {f"labkit.{p.name}" for p in LABKIT.iterdir() if (p / "__init__.py").is_file()}
    return units - {"labkit._project"}


def _labkit_imports(path: Path) -> set[str]:
    """Every labkit module ``path`` imports, anywhere in the file, as full dotted names.

    ``from labkit.p import name`` gives ``labkit.p.name`` when ``name`` is a module of the
    package, else ``labkit.p``.
    """
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "labkit"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            if source.split(".")[0] != "labkit":
                continue
            folder = REPO.joinpath(*source.split("."))
            for alias in node.names:
                is_module = (folder / f"{alias.name}.py").is_file() or (
                    folder / alias.name
                ).is_dir()
                found.add(f"{source}.{alias.name}" if is_module else source)
    return found


def _defined_names(path: Path) -> set[str]:
    """Names a module binds at module level, and the string constants of its module-level
    assignments (lazy exports: ``__all__``, ``__getattr__`` tables)."""
    names: set[str] = set()

    def visit(body):
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
                if node.value is not None:
                    names.update(
                        n.value
                        for n in ast.walk(node.value)
                        if isinstance(n, ast.Constant) and isinstance(n.value, str)
                    )
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.If | ast.Try | ast.With):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return names


def _missing_part(dotted: str) -> str | None:
    """None when ``labkit.a.b...`` names a module or a name defined in one, else what is missing."""
    parts = dotted.split(".")
    folder, index = LABKIT, 1
    while index < len(parts):
        name = parts[index]
        if (folder / name / "__init__.py").is_file():
            folder, index = folder / name, index + 1
            continue
        if (folder / f"{name}.py").is_file():
            module = folder / f"{name}.py"
            if index + 1 == len(parts) or parts[index + 1] in _defined_names(module):
                return None
            return f"{parts[index + 1]} in {module.relative_to(REPO)}"
        if name in _defined_names(folder / "__init__.py"):
            return None
        return f"{name} in {(folder / '__init__.py').relative_to(REPO)}"
    return None


# --------------------------------------------------------------------------------------------
# reading the notebooks


def _code_cells(notebook: str) -> list[str]:
    cells = nbformat.read(NOTEBOOKS / notebook, as_version=4).cells
    return [
        "\n".join(
            line for line in c.source.splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        for c in cells
        if c.cell_type == "code"
    ]


def _references(notebook: str) -> set[str]:
    """The labkit names the notebook's code cells use, as dotted chains: ``from labkit import
    plots`` ... ``plots.plot_history(...)`` gives ``labkit.plots.plot_history``."""
    trees = [ast.parse(source) for source in _code_cells(notebook)]
    bound: dict[str, str] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "labkit":
                        bound[alias.asname or "labkit"] = alias.name if alias.asname else "labkit"
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "labkit":
                for alias in node.names:
                    bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    chains = set()
    for tree in trees:
        for node in ast.walk(tree):
            chain, current = [], node
            while isinstance(current, ast.Attribute):
                chain.append(current.attr)
                current = current.value
            if isinstance(current, ast.Name) and current.id in bound:
                chains.add(".".join([bound[current.id], *reversed(chain)]))
    return chains


def _row_helpers(cell: str) -> set[str]:
    """``labkit.setup``, ...; **plots** ``plot_history``, ... as full dotted names."""
    helpers = set()
    for group in cell.split(";"):
        module = re.match(r"\s*\*\*(\w+)\*\*", group)
        for name in _ticked(group):
            helpers.add(f"labkit.{module.group(1)}.{name}" if module else name)
    return helpers


# --------------------------------------------------------------------------------------------
# 1. layers


def _layers() -> dict[str, int]:
    layers: dict[str, int] = {}
    for row in _table(_section(1), "#"):
        number = int(row[0])
        for unit in _ticked(row[2]):
            assert unit not in layers, f"docs/architecture.md: {unit} is in two layers"
            layers[unit] = number
    return layers


def _exceptions() -> set[tuple[str, str]]:
    return set(re.findall(r"`(labkit/[\w/]+\.py)` imports `(labkit\.\w+)`", _section(1)))


def test_every_labkit_module_and_package_is_in_one_layer():
    layers, units = _layers(), _top_level_units()
    missing, unknown = sorted(units - set(layers)), sorted(set(layers) - units)
    assert not missing, f"docs/architecture.md, layers table: add {missing}"
    assert not unknown, f"docs/architecture.md, layers table: no such module {unknown}"


def test_imports_go_to_the_same_or_a_lower_layer():
    layers, exceptions = _layers(), _exceptions()
    wrong, used_exceptions = [], set()
    for path in _package_files():
        source = _unit_of_name(_module_name(path))
        for target in sorted({_unit_of_name(name) for name in _labkit_imports(path)}):
            if source not in layers or target not in layers:
                continue  # test_every_labkit_module_and_package_is_in_one_layer names it
            if layers[target] <= layers[source]:
                continue
            key = (str(path.relative_to(REPO)), target)
            if key in exceptions:
                used_exceptions.add(key)
            else:
                wrong.append(
                    f"{key[0]} (layer {layers[source]}) imports {target} (layer {layers[target]})"
                )
    assert not wrong, (
        "imports against the layers of docs/architecture.md (move the code, or list the "
        f"import under 'Known exceptions'): {wrong}"
    )
    stale = sorted(exceptions - used_exceptions)
    assert not stale, f"docs/architecture.md lists exceptions that no longer exist: {stale}"


def test_the_foundation_imports_only_the_standard_library_at_import_time():
    foundation = [unit for unit, number in _layers().items() if number == 1]
    assert foundation, "docs/architecture.md: layer 1 lists no modules"
    for unit in foundation:
        path = LABKIT / f"{unit.split('.')[1]}.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            (alias.name if isinstance(node, ast.Import) else node.module or "").split(".")[0]
            for node in tree.body
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        }
        other = sorted(imported - set(sys.stdlib_module_names) - {"__future__"})
        assert not other, f"{path.relative_to(REPO)} imports {other} (layer 1: standard library)"


@pytest.mark.parametrize("package", ORDERED_PACKAGES)
def test_inner_modules_are_named_in_their_import_order(package):
    text = _section(1)
    named = []
    for match in re.finditer(rf"`labkit/{package}/(\w+)\.py`", text):
        if match.group(1) not in named and match.group(1) != "__init__":
            named.append(match.group(1))
    modules = sorted(p.stem for p in (LABKIT / package).glob("*.py") if p.stem != "__init__")
    missing = sorted(set(modules) - set(named))
    missing = [f"labkit/{package}/{name}.py" for name in missing]
    assert not missing, f"docs/architecture.md, layers section: name {missing}"
    for index, name in enumerate(named):
        path = LABKIT / package / f"{name}.py"
        inner = {
            imported.split(".")[2]
            for imported in _labkit_imports(path)
            if imported.startswith(f"labkit.{package}.")
        }
        later = sorted(inner - set(named[:index]) - {name})
        assert not later, (
            f"labkit/{package}/{name}.py imports {later}, named after it in docs/architecture.md"
        )


# --------------------------------------------------------------------------------------------
# names and paths


def test_every_repository_path_named_exists():
    pattern = r"(?<![\w./-])((?:labkit|tests|notebooks|datasets|k8s|docker)/[\w./-]*\w/?)"
    missing = []
    for path in sorted(set(re.findall(pattern, _doc()))):
        if "NN" in path:  # a placeholder: the file of every lesson
            candidates = [
                path.replace("NN_topic", lesson.stem).replace("NN", lesson.stem[:2])
                for lesson in LESSONS
            ]
        else:
            candidates = [path]
        for candidate in candidates:
            target = REPO / candidate
            found = target.is_dir() if candidate.endswith("/") else target.exists()
            if not found:
                missing.append(candidate)
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_every_labkit_name_is_defined():
    names = sorted(set(re.findall(r"(?<![\w/])labkit(?:\.\w+)+", _doc())))
    assert names, "docs/architecture.md names no labkit.x names"
    missing = {name: part for name in names if (part := _missing_part(name))}
    assert not missing, f"docs/architecture.md names what the code lacks: {missing}"


def test_every_environment_variable_occurs_in_labkit():
    source = "\n".join(p.read_text(encoding="utf-8") for p in _package_files())
    variables = sorted(set(re.findall(r"\b(LABKIT_[A-Z_]+|MLFLOW_[A-Z_]+)\b", _doc())))
    assert "LABKIT_DATA_MIRROR" in variables
    missing = [v for v in variables if f'"{v}"' not in source]
    assert not missing, f"docs/architecture.md names variables labkit/ never reads: {missing}"


def test_every_make_target_and_test_named_exists():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([\w-]+):", makefile, re.M))
    named = {m for tick in _ticked(_doc()) for m in re.findall(r"^make ([\w-]+)", tick)}
    assert "test" in named
    missing = sorted(named - targets)
    assert not missing, f"docs/architecture.md names make targets the Makefile lacks: {missing}"
    tests = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "tests").glob("test_*.py"))
    functions = {tick for tick in _ticked(_doc()) if re.fullmatch(r"test_\w+", tick)}
    missing = sorted(f for f in functions if f"def {f}(" not in tests)
    assert not missing, f"docs/architecture.md names test functions that do not exist: {missing}"


# --------------------------------------------------------------------------------------------
# 3. lessons


def _lesson_rows() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for row in _table(_section(3), "#"):
        assert len(row) == 4, f"docs/architecture.md, lesson table: a row is not 4 cells: {row}"
        notebook = row[1].strip("`")
        assert notebook not in rows, f"docs/architecture.md: two rows for {notebook}"
        rows[notebook] = row
    return rows


def test_every_lesson_has_one_row_with_its_number_and_title():
    rows = _lesson_rows()
    expected = [lesson.notebook for lesson in LESSONS]
    missing = [n for n in expected if n not in rows]
    assert not missing, f"docs/architecture.md, lesson table: add rows for {missing}"
    extra = [n for n in rows if n not in expected]
    assert not extra, f"docs/architecture.md, lesson table: not in curriculum.yaml: {extra}"
    assert list(rows) == expected, "docs/architecture.md: lesson rows not in curriculum order"
    for lesson in LESSONS:
        number, _, title, _ = rows[lesson.notebook]
        assert number == lesson.stem[:2], f"{lesson.notebook}: row number {number}"
        assert title == lesson.title, (
            f"docs/architecture.md, {lesson.notebook}: title {title!r}, curriculum.yaml says "
            f"{lesson.title!r}"
        )


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.stem for lesson in LESSONS])
def test_the_row_names_the_helpers_the_notebook_uses(lesson):
    row = _lesson_rows().get(lesson.notebook)
    assert row, f"docs/architecture.md, lesson table: no row for {lesson.notebook}"
    helpers = _row_helpers(row[3])
    assert helpers, f"docs/architecture.md, {lesson.notebook}: no helpers named"
    used = _references(lesson.notebook)
    unused = sorted(h for h in helpers if not any(u == h or u.startswith(f"{h}.") for u in used))
    assert not unused, (
        f"docs/architecture.md, {lesson.notebook}: the row names {unused}, which the notebook's "
        "code cells never use"
    )
    modules = {_unit_of_name(name) for name in used} - {_unit_of_name(name) for name in helpers}
    assert not modules, (
        f"docs/architecture.md, {lesson.notebook}: the notebook uses {sorted(modules)}; "
        "name their main functions in its row"
    )
