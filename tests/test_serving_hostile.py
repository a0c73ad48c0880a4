"""labkit.serving under hostile input, held to the memory limit its Kubernetes pod gets.

One server serves a model with lesson 09's LSTM architecture (raw strings in, TextVectorization
to 200 tokens, Embedding 64, LSTM 32, Dense sigmoid; untrained: serving does not care) for the
whole module, inside a cgroup (v1 memory controller) limited to the memory limit of
``k8s/serving/overlays/cpu`` (2 GiB, swap included). Every test then checks, besides its own
point, that the server still answers a valid request correctly, and the last one that the
kernel never had to kill anything in that cgroup.

* every route of the server's own ``/openapi.json`` is fuzzed by schemathesis (valid and
  invalid requests generated from the schema): no 5xx, no traceback in any answer;
* hand-written hostile requests (deep nesting, huge counts, lone surrogates, negative and huge
  shapes, chunked bodies over the limit, lying headers, garbage on the socket);
* gRPC (``--grpc-port``): bound to 127.0.0.1 like REST, the same limits, no model repository;
* the largest request the server accepts, again and again, beside 32 clients of valid traffic;
* a model that fails: the answer is an id, the traceback is in the log under that id.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode

from labkit.serving import free_port, start_server
from labkit.serving.limits import DEFAULT_MAX_INSTANCES, DEFAULT_MAX_PAYLOAD_BYTES

REPO = Path(__file__).resolve().parents[1]
CGROUP_MEMORY = Path("/sys/fs/cgroup/memory")
V1 = "/v1/models/sentiment:predict"
V2 = "/v2/models/sentiment/infer"
REVIEWS = [
    "A great film, I loved it!",
    "Boring and dull. A waste of time.",
    "the worst movie: terrible acting, dull story",
    "ÉLAN, naïve café — unicode is fine",
    "",
]
#: what an answer must never contain: a traceback, source paths, TensorFlow's graph nodes
INTERNALS = re.compile(r'Traceback|File "|\.py\b|site-packages|\{\{node |/work/|/usr/lib')


def overlay_memory_limit() -> int:
    """The container memory limit of k8s/serving/overlays/cpu, in bytes (e.g. 2Gi)."""
    resources = yaml.safe_load((REPO / "k8s/serving/overlays/cpu/resources.yaml").read_text())
    (container,) = resources["spec"]["template"]["spec"]["containers"]
    quantity = container["resources"]["limits"]["memory"]
    number, unit = re.fullmatch(r"(\d+)(Ki|Mi|Gi)?", quantity).groups()
    return int(number) * {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, None: 1}[unit]


def assert_no_internals(response: requests.Response) -> None:
    found = INTERNALS.search(response.text)
    assert found is None, (
        f"HTTP {response.status_code} from {response.request.method} {response.url} shows the "
        f"server's internals ({found.group(0)!r}): {response.text[:500]}"
    )


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lstm_model(tmp_path_factory):
    """(path, keras model) with lesson 09's LSTM architecture, random weights."""
    import keras
    import tensorflow as tf
    from keras import layers

    import labkit.text

    keras.utils.set_random_seed(0)
    vectorizer = layers.TextVectorization(
        max_tokens=2000, output_sequence_length=200, standardize=labkit.text.standardize_review
    )
    vectorizer.adapt(tf.constant([" ".join(REVIEWS), "a good film", "a bad plot"]))
    inputs = keras.Input(shape=(1,), dtype="string", name="review")
    x = layers.Embedding(vectorizer.vocabulary_size(), 64, mask_zero=True)(vectorizer(inputs))
    x = layers.LSTM(32)(x)
    outputs = layers.Dense(1, activation="sigmoid", name="positive")(x)
    model = keras.Model(inputs, outputs)
    path = tmp_path_factory.mktemp("models") / "sentiment_lstm.keras"
    model.save(path)
    return path, model


@pytest.fixture(scope="module")
def reference(lstm_model):
    """P(positive) for texts, computed by the model in this process."""
    import tensorflow as tf

    def probabilities(texts):
        return lstm_model[1].predict(tf.constant(texts)[:, None], verbose=0, batch_size=256)[:, 0]

    return probabilities


@pytest.fixture(scope="module")
def memory_cgroup():
    """A cgroup v1 memory group limited to the cpu overlay's memory limit, swap included."""
    if not (CGROUP_MEMORY / "memory.limit_in_bytes").exists() or os.geteuid() != 0:
        reason = "needs root and cgroup v1's memory controller at /sys/fs/cgroup/memory"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI machines have both)")
        pytest.skip(reason)
    group = CGROUP_MEMORY / f"labkit-serving-test-{os.getpid()}"
    group.mkdir()
    limit = overlay_memory_limit()
    (group / "memory.limit_in_bytes").write_text(str(limit))
    if (group / "memory.memsw.limit_in_bytes").exists():  # no swapping out of the limit
        (group / "memory.memsw.limit_in_bytes").write_text(str(limit))
    yield group
    for pid in (group / "cgroup.procs").read_text().split():
        try:
            os.kill(int(pid), 9)
        except ProcessLookupError:
            pass
    for _ in range(50):
        try:
            group.rmdir()
            break
        except OSError:
            time.sleep(0.1)


@pytest.fixture(scope="module")
def server(lstm_model, memory_cgroup, tmp_path_factory):
    """`python -m labkit.serving` with the default limits, inside ``memory_cgroup``."""
    procs = memory_cgroup / "cgroup.procs"
    launcher = ["sh", "-c", f'echo $$ > {procs} && exec "$@"', "sh"]
    log = tmp_path_factory.mktemp("logs") / "server.log"
    handle = start_server(
        lstm_model[0],
        "sentiment",
        launcher=launcher,
        log_path=log,
        extra_args=["--no-access-log", "--grpc-port", str(free_port())],
    )
    assert str(handle.process.pid) in procs.read_text().split()
    yield handle
    handle.stop()


@pytest.fixture
def still_serving(server, reference):
    """After the test: the same server process answers a valid request correctly."""
    pid = server.process.pid
    yield
    assert server.alive and server.process.pid == pid, f"the server died:\n{server.logs()}"
    answers = server.client.predict(REVIEWS)
    np.testing.assert_allclose(
        [a["probabilities"]["positive"] for a in answers], reference(REVIEWS), atol=1e-5
    )


def test_no_access_log_means_no_line_per_request(server, still_serving):
    for _ in range(3):
        server.client.predict(REVIEWS)
    log = server.logs(tail=None)
    assert "Uvicorn running on" in log and "uvicorn.access" not in log, log[-2000:]


# --- the document, and fuzzing every route from it -------------------------------------------


def test_openapi_document_describes_the_routes_and_limits(server, still_serving):
    document = requests.get(server.url + "/openapi.json", timeout=10).json()
    paths = document["paths"]
    assert not [p for p in paths if "/repository/" in p or ":explain" in p or "/versions/" in p]
    predict = paths["/v1/models/{model_name}:predict"]["post"]
    body = predict["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/V1PredictRequest"}
    instances = document["components"]["schemas"]["V1PredictRequest"]["properties"]["instances"]
    assert instances["maxItems"] == DEFAULT_MAX_INSTANCES and instances["minItems"] == 1
    assert {"400", "413", "500"} <= set(predict["responses"])
    (name,) = [p for p in predict["parameters"] if p["name"] == "model_name"]
    assert name["schema"]["enum"] == ["sentiment"]
    assert f"{DEFAULT_MAX_PAYLOAD_BYTES:,} bytes" in document["info"]["description"]
    # the routes it publishes are the routes it serves, and the ones it does not are gone
    assert requests.post(server.url + "/v2/repository/models/sentiment/unload").status_code == 404


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_every_route_survives_requests_generated_from_its_own_schema(server, still_serving, mode):
    """schemathesis reads /openapi.json and generates requests for every operation in it: in
    the positive mode requests that fit the schema, in the negative mode requests that break
    it. The same requests every run (derandomized), so a failure can be re-run."""
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    problems: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]
    calls = [0]
    fuzzed = []

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=GenerationMode(mode)))
        @settings(
            max_examples=60,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            response = case.call(base_url=server.url, timeout=30)
            calls[0] += 1
            assert response.status_code < 500, (
                f"HTTP {response.status_code} for {case.method} {case.formatted_path}: "
                f"{response.text[:300]}"
            )
            found = INTERNALS.search(response.text)
            assert found is None, f"internals ({found.group(0)!r}): {response.text[:300]}"
            if response.status_code >= 400 and "json" in str(response.headers).lower():
                assert set(response.json()) == {"error", "id"}, response.text[:300]

        try:
            check()
        except AssertionError as failure:
            problems.append(f"{operation.label}: {failure}")
        except Unsatisfiable:  # negative mode, an operation without inputs: nothing to break
            assert mode == "negative", operation.label
            continue
        fuzzed.append(operation.label)
    print(f"\n{calls[0]} generated requests ({mode}) to {len(fuzzed)} operations: {fuzzed}")
    assert {"POST /v1/models/{model_name}:predict", "POST /v2/models/{model_name}/infer"} <= set(
        fuzzed
    )
    assert not problems, "\n".join(problems) + f"\n{server.logs(tail=20)}"


def test_fuzzing_left_the_server_serving(server, still_serving):
    assert server.alive


# --- hand-written hostile requests -----------------------------------------------------------


def _nested(depth: int, leaf: str = '"a"') -> bytes:
    return ("[" * depth + leaf + "]" * depth).encode()


def _v2(shape, data, datatype="BYTES") -> bytes:
    return json.dumps(
        {"inputs": [{"name": "review", "shape": shape, "datatype": datatype, "data": data}]}
    ).encode()


def _chunked_over_the_limit():
    for _ in range((2 * DEFAULT_MAX_PAYLOAD_BYTES) // 65536):
        yield b'"xxxxxxx",' * 6553


HOSTILE = [
    # (label, path, body, expected status, a word the answer must hold)
    (
        "200,000 one-letter reviews",
        V1,
        b'{"instances": [' + b'"a",' * 199_999 + b'"a"]}',
        413,
        "at most 1,024",
    ),
    (
        "one instance over the limit",
        V1,
        json.dumps({"instances": ["a"] * 1025}).encode(),
        413,
        "1,025 instances",
    ),
    ("v2: 200,000 reviews", V2, _v2([200_000], ["a"] * 200_000), 413, "at most 1,024"),
    ("v2: shape -1", V2, _v2([-1], ["a"]), 400, "integer >= 0"),
    ("v2: negative size", V2, _v2([1, -5], ["a"]), 400, "integer >= 0"),
    ("v2: huge shape", V2, _v2([2**70], ["a"]), 413, "instances"),
    ("v2: huge inner size", V2, _v2([1, 2**62], ["a"]), 400, "elements"),
    ("v2: 100 dimensions", V2, _v2([1] * 100, ["a"]), 400, "dimensions"),
    ("v2: size 0", V2, _v2([0], []), 400, "no instances"),
    (
        "v2: data nested 100 deep",
        V2,
        b'{"inputs": [{"name": "review", "shape": [1], "datatype": "BYTES", "data": '
        + _nested(100)
        + b"}]}",
        400,
        "not a string",
    ),
    ("nested 100 deep", V1, b'{"instances": ' + _nested(100) + b"}", 400, "list"),
    ("nested 5,000 deep", V1, b'{"instances": ' + _nested(5000) + b"}", 400, "request"),
    ("lone surrogate, escaped", V1, b'{"instances": ["\\ud800"]}', 400, "request"),
    ("lone surrogate, raw bytes", V1, b'{"instances": ["\xed\xa0\x80"]}', 400, "UTF-8"),
    ("NaN", V1, b'{"instances": [NaN]}', 400, "request"),
    ("b64 that is not base64", V1, b'{"instances": [{"b64": "!!!"}]}', 400, "base64"),
    ("b64 of bytes that are not UTF-8", V1, b'{"instances": [{"b64": "/w=="}]}', 400, "UTF-8"),
    ("a number as a review", V1, b'{"instances": [1e308]}', 400, "takes text"),
    ("1,000 empty objects", V1, json.dumps({"instances": [{}] * 1000}).encode(), 400, "instance 0"),
    ("chunked, over the limit", V1, "chunked", 413, "too large"),
    ("unknown model", "/v1/models/nope:predict", b'{"instances": ["a"]}', 404, "nope"),
    ("model versions", "/v2/models/sentiment/versions/1/infer", _v2([1], ["a"]), 404, "Not Found"),
    ("model_version query", V2 + "?model_version=1", _v2([1], ["a"]), 404, "version"),
]


@pytest.mark.parametrize(
    "label, path, body, status, word", HOSTILE, ids=[case[0] for case in HOSTILE]
)
def test_hostile_request_gets_a_4xx_that_says_why(
    server, still_serving, label, path, body, status, word
):
    data = _chunked_over_the_limit() if body == "chunked" else body
    response = requests.post(
        server.url + path, data=data, headers={"Content-Type": "application/json"}, timeout=60
    )
    assert response.status_code == status and word in response.text, (
        f"{label}: HTTP {response.status_code} {response.text[:400]}"
    )
    assert_no_internals(response)
    answer = response.json()
    assert set(answer) == {"error", "id"}
    assert f"error {answer['id']}: HTTP {status}" in server.logs(tail=None)


def _raw(server, payload: bytes) -> bytes:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


GARBAGE = [
    ("binary garbage", bytes(range(256)) * 4),
    ("an HTTP line without headers", b"POST /v1/models/sentiment:predict HTTP/1.1\r\n\r\n"),
    (
        "a Content-Length that is not a number",
        b"POST /v1/models/sentiment:predict HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
    ),
    (
        "a body shorter than its Content-Length",
        b"POST /v1/models/sentiment:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
        b'\r\nContent-Length: 500\r\n\r\n{"instances": ["a"',
    ),
    # a valid request with a large header: uvicorn may serve it (200) or refuse it (431)
    ("a 100 KiB header", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 102400 + b"\r\n\r\n"),
    (
        "a bad chunk size",
        b"POST /v1/models/sentiment:predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"\r\nzz\r\nabc\r\n0\r\n\r\n",
    ),
    (
        "v2 binary data with a lying header",
        b"POST /v2/models/sentiment/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Inference-Header-Content-Length: 99999\r\nContent-Length: 2\r\n\r\n{}",
    ),
]


@pytest.mark.parametrize("label, payload", GARBAGE, ids=[g[0] for g in GARBAGE])
def test_garbage_on_the_socket(server, still_serving, label, payload):
    answer = _raw(server, payload)
    status_line = answer.split(b"\r\n", 1)[0]
    if status_line:  # uvicorn answers what it can parse, and closes what it cannot
        status = int(status_line.split()[1])
        lowest = 200 if "header" in label else 400
        assert lowest <= status < 500, f"{label}: {answer[:300]!r}"
    assert not INTERNALS.search(answer.decode("utf-8", "replace")), answer[:500]


# --- gRPC: the same limits on the other port ------------------------------------------------


def listening_addresses(port: int) -> set[str]:
    """The local addresses (hex, as /proc/net/tcp* writes them) that listen on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == "0A":  # 0A: LISTEN
                found.add(address)
    return found


def test_grpc_binds_the_host_and_refuses_hostile_messages(server, still_serving, reference):
    import grpc

    from labkit.serving.model import kserve  # imported with pytest's argv hidden from it

    pb = kserve.protocol.grpc.grpc_predict_v2_pb2
    pb_grpc = kserve.protocol.grpc.grpc_predict_v2_pb2_grpc

    port = int(server.process.args[server.process.args.index("--grpc-port") + 1])
    loopback = {"0100007F", "0000000000000000FFFF00000100007F"}  # 127.0.0.1, IPv4 and IPv6
    assert listening_addresses(port) and listening_addresses(port) <= loopback, (
        f"gRPC listens on {listening_addresses(port)}, not only on 127.0.0.1"
    )
    channel = grpc.insecure_channel(
        f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 64 << 20)]
    )
    stub = pb_grpc.GRPCInferenceServiceStub(channel)

    def infer(shape, texts):
        tensor = pb.ModelInferRequest.InferInputTensor(
            name="review",
            datatype="BYTES",
            shape=shape,
            contents=pb.InferTensorContents(bytes_contents=[t.encode() for t in texts]),
        )
        request = pb.ModelInferRequest(model_name="sentiment", inputs=[tensor])
        return stub.ModelInfer(request, timeout=60)

    answer = infer([2], REVIEWS[:2])
    np.testing.assert_allclose(
        answer.outputs[0].contents.fp32_contents, reference(REVIEWS[:2]), atol=1e-5
    )
    refused = [
        ("shape -1", lambda: infer([-1], ["a"]), grpc.StatusCode.INVALID_ARGUMENT, ">= 0"),
        (
            "200,000 reviews",
            lambda: infer([200_000], ["a"] * 200_000),
            grpc.StatusCode.INVALID_ARGUMENT,
            "at most 1,024",
        ),
        (
            "a 2 MiB message",
            lambda: infer([1], ["x" * (2 << 20)]),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "larger than max",
        ),
        (
            "unload the model",
            lambda: stub.RepositoryModelUnload(
                pb.RepositoryModelUnloadRequest(model_name="sentiment"), timeout=10
            ),
            grpc.StatusCode.NOT_FOUND,
            "no model repository",
        ),
    ]
    for label, call, code, words in refused:
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == code and words in caught.value.details(), (
            f"{label}: {caught.value.code()} {caught.value.details()}"
        )
        assert not INTERNALS.search(caught.value.details()), caught.value.details()
    assert stub.ModelReady(pb.ModelReadyRequest(name="sentiment"), timeout=10).ready
    channel.close()


# --- the largest accepted request beside 32 clients, within the pod's memory limit -----------


def largest_accepted_request() -> list[str]:
    """``DEFAULT_MAX_INSTANCES`` reviews as long as the payload limit allows (real words)."""
    words = "the film was a great story with a dull plot and wonderful acting".split()
    room = DEFAULT_MAX_PAYLOAD_BYTES // DEFAULT_MAX_INSTANCES - 8  # quotes, comma, margin
    reviews = []
    for i in range(DEFAULT_MAX_INSTANCES):
        text, k = [], i
        while len(" ".join(text)) < room - 12:
            text.append(words[k % len(words)])
            k += 3
        reviews.append(" ".join(text))
    return reviews


@pytest.mark.slow  # a load test: 32 clients against a server of its own
def test_largest_request_beside_32_clients_stays_within_the_pods_memory_limit(
    server, memory_cgroup, reference, still_serving
):
    big = largest_accepted_request()
    body = json.dumps({"instances": big}).encode()
    assert len(body) <= DEFAULT_MAX_PAYLOAD_BYTES
    expected_big = reference(big)
    expected = dict(zip(REVIEWS, reference(REVIEWS).tolist(), strict=True))
    (memory_cgroup / "memory.max_usage_in_bytes").write_text("0")
    start_usage = int((memory_cgroup / "memory.usage_in_bytes").read_text())
    stop = threading.Event()
    failures: list[str] = []
    answered = {"small": 0, "big": 0}
    lock = threading.Lock()

    def small_client(k: int) -> None:
        session = requests.Session()
        i = k
        while not stop.is_set():
            text = REVIEWS[i % len(REVIEWS)]
            i += 1
            try:
                response = session.post(server.url + V1, json={"instances": [text]}, timeout=60)
                p = response.json()["predictions"][0]["probabilities"]["positive"]
            except Exception as error:  # noqa: BLE001 - recorded and asserted below
                failures.append(f"small: {type(error).__name__}: {error}")
                continue
            if response.status_code != 200 or abs(p - expected[text]) > 1e-5:
                failures.append(f"small {text!r}: HTTP {response.status_code} {p}")
            with lock:
                answered["small"] += 1

    def big_client() -> None:
        session = requests.Session()
        while not stop.is_set():
            response = session.post(
                server.url + V1,
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=120,
            )
            if response.status_code != 200:
                failures.append(f"big: HTTP {response.status_code} {response.text[:300]}")
                continue
            got = [a["probabilities"]["positive"] for a in response.json()["predictions"]]
            if not np.allclose(got, expected_big, atol=1e-5):
                failures.append("big: answers differ from the model's")
            with lock:
                answered["big"] += 1

    threads = [threading.Thread(target=small_client, args=(k,)) for k in range(32)]
    threads += [threading.Thread(target=big_client) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(15)
    stop.set()
    for thread in threads:
        thread.join()
    peak = int((memory_cgroup / "memory.max_usage_in_bytes").read_text())
    limit = int((memory_cgroup / "memory.limit_in_bytes").read_text())
    oom = dict(
        line.split() for line in (memory_cgroup / "memory.oom_control").read_text().splitlines()
    )
    print(
        f"\nmemory in the server's cgroup: {start_usage / 2**20:.0f} MiB before, peak "
        f"{peak / 2**20:.0f} MiB of the {limit / 2**20:.0f} MiB limit; answered "
        f"{answered['small']} small and {answered['big']} largest requests in 15 s"
    )
    assert not failures, "\n".join(failures[:10])
    assert int(oom.get("oom_kill", 0)) == 0, f"the kernel killed a process in the cgroup: {oom}"
    assert answered["big"] >= 2 and answered["small"] >= 100, answered


# --- a model that fails: an id in the answer, the traceback in the log -----------------------


@pytest.mark.slow  # a TensorFlow server process of its own
def test_a_failing_model_answers_with_an_id_and_logs_the_traceback(tmp_path):
    """An Embedding looked up with an id outside its table: TensorFlow raises (without XLA,
    which would clamp the id instead), and its message is the graph's stack."""
    import keras

    inputs = keras.Input(shape=(3,), dtype="int32", name="ids")
    x = keras.layers.Embedding(10, 4)(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling1D()(x))
    keras.Model(inputs, outputs).save(tmp_path / "ids.keras")
    with start_server(
        tmp_path / "ids.keras", "ids", extra_args=["--no-jit"], log_path=tmp_path / "log"
    ) as served:
        failed = requests.post(
            served.url + "/v1/models/ids:predict", json={"instances": [[1, 2, 300]]}, timeout=30
        )
        fine = served.client.predict([[1, 2, 3]])
        log = served.logs(tail=None)
    assert failed.status_code == 500, failed.text
    assert_no_internals(failed)
    error_id = failed.json()["id"]
    assert failed.json()["error"].startswith("The model failed on this request")
    assert error_id in failed.json()["error"]
    logged = log[log.index(f"error {error_id}") :]
    assert "Traceback" in logged and "InvalidArgumentError" in logged, log[-3000:]
    assert fine[0]["label"] in ("0", "1")
