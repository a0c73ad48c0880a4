"""labkit.text: the registered standardization that travels inside saved text models."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest


def test_standardize_review_lowercases_strips_html_breaks_controls_and_punctuation():
    import tensorflow as tf

    from labkit.text import standardize_review

    texts = tf.constant([["A GREAT film.<br /><br />Don't miss it!"], ["one\x85two\u2028three"]])
    out = standardize_review(texts)
    assert out.shape == texts.shape and out.dtype == tf.string
    assert [s.decode() for s in out.numpy()[:, 0]] == [
        "a great film dont miss it",
        "one two three",
    ]


@pytest.mark.slow  # a fresh TensorFlow process
def test_a_saved_text_model_loads_in_a_fresh_process_that_only_imports_labkit_text(tmp_path):
    import keras

    from labkit.text import standardize_review

    vectorizer = keras.layers.TextVectorization(
        max_tokens=50, output_sequence_length=6, standardize=standardize_review
    )
    vectorizer.adapt(["a good film", "a bad film", "good good acting"])
    inputs = keras.Input(shape=(1,), dtype="string")
    x = keras.layers.Embedding(50, 4)(vectorizer(inputs))
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.GlobalAveragePooling1D()(x))
    model = keras.Model(inputs, outputs)
    path = tmp_path / "tiny.keras"
    model.save(path)
    import tensorflow as tf

    reviews = [["A GOOD film!<br />"], ["unknown words"]]
    expected = model.predict(tf.constant(reviews), verbose=0)

    script = textwrap.dedent(
        f"""
        import json, keras, tensorflow as tf
        import labkit.text
        model = keras.saving.load_model({str(path)!r})
        print(json.dumps(model.predict(tf.constant({reviews!r}), verbose=0).ravel().tolist()))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    got = np.array(json.loads(result.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(got, expected.ravel(), atol=1e-6)


def test_load_sentiment_model_falls_back_to_a_saved_stand_in_and_never_overwrites(tmp_path):
    import keras

    from labkit.text import load_sentiment_model

    texts = ["a great film, loved it", "dull and boring, awful"] * 20
    labels = [1, 0] * 20
    broken = tmp_path / "models" / "sentiment_lstm.keras"
    broken.parent.mkdir()
    broken.write_bytes(b"not a zip archive")  # e.g. an interrupted or foreign file
    stand_in = tmp_path / "lesson" / "standin.keras"

    model, path = load_sentiment_model(
        broken,
        stand_in_path=stand_in,
        stand_in_texts=texts,
        stand_in_labels=labels,
        epochs=1,
        sequence_length=8,
    )
    assert path == stand_in and stand_in.is_file()
    assert broken.read_bytes() == b"not a zip archive"
    assert not list(stand_in.parent.glob("*.part*"))  # no temporary file left
    assert model.get_layer("vectorizer") is not None
    reloaded, reloaded_path = load_sentiment_model(
        stand_in, stand_in_path=tmp_path / "unused.keras", stand_in_texts=[], stand_in_labels=[]
    )
    assert reloaded_path == stand_in and not (tmp_path / "unused.keras").exists()
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(reloaded(np.array([["a great film"]], dtype=object))),
        keras.ops.convert_to_numpy(model(np.array([["a great film"]], dtype=object))),
        atol=1e-6,
    )
