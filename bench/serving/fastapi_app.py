"""A peer: what most teams write in 2026, for the benchmark only.

A FastAPI app, served by uvicorn (one worker), loads the model once and wraps it in one
``tf.function`` with a fixed input signature (a batch of strings, shape ``(None, 1)``), so each
request runs the compiled graph rather than ``model.predict``'s per-call machinery. The route is
a plain ``def``: FastAPI runs it in its thread pool, so concurrent requests run the model side by
side, one request at a time each (no batching across requests). Same body as labkit's REST v1
route, ``{"instances": ["review", ...]}``, answered with ``{"predictions": [p, ...]}``.

    python bench/serving/fastapi_app.py --model build/models/sentiment_lstm.keras --port 8001

FastAPI: https://fastapi.tiangolo.com/async/ (path operations declared with ``def`` run in a
thread pool); tf.function: https://www.tensorflow.org/guide/function.
"""

from __future__ import annotations

import argparse

import keras
import tensorflow as tf
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

import labkit.text  # noqa: F401  (registers the model's standardize function)


class PredictRequest(BaseModel):
    instances: list[str]


def create_app(model_path: str) -> FastAPI:
    model = keras.saving.load_model(model_path, compile=False)
    compiled = tf.function(
        lambda texts: model(texts, training=False),
        input_signature=[tf.TensorSpec([None, 1], tf.string)],
    )
    compiled(tf.constant([["warm-up"]]))  # trace once before the first request
    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.post("/predict")
    def predict(request: PredictRequest) -> dict:
        probabilities = compiled(tf.constant(request.instances)[:, None]).numpy()[:, 0]
        return {"predictions": probabilities.astype(float).tolist()}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    app = create_app(args.model)
    uvicorn.run(app, host="127.0.0.1", port=args.port, access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
