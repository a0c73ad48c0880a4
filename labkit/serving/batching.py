"""Request batching for labkit's KServe model: concurrent requests joined into one model call.

An LSTM costs almost the same for 1 review as for 32, so :class:`MicroBatcher` runs everything
queued while the model is busy as one batch, and cuts a large request into batches of at most
``max_batch_size`` (the model's working memory is bounded whatever the request).
:class:`~labkit.serving.model.KerasModel` puts one in front of its model call. Two Prometheus
histograms (:data:`BATCH_INSTANCES`, :data:`BATCH_REQUESTS`, in the server's ``/metrics``)
record each call's size. Needs NumPy and ``prometheus_client`` only (no KServe, no TensorFlow).
Source: TensorFlow Serving's batching (``batch_timeout_micros``,
https://github.com/tensorflow/serving/blob/master/tensorflow_serving/batching/README.md).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
from prometheus_client import Histogram

__all__ = ["MicroBatcher", "BATCH_INSTANCES", "BATCH_REQUESTS"]

BATCH_INSTANCES = Histogram(
    "labkit_batch_instances",
    "Instances per batched model call (requests joined by the micro-batcher)",
    ["model_name"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
BATCH_REQUESTS = Histogram(
    "labkit_batch_requests",
    "Requests per batched model call",
    ["model_name"],
    buckets=(1, 2, 4, 8, 16, 32, 64),
)


class MicroBatcher:
    """Join concurrent requests into one model call.

    Requests queue up while the model is busy; when it is free, everything queued (up to
    ``max_batch_size`` instances) runs as one batch in a dedicated thread, and each request gets
    its own rows back. A request of more than ``max_batch_size`` instances is cut into batches
    of ``max_batch_size`` that join the queue one after the other, so no model call is ever
    larger (the model's working memory is bounded whatever the request) and other clients'
    requests are answered between them. At low load a request runs alone at once (no added
    latency); under load the batches grow by themselves.

    **Balanced batches.** Run greedily, batches under a steady load settle into a lopsided
    rhythm: with 32 clients, a call of 28 while 4 requests queue, then a call of those 4 (which
    costs nearly as much as 28) while the 28 are answered and come back. So when the model is
    free but the queue holds fewer than half as many requests as the last call, the batcher
    waits for more, at most half as long as that call took: the calls even out at half the
    load each, one computing while the server answers and reads the other's requests.
    Measured on 2 cores with lesson 09's BiLSTM served to 32 clients: 714 requests/s in calls
    of 16, against 433 in calls of 9 and 23 (bench/README.md). A lone request after a lone
    request never waits, nor do the parts of a large request that is cut up.

    ``max_wait_ms`` > 0 instead waits that long for company before every call that is not full
    (the latency/throughput trade-off of TensorFlow Serving's ``batch_timeout_micros``).

    **Allowed batch sizes.** A model compiled for a few batch sizes only (XLA: one program per
    shape) pads every call up to the next of them, so a call of 17 costs what a call of 32 costs
    and answers 17. Given those sizes (``allowed_batch_sizes``, the name of TensorFlow Serving's
    option), a call takes the largest of them that the queue fills and leaves the rest queued
    for the next call, together with the requests that arrive meanwhile. Besides no padded rows,
    this is what keeps the calls balanced: with lesson 09's BiLSTM under 32 clients on 2 cores,
    calls of 16 and 16 in every run (684-766 requests/s) instead of, in half the runs, calls of
    about 20 and 12, padded to 32 and 16 (413-597 requests/s; bench/README.md). A request is
    never split for this: one larger than the size it would fill runs whole (and is padded).

    Args:
        fn: the model call, ``(N, ...) array -> {output name: (N, ...) array}``; runs in one
            worker thread, never concurrently with itself.
        max_batch_size: instances per model call at most.
        max_wait_ms: how long to wait for more requests before a call that is not full.
        allowed_batch_sizes: the batch sizes the model runs without padding, increasing, the
            last one ``max_batch_size`` (None: any size, as a plain graph runs).
        name: the model name for the Prometheus metrics.

    Raises:
        ValueError: ``max_batch_size`` < 1, or ``allowed_batch_sizes`` not increasing positive
            sizes ending at ``max_batch_size``.

    If a batched call fails, its requests are retried one by one, so one bad request cannot fail
    the others.
    """

    def __init__(
        self,
        fn: Callable[[np.ndarray], dict[str, np.ndarray]],
        *,
        max_batch_size: int = 64,
        max_wait_ms: float = 0.0,
        allowed_batch_sizes: list[int] | tuple[int, ...] | None = None,
        name: str = "model",
    ):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        sizes = tuple(allowed_batch_sizes or ())
        if sizes and (
            sizes[0] < 1
            or any(a >= b for a, b in zip(sizes, sizes[1:], strict=False))
            or sizes[-1] != max_batch_size
        ):
            raise ValueError(
                f"allowed_batch_sizes must be increasing positive sizes ending at max_batch_size "
                f"({max_batch_size}), got {list(sizes)}"
            )
        self.allowed_batch_sizes = sizes
        self._fn = fn
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.name = name
        self._queue: deque[tuple[np.ndarray, asyncio.Future]] = deque()
        self._arrived: asyncio.Event | None = None  # set by each request that joins the queue
        self._last_requests = 0  # requests in the last model call, and its duration in seconds
        self._last_seconds = 0.0
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="labkit")
        self._worker: asyncio.Task | None = None

    async def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run ``batch`` (N instances) through the model, together with concurrent requests.

        Returns:
            ``{output name: (N, ...) array}``, row i answering instance i.
        """
        if len(batch) <= self.max_batch_size:
            return await self._submit(batch)
        parts = []
        for start in range(0, len(batch), self.max_batch_size):
            parts.append(await self._submit(batch[start : start + self.max_batch_size]))
        return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}

    async def _submit(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.append((batch, future))
        if self._arrived is not None:
            self._arrived.set()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain())
        return await future

    def _queued(self) -> int:
        return sum(len(batch) for batch, _ in self._queue)

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            if self.max_wait > 0 and self._queued() < self.max_batch_size:
                await asyncio.sleep(self.max_wait)
            elif self._should_wait():
                await self._wait_for_company(loop)
            group: list[tuple[np.ndarray, asyncio.Future]] = []
            size, limit = 0, self._call_size()
            while self._queue and (not group or size + len(self._queue[0][0]) <= limit):
                batch, future = self._queue.popleft()
                if not future.done():  # a client that went away has a cancelled future
                    group.append((batch, future))
                    size += len(batch)
            if not group:
                continue
            BATCH_INSTANCES.labels(model_name=self.name).observe(size)
            BATCH_REQUESTS.labels(model_name=self.name).observe(len(group))
            started = loop.time()
            try:
                results = await loop.run_in_executor(
                    self._executor, self._run_group, [batch for batch, _ in group]
                )
            except BaseException as error:  # noqa: BLE001 - the futures must always resolve
                results = [error] * len(group)
            self._last_requests, self._last_seconds = len(group), loop.time() - started
            for (_, future), result in zip(group, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, asyncio.CancelledError):
                    future.cancel()
                elif isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
            if isinstance(results[0], asyncio.CancelledError):
                raise results[0]  # this task was cancelled (the server stops): stop draining

    def _call_size(self) -> int:
        """Instances the next call takes at most: ``max_batch_size``, or with allowed batch
        sizes the largest of them that the queue fills."""
        queued = self._queued()
        fitting = [size for size in self.allowed_batch_sizes if size <= queued]
        return fitting[-1] if fitting else self.max_batch_size

    def _should_wait(self) -> bool:
        return len(self._queue) * 2 < self._last_requests and self._queued() < self.max_batch_size

    async def _wait_for_company(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait until the queue holds half as many requests as the last model call, or half
        that call's duration has passed, whichever comes first."""
        if self._arrived is None:
            self._arrived = asyncio.Event()
        deadline = loop.time() + self._last_seconds / 2
        while self._should_wait():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    def _run_group(self, batches: list[np.ndarray]) -> list[Any]:
        if len(batches) == 1:
            try:
                return [self._fn(batches[0])]
            except Exception as error:
                return [error]
        try:
            outputs = self._fn(np.concatenate(batches, axis=0))
        except Exception:
            return self._run_group_one_by_one(batches)
        results, start = [], 0
        for batch in batches:
            stop = start + len(batch)
            results.append({name: value[start:stop] for name, value in outputs.items()})
            start = stop
        return results

    def _run_group_one_by_one(self, batches: list[np.ndarray]) -> list[Any]:
        results: list[Any] = []
        for batch in batches:
            try:
                results.append(self._fn(batch))
            except Exception as error:
                results.append(error)
        return results

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
