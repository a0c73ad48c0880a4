"""Checks for the exercises of lesson 17 · Pipelines.

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
    _mapping,
    _need,
    _register,
)


def _compiled_spec() -> dict:
    from labkit import paths
    from labkit.pipelines import read_pipeline

    return read_pipeline(paths.project_file(paths.PIPELINE_YAML))


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

    lesson = next(x for x in runner.load_curriculum() if x.notebook == "09_lstm_sentiment.ipynb")
    tasks, gated = _tasks_and_gated(_compiled_spec())
    passed = all(check.passed for check in runner.check_bars(lesson, metrics, profile))
    return tasks if passed else tasks - gated


@_register(
    "17.1",
    "Watch the gate close",
    expects="a function tasks_that_run(metrics, profile) -> set of task names",
    verifies="your function names the tasks the pipeline runs for lesson 09's recorded metrics "
    "and a profile's bars, on fresh random metrics that pass and miss the smoke and full bars",
    hint="evaluate decides with the same function labkit run uses to hold metrics to their "
    "bars (see its source in section 1); the compiled spec lists every task, and the gated ones "
    "sit in the component of the dsl.If (section 3 draws them).",
)
def _check_17_1(answer: Any, **context: Any) -> None:
    tasks_that_run = _callable(answer, "a function tasks_that_run(metrics, profile)")
    rng = np.random.default_rng()  # fresh metrics on every call: nothing to special-case

    def metrics(lstm: tuple[float, float], bilstm: tuple[float, float] | None) -> dict:
        found = {"lstm_test_accuracy": round(float(rng.uniform(*lstm)), 4)}
        if bilstm is not None:
            found["bilstm_test_accuracy"] = round(float(rng.uniform(*bilstm)), 4)
        return found

    middle, high, low = (0.6, 0.8), (0.88, 0.95), (0.4, 0.55)
    cases = [
        (metrics(middle, middle), "smoke"),
        (metrics(middle, middle), "full"),
        (metrics(high, high), "full"),
        (metrics(high, (0.7, 0.84)), "full"),
        (metrics(low, low), "smoke"),
        (metrics(high, None), "full"),
    ]
    rng.shuffle(cases)
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


_WORDS = ["good", "great", "bad", "awful", "movie", "plot", "the", "actors", "was", "and"]


def _review_model(weights: list[float]) -> Any:
    """A tiny text -> probability model like lesson 09's: raw strings in, P(positive) out."""
    import keras

    inputs = keras.Input(shape=(1,), dtype="string", name="review")
    counts = keras.layers.TextVectorization(
        vocabulary=_WORDS, output_mode="count", name="vectorizer"
    )(inputs)
    dense = keras.layers.Dense(1, activation="sigmoid", name="head")
    model = keras.Model(inputs, dense(counts))
    dense.set_weights([np.asarray([[0.0], *[[w] for w in weights]], "float32"), np.zeros(1)])
    return model


def _fake_run(folder: Path, model: Any, report: dict[str, float]) -> Path:
    """A run folder as kfp.local writes it: train's Model artifact and evaluate's report."""
    run = folder / "labkit-sentiment-2026-01-01-00-00-00-000000"
    model_dir = run / "train" / "model"
    model_dir.mkdir(parents=True)
    model.save(model_dir / "model.keras")
    train_output = {
        "parameterValues": {"Output": report},
        "artifacts": {"model": {"artifacts": [{"name": "model", "uri": str(model_dir)}]}},
    }
    (run / "train" / "executor_output.json").write_text(json.dumps(train_output))
    (run / "evaluate").mkdir()
    bars = {f"{name}_bar": 0.57 for name in report}
    output = {
        "parameterValues": {"Output": True},
        "artifacts": {
            "report": {"artifacts": [{"name": "report", "metadata": {**report, **bars}}]}
        },
    }
    (run / "evaluate" / "executor_output.json").write_text(json.dumps(output))
    return run


def _reviews(rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    for _ in range(n):
        words = list(rng.choice(_WORDS, int(rng.integers(4, 14))))
        texts.append(" ".join(words))
        score = sum(w in ("good", "great") for w in words) - sum(
            w in ("bad", "awful") for w in words
        )
        labels.append(int(score > 0) if score != 0 else int(rng.integers(0, 2)))
    return texts, np.asarray(labels)


def _accuracy(model: Any, texts: list[str], labels: np.ndarray) -> float:
    import tensorflow as tf

    probs = np.asarray(model.predict(tf.constant(texts)[:, None], verbose=0)).ravel()
    return float(np.mean((probs >= 0.5).astype(int) == labels))


@_register(
    "17.2",
    "Compare two runs",
    expects="a function validation_accuracy(run_dir, texts, labels) -> float: the accuracy of "
    "the model that run's train step produced, on the reviews given",
    verifies="your function loads each run's trained model from its train artifact and scores "
    "it on the reviews it is given (run folders and reviews made by the check, with report "
    "numbers that disagree)",
    hint="the trained model is an artifact of the train task (section 5 lists the files every "
    "task left); load it with keras.models.load_model and let it predict the texts (a column "
    "of strings, as in lesson 09). The evaluate report holds test accuracies: not what to "
    "compare variants by.",
)
def _check_17_2(answer: Any, **context: Any) -> str:
    import contextlib
    import io

    validation_accuracy = _callable(answer, "a function validation_accuracy(run_dir, ...)")
    rng = np.random.default_rng()  # fresh reviews on every call
    texts, labels = _reviews(rng, 120)
    weights = {
        "good": [2.0, 2.0, -2.0, -2.0, 0, 0, 0, 0, 0, 0],
        "half": [2.0, -1.0, -2.0, 1.0, 0.3, 0, 0, 0, 0, 0],
    }
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        runs = {}
        for index, (name, w) in enumerate(weights.items()):
            model = _review_model(w)
            decoy = {"lstm_test_accuracy": 0.91 - 0.2 * index}  # the report says otherwise
            runs[name] = (
                _fake_run(Path(tmp) / name, model, decoy),
                _accuracy(model, texts, labels),
            )
        for run, expected in runs.values():
            for given_labels, target in ((labels, expected), (1 - labels, 1 - expected)):
                got = validation_accuracy(run, list(texts), given_labels.copy())
                try:
                    value = float(got)
                except (TypeError, ValueError):
                    raise Fail(
                        f"expected an accuracy (a float), got {type(got).__name__}."
                    ) from None
                _need(
                    abs(value - target) <= 1 / len(texts) + 1e-9,
                    "on a run folder and reviews made by the check your accuracy is "
                    f"{value:.3f}, not that of the run's trained model on those reviews: load "
                    "the model from the train task's artifact and score the texts and labels "
                    "you are given.",
                )
    return "both runs' models scored on the reviews given"


def _spec_from(answer: Any) -> dict:
    from labkit.pipelines import read_pipeline

    if isinstance(answer, (str, Path)):
        path = Path(answer)
        _need(path.is_file(), f"{path} is not a file: pass the compiled YAML's path or the dict.")
        try:
            answer = read_pipeline(path)
        except ValueError as error:
            raise Fail(str(error)) from None
    if not isinstance(answer, Mapping) or "components" not in answer or "root" not in answer:
        raise Fail(
            "expected a compiled pipeline (the path of its YAML or the parsed dict), got "
            f"{type(answer).__name__}."
        )
    return dict(answer)


@_register(
    "17.3",
    "Add a step",
    expects="the compiled pipeline with your model-card step: its YAML path or the parsed dict",
    verifies="the pipeline has a sixth task after export, inside the dsl.If gate, that takes "
    "export's model and writes a Markdown artifact",
    hint="a copy of the lesson's pipeline function (section 2 prints it) that reuses the "
    "components in labkit.pipelines and adds your component where it belongs, fed by the "
    "output that export publishes; then compile it as section 2 does.",
)
def _check_17_3(answer: Any, **context: Any) -> str:
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


def _actionlint() -> str | None:
    import shutil
    import sys

    beside = Path(sys.executable).parent / "actionlint"
    return str(beside) if beside.is_file() else shutil.which("actionlint")


def _report_lines(report: str) -> list[str]:
    pattern = r"^\S+\.ya?ml:\d+:\d+: .+ \[[a-z-]+\]$"
    return [line.strip() for line in report.splitlines() if re.match(pattern, line.strip())]


@_register(
    "17.4",
    "Break a workflow",
    expects='a dict {"copy": path of your broken copy of test.yml, "report": what actionlint '
    "printed for it}",
    verifies="your copy differs from test.yml only in the misspelled github property, actionlint "
    "(run again by the check) flags it as an expression error, and your report is its output",
    hint="copy the workflow file, misspell the property in the copy only, run actionlint from "
    "../.venv/bin/ on the copy with subprocess.run (capture its output as text), and pass both "
    "the copy's path and what it printed.",
)
def _check_17_4(answer: Any, **context: Any) -> str:
    import subprocess

    from labkit import paths

    answer = _mapping(answer, ("copy", "report"), "the copy and actionlint's report")
    copy, report = Path(str(answer["copy"])), answer["report"]
    _need(isinstance(report, str), "report must be actionlint's output (a str).")
    _need(copy.is_file(), f"{copy} is not a file: pass the path of your broken copy.")
    original = paths.project_file(".github", "workflows", "test.yml")
    _need(copy.resolve() != original.resolve(), "break a copy, not the repository's test.yml.")
    before, after = original.read_text().splitlines(), copy.read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=False) if a != b]
    _need(
        len(before) == len(after)
        and bool(changed)
        and all(b.replace("github.reff", "github.ref") == a for a, b in changed),
        "the copy must be test.yml with only github.ref misspelled as github.reff.",
    )
    tool = _actionlint()
    _need(tool is not None, "actionlint is not installed here (pip install -e '.[dev]').")
    rerun = subprocess.run([tool, str(copy)], capture_output=True, text=True, check=False)
    flagged = [
        line
        for line in _report_lines(rerun.stdout)
        if "reff" in line and line.endswith("[expression]")
    ]
    _need(bool(flagged), "actionlint does not flag your copy's expression as an error.")
    mine = _report_lines(report)
    _need(
        bool(mine)
        and [line.split(":", 1)[1] for line in mine]
        == [line.split(":", 1)[1] for line in _report_lines(rerun.stdout)],
        "your report is not what actionlint prints for your copy: pass its stdout unchanged.",
    )
    return f"{len(mine)} problem(s) reported, the expression error among them"
