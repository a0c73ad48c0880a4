"""The baseline: the usual book recipe for serving a Keras model, for the benchmark only.

A Flask app loads the model once and calls ``model.predict`` on every request, served by Flask's
own threaded development server (``app.run``). It accepts the same body as labkit's REST v1
route, ``{"instances": ["review", ...]}``, and returns ``{"predictions": [p, ...]}``.

    python bench/serving/flask_app.py --model build/models/sentiment_lstm.keras --port 5000
"""

from __future__ import annotations

import argparse
import logging

import keras
import numpy as np
import tensorflow as tf
from flask import Flask, jsonify, request

import labkit.text  # noqa: F401  (registers the model's standardize function)


def create_app(model_path: str) -> Flask:
    model = keras.saving.load_model(model_path, compile=False)
    app = Flask(__name__)

    @app.get("/health")
    def health():
        return jsonify(status="ok")

    @app.post("/predict")
    def predict():
        instances = request.get_json()["instances"]
        batch = tf.constant([str(text) for text in instances])[:, None]
        probabilities = model.predict(batch, verbose=0)[:, 0]
        return jsonify(predictions=np.asarray(probabilities, dtype=float).tolist())

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log, as for labkit
    create_app(args.model).run(host="127.0.0.1", port=args.port, threaded=True)


if __name__ == "__main__":
    main()
