"""Checks for the exercises of lesson 13 · Serving a model as a microservice.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

import copy
import hashlib
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
from labkit.runtime import KUBERNETES_VERSION

_PROBE_STATEMENTS = "abcde"
_WHEN_ONLY_READINESS_FAILS = frozenset("bde")


@_register(
    "13.1",
    "Ready but not live, live but not ready",
    expects='a set of letters, e.g. {"a", "c"}: the statements that are true',
    verifies="your set holds exactly the true statements about a pod whose readiness probe "
    "fails while its liveness probe passes",
    hint="reread the readinessProbe and livenessProbe bullets of section 12 and the paragraph "
    "on the Service after them: which probe leads to a restart, and which one decides where the "
    "Service sends requests? Judge every statement on its own.",
)
def _check_13_1(answer: Any, **context: Any) -> None:
    if not isinstance(answer, (set, frozenset, list, tuple, str)):
        raise Fail(f'expected a set of letters such as {{"a", "c"}}, got {type(answer).__name__}.')
    letters = _letters(answer, _PROBE_STATEMENTS, "a set of letters")
    _need(
        letters == _WHEN_ONLY_READINESS_FAILS,
        "your set of statements is not right yet (it is graded as a whole).",
    )


def _speedup_reference(latencies_ms: np.ndarray, n_reviews: int, seconds: float) -> float:
    return (n_reviews / seconds) / (1000 / float(np.mean(latencies_ms)))


@_register(
    "13.2",
    "Batching pays",
    expects="a function batching_speedup(latencies_ms, n_reviews, seconds) -> float",
    verifies="your function turns single-request round trips and a batched run into the "
    "throughput factor, on fresh random measurements",
    hint="throughput is reviews per second, for each way of sending: count the reviews and "
    "the seconds they took (mind the units of the round trips), then compare the two rates.",
)
def _check_13_2(answer: Any, **context: Any) -> None:
    speedup = _callable(answer, "a function batching_speedup(latencies_ms, n_reviews, seconds)")
    rng = np.random.default_rng()  # fresh measurements on every call
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
    "13.3",
    "Scale it out",
    expects="a dict: a modified deep copy of lesson 13's Deployment",
    verifies=f"your Deployment is valid for Kubernetes {KUBERNETES_VERSION} (strict), runs 3 "
    "replicas with a 3 GiB memory limit and is otherwise the lesson's Deployment",
    hint="start from copy.deepcopy(deployment) and change only the replica count and the "
    "container's memory limit (section 12 shows where both live); Kubernetes quantities have "
    "binary and decimal suffixes, and they differ.",
)
def _check_13_3(answer: Any, **context: Any) -> None:
    import kubernetes_validate

    if not isinstance(answer, Mapping):
        raise Fail(f"expected a Deployment (a dict), got {type(answer).__name__}.")
    document = json.loads(json.dumps(answer))  # plain dicts and lists
    _need(document.get("kind") == "Deployment", "the dict is not a Deployment.")
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
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
        "other fields changed too: start from copy.deepcopy(deployment) and change only the "
        "replica count and the memory limit.",
    )


def _route_reference_share(route: Any, ids: list[str]) -> float:
    return float(np.mean([route(i) == "sentiment-v2" for i in ids]))


@_register(
    "13.4",
    "A canary release",
    expects='a function pick_version(request_id: str) -> "sentiment" or "sentiment-v2"',
    verifies="your router sends 10% (± 1.5%) of 7,000 fresh random request ids of several "
    "shapes to sentiment-v2, the rest to sentiment, and always the same id to the same version",
    hint="turn the request id into a number from 0 to 99 with a hash that is the same in every "
    "process (hashlib; Python's hash() of a string changes between processes) and compare it "
    "with the canary percentage.",
)
def _check_13_4(answer: Any, **context: Any) -> str:
    route = _callable(answer, "a function pick_version(request_id)")
    rng = np.random.default_rng()  # fresh ids on every call: nothing to special-case
    start = int(rng.integers(0, 10**6))
    families = [
        [f"req-{n:x}" for n in rng.integers(0, 2**62, 3000)],
        [f"user-{start + n}" for n in range(2000)],  # consecutive ids
        ["".join(rng.choice(list("abcdef0123456789"), 32)) for _ in range(2000)],
    ]
    ids = [i for family in families for i in family]
    names = {route(i) for i in ids[:200]}
    _need(
        names <= {"sentiment", "sentiment-v2"},
        f"the router returns {sorted(map(str, names))[:3]}; use the model names of the servers.",
    )
    first = {i: route(i) for i in ids}
    again = rng.permutation(len(ids))  # ask again in another order, as retries arrive
    _need(
        all(route(ids[k]) == first[ids[k]] for k in again),
        "the same request id reaches different versions: a retry must see the same model.",
    )
    for family in families:
        share = _route_reference_share(route, family)
        _need(
            abs(share - 0.10) <= 0.04,
            f"{share:.1%} of one kind of request id go to sentiment-v2: the split must not "
            "depend on how the ids look.",
        )
    share = _route_reference_share(route, ids)
    _need(abs(share - 0.10) <= 0.015, f"{share:.1%} of the requests go to sentiment-v2.")
    return f"{share:.1%} to the canary"


def _fake_predict(calls: list) -> Any:
    # a stand-in model: a number per review from its hash, and a record of what it was given
    def predict(reviews: Any) -> list[float]:
        calls.append(reviews)
        return [int(hashlib.sha256(str(r).encode()).hexdigest()[:8], 16) / 16**8 for r in reviews]

    return predict


def _bad_bodies(rng: np.random.Generator) -> list[tuple[str, Any]]:
    word = str(rng.choice(["fine", "dull", "great", "awful"]))
    return [
        ("a body without an 'instances' key", {"reviews": [f"a {word} film"]}),
        ("instances that are one string, not a list", {"instances": f"a {word} film"}),
        ("instances that are an object", {"instances": {"text": word}}),
        ("instances that are null", {"instances": None}),
        ("an empty list of instances", {"instances": []}),
        ("a number among the instances", {"instances": [f"a {word} film", int(rng.integers(99))]}),
        ("a list among the instances", {"instances": [[word]]}),
    ]


@_register(
    "13.5",
    "Validate before you predict",
    expects="a function make_checked_app(predict) -> a FastAPI app",
    verifies="the app answers good requests with predict's predictions (a stand-in model on "
    "fresh random reviews) and answers 400 with a JSON error message, without calling predict, "
    "to seven kinds of bad body",
    hint="check the parsed body inside the route before predict is called: is it a dict with an "
    "'instances' key, is that a non-empty list, is every item a string? For a bad body return a "
    "JSONResponse with status_code=400 and a message that says what is wrong.",
)
def _check_13_5(answer: Any, **context: Any) -> str:
    make_app = _callable(answer, "a function make_checked_app(predict)")
    from fastapi.testclient import TestClient

    calls: list = []
    app = make_app(_fake_predict(calls))
    _need(callable(app), f"make_checked_app(predict) returned {type(app).__name__}, not an app.")
    rng = np.random.default_rng()  # fresh reviews and bodies on every call
    words = ["good", "bad", "plot", "actor", "boring", "moving", "never", "again", "film"]
    with TestClient(app, raise_server_exceptions=False) as http:
        for _ in range(3):
            reviews = [" ".join(rng.choice(words, 6)) for _ in range(int(rng.integers(1, 6)))]
            response = http.post("/predict", json={"instances": reviews})
            _need(
                response.status_code == 200,
                f"a good request ({len(reviews)} review strings) got HTTP {response.status_code}.",
            )
            try:
                got = response.json()["predictions"]
            except (ValueError, KeyError, TypeError):
                raise Fail("a good request's answer has no 'predictions' key.") from None
            expected = _fake_predict([])(reviews)
            _need(
                isinstance(got, list)
                and len(got) == len(expected)
                and all(
                    isinstance(g, (int, float)) and math.isclose(g, e, rel_tol=1e-9)
                    for g, e in zip(got, expected, strict=True)
                ),
                "a good request's predictions are not what predict(instances) returns.",
            )
        bodies = _bad_bodies(rng)
        for k in rng.permutation(len(bodies)):
            description, body = bodies[k]
            calls.clear()
            response = http.post("/predict", json=body)
            if response.status_code == 422:
                raise Fail(
                    f"{description}: HTTP 422 (FastAPI's own answer when a body does not fit a "
                    "declared model); answer 400, as KServe does."
                )
            _need(
                response.status_code == 400,
                f"{description}: HTTP {response.status_code}, expected 400 Bad Request.",
            )
            _need(not calls, f"{description}: your app called predict before answering 400.")
            try:
                message = response.json()
                message = message.get("error") or message.get("detail")
            except (ValueError, AttributeError):
                message = None
            _need(
                isinstance(message, str) and message.strip() != "",
                f'{description}: the 400 has no JSON {{"error": "<message>"}} body.',
            )
    return f"{len(bodies)} bad bodies answered 400"
