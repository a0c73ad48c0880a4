"""The project's own files: dependencies in step, code and notebooks linted, notebooks clean."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml


def test_environment_yml_pip_section_equals_pyproject(repo):
    pyproject = tomllib.loads((repo / "pyproject.toml").read_text())
    environment = yaml.safe_load((repo / "environment.yml").read_text())
    pip_sections = [d["pip"] for d in environment["dependencies"] if isinstance(d, dict)]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip section"
    assert pip_sections[0] == pyproject["project"]["dependencies"]
    python = [d for d in environment["dependencies"] if isinstance(d, str) and "python" in d]
    assert python == [f"python{pyproject['project']['requires-python']}"]


def test_ruff_lints_package_tests_and_notebooks(repo):
    ruff = shutil.which("ruff") or str(repo / ".venv" / "bin" / "ruff")
    for args in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [ruff, *args, "labkit", "tests", "notebooks"],
            cwd=repo,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, f"ruff {' '.join(args)}:\n{result.stdout}{result.stderr}"


def test_notebooks_are_stored_clean_with_a_parameters_cell(repo):
    for path in sorted((repo / "notebooks").glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), (
            f"{path.name} has outputs: strip them before committing"
        )
        tagged = [i for i, c in enumerate(code) if "parameters" in c["metadata"].get("tags", [])]
        assert tagged == [1], f"{path.name}: the second code cell must be tagged 'parameters'"
        # labkit.setup(seed=SEED) follows the parameters: tests/test_lesson_conventions.py
        assert "import labkit" in "".join(code[0]["source"]), f"{path.name}: first cell imports"


def test_cli_entry_point_is_installed():
    # the console script pip wrote from [project.scripts], as a learner types it
    script = Path(sys.executable).with_name("labkit")
    assert script.is_file(), f"no labkit script beside {sys.executable}: pip install -e ."
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for command in ("run", "data", "doctor", "serve", "deploy"):
        assert command in result.stdout, f"`labkit --help` lists no {command!r}: {result.stdout}"


def test_readme_lists_every_lesson_of_the_curriculum(repo):
    from labkit import runner

    readme = (repo / "README.md").read_text(encoding="utf-8")
    missing = [
        lesson.notebook
        for lesson in runner.load_curriculum()
        if f"(notebooks/{lesson.notebook})" not in readme
    ]
    assert missing == [], f"README.md's lesson table lacks {missing}"
