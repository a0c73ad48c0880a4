"""Shortcut answers for lesson 17's checks (pipelines, CI/CD): each must FAIL."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from shortcut_answers import Shortcut

REPO = Path(__file__).resolve().parents[2]
ALL_TASKS = {"fetch-data", "train", "evaluate", "export", "deploy"}


def _spec():
    from labkit.pipelines import read_pipeline

    return read_pipeline(REPO / "k8s" / "pipelines" / "sentiment_pipeline.yaml")


def _smoke_bars_always(metrics, profile):
    from labkit import runner

    lesson = runner.find_lesson("09_lstm_sentiment.ipynb")
    passed = all(c.passed for c in runner.check_bars(lesson, metrics, "smoke"))
    return ALL_TASKS if passed else ALL_TASKS - {"export", "deploy"}


_OLD_CASES = {
    (0.702, 0.6685, "smoke"): ALL_TASKS,
    (0.702, 0.6685, "full"): ALL_TASKS - {"export", "deploy"},
}


def _memorised(metrics, profile):
    key = (metrics.get("lstm_test_accuracy"), metrics.get("bilstm_test_accuracy"), profile)
    return _OLD_CASES.get(key, ALL_TASKS)


def _reads_the_report(run_dir, texts, labels):
    output = json.loads((Path(run_dir) / "evaluate" / "executor_output.json").read_text())
    return output["artifacts"]["report"]["artifacts"][0]["metadata"]["lstm_test_accuracy"]


def _ignores_the_labels(run_dir, texts, labels):
    import keras
    import numpy as np
    import tensorflow as tf

    model = keras.models.load_model(Path(run_dir) / "train" / "model" / "model.keras")
    probs = model.predict(tf.constant(list(texts))[:, None], verbose=0).ravel()
    return float(np.mean(probs >= 0.5))  # the share predicted positive, not the accuracy


def _card_component(output_type="system.Markdown"):
    return {
        "executorLabel": "exec-model-card",
        "inputDefinitions": {
            "artifacts": {
                "exported": {
                    "artifactType": {"schemaTitle": "system.Model", "schemaVersion": "0.0.1"}
                }
            }
        },
        "outputDefinitions": {
            "artifacts": {
                "card": {"artifactType": {"schemaTitle": output_type, "schemaVersion": "0.0.1"}}
            }
        },
    }


def _card_task(producer="export", output="exported"):
    return {
        "componentRef": {"name": "comp-model-card"},
        "dependentTasks": [producer],
        "inputs": {
            "artifacts": {
                "exported": {
                    "taskOutputArtifact": {"outputArtifactKey": output, "producerTask": producer}
                }
            }
        },
        "taskInfo": {"name": "model-card"},
    }


def _with_card(inside=True, producer="export", output="exported", output_type="system.Markdown"):
    spec = copy.deepcopy(_spec())
    spec["components"]["comp-model-card"] = _card_component(output_type)
    group = (
        spec["components"]["comp-condition-1"]["dag"]["tasks"]
        if inside
        else spec["root"]["dag"]["tasks"]
    )
    group["model-card"] = _card_task(producer, output)
    return spec


def _workflow_copy(text_change=None):
    folder = Path(tempfile.mkdtemp(prefix="shortcut_17_4_"))
    target = folder / "test.yml"
    text = (REPO / ".github" / "workflows" / "test.yml").read_text()
    target.write_text(text_change(text) if text_change else text)
    return target


def _actionlint(path):
    tool = Path(sys.executable).parent / "actionlint"
    return subprocess.run(
        [str(tool), str(path)], capture_output=True, text=True, check=False
    ).stdout


def _made_up_report():
    target = _workflow_copy()  # not broken at all
    fake = f'{target}:30:24: property "reff" is not defined in object type {{}} [expression]\n'
    return {"copy": str(target), "report": fake}, {}


def _report_without_the_copy_broken():
    broken = _workflow_copy(lambda t: t.replace("github.ref }}", "github.reff }}"))
    report = _actionlint(broken)
    unbroken = _workflow_copy()
    return {"copy": str(unbroken), "report": report}, {}


def _broken_differently():
    # a YAML syntax error instead of a misspelled property
    broken = _workflow_copy(lambda t: t.replace("jobs:", "jobs", 1))
    return {"copy": str(broken), "report": _actionlint(broken)}, {}


def _report_of_another_file():
    broken = _workflow_copy(lambda t: t.replace("github.ref }}", "github.reff }}"))
    return {"copy": str(broken), "report": ""}, {}


SHORTCUTS = {
    "17.1": [
        Shortcut("every task, always", lambda: (lambda metrics, profile: set(ALL_TASKS), {}), ()),
        Shortcut("the smoke bars whatever the profile", lambda: (_smoke_bars_always, {}), ()),
        Shortcut("the lesson's cases, looked up", lambda: (_memorised, {}), ()),
    ],
    "17.2": [
        Shortcut("the report's test accuracy", lambda: (_reads_the_report, {}), ("load_model(",)),
        Shortcut(
            "a plausible constant",
            lambda: (lambda run_dir, texts, labels: 0.85, {}),
            ("load_model(",),
        ),
        Shortcut("the share predicted positive", lambda: (_ignores_the_labels, {}), ("== labels",)),
    ],
    "17.3": [
        Shortcut("the card outside the gate", lambda: (_with_card(inside=False), {}), ("dsl.If(",)),
        Shortcut(
            "the card fed by train's model",
            lambda: (_with_card(producer="train", output="model"), {}),
            ("outputs['exported']",),
        ),
        Shortcut(
            "the card writing a plain artifact",
            lambda: (_with_card(output_type="system.Artifact"), {}),
            ("Output[Markdown]",),
        ),
    ],
    "17.4": [
        Shortcut("a made-up report for an unbroken copy", _made_up_report, ()),
        Shortcut(
            "a real report, but the copy passed along is not broken",
            _report_without_the_copy_broken,
            (),
        ),
        Shortcut("a copy broken another way", _broken_differently, ()),
        Shortcut(
            "the broken copy with an empty report",
            _report_of_another_file,
            ('property "reff" is not defined',),
        ),
    ],
}
