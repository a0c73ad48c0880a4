"""Benchmark labkit.serving against the servers a team would pick instead, and the model's limit.

Five servers serve the same sentiment model on 127.0.0.1, one after the other, each alone on the
machine: Flask + ``model.predict`` (the book's recipe, ``flask_app.py``), FastAPI + uvicorn
calling the compiled model per request (``fastapi_app.py``), Ray Serve with ``@serve.batch``
(``ray_app.py``, in an environment of its own), and ``python -m labkit.serving`` with and
without batching. First, the model's own limit: reviews/s computed in-process at batch sizes
1, 8, 32 and 64, no HTTP (``limit.py``). Then per server: a closed loop (``wrk``, 1, 8 and 32
connections, each sending its next request when the answer arrives) and an open loop
(``load.py``: requests sent at fixed arrival rates, stepping up until the server falls behind,
latency measured from each request's scheduled send time, so a slow server shows in the
percentiles). One review per request. Prints a table, writes ``bench/results/serving.json``
and ``serving.png`` (requests/s and p99 against offered load, one line per server). Run it with
``make bench``; bench/README.md describes the method and the numbers.

The model: lesson 09's export ``build/models/sentiment_lstm.keras`` when it exists; otherwise a
stand-in with the lesson's architecture (TextVectorization with ``labkit.text.standardize_review``,
Embedding 64, LSTM 32, 200 tokens per review) trained for a few seconds and kept in
``build/bench/`` (the benchmark measures serving, not accuracy). The reviews sent are IMDB test
reviews when the data set is available (cache or ``LABKIT_DATA_MIRROR``), else synthetic ones.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import load  # noqa: E402  (bench/serving/load.py)

REPO = Path(__file__).resolve().parents[2]
LESSON_MODEL = REPO / "build" / "models" / "sentiment_lstm.keras"
STAND_IN_MODEL = REPO / "build" / "bench" / "sentiment_lstm_standin.keras"
RESULTS = REPO / "bench" / "results" / "serving.json"
HOST = "127.0.0.1"

SYNTHETIC_WORDS = (
    "the a film movie story plot acting actor actress director scene scenes music ending "
    "character characters script time it was is and but not very really quite too so "
    "great wonderful superb brilliant loved moving beautiful funny excellent best fine "
    "awful boring dull terrible waste worst poor bad weak silly predictable slow long"
).split()


def log(message: str) -> None:
    print(message, flush=True)


def load_reviews(n: int) -> tuple[list[str], list[int], str]:
    """IMDB reviews (texts, labels, source) if already in the cache or the mirror (never
    downloaded for the benchmark), else synthetic ones. The labels are those of the first
    ``len(labels)`` texts."""
    offline = os.environ.get("LABKIT_OFFLINE")
    os.environ["LABKIT_OFFLINE"] = "1"
    try:
        from labkit import datasets

        (x_train, y_train), (x_test, _) = datasets.load_imdb_reviews(max_per_class=n)
        return [*x_train, *x_test], [int(y) for y in y_train], "IMDB reviews (labkit.datasets)"
    except Exception as error:  # not cached, no mirror: the benchmark still runs
        first_line = str(error).splitlines()[0]
        log(f"IMDB reviews not available offline ({first_line}); using synthetic text")
    finally:
        if offline is None:
            del os.environ["LABKIT_OFFLINE"]
        else:
            os.environ["LABKIT_OFFLINE"] = offline
    rng = random.Random(0)
    texts = [
        " ".join(rng.choice(SYNTHETIC_WORDS) for _ in range(rng.randint(40, 300)))
        for _ in range(4 * n)
    ]
    positive = set(SYNTHETIC_WORDS[SYNTHETIC_WORDS.index("great") : SYNTHETIC_WORDS.index("awful")])
    labels = [int(sum(w in positive for w in t.split()) * 2 > len(t.split()) // 8) for t in texts]
    return texts, labels[: 2 * n], "synthetic reviews"


def train_stand_in(path: Path, texts: list[str], labels: list[int], source: str) -> None:
    """Lesson 09's LSTM architecture, trained for one short epoch; notes how beside the model."""
    import keras
    import numpy as np
    import tensorflow as tf
    from keras import layers

    import labkit.text

    keras.utils.set_random_seed(42)
    train_texts = tf.constant(texts[: len(labels)])[:, None]
    vectorizer = layers.TextVectorization(
        max_tokens=20000,
        output_sequence_length=200,
        standardize=labkit.text.standardize_review,
        name="vectorizer",
    )
    vectorizer.adapt(train_texts)
    inputs = keras.Input(shape=(1,), dtype="string", name="review")
    x = vectorizer(inputs)
    x = layers.Embedding(vectorizer.vocabulary_size(), 64, mask_zero=True)(x)
    x = layers.LSTM(32)(x)
    outputs = layers.Dense(1, activation="sigmoid", name="positive")(x)
    model = keras.Model(inputs, outputs, name="lstm_standin")
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(train_texts, np.array(labels), epochs=1, batch_size=128, verbose=0)
    seconds = time.perf_counter() - start
    log(f"trained the stand-in LSTM in {seconds:.1f} s")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    note = {
        "trained_on": f"{len(labels)} {source}",
        "epochs": 1,
        "seconds": round(seconds, 1),
        "train_accuracy": round(float(history.history["accuracy"][-1]), 3),
    }
    path.with_suffix(".json").write_text(json.dumps(note, indent=2) + "\n")


def describe_model(path: Path) -> dict:
    import keras

    import labkit.text  # noqa: F401

    model = keras.saving.load_model(path, compile=False)
    note, full = path.with_suffix(".json"), path.resolve()
    info = {
        "path": str(full.relative_to(REPO) if full.is_relative_to(REPO) else path),
        "name": model.name,
        "parameters": int(model.count_params()),
        "layers": [f"{layer.__class__.__name__}({layer.name})" for layer in model.layers],
    }
    for layer in model.layers:
        if layer.__class__.__name__ == "TextVectorization":
            config = layer.get_config()
            info["sequence_length"] = config.get("output_sequence_length")
            info["vocabulary_size"] = layer.vocabulary_size()
    if full == STAND_IN_MODEL.resolve() and note.is_file():
        info["training"] = json.loads(note.read_text())
    return info


def wait_until(url_path: str, port: int, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", url_path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the server was not ready after {timeout} s")


def batch_counters(port: int) -> tuple[float, float] | None:
    """labkit.serving's ``labkit_batch_instances`` histogram from ``/metrics``: (instances,
    model calls) so far, summed over models; None where the server has no such metric."""
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=5)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    except (OSError, http.client.HTTPException):
        return None
    total = {"_sum": 0.0, "_count": 0.0}
    found = False
    for line in text.splitlines():
        for suffix in total:
            if line.startswith("labkit_batch_instances" + suffix):
                total[suffix] += float(line.rsplit(" ", 1)[1])
                found = True
    return (total["_sum"], total["_count"]) if found else None


def measure_server(
    server: dict,
    bodies: list[bytes],
    levels: list[int],
    seconds: float,
    rates: list[float],
    open_seconds: float,
    log_path: Path,
) -> tuple[list[dict], list[dict]]:
    """Start ``server`` (label, command, ready_path, predict_path, port), wait until it is
    ready, then measure it: closed loop (wrk) at each of ``levels`` clients, then open loop at
    each of ``rates`` until the first step it cannot keep up with; stop it. Returns (closed-loop
    rows, open-loop rows)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "RAY_USAGE_STATS_ENABLED": "0"}
    label, port = server["label"], server["port"]
    with open(log_path, "wb") as server_log:
        process = subprocess.Popen(
            server["command"],
            stdout=server_log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    command = " ".join(Path(c).name if os.sep in c else c for c in server["command"])
    try:
        start = time.perf_counter()
        wait_until(server["ready_path"], port, process)
        log(f"{label}: ready in {time.perf_counter() - start:.1f} s (log: {log_path})")
        url = f"http://{HOST}:{port}{server['predict_path']}"
        closed = []
        for clients in levels:
            before, counters = os.getloadavg()[0], batch_counters(port)
            row = {
                "server": label,
                **load.closed_loop(
                    url, bodies, clients, seconds, server_cpu_seconds=lambda: cpu_seconds(process)
                ),
            }
            after = batch_counters(port)
            if counters and after and after[1] > counters[1]:
                # includes wrk's warm-up run: the batches formed at this concurrency
                row["mean_batch_size"] = round(
                    (after[0] - counters[0]) / (after[1] - counters[1]), 2
                )
            row["load_average_1min"] = [round(before, 2), round(os.getloadavg()[0], 2)]
            row["command"] = command
            batch = f", mean batch {row['mean_batch_size']}" if "mean_batch_size" in row else ""
            log(
                f"  closed loop {clients:>3} clients: {row['requests_per_s']:7.1f} req/s, "
                f"p50 {row['p50_ms']:7.1f} ms, p99 {row['p99_ms']:7.1f} ms, "
                f"{row['errors']} errors{batch}, "
                f"server CPU {row['server_cpu_ms_per_request']:.2f} ms per request"
            )
            closed.append(row)
        opened = []
        for rate in rates:
            row = {
                "server": label,
                **load.open_loop(HOST, port, server["predict_path"], bodies, rate, open_seconds),
            }
            log(
                f"  open loop {rate:>6.0f}/s offered: {row['requests_per_s']:7.1f} req/s, "
                f"p50 {row['p50_ms']:8.1f} ms, p99 {row['p99_ms']:8.1f} ms, "
                f"{row['errors']} errors, {row['unanswered']} unanswered"
            )
            opened.append(row)
            if load.saturated(row):
                break
            time.sleep(1.0)
        return closed, opened
    finally:
        stop(process)


def cpu_seconds(process: subprocess.Popen) -> float:
    """CPU seconds (user + system) used so far by the server and every process it started
    (Ray's raylet, GCS and replicas); processes that exited meanwhile are not counted."""
    import psutil

    try:
        root = psutil.Process(process.pid)
        family = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for member in family:
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def stop(process: subprocess.Popen) -> None:
    """Stop a server and everything it started (Ray's raylet and workers, in their own process
    group): SIGTERM to the group, then SIGKILL after 15 s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass
    time.sleep(2.0)  # let the group's processes exit before the next server starts
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def choose_model(model: Path | None, texts: list[str], labels: list[int], source: str):
    """The model to serve, and where it comes from: ``model`` when given, else lesson 09's
    export, else the stand-in (trained now if it is not in build/bench/ yet)."""
    if model:
        return model, "given with --model"
    if LESSON_MODEL.is_file():
        return LESSON_MODEL, "lesson 09 export"
    if not STAND_IN_MODEL.is_file():
        log(f"{LESSON_MODEL.relative_to(REPO)} not found: training a stand-in model")
        train_stand_in(STAND_IN_MODEL, texts, labels, source)
    return STAND_IN_MODEL, (
        "stand-in: lesson 09's architecture trained briefly by the benchmark "
        "(build/models/sentiment_lstm.keras not found; run lesson 09 to bench the real one)"
    )


RAY_ENV = REPO / "build" / "bench" / "envs" / "ray"
RAY_REQUIREMENT = "ray[serve]==2.60.0"


def ray_python() -> tuple[Path | None, str]:
    """The Python of the Ray Serve environment (``build/bench/envs/ray``), made with uv when
    it is missing: Ray Serve at :data:`RAY_REQUIREMENT`, this environment's TensorFlow and Keras
    versions, labkit (for the model's standardize function) without its dependencies. Returns
    (python, what happened) or (None, why not)."""
    python = RAY_ENV / "bin" / "python"
    if not python.is_file():
        uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
        if not Path(uv).is_file():
            return None, "uv not found: cannot make the Ray Serve environment"
        import keras
        import tensorflow as tf

        log(f"making {RAY_ENV.relative_to(REPO)} ({RAY_REQUIREMENT}, a few minutes)")
        steps = [
            [uv, "venv", "--python", sys.executable, str(RAY_ENV)],
            [
                uv,
                "pip",
                "install",
                "--python",
                str(python),
                RAY_REQUIREMENT,
                f"tensorflow=={tf.__version__}",
                f"keras=={keras.__version__}",
            ],
            [uv, "pip", "install", "--python", str(python), "--no-deps", "-e", str(REPO)],
        ]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True)
            if done.returncode != 0:
                shutil.rmtree(RAY_ENV, ignore_errors=True)
                return None, f"making the Ray environment failed: {done.stderr.strip()[-500:]}"
    check = subprocess.run(
        [str(python), "-c", "import ray, ray.serve, labkit.text; print(ray.__version__)"],
        capture_output=True,
        text=True,
    )
    if check.returncode != 0:
        return (
            None,
            f"the Ray environment is broken ({check.stderr.strip()[-300:]}); "
            f"delete {RAY_ENV} to remake it",
        )
    return python, f"Ray {check.stdout.strip()} in {RAY_ENV.relative_to(REPO)}"


def measure_limit(model_path: Path, texts: list[str], seconds: float) -> list[dict]:
    """The model's in-process reviews/s at batch sizes 1, 8, 32 and 64 (``limit.py``, in a
    process of its own, alone on the machine), XLA and plain graph."""
    reviews = REPO / "build" / "bench" / "reviews.json"
    reviews.write_text(json.dumps(texts))
    command = [
        sys.executable,
        str(Path(__file__).with_name("limit.py")),
        "--model",
        str(model_path),
        "--reviews",
        str(reviews),
        "--seconds",
        str(seconds),
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    for row in rows:
        if "skipped" in row:
            log(f"  limit, {row['graph']}: skipped ({row['skipped']})")
        else:
            log(
                f"  limit, {row['graph']:<11} batch {row['batch_size']:>2}: "
                f"{row['reviews_per_s']:7.1f} reviews/s, {row['ms_per_call']:6.2f} ms per call, "
                f"{row['cores_busy']:.2f} cores busy"
            )
    return rows


def table(rows: list[dict], limit: float) -> str:
    lines = [
        f"| {'server':<40} | clients | req/s | of limit | p50 ms | p99 ms | errors | load avg  |",
        f"| {'-' * 40} | ------: | ----: | -------: | -----: | -----: | -----: | --------- |",
    ]
    for r in rows:
        load_average = "{:.1f}-{:.1f}".format(*r["load_average_1min"])
        share = f"{100 * r['requests_per_s'] / limit:.0f} %" if limit else "-"
        lines.append(
            f"| {r['server']:<40} | {r['clients']:>7} | {r['requests_per_s']:>5.0f} | "
            f"{share:>8} | {r['p50_ms']:>6.1f} | {r['p99_ms']:>6.1f} | {r['errors']:>6} | "
            f"{load_average:<9} |"
        )
    return "\n".join(lines)


def plot(open_rows: list[dict], limit: float, path: Path, title: str) -> None:
    """Two panels, one line per server: requests/s answered and p99 latency (from the scheduled
    send time), both against the offered arrival rate of the open-loop steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(1, 2, figsize=(12, 4.8))
    servers = list(dict.fromkeys(r["server"] for r in open_rows))
    highest = max(r["offered_per_s"] for r in open_rows)
    for server in servers:
        rows = [r for r in open_rows if r["server"] == server]
        offered = [r["offered_per_s"] for r in rows]
        top.plot(offered, [r["requests_per_s"] for r in rows], "o-", label=server)
        bottom.plot(offered, [r["p99_ms"] for r in rows], "o-", label=server)
    top.plot([1, highest], [1, highest], ":", color="grey", label="answered = offered")
    if limit:
        top.axhline(limit, ls="--", color="black", label=f"model limit in-process ({limit:.0f}/s)")
    bottom.axhline(100, ls="--", color="red", label="100 ms")
    for axis in (top, bottom):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("offered load (requests/s, open loop)")
        axis.grid(True, which="both", alpha=0.3)
    top.set_ylabel("answered (requests/s)")
    top.set_title("Throughput against offered load")
    bottom.set_ylabel("p99 latency from scheduled send (ms)")
    bottom.set_title("p99 latency against offered load")
    top.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


OPEN_LOOP_RATES = "10,25,50,100,200,300,400,500,600,700,800,900,1000,1100,1200,1400,1600,2000"
PEERS = ("Flask", "FastAPI", "Ray Serve")
LABKIT = "labkit.serving (KServe + micro-batching)"


def goal(closed: list[dict], levels: list[int], limit: float) -> dict:
    """The goal for labkit.serving: more requests/s than every peer at every closed-loop level,
    p99 under 100 ms at the highest, and at least 80 % of the model's best in-process rate."""
    ours = {r["clients"]: r for r in closed if r["server"] == LABKIT}
    per_level = {}
    for clients in levels:
        peers = {
            r["server"]: r["requests_per_s"]
            for r in closed
            if r["clients"] == clients and r["server"].startswith(PEERS)
        }
        best_peer = max(peers, key=peers.get) if peers else None
        per_level[str(clients)] = {
            "labkit_requests_per_s": round(ours[clients]["requests_per_s"], 1),
            "best_peer": best_peer,
            "best_peer_requests_per_s": round(peers[best_peer], 1) if best_peer else None,
            # None: no peer was measured at this level (--only), so nothing to be ahead of
            "ahead": ours[clients]["requests_per_s"] > peers[best_peer] if best_peer else None,
        }
    top = max(levels)
    best = max(r["requests_per_s"] for r in ours.values())
    share = best / limit if limit else float("nan")
    result = {
        "per_clients": per_level,
        "p99_ms_at_top": round(ours[top]["p99_ms"], 1),
        "p99_goal_ms": 100.0,
        "share_of_limit": round(share, 3),
        "share_goal": 0.8,
    }
    result["met"] = (
        all(v["ahead"] is True for v in per_level.values())
        and ours[top]["p99_ms"] < 100.0
        and share >= 0.8
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per level")
    parser.add_argument("--clients", default="1,8,32", help="closed-loop concurrency levels")
    parser.add_argument("--rates", default=OPEN_LOOP_RATES, help="open-loop arrival rates (/s)")
    parser.add_argument("--open-seconds", type=float, default=5.0, help="time per open step")
    parser.add_argument("--limit-seconds", type=float, default=4.0, help="time per batch size")
    parser.add_argument("--model", type=Path, help="a .keras text model (default: see above)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated server keys: flask,fastapi,ray,labkit,"
        "labkit-no-batching (default: all)",
    )
    parser.add_argument(
        "--server-args", default="", help="extra flags for python -m labkit.serving"
    )
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.clients.split(",")]
    rates = [float(r) for r in args.rates.split(",")]
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk): it is the closed-loop client")

    texts, labels, text_source = load_reviews(2000)
    model_path, model_source = choose_model(args.model, texts, labels, text_source)
    model_info = {"source": model_source, **describe_model(model_path)}
    log(f"model: {model_info['path']} ({model_source}), {model_info['parameters']:,} parameters")
    rng = random.Random(1)
    sample = rng.sample(texts, min(1000, len(texts)))
    bodies = [json.dumps({"instances": [text]}).encode() for text in sample]
    mean_bytes = sum(map(len, bodies)) / len(bodies)
    log(f"requests: one review each from {text_source}, {mean_bytes:.0f} bytes on average")

    from labkit.serving import free_port

    logs = REPO / "build" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    log("the model's own limit, in-process (no HTTP):")
    limit_rows = measure_limit(model_path, sample, args.limit_seconds)
    limit = max((r["reviews_per_s"] for r in limit_rows if "reviews_per_s" in r), default=0.0)

    here = Path(__file__).parent
    labkit_command = [
        sys.executable,
        "-m",
        "labkit.serving",
        "--model",
        str(model_path),
        "--name",
        "sentiment",
        "--no-access-log",
        *args.server_args.split(),
    ]
    servers = [
        (
            "flask",
            "Flask + model.predict (the book's recipe)",
            [sys.executable, str(here / "flask_app.py"), "--model", str(model_path)],
            "/health",
            "/predict",
        ),
        (
            "fastapi",
            "FastAPI + uvicorn, compiled model",
            [sys.executable, str(here / "fastapi_app.py"), "--model", str(model_path)],
            "/health",
            "/predict",
        ),
        ("ray", "Ray Serve + @serve.batch", None, "/health", "/predict"),
        ("labkit", LABKIT, labkit_command, "/v1/models/sentiment", "/v1/models/sentiment:predict"),
        (
            "labkit-no-batching",
            "labkit.serving, batching off",
            [*labkit_command, "--max-batch-size", "1"],
            "/v1/models/sentiment",
            "/v1/models/sentiment:predict",
        ),
    ]
    only = {k for k in args.only.split(",") if k}
    skipped = {}
    closed, opened = [], []
    for key, label, command, ready_path, predict_path in servers:
        if only and key not in only:
            continue
        if key == "ray":
            python, note = ray_python()
            if python is None:
                log(f"{label}: skipped ({note})")
                skipped[label] = note
                continue
            command = [str(python), str(here / "ray_app.py"), "--model", str(model_path)]
        port = free_port()
        server = {
            "label": label,
            "command": [*command, "--port", str(port)],
            "port": port,
            "ready_path": ready_path,
            "predict_path": predict_path,
        }
        rows_closed, rows_open = measure_server(
            server,
            bodies,
            levels,
            args.seconds,
            rates,
            args.open_seconds,
            logs / f"{key}.log",
        )
        closed += rows_closed
        opened += rows_open
    print()
    print(table(closed, limit))
    result = {
        "benchmark": "the sentiment model served by labkit.serving and by its peers, one "
        "review per request; closed loop (wrk) and open loop (fixed arrival rates)",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "note": "load generator and server share the machine's cores; the 1-minute load "
            "average before/after each level shows what else ran",
        },
        "model": model_info,
        "requests": {"source": text_source, "mean_bytes": round(mean_bytes)},
        "seconds_per_level": args.seconds,
        "open_loop_seconds_per_step": args.open_seconds,
        "limit": {"best_reviews_per_s": round(limit, 1), "rows": limit_rows},
        "skipped": skipped,
        "closed_loop": closed,
        "open_loop": opened,
    }
    if any(r["server"] == LABKIT for r in closed):
        result["goal"] = g = goal(closed, levels, limit)
        for clients, v in g["per_clients"].items():
            if v["best_peer"] is None:
                print(
                    f"{clients:>3} clients: labkit {v['labkit_requests_per_s']:.0f} req/s, "
                    "no peer measured"
                )
                continue
            print(
                f"{clients:>3} clients: labkit {v['labkit_requests_per_s']:.0f} req/s, best peer "
                f"{v['best_peer']} {v['best_peer_requests_per_s']} req/s: "
                f"{'ahead' if v['ahead'] else 'BEHIND'}"
            )
        print(
            f"p99 at {max(levels)} clients {g['p99_ms_at_top']:.0f} ms (goal < 100 ms); best "
            f"{100 * g['share_of_limit']:.0f} % of the in-process limit {limit:.0f}/s (goal 80 "
            f"%); the goals together: {'MET' if g['met'] else 'NOT MET'}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    if opened:
        png = args.out.with_suffix(".png")
        plot(
            opened,
            limit,
            png,
            f"{model_info['name']} ({model_source.split(':')[0]}), "
            f"{os.cpu_count()} CPU cores, one review per request",
        )
        print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
