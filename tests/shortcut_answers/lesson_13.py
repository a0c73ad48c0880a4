"""Shortcut answers for lesson 13's checks (serving as a microservice): each must FAIL."""

from __future__ import annotations

import copy
import itertools
import random
from pathlib import Path

import numpy as np

from shortcut_answers import Shortcut

REPO = Path(__file__).resolve().parents[2]

# A FAIL of 12.1 must not say how close a set is, nor which letters are right.
_NO_DIRECTION = ("correct so far", "missing", "too many", "one or more", "{'b'", "b, d")


def _deployment():
    import yaml

    path = REPO / "k8s" / "serving" / "base" / "manifests" / "deployment.yaml"
    return yaml.safe_load(path.read_text())


def _scaled(replicas, memory):
    document = copy.deepcopy(_deployment())
    document["spec"]["replicas"] = replicas
    document["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = memory
    return document


def _hand_written():
    # a fresh, minimal Deployment with the asked-for numbers: probes, security context... gone
    original = _deployment()
    container = original["spec"]["template"]["spec"]["containers"][0]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": original["metadata"]["name"]},
        "spec": {
            "replicas": 3,
            "selector": original["spec"]["selector"],
            "template": {
                "metadata": original["spec"]["template"]["metadata"],
                "spec": {
                    "containers": [
                        {
                            "name": container["name"],
                            "image": container["image"],
                            "resources": {"limits": {"memory": "3Gi"}},
                        }
                    ]
                },
            },
        },
    }


def _minimal_app(predict):
    # the lesson's minimal server, unchanged: no validation at all
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/predict")
    def predict_route(body: dict):
        return {"predictions": predict(body["instances"])}

    return app


def _rejecting_app(predict):
    # answers 400 to everything: no bad request gets through, nor any good one
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()

    @app.post("/predict")
    def predict_route(body: dict):
        return JSONResponse(status_code=400, content={"error": "bad request"})

    return app


def _validates_after_predicting(predict):
    # calls the model first and checks the body afterwards (the model saw the bad request)
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    app = FastAPI()

    @app.post("/predict")
    def predict_route(body: dict):
        instances = body.get("instances")
        try:
            predictions = predict(instances)
        except Exception:
            predictions = None
        if not isinstance(instances, list) or not instances:
            return JSONResponse(status_code=400, content={"error": "instances: a list of texts"})
        if not all(isinstance(item, str) for item in instances):
            return JSONResponse(status_code=400, content={"error": "instances: a list of texts"})
        return {"predictions": predictions}

    return app


def _counter_router():
    counter = itertools.count()
    return lambda request_id: "sentiment-v2" if next(counter) % 10 == 0 else "sentiment"


def _last_character_router(request_id):
    # "ends in 0": a tenth of decimal ids, a sixteenth of hexadecimal ones
    return "sentiment-v2" if request_id.endswith("0") else "sentiment"


SHORTCUTS = {
    "13.1": [
        Shortcut("every statement", lambda: ({"a", "b", "c", "d", "e"}, {}), _NO_DIRECTION),
        Shortcut("the one-letter answer of a single choice", lambda: ("b", {}), _NO_DIRECTION),
        Shortcut("one true statement short", lambda: ({"b", "d"}, {}), _NO_DIRECTION),
        Shortcut("the restart statements", lambda: ({"a", "c"}, {}), _NO_DIRECTION),
    ],
    "13.2": [
        Shortcut(
            "the number of reviews per request, whatever was measured",
            lambda: (lambda latencies_ms, n_reviews, seconds: 50.0, {}),
            ("n_reviews / seconds", "1000 / np.mean"),
        ),
        Shortcut(
            "the speed-up of the lesson's run, typed in",
            lambda: (lambda latencies_ms, n_reviews, seconds: 14.3, {}),
            ("n_reviews / seconds", "1000 / np.mean"),
        ),
        Shortcut(
            "milliseconds mixed with seconds",
            lambda: (
                lambda latencies_ms, n_reviews, seconds: (
                    (n_reviews / seconds) / (1 / np.mean(latencies_ms))
                ),
                {},
            ),
            ("n_reviews / seconds", "1000 / np.mean"),
        ),
    ],
    "13.3": [
        Shortcut("the lesson's Deployment unchanged", lambda: (_deployment(), {}), ("3Gi",)),
        Shortcut("decimal gigabytes (3G)", lambda: (_scaled(3, "3G"), {}), ("3Gi",)),
        Shortcut("replicas as a string", lambda: (_scaled("3", "3Gi"), {}), ()),
        Shortcut("a hand-written minimal Deployment", lambda: (_hand_written(), {}), ()),
    ],
    "13.4": [
        Shortcut(
            "a random router (not sticky)",
            lambda: (
                lambda request_id: "sentiment-v2" if random.random() < 0.1 else "sentiment",
                {},
            ),
            ("hashlib.sha256(", "% 100"),
        ),
        Shortcut("every tenth request, counted", lambda: (_counter_router(), {}), ("% 100",)),
        Shortcut("everything to the old version", lambda: (lambda i: "sentiment", {}), ()),
        Shortcut(
            "a router on the id's last character",
            lambda: (_last_character_router, {}),
            ("hashlib.sha256(",),
        ),
    ],
    "13.5": [
        Shortcut("the minimal server, unchanged", lambda: (_minimal_app, {}), ("isinstance(",)),
        Shortcut("a 400 for every request", lambda: (_rejecting_app, {}), ("isinstance(",)),
        Shortcut("validation after the model call", lambda: (_validates_after_predicting, {}), ()),
    ],
}
