"""labkit.text: the registered standardization that travels inside saved text models."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np


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
