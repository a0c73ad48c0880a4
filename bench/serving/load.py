"""Load generators for the serving benchmark: closed loop with wrk, open loop of our own.

*Closed loop* (:func:`closed_loop`): ``wrk`` (Debian package ``wrk``) keeps ``clients``
keep-alive connections busy, each sending its next request as soon as the previous answer
arrives, and reports requests/s and latency percentiles. A closed loop slows down with the
server, so the latency it reports hides the waiting a real arrival stream would see
(coordinated omission; Gil Tene, "How NOT to measure latency", 2015).

*Open loop* (:func:`open_loop`): requests are scheduled at a fixed arrival rate (request ``i`` at
``start + i / rate``) whether or not earlier ones have been answered, and each latency is
measured from its scheduled send time, so a server that falls behind shows it in the
percentiles. No open-loop tool (wrk2, vegeta, oha, k6) is in the package mirrors this project
installs from, so this one is a small asyncio client: HTTP/1.1 keep-alive connections taken from a
pool (a new one opened when all are busy, up to ``max_connections``), one request each at a time.
It is tested against a local server in ``tests/test_bench_load.py``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

LUA_SCRIPT = Path(__file__).with_name("wrk_requests.lua")


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of an ascending list, nearest rank; NaN when empty."""
    if not sorted_values:
        return float("nan")
    rank = min(len(sorted_values) - 1, max(0, int(round(q / 100 * len(sorted_values))) - 1))
    return sorted_values[rank]


def parse_wrk(stdout: str) -> dict:
    """The summary line ``WRK_JSON {...}`` that ``wrk_requests.lua`` prints, as the benchmark's
    row: requests/s, latency percentiles in ms, errors. Raises ValueError when it is missing."""
    for line in stdout.splitlines():
        if line.startswith("WRK_JSON "):
            summary = json.loads(line[len("WRK_JSON ") :])
            break
    else:
        raise ValueError(f"no WRK_JSON line in wrk's output:\n{stdout[-2000:]}")
    seconds = summary["duration_us"] / 1e6
    errors = summary["errors"]
    latency = summary["latency_us"]
    return {
        "seconds": round(seconds, 2),
        "requests": summary["requests"],
        "errors": sum(errors.values()),
        "error_kinds": {k: v for k, v in errors.items() if v},
        "requests_per_s": (summary["requests"] - errors["status"]) / seconds,
        "p50_ms": latency["p50"] / 1000,
        "p90_ms": latency["p90"] / 1000,
        "p99_ms": latency["p99"] / 1000,
        "max_ms": latency["max"] / 1000,
    }


def closed_loop(
    url: str,
    bodies: list[bytes],
    clients: int,
    seconds: float,
    warmup: float = 2.0,
    server_cpu_seconds: Callable[[], float] | None = None,
) -> dict:
    """``clients`` connections in a closed loop for ``seconds`` after a discarded ``warmup`` run,
    measured by wrk. ``url`` is the predict URL; ``bodies`` the JSON bodies sent in turn (one
    line each, no newlines inside). With ``server_cpu_seconds`` (the server's CPU seconds so
    far), called before and after the measured run, the row also gives the server's CPU
    milliseconds per answered request. Raises FileNotFoundError when wrk is not installed."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise FileNotFoundError("wrk is not installed: apt-get install wrk")
    with tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False) as handle:
        handle.write(b"\n".join(bodies) + b"\n")
    try:
        threads = min(clients, 2)
        rows = []
        cpu = []
        for run, duration in enumerate((warmup, seconds)):
            if run == 1 and server_cpu_seconds is not None:
                cpu.append(server_cpu_seconds())
            command = [
                wrk,
                f"-t{threads}",
                f"-c{clients}",
                f"-d{max(1, round(duration))}s",
                "--timeout",
                "30s",
                "-s",
                str(LUA_SCRIPT),
                url,
                "--",
                handle.name,
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            rows.append(parse_wrk(done.stdout))
        row = {"clients": clients, "generator": f"wrk -t{threads} -c{clients}", **rows[-1]}
        if cpu:
            answered = max(1.0, row["requests_per_s"] * row["seconds"])
            row["server_cpu_ms_per_request"] = round(
                1000 * (server_cpu_seconds() - cpu[0]) / answered, 3
            )
        return row
    finally:
        Path(handle.name).unlink()


async def _read_response(reader: asyncio.StreamReader) -> int:
    """One HTTP/1.1 response with a Content-Length; returns its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length is None:
        raise ValueError("response without Content-Length")
    await reader.readexactly(length)
    return status


async def _open_loop(
    host: str,
    port: int,
    path: str,
    bodies: list[bytes],
    rate: float,
    seconds: float,
    max_connections: int,
    drain: float,
) -> dict:
    loop = asyncio.get_running_loop()
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    slots = asyncio.Semaphore(max_connections)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    failures = 0
    opened = 0
    heads = [
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
        for body in bodies
    ]

    async def send(request: bytes, scheduled: float) -> None:
        nonlocal failures, opened
        async with slots:
            if idle:
                reader, writer = idle.pop()
            else:
                try:
                    reader, writer = await asyncio.open_connection(host, port)
                except OSError:
                    failures += 1
                    return
                opened += 1
            try:
                writer.write(request)
                status = await _read_response(reader)
            except (OSError, ValueError, asyncio.IncompleteReadError):
                failures += 1
                writer.close()
                return
            if status == 200:
                latencies.append(loop.time() - scheduled)
            else:
                statuses[status] = statuses.get(status, 0) + 1
            idle.append((reader, writer))

    count = max(1, int(rate * seconds))
    start = loop.time() + 0.05
    tasks = []
    for i in range(count):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(heads[i % len(heads)], scheduled)))
    _, pending = await asyncio.wait(tasks, timeout=drain)
    for task in pending:
        task.cancel()
    finished = loop.time()
    for _, writer in idle:
        writer.close()
    ordered = sorted(x * 1000 for x in latencies)
    return {
        "offered_per_s": rate,
        "seconds": seconds,
        "scheduled": count,
        "answered": len(ordered),
        "unanswered": len(pending),
        "errors": failures + sum(statuses.values()),
        "error_statuses": statuses,
        "connections": opened,
        "requests_per_s": len(ordered) / max(finished - start, seconds),
        "p50_ms": percentile(ordered, 50),
        "p90_ms": percentile(ordered, 90),
        "p99_ms": percentile(ordered, 99),
        "max_ms": ordered[-1] if ordered else float("nan"),
    }


def open_loop(
    url_host: str,
    port: int,
    path: str,
    bodies: list[bytes],
    rate: float,
    seconds: float,
    max_connections: int = 512,
    drain: float = 10.0,
) -> dict:
    """Send ``rate * seconds`` POST requests at ``rate`` per second, each at its scheduled time
    whether or not earlier ones were answered, and summarise them: requests/s answered (200s
    over the time from the first scheduled send to the last answer), latency percentiles in ms
    *from the scheduled send time*, errors (refused connections, non-200 answers) and requests
    still unanswered ``drain`` s after the last was scheduled (left out of the percentiles and
    counted in ``unanswered``). At most ``max_connections`` requests are in flight; one that
    waits for a connection waits on the clock, as a real arrival would."""
    start = time.perf_counter()
    row = asyncio.run(
        _open_loop(url_host, port, path, bodies, rate, seconds, max_connections, drain)
    )
    row["wall_s"] = round(time.perf_counter() - start, 2)
    return row


def saturated(row: dict) -> bool:
    """An open-loop step the server could not keep up with: under 90 % of the offered rate
    answered, anything unanswered, or a p99 over one second."""
    return (
        row["unanswered"] > 0
        or row["requests_per_s"] < 0.9 * row["offered_per_s"]
        or not row["p99_ms"] < 1000
    )
