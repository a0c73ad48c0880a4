"""Conventions every lesson keeps, read from the notebooks as stored (no execution).

* The ``parameters`` cell holds ``SEED`` (an int), and no other code cell writes a literal seed:
  every random generator takes SEED (or SEED + k), so ``labkit run -p SEED 7`` re-runs the whole
  lesson with another seed and its spread can be stated.
* ``labkit.setup`` (which seeds Python, NumPy and Keras) runs after the parameters cell, with
  ``seed=SEED``, so an overridden seed reaches the global generators too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from labkit import runner

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
LESSONS = [lesson.notebook for lesson in runner.load_curriculum()]

# A literal number where a seed goes: random_state=42, seed=1, default_rng(0),
# set_random_seed(42), tf.random.set_seed(3), np.random.seed(0), RandomState(7), setup(42).
LITERAL_SEED = re.compile(
    r"\b(?:random_state|seed)\s*=\s*-?\d"
    r"|\b(?:default_rng|set_random_seed|set_seed|RandomState|random\.seed|setup)\(\s*-?\d"
)


def _code_cells(name: str) -> list[tuple[int, nbformat.NotebookNode]]:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    return [(i, c) for i, c in enumerate(notebook.cells) if c.cell_type == "code"]


def _parameters_index(cells) -> int:
    found = [i for i, c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(found) == 1, f"expected one cell tagged 'parameters', found {len(found)}"
    return found[0]


@pytest.mark.parametrize("name", LESSONS, ids=[n[:2] for n in LESSONS])
def test_seed_is_a_parameter_and_no_cell_writes_a_literal_seed(name):
    cells = _code_cells(name)
    start = _parameters_index(cells)
    seeds = [
        node.value
        for node in ast.parse(dict(cells)[start].source).body
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", None) == "SEED" for t in node.targets)
    ]
    assert seeds, f"{name}: the parameters cell has no SEED"
    assert isinstance(seeds[0], ast.Constant) and type(seeds[0].value) is int, f"{name}: SEED"
    literal = [
        (i, line.strip())
        for i, cell in cells
        if i != start
        for line in cell.source.splitlines()
        if LITERAL_SEED.search(line.split("#")[0])
    ]
    assert not literal, f"{name}: literal seeds (cell, line), use SEED: {literal}"


@pytest.mark.parametrize("name", LESSONS, ids=[n[:2] for n in LESSONS])
def test_labkit_setup_runs_after_the_parameters_with_the_seed(name):
    cells = _code_cells(name)
    start = _parameters_index(cells)
    calls = [
        (i, call)
        for i, cell in cells
        for call in re.findall(r"labkit\.setup\([^)]*\)", cell.source)
    ]
    assert calls, f"{name}: no labkit.setup(seed=SEED) call"
    for index, call in calls:
        assert index > start, f"{name}: {call} in cell {index} runs before the parameters cell"
        assert re.search(r"\bseed\s*=\s*SEED\b", call), f"{name}: cell {index} calls {call}"


# A class session holds about this much (issue 17, from the instructor's review): prose words
# in the markdown cells, and code lines that are neither blank nor only a comment.
MAX_PROSE_WORDS = 4000
MAX_CODE_LINES = 400


def lesson_size(name: str) -> tuple[int, int]:
    """(words of markdown prose, non-blank non-comment code lines) of a stored notebook."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    words = sum(len(c.source.split()) for c in notebook.cells if c.cell_type == "markdown")
    lines = sum(
        1
        for c in notebook.cells
        if c.cell_type == "code"
        for line in c.source.splitlines()
        if line.strip() and not line.strip().startswith("#")
    )
    return words, lines


@pytest.mark.parametrize("name", LESSONS, ids=[n[:2] for n in LESSONS])
def test_a_lesson_fits_a_class_session(name):
    words, lines = lesson_size(name)
    assert words <= MAX_PROSE_WORDS and lines <= MAX_CODE_LINES, (
        f"{name}: {words} words of prose (at most {MAX_PROSE_WORDS}) and {lines} code lines "
        f"(at most {MAX_CODE_LINES}): tighten it, or split it in two lessons"
    )


@pytest.mark.parametrize("name", LESSONS, ids=[n[:2] for n in LESSONS])
def test_labkit_is_imported_before_tensorflow(name):
    # labkit drops TensorFlow's C++ start-up notices from the first import of TensorFlow in a
    # kernel (labkit.native_log): it must come first, or the learner's first cell shows them
    first_import = {}
    for index, cell in _code_cells(name):
        for node in ast.walk(ast.parse(cell.source)):
            modules = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module]
            for module in modules:
                top = module.split(".")[0]
                first_import.setdefault(top, (index, node.lineno))
    framework = [first_import[m] for m in ("keras", "tensorflow") if m in first_import]
    if framework:
        assert "labkit" in first_import and first_import["labkit"] < min(framework), (
            f"{name}: import labkit before keras/tensorflow (notebooks/ruff.toml sorts it so)"
        )


@pytest.mark.parametrize(
    "path",
    sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) + sorted(NOTEBOOKS.glob("solutions/*.ipynb")),
    ids=lambda p: p.name[:2] + ("s" if "solutions" in p.name else ""),
)
def test_every_cell_has_an_id(path):
    # nbformat 4.5 requires them (JupyterLab and papermill add missing ones, and warn): a cell
    # written by a script without one would change the file on the first save
    import json

    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]  # as stored: nbformat adds ids
    missing = [i for i, cell in enumerate(cells) if "id" not in cell]
    assert not missing, f"{path.name}: cells without an id: {missing}"
