"""Text preprocessing that travels inside saved Keras models.

A ``keras.layers.TextVectorization`` layer with a custom ``standardize`` function stores only the
function's registered *name* in the saved ``.keras`` file. Every program that loads the model (the
lesson, ``labkit.serving``, a test, a container) must therefore import the same registered
function first. Lesson 08 teaches this function line by line and uses it from here, so the
exported sentiment model loads anywhere labkit is installed::

    import labkit.text  # registers "labkit>standardize_review"
    model = keras.saving.load_model("build/models/sentiment_lstm.keras")

Source: Keras' default standardization ("lower_and_strip_punctuation") in
``keras.layers.TextVectorization``, extended for the HTML line breaks of the IMDB reviews
(Maas et al., ACL 2011).
"""

from __future__ import annotations

import re
import string

import keras
import tensorflow as tf

__all__ = ["PUNCTUATION_PATTERN", "standardize_review"]

PUNCTUATION_PATTERN = f"[{re.escape(string.punctuation)}]"
"""A regular expression matching one ASCII punctuation character (``string.punctuation``)."""


@keras.saving.register_keras_serializable(package="labkit")
def standardize_review(text: tf.Tensor) -> tf.Tensor:
    """Normalise raw review text before it is split into words.

    Steps: lower-case; HTML line breaks ``<br />`` become spaces (otherwise ``movie.<br />the``
    would turn into one non-word); Unicode control and separator characters (``\\pC``, ``\\pZ``,
    e.g. the ``\\x85`` or ``\\x97`` in a few IMDB reviews) become spaces, so a saved vocabulary
    never contains a line break; ASCII punctuation is removed, as Keras' default does.

    Args:
        text: a ``tf.string`` tensor of any shape (TextVectorization passes ``(batch, 1)``).

    Returns:
        A ``tf.string`` tensor of the same shape.

    Registered with Keras as ``"labkit>standardize_review"``: ``keras.saving.load_model`` finds it
    once ``labkit.text`` has been imported.
    """
    text = tf.strings.lower(text)
    text = tf.strings.regex_replace(text, r"<br\s*/?>", " ")
    text = tf.strings.regex_replace(text, r"[\pC\pZ]+", " ")
    return tf.strings.regex_replace(text, PUNCTUATION_PATTERN, "")
