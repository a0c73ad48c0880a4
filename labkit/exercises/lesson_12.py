"""Checks for the exercises of lesson 12 · Serving a model as a microservice.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from labkit.exercises import (
    Fail,
    _callable,
    _need,
    _number,
    _register,
)
from labkit.exercises._shared import _letters, _quantity_bytes


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
