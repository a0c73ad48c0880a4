"""Checks for the exercises of lesson 15 · Pipelines.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from labkit.exercises import (
    Fail,
    _callable,
    _need,
    _register,
)


def _compiled_spec() -> dict:
    import yaml

    from labkit import paths

    return yaml.safe_load(paths.project_file(paths.PIPELINE_YAML).read_text())


def _tasks_and_gated(spec: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """All task names of a compiled pipeline and those inside a condition group (no kfp)."""
    components = spec["components"]
    tasks: set[str] = set()
    gated: set[str] = set()

    def walk(group: Mapping[str, Any], inside: bool) -> None:
        for name, task in group.items():
            dag = components.get(task["componentRef"]["name"], {}).get("dag")
            if dag is not None:
                walk(dag["tasks"], inside or "triggerPolicy" in task)
            else:
                tasks.add(name)
                if inside:
                    gated.add(name)

    walk(spec["root"]["dag"]["tasks"], False)
    return tasks, gated


def _tasks_that_run_reference(metrics: dict, profile: str) -> set[str]:
    from labkit import runner

    lesson = next(x for x in runner.load_curriculum() if x.notebook == "08_lstm_sentiment.ipynb")
    tasks, gated = _tasks_and_gated(_compiled_spec())
    passed = all(check.passed for check in runner.check_bars(lesson, metrics, profile))
    return tasks if passed else tasks - gated


@_register(
    "15.1",
    "Watch the gate close",
    expects="a function tasks_that_run(metrics, profile) -> set of task names",
    verifies="your function names the tasks the pipeline runs for lesson 08's recorded metrics "
    "and a profile's bars, on metrics that pass and miss the smoke and full bars",
    hint="runner.check_bars(lesson, metrics, profile) gives one check per bar; the tasks are "
    "pipelines.pipeline_tasks(spec), and those under the dsl.If are in "
    'spec["components"]["comp-condition-1"]["dag"]["tasks"].',
)
def _check_15_1(answer: Any, **context: Any) -> None:
    tasks_that_run = _callable(answer, "a function tasks_that_run(metrics, profile)")
    cases = [
        ({"lstm_test_accuracy": 0.702, "bilstm_test_accuracy": 0.6685}, "smoke"),
        ({"lstm_test_accuracy": 0.702, "bilstm_test_accuracy": 0.6685}, "full"),
        ({"lstm_test_accuracy": 0.90, "bilstm_test_accuracy": 0.91}, "full"),
        ({"lstm_test_accuracy": 0.50, "bilstm_test_accuracy": 0.52}, "smoke"),
        ({"lstm_test_accuracy": 0.90}, "full"),
    ]
    for metrics, profile in cases:
        got = tasks_that_run(dict(metrics), profile)
        if not isinstance(got, (set, frozenset, list, tuple)):
            raise Fail(f"expected a set of task names, got {type(got).__name__}.")
        expected = _tasks_that_run_reference(metrics, profile)
        _need(
            set(got) == expected,
            f"for metrics {metrics} and the {profile!r} bars your set of tasks is wrong"
            + (" (a bar whose metric is missing counts as missed)." if len(metrics) == 1 else "."),
        )


def _fake_run(folder: Path, report: dict[str, float], passed: bool) -> Path:
    run = folder / "labkit-sentiment-2026-01-01-00-00-00-000000"
    (run / "evaluate").mkdir(parents=True)
    output = {
        "parameterValues": {"Output": passed},
        "artifacts": {
            "report": {
                "artifacts": [
                    {"name": "report", "uri": str(run / "evaluate" / "report"), "metadata": report}
                ]
            }
        },
    }
    (run / "evaluate" / "executor_output.json").write_text(json.dumps(output))
    return run


@_register(
    "15.2",
    "Compare two runs",
    expects="a function evaluate_report(run_dir) -> {metric: (value, bar)}",
    verifies="your function reads every metric and its bar from a run folder's evaluate "
    "report, on run folders with other metrics",
    hint="json.loads((run_dir / 'evaluate' / 'executor_output.json').read_text()); the report "
    "is under artifacts.report.artifacts[0].metadata, and each metric m has its bar at m + '_bar'.",
)
def _check_15_2(answer: Any, **context: Any) -> None:
    evaluate_report = _callable(answer, "a function evaluate_report(run_dir)")
    rng = np.random.default_rng(15)
    with tempfile.TemporaryDirectory() as tmp:
        for trial in range(3):
            names = ["lstm_test_accuracy", "bilstm_test_accuracy", "gru_test_accuracy"][: trial + 1]
            report = {}
            for name in names:
                report[name] = round(float(rng.uniform(0.5, 0.95)), 4)
                report[f"{name}_bar"] = round(float(rng.uniform(0.5, 0.9)), 2)
            run = _fake_run(Path(tmp) / str(trial), report, passed=bool(trial % 2))
            got = evaluate_report(run)
            if not isinstance(got, Mapping):
                raise Fail(f"expected a dict {{metric: (value, bar)}}, got {type(got).__name__}.")
            _need(
                set(got) == set(names),
                f"the keys are {sorted(map(str, got))}: one per metric, without the '_bar' "
                "entries.",
            )
            for name in names:
                pair = got[name]
                _need(
                    isinstance(pair, (tuple, list)) and len(pair) == 2,
                    f"{name} must map to a pair (value, bar).",
                )
                _need(
                    np.allclose([float(v) for v in pair], [report[name], report[f"{name}_bar"]]),
                    f"{name}: the pair is not (value, bar) from the report.",
                )


def _spec_from(answer: Any) -> dict:
    import yaml

    if isinstance(answer, (str, Path)):
        path = Path(answer)
        _need(path.is_file(), f"{path} is not a file: pass the compiled YAML's path or the dict.")
        answer = yaml.safe_load(path.read_text())
    if not isinstance(answer, Mapping) or "components" not in answer or "root" not in answer:
        raise Fail(
            "expected a compiled pipeline (the path of its YAML or the parsed dict), got "
            f"{type(answer).__name__}."
        )
    return dict(answer)


@_register(
    "15.3",
    "Add a step",
    expects="the compiled pipeline with your model-card step: its YAML path or the parsed dict",
    verifies="the pipeline has a sixth task after export, inside the dsl.If gate, that takes "
    "export's model and writes a Markdown artifact",
    hint="copy sentiment_pipeline with its components (pipelines.train, pipelines.export, ...), "
    "add model_card(exported=export_task.outputs['exported']) inside the `with dsl.If(...)` "
    "block, and compile it with kfp.compiler.Compiler().compile(..., package_path=...).",
)
def _check_15_3(answer: Any, **context: Any) -> str:
    spec = _spec_from(answer)
    tasks, gated = _tasks_and_gated(spec)
    original, original_gated = _tasks_and_gated(_compiled_spec())
    _need(original <= tasks, f"tasks of the lesson's pipeline are missing: {original - tasks}.")
    new = tasks - original
    _need(len(new) == 1, f"expected one new task, got {sorted(new)}.")
    (name,) = new
    _need(name in gated, f"{name!r} runs even when evaluate fails: put it inside the gate.")
    components = spec["components"]

    def find(group: Mapping[str, Any]) -> dict | None:
        for task_name, task in group.items():
            if task_name == name:
                return task
            dag = components.get(task["componentRef"]["name"], {}).get("dag")
            if dag is not None and (found := find(dag["tasks"])) is not None:
                return found
        return None

    task = find(spec["root"]["dag"]["tasks"])
    artifacts = task.get("inputs", {}).get("artifacts", {})
    sources = [a.get("taskOutputArtifact", {}) for a in artifacts.values()]
    _need(
        any(s.get("producerTask") == "export" for s in sources),
        f"{name!r} does not take an artifact from export.",
    )
    outputs = components[task["componentRef"]["name"]].get("outputDefinitions", {})
    types = [
        a.get("artifactType", {}).get("schemaTitle") for a in outputs.get("artifacts", {}).values()
    ]
    _need("system.Markdown" in types, f"{name!r} writes no Markdown artifact (outputs {types}).")
    return f"new task {name!r}"


@_register(
    "15.4",
    "Break a workflow",
    expects="a str: what actionlint printed for your broken copy of test.yml",
    verifies="the report is actionlint's, and it flags the misspelled property of the github "
    "context as an expression error",
    hint="copy the file, change github.ref to github.reff in it, and run "
    "subprocess.run(['../.venv/bin/actionlint', str(copy)], capture_output=True, text=True); "
    "the answer is its stdout.",
)
def _check_15_4(answer: Any, **context: Any) -> None:
    if not isinstance(answer, str):
        raise Fail(f"expected actionlint's report (a str), got {type(answer).__name__}.")
    lines = [
        line
        for line in answer.splitlines()
        if re.match(r"^\S+\.ya?ml:\d+:\d+: .+ \[[a-z-]+\]$", line.strip())
    ]
    _need(bool(lines), "that is not an actionlint report with problems (file:line:col: ...).")
    _need(
        any("reff" in line and line.strip().endswith("[expression]") for line in lines),
        "the report does not flag the misspelled github property as an expression error.",
    )
