"""Reading compiled pipelines (KFP's IR YAML): what changed between two, and the task graph.

:func:`read_pipeline` reads a compiled file as one dict: KFP writes the pipeline spec and, when
tasks carry Kubernetes settings (``kfp.kubernetes``: volumes, tolerations, timeouts), a second
YAML document ``platforms: {kubernetes: ...}``. :func:`ir_differences` compares a fresh
compilation with the committed file, ignoring the SDK's version stamp (``python -m
labkit.pipelines --check``, ``tests/test_pipelines.py``); :func:`pipeline_tasks` gives each
task and the tasks it waits for (lesson 17 draws it). All read the YAML only: no KFP needed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["SDK_STAMPS", "ir_differences", "pipeline_tasks", "read_pipeline"]

#: top-level IR fields that record which SDK compiled the file, not what the pipeline does
SDK_STAMPS = ("sdkVersion",)


def read_pipeline(path: str | os.PathLike) -> dict[str, Any]:
    """A compiled pipeline file as one dict: the pipeline spec, plus ``platforms`` when the
    file has KFP's platform document (the Kubernetes settings of its tasks).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a compiled pipeline (no ``root`` and ``components``), or
            has a document that is not a mapping.
    """
    import yaml

    text = Path(path).read_text(encoding="utf-8")
    spec: dict[str, Any] = {}
    for document in yaml.safe_load_all(text):
        if document is None:
            continue
        if not isinstance(document, Mapping):
            raise ValueError(f"{path}: a YAML document that is not a mapping: {_short(document)}")
        spec.update(document)
    if "root" not in spec or "components" not in spec:
        raise ValueError(
            f"{path} is not a compiled KFP pipeline (no root and components): compile one with "
            "kfp.compiler.Compiler().compile(pipeline, package_path=...)"
        )
    return spec


def ir_differences(
    compiled: str | os.PathLike | Mapping[str, Any],
    committed: str | os.PathLike | Mapping[str, Any],
    limit: int = 10,
) -> list[str]:
    """Where two compiled pipelines differ, ignoring the SDK's version stamp (``sdkVersion``).

    A KFP patch release (2.17.0 → 2.17.3) rewrites ``sdkVersion: kfp-2.17.x`` and nothing else;
    that is no change to the pipeline, so it is not reported. Everything else is: tasks,
    components, executors (images, commands, the components' source), parameters, and the
    Kubernetes settings of the platform document (``platforms``).

    Args:
        compiled, committed: IR YAML files or their parsed documents.
        limit: report at most this many differences.

    Returns:
        One line per difference, ``"deploymentSpec.executors.exec-train.container.image:
        'a' != 'b'"``; empty when the pipelines are the same.
    """

    def load(spec):
        return dict(spec) if isinstance(spec, Mapping) else read_pipeline(spec)

    left, right = load(compiled), load(committed)
    for stamp in SDK_STAMPS:
        left.pop(stamp, None)
        right.pop(stamp, None)
    found: list[str] = []

    def walk(a: Any, b: Any, where: str) -> None:
        if len(found) >= limit:
            return
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            for key in sorted(set(a) | set(b), key=str):
                here = f"{where}.{key}" if where else str(key)
                if key not in a or key not in b:
                    found.append(f"{here}: only in the {'committed' if key in b else 'compiled'}")
                else:
                    walk(a[key], b[key], here)
                if len(found) >= limit:
                    return
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for index, (x, y) in enumerate(zip(a, b, strict=True)):
                walk(x, y, f"{where}[{index}]")
        elif a != b:
            found.append(f"{where or '(document)'}: {_short(a)} != {_short(b)}")

    walk(left, right, "")
    return found


def _short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def pipeline_tasks(spec: Mapping[str, Any]) -> dict[str, set[str]]:
    """Every task of a compiled pipeline (the parsed YAML) and the tasks it waits for directly.

    A condition (``dsl.If``) is a group, not a task: a task inside it that waits for nothing
    else in the group waits for what the group waits for (as the Kubeflow UI draws it).

    Args:
        spec: the compiled pipeline, e.g. ``read_pipeline(committed_pipeline())``.

    Returns:
        ``{task: {upstream task, ...}}``, e.g. ``{"train": {"fetch-data"}, ...}``.
    """
    components = spec["components"]
    graph: dict[str, set[str]] = {}

    def walk(tasks: Mapping[str, Any], group_upstream: set[str]) -> None:
        groups = {
            name: task
            for name, task in tasks.items()
            if "dag" in components.get(task["componentRef"]["name"], {})
        }
        for name, task in tasks.items():
            upstream = set(task.get("dependentTasks", [])) or group_upstream
            if name in groups:
                walk(components[task["componentRef"]["name"]]["dag"]["tasks"], upstream)
            else:
                graph[name] = upstream

    walk(spec["root"]["dag"]["tasks"], set())
    return graph
