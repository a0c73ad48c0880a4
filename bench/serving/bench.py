"""Benchmark labkit.serving against the book's Flask + ``model.predict`` server.

Both servers serve the same sentiment model on 127.0.0.1, one after the other; a load generator
(threads with keep-alive ``http.client`` connections, one review per request) keeps 1, 8 and 32
requests in flight for a fixed time and records requests/s and the latency percentiles. Prints a
table and writes ``bench/results/serving.json``. Run it with ``make bench``.

The model: lesson 08's export ``build/models/sentiment_lstm.keras`` when it exists; otherwise a
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
import subprocess
import sys
import threading
import time
from pathlib import Path

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
    """Lesson 08's LSTM architecture, trained for one short epoch; notes how beside the model."""
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


def load_test(port: int, path: str, bodies: list[bytes], clients: int, seconds: float) -> dict:
    """Keep ``clients`` requests in flight for ``seconds`` (after a 2 s warm-up); summarise."""
    warm_until = time.perf_counter() + 2.0
    stop_at = warm_until + seconds
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    statuses: dict[int, int] = {}

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        i = k * 7919
        headers = {"Content-Type": "application/json"}
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                break
            body = bodies[i % len(bodies)]
            i += 1
            try:
                conn.request("POST", path, body, headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
                if not ok:
                    statuses[response.status] = statuses.get(response.status, 0) + 1
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=60)
            t1 = time.perf_counter()
            if t0 >= warm_until and t1 <= stop_at:
                if ok:
                    latencies[k].append(t1 - t0)
                else:
                    errors[k] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    all_ms = sorted(x * 1000 for per_client in latencies for x in per_client)

    def percentile(q: float) -> float:
        return all_ms[min(len(all_ms) - 1, int(q / 100 * len(all_ms)))] if all_ms else float("nan")

    return {
        "clients": clients,
        "seconds": seconds,
        "requests": len(all_ms),
        "errors": sum(errors),
        "error_statuses": statuses,
        "requests_per_s": len(all_ms) / seconds,
        "p50_ms": percentile(50),
        "p90_ms": percentile(90),
        "p99_ms": percentile(99),
        "max_ms": all_ms[-1] if all_ms else float("nan"),
    }


def measure_server(
    label: str,
    command: list[str],
    port: int,
    ready_path: str,
    predict_path: str,
    bodies: list[bytes],
    levels: list[int],
    seconds: float,
    log_path: Path,
) -> list[dict]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    with open(log_path, "wb") as server_log:
        process = subprocess.Popen(command, stdout=server_log, stderr=subprocess.STDOUT, env=env)
    try:
        start = time.perf_counter()
        wait_until(ready_path, port, process)
        log(f"{label}: ready in {time.perf_counter() - start:.1f} s (log: {log_path})")
        rows = []
        for clients in levels:
            before = os.getloadavg()[0]
            row = {"server": label, **load_test(port, predict_path, bodies, clients, seconds)}
            row["load_average_1min"] = [round(before, 2), round(os.getloadavg()[0], 2)]
            row["command"] = " ".join(Path(c).name if os.sep in c else c for c in command)
            log(
                f"  {clients:>3} clients: {row['requests_per_s']:8.1f} req/s, "
                f"p50 {row['p50_ms']:7.1f} ms, p99 {row['p99_ms']:7.1f} ms, "
                f"{row['errors']} errors"
            )
            rows.append(row)
        return rows
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """Stop a server: SIGTERM, then SIGKILL after 15 s."""
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()


def choose_model(model: Path | None, texts: list[str], labels: list[int], source: str):
    """The model to serve, and where it comes from: ``model`` when given, else lesson 08's
    export, else the stand-in (trained now if it is not in build/bench/ yet)."""
    if model:
        return model, "given with --model"
    if LESSON_MODEL.is_file():
        return LESSON_MODEL, "lesson 08 export"
    if not STAND_IN_MODEL.is_file():
        log(f"{LESSON_MODEL.relative_to(REPO)} not found: training a stand-in model")
        train_stand_in(STAND_IN_MODEL, texts, labels, source)
    return STAND_IN_MODEL, (
        "stand-in: lesson 08's architecture trained briefly by the benchmark "
        "(build/models/sentiment_lstm.keras not found; run lesson 08 to bench the real one)"
    )


def table(rows: list[dict]) -> str:
    lines = [
        f"| {'server':<40} | clients | req/s | p50 ms | p99 ms | errors | load avg  |",
        f"| {'-' * 40} | ------: | ----: | -----: | -----: | -----: | --------- |",
    ]
    for r in rows:
        load = "{:.1f}-{:.1f}".format(*r["load_average_1min"])
        lines.append(
            f"| {r['server']:<40} | {r['clients']:>7} | {r['requests_per_s']:>5.0f} | "
            f"{r['p50_ms']:>6.1f} | {r['p99_ms']:>6.1f} | {r['errors']:>6} | {load:<9} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per level")
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels")
    parser.add_argument("--model", type=Path, help="a .keras text model (default: see above)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--skip-baseline", action="store_true", help="measure labkit.serving only")
    parser.add_argument(
        "--skip-batching-off", action="store_true", help="skip labkit with --max-batch-size 1"
    )
    parser.add_argument(
        "--server-args", default="", help="extra flags for python -m labkit.serving"
    )
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.clients.split(",")]

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
    rows = []
    if not args.skip_baseline:
        port = free_port()
        rows += measure_server(
            "Flask + model.predict (baseline)",
            [
                sys.executable,
                str(Path(__file__).with_name("flask_app.py")),
                "--model",
                str(model_path),
                "--port",
                str(port),
            ],
            port,
            "/health",
            "/predict",
            bodies,
            levels,
            args.seconds,
            logs / "flask.log",
        )
    configurations = [
        ("labkit.serving (KServe + micro-batching)", "labkit_serving", ["--no-access-log"]),
        (
            "labkit.serving, batching off",
            "labkit_serving_no_batching",
            ["--no-access-log", "--max-batch-size", "1"],
        ),
    ]
    if args.skip_batching_off:
        configurations = configurations[:1]
    for label, log_name, flags in configurations:
        port = free_port()
        command = [sys.executable, "-m", "labkit.serving", "--model", str(model_path)]
        command += ["--name", "sentiment", "--port", str(port), *flags, *args.server_args.split()]
        rows += measure_server(
            label,
            command,
            port,
            "/v1/models/sentiment",
            "/v1/models/sentiment:predict",
            bodies,
            levels,
            args.seconds,
            logs / f"{log_name}.log",
        )
    print()
    print(table(rows))
    result = {
        "benchmark": "labkit.serving vs Flask + model.predict, one review per request",
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
        "results": rows,
    }
    if not args.skip_baseline and max(levels) in levels:
        top = max(levels)
        base = next(r for r in rows if r["clients"] == top and "Flask" in r["server"])
        ours = next(r for r in rows if r["clients"] == top and "batching)" in r["server"])
        speedup = ours["requests_per_s"] / max(base["requests_per_s"], 1e-9)
        result["goal"] = {
            "clients": top,
            "speedup": round(speedup, 2),
            "speedup_goal": 5.0,
            "p99_ms": round(ours["p99_ms"], 1),
            "p99_goal_ms": 100.0,
            "met": speedup >= 5.0 and ours["p99_ms"] < 100.0,
        }
        print(
            f"\nat {top} clients: {speedup:.1f}x the baseline's throughput (goal 5x), "
            f"p99 {ours['p99_ms']:.0f} ms (goal < 100 ms): "
            f"{'MET' if result['goal']['met'] else 'NOT MET'}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
