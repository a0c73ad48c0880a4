"""A peer with adaptive batching: Ray Serve, for the benchmark only.

One Ray Serve deployment (one replica) loads the model once, wraps it in one ``tf.function``
with a fixed input signature, and answers ``POST /predict`` through ``@serve.batch``, which
joins concurrent requests into one batch of at most ``--max-batch-size`` reviews, waiting at most
``--batch-wait-ms`` for a batch to fill (Ray's adaptive batching). ``GET /health`` answers once
the replica is up. Same body as labkit's REST v1 route, ``{"instances": ["review"]}``. It runs in
an environment of its own (``build/bench/envs/ray``, made by ``bench/serving/bench.py``): Ray
pins its own versions of FastAPI, uvicorn and protobuf.

    build/bench/envs/ray/bin/python bench/serving/ray_app.py --model M --port 8002

Ray Serve batching: https://docs.ray.io/en/latest/serve/advanced-guides/dyn-req-batch.html
"""

from __future__ import annotations

import argparse
import os
import time

import ray
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse


@serve.deployment(num_replicas=1, max_ongoing_requests=256)
class SentimentModel:
    def __init__(self, model_path: str, max_batch_size: int, batch_wait_ms: float) -> None:
        import keras
        import tensorflow as tf

        import labkit.text  # noqa: F401  (registers the model's standardize function)

        model = keras.saving.load_model(model_path, compile=False)
        self.tf = tf
        self.compiled = tf.function(
            lambda texts: model(texts, training=False),
            input_signature=[tf.TensorSpec([None, 1], tf.string)],
        )
        self.compiled(tf.constant([["warm-up"]]))
        self.predict_batch.set_max_batch_size(max_batch_size)
        self.predict_batch.set_batch_wait_timeout_s(batch_wait_ms / 1000)

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.005)
    async def predict_batch(self, reviews: list[str]) -> list[float]:
        texts = self.tf.constant(reviews)[:, None]
        return self.compiled(texts).numpy()[:, 0].astype(float).tolist()

    async def __call__(self, request: Request) -> JSONResponse:
        if request.method == "GET":
            return JSONResponse({"status": "ok"})
        instances = (await request.json())["instances"]
        if len(instances) != 1:
            return JSONResponse({"error": "one review per request"}, status_code=400)
        return JSONResponse({"predictions": [await self.predict_batch(instances[0])]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--max-batch-size", type=int, default=64)
    parser.add_argument("--batch-wait-ms", type=float, default=5.0)
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    serve.start(
        http_options={"host": "127.0.0.1", "port": args.port},
        logging_config={
            "enable_access_log": False,
        },
    )
    app = SentimentModel.bind(
        str(os.path.abspath(args.model)), args.max_batch_size, args.batch_wait_ms
    )
    serve.run(app, name="sentiment", route_prefix="/")
    while True:  # serve until SIGTERM
        time.sleep(3600)


if __name__ == "__main__":
    main()
