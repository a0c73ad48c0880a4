"""Checks for the exercises of lessons 12-15 (registered in :mod:`labkit.exercises`).

The checks look at artefacts — a manifest, a function, a compiled pipeline, a TFLite flatbuffer,
a tuner — never start a model server and never train. Heavy libraries are imported inside the
check that needs them.
"""

from __future__ import annotations

import copy
import json
import math
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from labkit.exercises import (
    Fail,
    _callable,
    _context,
    _integer,
    _mapping,
    _need,
    _number,
    _register,
)


def _letters(answer: Any, allowed: str, what: str) -> set[str]:
    """A set of answer letters (a string "a" or an iterable of letters), lower case."""
    items = [answer] if isinstance(answer, str) else answer
    if isinstance(items, Mapping) or not hasattr(items, "__iter__"):
        raise Fail(f"expected {what}, got {type(answer).__name__}.")
    letters = set()
    for item in items:
        _need(isinstance(item, str), f"expected letters (strings), got {type(item).__name__}.")
        letter = item.strip().lower().strip("()")
        _need(letter in allowed, f"{item!r} is not one of the choices {', '.join(allowed)}.")
        letters.add(letter)
    _need(bool(letters), "the answer is empty: pick at least one letter.")
    return letters


def _quantity_bytes(value: Any) -> float:
    """A Kubernetes memory quantity ("3Gi", "3072Mi", "3G", 3221225472) in bytes."""
    text = str(value).strip()
    factors = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in factors.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def _scaled(value: Any, replicas: int, round_up: bool) -> int:
    """maxSurge (rounded up) or maxUnavailable (rounded down) in pods for ``replicas`` pods."""
    if value is None:
        value = "25%"
    if isinstance(value, str) and value.endswith("%"):
        pods = float(value[:-1]) / 100 * replicas
        return math.ceil(pods) if round_up else math.floor(pods)
    return int(value)


# --------------------------------------------------------------------------------------------
# 12 · Serving a model as a microservice


@_register(
    "12.1",
    "Ready but not live, live but not ready",
    expects='a letter: "a", "b" or "c"',
    verifies="you picked what Kubernetes does when only the readiness probe fails",
    hint="reread the two probe descriptions in section 10: which probe leads to a restart, and "
    "which one only decides whether the Service sends the pod requests?",
)
def _check_12_1(answer: Any, **context: Any) -> None:
    if not isinstance(answer, str):
        raise Fail(f'expected a letter ("a", "b" or "c"), got {type(answer).__name__}.')
    (letter,) = _letters([answer], "abc", "a letter")
    _need(letter == "b", "that is not what a failing readiness probe does.")


def _speedup_reference(latencies_ms: np.ndarray, n_reviews: int, seconds: float) -> float:
    return (n_reviews / seconds) / (1000 / float(np.mean(latencies_ms)))


@_register(
    "12.2",
    "Batching pays",
    expects="a function batching_speedup(latencies_ms, n_reviews, seconds) -> float",
    verifies="your function turns single-request round trips and a batched run into the "
    "throughput factor, on random measurements",
    hint="reviews per second is reviews divided by the time they took: n_reviews / seconds for "
    "the batched run; one review per round trip for the single requests, whose times are in "
    "milliseconds.",
)
def _check_12_2(answer: Any, **context: Any) -> None:
    speedup = _callable(answer, "a function batching_speedup(latencies_ms, n_reviews, seconds)")
    rng = np.random.default_rng(12)
    for _ in range(5):
        latencies = rng.uniform(5, 80, int(rng.integers(10, 100)))
        n_reviews, seconds = int(rng.integers(200, 3000)), float(rng.uniform(0.5, 20))
        got = _number(speedup(latencies.copy(), n_reviews, seconds), "the speed-up")
        expected = _speedup_reference(latencies, n_reviews, seconds)
        _need(got > 0, "a throughput factor is positive.")
        if math.isclose(got, 1 / expected, rel_tol=1e-3):
            raise Fail("your factor is upside down: batched reviews per second come first.")
        _need(
            math.isclose(got, expected, rel_tol=1e-3),
            "on random measurements your factor is not batched reviews per second divided by "
            "single-review reviews per second.",
        )


def _base_deployment() -> dict:
    import yaml

    from labkit import paths

    path = paths.project_file(paths.K8S_SERVING, "base", "manifests", "deployment.yaml")
    return yaml.safe_load(path.read_text())


def _without(document: dict, replicas: bool = True) -> dict:
    document = copy.deepcopy(document)
    if replicas:
        document.get("spec", {}).pop("replicas", None)
    for container in document["spec"]["template"]["spec"]["containers"]:
        container.get("resources", {}).get("limits", {}).pop("memory", None)
    return document


@_register(
    "12.3",
    "Scale it out",
    expects="a dict: a modified deep copy of lesson 12's Deployment",
    verifies="your Deployment is valid for Kubernetes 1.30 (strict), runs 3 replicas with a "
    "3 GiB memory limit and is otherwise the lesson's Deployment",
    hint="change only spec.replicas and spec.template.spec.containers[0].resources.limits."
    "memory of copy.deepcopy(deployment); Kubernetes quantities use binary suffixes (Mi, Gi).",
)
def _check_12_3(answer: Any, **context: Any) -> None:
    import kubernetes_validate

    if not isinstance(answer, Mapping):
        raise Fail(f"expected a Deployment (a dict), got {type(answer).__name__}.")
    document = json.loads(json.dumps(answer))  # plain dicts and lists
    _need(document.get("kind") == "Deployment", "the dict is not a Deployment.")
    try:
        kubernetes_validate.validate(document, "1.30", strict=True)
    except kubernetes_validate.ValidationError as error:
        raise Fail(f"the manifest is not valid: {error.message[:200]}") from None
    try:
        containers = document["spec"]["template"]["spec"]["containers"]
        limit = containers[0]["resources"]["limits"]["memory"]
    except (KeyError, IndexError, TypeError):
        raise Fail("the container has no memory limit any more.") from None
    _need(document["spec"].get("replicas") == 3, "the number of replicas is not what is asked.")
    _need(
        math.isclose(_quantity_bytes(limit), 3 * 2**30, rel_tol=1e-9),
        f"the memory limit {limit!r} is not what is asked (careful with G versus Gi).",
    )
    request = containers[0]["resources"].get("requests", {}).get("memory")
    if request is not None:
        _need(_quantity_bytes(request) <= _quantity_bytes(limit), "the request exceeds the limit.")
    _need(
        _without(document) == _without(_base_deployment()),
        "other fields changed too: start from copy.deepcopy(deployment) and change only the two "
        "fields.",
    )


def _route_reference_share(route: Any, ids: list[str]) -> float:
    return float(np.mean([route(i) == "sentiment-v2" for i in ids]))


@_register(
    "12.4",
    "A canary release",
    expects='a function pick_version(request_id: str) -> "sentiment" or "sentiment-v2"',
    verifies="your router sends 10% (± 1.5%) of 4,000 random request ids to sentiment-v2, the "
    "rest to sentiment, and always the same id to the same version",
    hint="hash the request id into a number from 0 to 99 (hashlib.sha256 is the same in every "
    "process; Python's hash() of a string is not) and compare it with the canary percentage.",
)
def _check_12_4(answer: Any, **context: Any) -> str:
    route = _callable(answer, "a function pick_version(request_id)")
    rng = np.random.default_rng(4)
    ids = [f"req-{n:x}" for n in rng.integers(0, 2**62, 4000)]
    names = {route(i) for i in ids[:200]}
    _need(
        names <= {"sentiment", "sentiment-v2"},
        f"the router returns {sorted(map(str, names))[:3]}; use the model names of the servers.",
    )
    _need(
        all(route(i) == route(i) for i in ids[:200]),
        "the same request id reaches different versions: a retry must see the same model.",
    )
    share = _route_reference_share(route, ids)
    _need(abs(share - 0.10) <= 0.015, f"{share:.1%} of the requests go to sentiment-v2.")
    return f"{share:.1%} to the canary"


# --------------------------------------------------------------------------------------------
# 13 · The machine-learning lifecycle


def _psi(reference_values: Any, live_values: Any, bins: int = 10) -> float:
    edges = np.unique(np.quantile(reference_values, np.linspace(0, 1, bins + 1)[1:-1]))

    def shares(values: Any) -> np.ndarray:
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        return np.clip(counts / len(values), 1e-4, None)

    expected, actual = shares(reference_values), shares(live_values)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


@_register(
    "13.1",
    "A subtle shift",
    expects='a dict {"psi_words": float, "psi_unknown_share": float, "fires": bool} for your '
    "30%-headline window; pass reference= and live= (the text_features of the reference and "
    "of your window)",
    verifies="your window has about 30% headline-only reviews, both PSIs match the lesson's "
    "psi() and the trigger decision follows from them",
    hint="build the window from the next WINDOW_SIZE reviews of the replay order, shorten each "
    "with probability 0.3 (headline_only), compute live = text_features(window) and "
    "psi(reference[f], live[f]) for both features; the trigger fires if either exceeds "
    "PSI_THRESHOLD (pass psi_threshold= if you changed it).",
)
def _check_13_1(answer: Any, **context: Any) -> str:
    answer = _mapping(answer, ("psi_words", "psi_unknown_share", "fires"), "the drift results")
    reference, live = _context(context, "reference", "live")
    threshold = float(context.get("psi_threshold", 0.25))
    for name, frame in (("reference", reference), ("live", live)):
        _need(
            all(col in getattr(frame, "columns", ()) for col in ("words", "unknown_share")),
            f"{name}= must be a text_features(...) DataFrame (columns words, unknown_share).",
        )
    words = np.asarray(live["words"], dtype=float)
    _need(len(words) >= 100, f"the window has {len(words)} reviews; use WINDOW_SIZE of them.")
    short = float(np.mean(words <= 8))
    _need(0.2 <= short <= 0.4, f"{short:.0%} of your window is headline-only, not about 30%.")
    fires = answer["fires"]
    _need(isinstance(fires, (bool, np.bool_)), "fires must be True or False.")
    psis = {}
    for feature in ("words", "unknown_share"):
        value = _number(answer[f"psi_{feature}"], f"psi_{feature}")
        psis[feature] = _psi(np.asarray(reference[feature]), np.asarray(live[feature]))
        _need(
            math.isclose(value, psis[feature], rel_tol=1e-3, abs_tol=1e-4),
            f"psi_{feature} does not match psi(reference, live) for that feature.",
        )
    _need(
        bool(fires) == (max(psis.values()) > threshold),
        "fires does not follow from your PSIs and the threshold.",
    )
    return f"PSI words {psis['words']:.3f}, unknown share {psis['unknown_share']:.3f}"


@_register(
    "13.2",
    "Spot the leak",
    expects='a set of letters, e.g. {"a", "c"}',
    verifies="exactly the leaky steps are in your set",
    hint="a step leaks if a statistic or a decision depends on data that should be unseen at "
    "that point; removing test copies of training reviews takes information away.",
)
def _check_13_2(answer: Any, **context: Any) -> None:
    if not isinstance(answer, (set, frozenset, list, tuple, str)):
        raise Fail(f'expected a set of letters such as {{"a", "c"}}, got {type(answer).__name__}.')
    letters = _letters(answer, "abcde", "a set of letters")
    leaky = {"a", "d", "e"}
    _need(
        not letters - leaky, "at least one of your steps uses only training data or removes a leak."
    )
    _need(letters == leaky, f"{len(letters)} correct so far, but one or more leaks are missing.")


@_register(
    "13.3",
    "Hyperband",
    expects="a keras_tuner.Hyperband tuner after its search()",
    verifies="your tuner is a Hyperband search with factor 3 that minimizes val_rmse and has "
    "completed trials",
    hint="keras_tuner.Hyperband(build_model, objective=keras_tuner.Objective('val_rmse', "
    "direction='min'), max_epochs=..., factor=3, seed=42, directory=..., overwrite=True), then "
    "tuner.search(...) as for the random search.",
)
def _check_13_3(answer: Any, **context: Any) -> str:
    import keras_tuner

    if not isinstance(answer, keras_tuner.Tuner):
        raise Fail(f"expected a keras_tuner tuner, got {type(answer).__name__}.")
    oracle = answer.oracle
    _need(
        isinstance(oracle, keras_tuner.oracles.HyperbandOracle),
        f"the tuner's search is {type(oracle).__name__}, not Hyperband.",
    )
    _need(oracle.factor == 3, f"the reduction factor is {oracle.factor}, not 3.")
    objective = oracle.objective
    _need(
        getattr(objective, "name", None) == "val_rmse" and objective.direction == "min",
        "the objective must be the validation RMSE, minimized.",
    )
    completed = [t for t in oracle.trials.values() if t.status == "COMPLETED"]
    _need(bool(completed), "no trial has completed: run tuner.search(...) first.")
    best = min(t.score for t in completed if t.score is not None)
    return f"{len(completed)} trials, best val_rmse {best:.4f}"


def _tflite_interpreter(model_bytes: bytes) -> Any:
    import warnings

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Interpreter(model_content=model_bytes)


@_register(
    "13.4",
    "Full-integer quantization",
    expects="bytes: the TFLite flatbuffer of the full-integer model; pass x_test= and y_test=",
    verifies="every tensor inside the model (weights and activations) is integer, and it "
    "predicts the test set far better than the mean; its test RMSE is shown",
    hint="converter.optimizations = [tf.lite.Optimize.DEFAULT], a representative_dataset "
    "generator that yields [x_train[i : i + 1]] for a few hundred rows, and "
    "converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]; the answer "
    "is what converter.convert() returns.",
)
def _check_13_4(answer: Any, **context: Any) -> str:
    if not isinstance(answer, (bytes, bytearray)):
        raise Fail(
            f"expected the flatbuffer (bytes from converter.convert()), got "
            f"{type(answer).__name__}."
        )
    x_test, y_test = _context(context, "x_test", "y_test")
    x = np.asarray(x_test, dtype=np.float32)
    y = np.asarray(y_test, dtype=np.float64).ravel()
    try:
        interpreter = _tflite_interpreter(bytes(answer))
    except ValueError:
        raise Fail("the bytes are not a TFLite flatbuffer.") from None
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    io = {inp["index"], out["index"]}
    floats = [
        t["name"]
        for t in interpreter.get_tensor_details()
        if t["index"] not in io and np.dtype(t["dtype"]) == np.float32
    ]
    if floats:
        raise Fail(
            f"{len(floats)} tensors inside the model are still float32 (e.g. "
            f"{floats[0][:60]!r}): dynamic-range quantization keeps float activations."
        )
    interpreter.resize_tensor_input(inp["index"], [len(x), x.shape[1]])
    interpreter.allocate_tensors()
    if np.dtype(inp["dtype"]) != np.float32:  # integer input: quantize with its scale
        scale, zero = inp["quantization"]
        x = np.clip(np.round(x / scale + zero), -128, 127).astype(inp["dtype"])
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    prediction = interpreter.get_tensor(out["index"]).astype(np.float64)
    if np.dtype(out["dtype"]) != np.float32:
        scale, zero = out["quantization"]
        prediction = (prediction - zero) * scale
    prediction = prediction.ravel()
    _need(prediction.shape == y.shape, "the model must predict one value per test row.")
    rmse = float(np.sqrt(np.mean((prediction - y) ** 2)))
    _need(
        rmse < 0.8 * float(np.std(y)),
        "the int8 model predicts hardly better than the mean: is the representative data the "
        "standardized training rows the model was trained on?",
    )
    return f"test RMSE ${rmse * 1e5:,.0f}" if float(np.mean(y)) < 100 else f"test RMSE {rmse:.4g}"


# --------------------------------------------------------------------------------------------
# 14 · Deploying a model on GPU Kubernetes


@_register(
    "14.1",
    "Quota arithmetic",
    expects="an int: GPUs in use at the busiest moment of the rollout",
    verifies="your count of old and surge pods' GPUs",
    hint="count the pods that keep running plus the surge pods: Kubernetes rounds maxSurge "
    "up to whole pods and maxUnavailable down.",
)
def _check_14_1(answer: Any, **context: Any) -> None:
    gpus = _integer(answer, "the number of GPUs")
    _need(gpus != 4, "that is the count before or after the rollout, not during it.")
    _need(gpus == 4 + math.ceil(0.25 * 4), "that is not the number of GPUs at the peak.")


def _gpu_objects(answer: Any, what: str) -> list[dict]:
    if not isinstance(answer, (list, tuple)) or not all(isinstance(o, Mapping) for o in answer):
        raise Fail(f"expected {what} (a list of dicts), got {type(answer).__name__}.")
    _need(bool(answer), "the list is empty.")
    return json.loads(json.dumps(list(answer)))


def _validated(objects: list[dict]) -> None:
    from labkit import deploy

    try:
        deploy.validate(objects, "1.30")
    except deploy.ManifestError as error:
        raise Fail(f"the objects do not validate: {error.problems[0][:200]}") from None


@_register(
    "14.2",
    "Your own variant",
    expects="a list of dicts: the objects deploy.render returned",
    verifies="one valid KServe InferenceService named reviews in team-a that serves the model "
    "as reviews with 2 GPUs per pod",
    hint="deploy.render(overlay, image=..., gpus=..., namespace=..., model_name=...) with the "
    "overlay that wraps the server in KServe; look at spec.predictor.containers[0].resources.",
)
def _check_14_2(answer: Any, **context: Any) -> None:
    from labkit import deploy

    objects = _gpu_objects(answer, "the rendered objects")
    kinds = [o.get("kind") for o in objects]
    _need(kinds == ["InferenceService"], f"the objects are {kinds}, not one KServe service.")
    (isvc,) = objects
    _validated(objects)
    meta = isvc["metadata"]
    _need(meta.get("name") == "reviews", f"the service is named {meta.get('name')!r}.")
    _need(meta.get("namespace") == "team-a", f"the namespace is {meta.get('namespace')!r}.")
    container = isvc["spec"]["predictor"]["containers"][0]
    _need(
        deploy.served_model_name(container) == "reviews",
        "the server inside still serves the model under another name.",
    )
    resources = container["resources"]
    for kind in ("limits", "requests"):
        value = resources.get(kind, {}).get(deploy.GPU)
        if kind == "limits" or value is not None:
            _need(value is not None and int(value) == 2, f"the GPU {kind[:-1]} is {value}.")


@_register(
    "14.3",
    "Time-slicing",
    expects="an int: the pods the node can schedule",
    verifies="your count of schedulable nvidia.com/gpu units under time-slicing",
    hint="with time-slicing every physical GPU is advertised as `replicas` units of "
    "nvidia.com/gpu, and each pod takes one unit.",
)
def _check_14_3(answer: Any, **context: Any) -> None:
    pods = _integer(answer, "the number of pods")
    _need(pods != 2, "that counts physical GPUs; what does the node advertise?")
    _need(pods == 2 * 4, "that is not the number of units the node advertises.")


@_register(
    "14.4",
    "A rollout that fits the quota",
    expects="a list of dicts: the rendered GPU objects with your rolling-update strategy",
    verifies="the objects validate, and a rolling update of the GPU Deployment needs no extra "
    "GPU yet makes progress at every replica count the autoscaler allows, within a 4-GPU quota",
    hint="set spec.strategy of the Deployment to a RollingUpdate whose maxSurge gives 0 extra "
    "pods and whose maxUnavailable gives at least 1 pod; percentages are rounded (surge up, "
    "unavailable down), so check them at the autoscaler's minimum and maximum.",
)
def _check_14_4(answer: Any, **context: Any) -> str:
    from labkit import deploy

    objects = _gpu_objects(answer, "the GPU objects")
    deployments = [o for o in objects if o.get("kind") == "Deployment"]
    _need(len(deployments) == 1, "expected the rendered objects with one Deployment.")
    (dep,) = deployments
    _validated(objects)
    container = dep["spec"]["template"]["spec"]["containers"][0]
    gpus = int(container.get("resources", {}).get("limits", {}).get(deploy.GPU, 0))
    _need(gpus >= 1, "the Deployment requests no GPU: render the gpu overlay.")
    strategy = dep["spec"].get("strategy") or {}
    _need(
        strategy.get("type", "RollingUpdate") == "RollingUpdate",
        "Recreate stops every pod first (downtime); keep a rolling update.",
    )
    rolling = strategy.get("rollingUpdate") or {}
    hpas = [o for o in objects if o.get("kind") == "HorizontalPodAutoscaler"]
    counts = {int(dep["spec"].get("replicas", 1))}
    for hpa in hpas:
        counts |= {int(hpa["spec"].get("minReplicas", 1)), int(hpa["spec"]["maxReplicas"])}
    for replicas in sorted(counts):
        surge = _scaled(rolling.get("maxSurge"), replicas, round_up=True)
        unavailable = _scaled(rolling.get("maxUnavailable"), replicas, round_up=False)
        _need(surge == 0, f"with {replicas} replica(s) the rollout still adds {surge} pod(s).")
        _need(
            unavailable >= 1,
            f"with {replicas} replica(s) no pod may be replaced: the rollout cannot progress.",
        )
    peak = max(counts) * gpus
    _need(peak <= 4, f"at the autoscaler's maximum the Deployment needs {peak} GPUs.")
    return f"at most {peak} GPUs during a rollout"


# --------------------------------------------------------------------------------------------
# 15 · Pipelines


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
