"""The model's own limit: reviews per second computed in-process, no HTTP, for the benchmark.

Loads the model the way ``python -m labkit.serving`` does (:class:`labkit.serving.KerasModel`:
one ``tf.function``, XLA-compiled after the TextVectorization layer, batches padded to a power
of two) and, for comparison, as a plain graph (``jit=False``); then calls each back to back at
batch sizes 1, 8, 32 and 64 for a fixed time, one thread, and prints one JSON line per (graph,
batch size): reviews/s and milliseconds per call. ``bench/serving/bench.py`` runs it in a process
of its own, alone on the machine, before the servers; served requests/s divided by the best of
these is the serving layer's efficiency.

    python bench/serving/limit.py --model build/models/sentiment_lstm.keras --reviews r.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def measure(call, reviews: list[str], batch_size: int, seconds: float) -> dict:
    """Call ``call`` on batches of ``batch_size`` reviews (cycling through ``reviews``) for
    ``seconds`` after a 1 s warm-up; reviews/s, ms per call (mean and 99th percentile) and the
    CPU cores the process kept busy meanwhile (CPU time / wall time)."""
    batches = [
        np.array([[r] for r in reviews[i : i + batch_size]], dtype=object)
        for i in range(0, len(reviews) - batch_size + 1, batch_size)
    ]
    warm_until = time.perf_counter() + 1.0
    while time.perf_counter() < warm_until:
        call(batches[0])
    times = []
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    stop_at = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < stop_at:
        t0 = time.perf_counter()
        call(batches[i % len(batches)])
        times.append(time.perf_counter() - t0)
        i += 1
    cores = (time.process_time() - cpu_start) / (time.perf_counter() - wall_start)
    total = sum(times)
    ordered = sorted(times)
    return {
        "batch_size": batch_size,
        "calls": len(times),
        "reviews_per_s": len(times) * batch_size / total,
        "ms_per_call": 1000 * total / len(times),
        "p99_ms_per_call": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "cores_busy": round(cores, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--reviews", required=True, help="a JSON list of review texts")
    parser.add_argument("--batch-sizes", default="1,8,32,64")
    parser.add_argument("--seconds", type=float, default=4.0, help="measured time per size")
    args = parser.parse_args(argv)
    from labkit.serving.model import KerasModel

    reviews = json.loads(open(args.reviews, encoding="utf-8").read())
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    for graph, jit in (("xla", True), ("plain graph", False)):
        model = KerasModel("limit", args.model, max_batch_size=max(sizes), jit=jit)
        model.load()
        if jit and not str(model.xla).startswith("on"):
            print(json.dumps({"graph": graph, "skipped": model.xla}), flush=True)
            continue
        for size in sizes:
            row = {"graph": graph, **measure(model._fn, reviews, size, args.seconds)}
            print(json.dumps(row), flush=True)
        del model
    return 0


if __name__ == "__main__":
    sys.exit(main())
