"""The serving benchmark's load generators (bench/serving/load.py) against a local server.

The open-loop client must keep its schedule when the server falls behind and measure latency
from the scheduled send time (so a slow server shows in the percentiles, which a closed loop
hides); wrk's summary must be parsed into the benchmark's row. wrk is skipped where it is not
installed, except under ``CI=true``, where .ci/run installs it and its absence fails.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def load_module():
    path = REPO / "bench" / "serving" / "load.py"
    spec = importlib.util.spec_from_file_location("bench_load", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


load = load_module()


def serve(service_seconds: float, threaded: bool):
    """A JSON predict server on a free port that takes ``service_seconds`` per request, one
    request at a time (a single worker) unless ``threaded``; returns (server, bodies received)."""
    received: list[dict] = []
    one_at_a_time = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the load generators use

        def setup(self):
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append(body)
            if threaded:
                time.sleep(service_seconds)
            else:
                with one_at_a_time:
                    time.sleep(service_seconds)
            answer = json.dumps({"predictions": [0.5]}).encode()
            self.send_response(200 if body["instances"] != ["bad"] else 400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


BODIES = [json.dumps({"instances": [f"review {i}"]}).encode() for i in range(5)]


def test_open_loop_sends_every_scheduled_request_and_keeps_up_with_a_fast_server():
    server, received = serve(0.0, threaded=True)
    try:
        row = load.open_loop("127.0.0.1", server.server_port, "/predict", BODIES, 200, 1.0)
    finally:
        server.shutdown()
    assert row["scheduled"] == 200 and row["answered"] == 200 and row["errors"] == 0
    assert len(received) == 200
    assert {b["instances"][0] for b in received} == {f"review {i}" for i in range(5)}
    assert 150 <= row["requests_per_s"] <= 210
    assert 0 < row["p50_ms"] <= row["p99_ms"] < 200
    assert not load.saturated(row)


def test_open_loop_measures_from_the_schedule_so_a_server_that_falls_behind_shows_it():
    # One request at a time, 20 ms each: at most 50/s. Offered 100/s for 1 s, the queue grows
    # by about 50 requests a second, so the last ones wait about a second on the clock, while
    # each one's own service time stays 20 ms (what a closed loop would report).
    server, _ = serve(0.02, threaded=False)
    try:
        row = load.open_loop(
            "127.0.0.1", server.server_port, "/predict", BODIES, 100, 1.0, drain=10
        )
    finally:
        server.shutdown()
    assert row["answered"] == 100 and row["unanswered"] == 0
    assert row["requests_per_s"] < 60
    assert row["p99_ms"] > 600 and row["p50_ms"] > 100
    assert load.saturated(row)


def test_open_loop_counts_refused_and_non_200_answers_as_errors():
    server, _ = serve(0.0, threaded=True)
    port = server.server_port
    bad = [json.dumps({"instances": ["bad"]}).encode()]
    try:
        row = load.open_loop("127.0.0.1", port, "/predict", bad, 50, 0.2)
    finally:
        server.shutdown()
        server.server_close()
    assert row["answered"] == 0 and row["errors"] == row["scheduled"] == 10
    assert row["error_statuses"] == {400: 10}
    refused = load.open_loop("127.0.0.1", port, "/predict", BODIES, 50, 0.2)
    assert refused["answered"] == 0 and refused["errors"] == 10


def test_parse_wrk_reads_the_summary_line_and_refuses_output_without_one():
    line = (
        'WRK_JSON {"duration_us": 2000000, "requests": 1000, "bytes": 5, "errors": {"connect": 0,'
        ' "read": 0, "write": 0, "status": 10, "timeout": 2}, "latency_us": {"p50": 1500,'
        ' "p90": 3000, "p99": 9000, "max": 12000, "mean": 1800.0}}'
    )
    row = load.parse_wrk("Running 2s test\n" + line + "\n")
    assert row["requests_per_s"] == pytest.approx(495.0)
    assert row["errors"] == 12 and row["error_kinds"] == {"status": 10, "timeout": 2}
    assert (row["p50_ms"], row["p99_ms"], row["max_ms"]) == (1.5, 9.0, 12.0)
    with pytest.raises(ValueError, match="no WRK_JSON line"):
        load.parse_wrk("Running 2s test\n")


def test_closed_loop_with_wrk_posts_the_bodies_and_reports_the_rate():
    if shutil.which("wrk") is None:
        if IN_CI:
            pytest.fail("CI=true but wrk is not installed (.ci/run installs it)")
        pytest.skip("wrk is not installed (apt-get install wrk)")
    server, received = serve(0.002, threaded=True)
    try:
        url = f"http://127.0.0.1:{server.server_port}/predict"
        probes: list[float] = []

        def server_cpu_seconds() -> float:  # the test's server runs in this process
            probes.append(time.process_time())
            return probes[-1]

        row = load.closed_loop(
            url, BODIES, clients=2, seconds=1, warmup=1, server_cpu_seconds=server_cpu_seconds
        )
    finally:
        server.shutdown()
    # read before and after the measured run only, and divided by the requests it answered
    assert len(probes) == 2
    answered = row["requests_per_s"] * row["seconds"]
    expected_ms = 1000 * (probes[1] - probes[0]) / answered
    assert row["server_cpu_ms_per_request"] == pytest.approx(expected_ms, abs=1e-3)
    assert row["server_cpu_ms_per_request"] > 0
    assert row["errors"] == 0 and row["requests"] > 50
    assert {b["instances"][0] for b in received} == {f"review {i}" for i in range(5)}
    # two clients, 2 ms each plus overhead: under 1,000 requests/s, wrk's count matches ours
    assert 50 < row["requests_per_s"] < 1000
    assert row["requests"] <= len(received)
    assert 2.0 <= row["p50_ms"] <= row["p99_ms"]
