"""Soak test of labkit.serving: 32 clients for 5 minutes, per minute, with the server's memory.

Serves the same model as ``bench.py`` (lesson 09's export, else its stand-in) with
``python -m labkit.serving --no-access-log`` and holds ``--clients`` closed-loop clients
(keep-alive ``http.client`` connections, one review per request) for ``--minutes``. A share of
the requests (``--bad-share``, default 2%) are bad ones the server must refuse with a 4xx (too
many instances, a negative v2 shape, malformed JSON), so that the error path is soaked too.
Every 5 s the server's memory is read from ``/proc/<pid>/smaps_rollup`` (RSS and PSS: shared
pages counted once, what a container's limit counts).

Reports, per minute: requests/s, p50/p99 latency, errors (a valid request that did not get 200
with a correct-looking answer, or a bad one that did not get its 4xx) and the server's memory at
the minute's end; then the memory at start (after a 10 s warm-up) and at the end. The goals:
zero errors and flat memory (end within 5% of start). Prints a table and writes
``bench/results/soak.json``. Run it with ``make bench-soak`` (5 minutes; ``--minutes 1`` for a
short run).
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import bench  # bench/serving/bench.py: the model, the reviews, waiting for readiness

RESULTS = bench.REPO / "bench" / "results" / "soak.json"
WARM_UP_S = 10.0
SAMPLE_EVERY_S = 5.0

BAD_REQUESTS = [  # (path, body, expected status)
    ("/v1/models/sentiment:predict", json.dumps({"instances": ["a"] * 2000}).encode(), 413),
    (
        "/v2/models/sentiment/infer",
        json.dumps(
            {"inputs": [{"name": "review", "shape": [-1], "datatype": "BYTES", "data": ["a"]}]}
        ).encode(),
        400,
    ),
    ("/v1/models/sentiment:predict", b'{"instances": ["unterminated', 400),
]


def memory_mib(pid: int) -> dict[str, float]:
    """RSS and PSS of a process in MiB (Linux ``/proc/<pid>/smaps_rollup``)."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss"):
            values[key.lower() + "_mib"] = round(int(rest.split()[0]) / 1024, 1)
    return values


def percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, int(q / 100 * len(sorted_ms)))]


def soak(port: int, pid: int, bodies: list[bytes], clients: int, minutes: float, bad_share: float):
    """Run the load; return (per-request records, memory samples)."""
    start = time.perf_counter() + WARM_UP_S
    stop_at = start + minutes * 60
    records: list[list[tuple[float, float, bool]]] = [[] for _ in range(clients)]
    samples: list[dict] = []
    path = "/v1/models/sentiment:predict"
    headers = {"Content-Type": "application/json"}

    def client(k: int) -> None:
        rng = random.Random(k)
        conn = http.client.HTTPConnection(bench.HOST, port, timeout=60)
        i = k * 7919
        while (t0 := time.perf_counter()) < stop_at:
            if rng.random() < bad_share:
                where, body, expected = BAD_REQUESTS[i % len(BAD_REQUESTS)]
            else:
                where, body, expected = path, bodies[i % len(bodies)], 200
            i += 1
            try:
                conn.request("POST", where, body, headers)
                response = conn.getresponse()
                answer = response.read()
                ok = response.status == expected
                if ok and expected == 200:
                    ok = b'"probabilities"' in answer
                elif ok:
                    ok = b'"id"' in answer and b"Traceback" not in answer
                if response.status >= 400:  # refused requests close the connection
                    conn.close()
                    conn = http.client.HTTPConnection(bench.HOST, port, timeout=60)
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection(bench.HOST, port, timeout=60)
            t1 = time.perf_counter()
            if t0 >= start:
                records[k].append((t0 - start, t1 - t0, ok))
        conn.close()

    def monitor() -> None:
        while (now := time.perf_counter()) < stop_at + 1:
            if now >= start - 1:
                samples.append({"t_s": round(max(0.0, now - start), 1), **memory_mib(pid)})
            time.sleep(SAMPLE_EVERY_S)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    threads.append(threading.Thread(target=monitor))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r for per_client in records for r in per_client], samples


def per_minute(records, samples, minutes: float) -> list[dict]:
    rows = []
    total = minutes * 60.0
    for m in range(math.ceil(minutes)):  # the last row may be a part of a minute
        lo, hi = m * 60.0, min((m + 1) * 60.0, total)
        window = [r for r in records if lo <= r[0] < hi]
        latencies = sorted(r[1] * 1000 for r in window if r[2])
        memory = [s for s in samples if s["t_s"] <= hi]
        rows.append(
            {
                "minute": m + 1,
                "requests": len(window),
                "requests_per_s": round(len(window) / (hi - lo), 1),
                "p50_ms": round(percentile(latencies, 50), 1),
                "p99_ms": round(percentile(latencies, 99), 1),
                "errors": sum(1 for r in window if not r[2]),
                **({k: v for k, v in memory[-1].items() if k != "t_s"} if memory else {}),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--bad-share", type=float, default=0.02, help="share of bad requests")
    parser.add_argument("--model", type=Path, help="a .keras text model (default: bench.py's)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    texts, labels, text_source = bench.load_reviews(2000)
    model_path, model_source = bench.choose_model(args.model, texts, labels, text_source)
    model_info = {"source": model_source, **bench.describe_model(model_path)}
    sample = random.Random(1).sample(texts, min(1000, len(texts)))
    bodies = [json.dumps({"instances": [text]}).encode() for text in sample]

    from labkit.serving import free_port

    port = free_port()
    command = [sys.executable, "-m", "labkit.serving", "--model", str(model_path)]
    command += ["--name", "sentiment", "--port", str(port), "--no-access-log"]
    log_path = bench.REPO / "build" / "bench" / "soak_server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    with open(log_path, "wb") as server_log:
        process = subprocess.Popen(command, stdout=server_log, stderr=subprocess.STDOUT, env=env)
    try:
        bench.wait_until("/v1/models/sentiment", port, process)
        bench.log(
            f"model {model_info['path']} ({model_source}); {args.clients} clients for "
            f"{args.minutes:g} min after {WARM_UP_S:.0f} s of warm-up, {args.bad_share:.0%} bad "
            f"requests; server log {log_path}"
        )
        records, samples = soak(
            port, process.pid, bodies, args.clients, args.minutes, args.bad_share
        )
        restarted = process.poll() is not None
    finally:
        bench.stop(process)
    rows = per_minute(records, samples, args.minutes)
    start_memory = next(s for s in samples if s["t_s"] >= 0)
    end_memory = samples[-1]
    growth = (end_memory["pss_mib"] - start_memory["pss_mib"]) / start_memory["pss_mib"]
    errors = sum(1 for r in records if not r[2])
    print()
    print("| minute | req/s | p50 ms | p99 ms | errors | server RSS MiB | server PSS MiB |")
    print("| -----: | ----: | -----: | -----: | -----: | -------------: | -------------: |")
    for r in rows:
        print(
            f"| {r['minute']:>6} | {r['requests_per_s']:>5.0f} | {r['p50_ms']:>6.1f} | "
            f"{r['p99_ms']:>6.1f} | {r['errors']:>6} | {r.get('rss_mib', 0):>14.0f} | "
            f"{r.get('pss_mib', 0):>14.0f} |"
        )
    met = errors == 0 and abs(growth) <= 0.05 and not restarted
    print(
        f"\nmemory (PSS): {start_memory['pss_mib']:.0f} MiB at start, {end_memory['pss_mib']:.0f}"
        f" MiB at the end ({growth:+.1%}); {errors} errors in {len(records):,} requests; "
        f"goal (zero errors, memory within 5%): {'MET' if met else 'NOT MET'}"
    )
    result = {
        "benchmark": "labkit.serving soak: closed-loop clients, per minute",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "model": model_info,
        "requests": {"source": text_source, "bad_share": args.bad_share},
        "clients": args.clients,
        "minutes": args.minutes,
        "per_minute": rows,
        "memory": {"start": start_memory, "end": end_memory, "pss_growth": round(growth, 4)},
        "memory_samples": samples,
        "errors": errors,
        "requests_total": len(records),
        "server_exited": restarted,
        "goal": {"errors": 0, "memory_growth_at_most": 0.05, "met": met},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
