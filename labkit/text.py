"""Text preprocessing that travels inside saved Keras models.

A ``keras.layers.TextVectorization`` layer with a custom ``standardize`` function stores only the
function's registered *name* in the saved ``.keras`` file. Every program that loads the model (the
lesson, ``labkit.serving``, a test, a container) must therefore import the same registered
function first. Lesson 09 teaches this function line by line and uses it from here, so the
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

from labkit.files import atomic_path

__all__ = [
    "PUNCTUATION_PATTERN",
    "standardize_review",
    "train_sentiment_model",
    "load_sentiment_model",
]

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


def train_sentiment_model(
    texts,
    labels,
    *,
    vocab_size: int = 10_000,
    sequence_length: int = 100,
    embedding_dim: int = 32,
    units: int = 16,
    epochs: int = 2,
    batch_size: int = 128,
    learning_rate: float = 3e-3,
    seed: int = 42,
) -> keras.Model:
    """Train a small raw-text sentiment classifier: lesson 09's architecture, scaled down.

    ``Input(shape=(1,), dtype="string")`` → ``TextVectorization`` (named ``"vectorizer"``, with
    :func:`standardize_review`) → ``Embedding(mask_zero=True)`` → ``LSTM`` → ``Dense(1,
    sigmoid)`` = P(positive). Lessons 13, 15 and 16 use it as a stand-in when lesson 09's exported
    model is missing; lesson 09 builds and explains the real one.

    Args:
        texts: N raw reviews (a list or NumPy object array of ``str``).
        labels: N labels, 1 = positive, 0 = negative.
        vocab_size, sequence_length: TextVectorization's ``max_tokens`` and output length.
        embedding_dim, units: sizes of the word vectors and of the LSTM state.
        epochs, batch_size, learning_rate: training with Adam on binary cross-entropy.
        seed: ``keras.utils.set_random_seed`` before building, for repeatable weights.

    Inside a ``tf.distribute.MultiWorkerMirroredStrategy`` scope (k8s/training/multi-worker)
    the training runs in a loop of its own instead of ``model.fit``, which Keras 3 cannot run
    across workers (see ``_fit_across_workers``); ``batch_size`` is then the global batch.

    Returns:
        The trained, compiled ``keras.Model`` (name ``"lstm_stand_in"``).

    Raises:
        ValueError: texts and labels differ in length, or there are none.
    """
    import numpy as np

    labels = np.asarray(labels, dtype="float32")
    if len(texts) == 0 or len(texts) != len(labels):
        raise ValueError(
            f"train_sentiment_model needs as many labels as texts (at least one); got "
            f"{len(texts)} texts and {len(labels)} labels."
        )
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    vectorizer = layers.TextVectorization(
        max_tokens=vocab_size,
        output_sequence_length=sequence_length,
        standardize=standardize_review,
        name="vectorizer",
    )
    vectorizer.adapt(list(texts), batch_size=1024)
    inputs = keras.Input(shape=(1,), dtype="string", name="review")
    x = layers.Embedding(vectorizer.vocabulary_size(), embedding_dim, mask_zero=True)(
        vectorizer(inputs)
    )
    outputs = layers.Dense(1, activation="sigmoid", name="positive")(layers.LSTM(units)(x))
    model = keras.Model(inputs, outputs, name="lstm_stand_in")
    model.compile(
        keras.optimizers.Adam(learning_rate), loss="binary_crossentropy", metrics=["accuracy"]
    )
    reviews = tf.constant(list(texts))[:, None]  # (N, 1) strings
    strategy = tf.distribute.get_strategy()  # the caller's strategy.scope(), if any
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        _fit_across_workers(model, strategy, reviews, labels, epochs, batch_size, seed)
    else:
        model.fit(reviews, labels, epochs=epochs, batch_size=batch_size, verbose=2)
    return model


def _fit_across_workers(model, strategy, reviews, labels, epochs, batch_size, seed):
    """What ``model.fit`` does, for ``tf.distribute.MultiWorkerMirroredStrategy``.

    Keras 3's ``fit`` fails as soon as the strategy has two workers (keras-team/keras#20585;
    seen with Keras 3.15 and TensorFlow 2.21, on CPU): before the first step it averages the
    first *data* batch across the workers, ``strategy.reduce("MEAN", (x, y))``, and the
    collective reduce takes one tensor, not a tuple (here of strings): "Attempt to convert a
    value (PerReplica...) to a Tensor"; past that, it reduces the scalar loss and metrics of
    each step with ``axis=0``: "Invalid reduction dimension 0 for input with 0 dimensions".
    ``TextVectorization.adapt`` inside the scope is fine: it runs on each worker's own copy.
    This loop uses only ``tf.distribute``'s own API: each worker takes its shard of every
    global batch of ``batch_size`` reviews, computes the gradients of its share of the loss,
    and the optimizer all-reduces (sums) them, so every worker applies the same update.
    Every worker must have adapted the vectorizer on the same reviews (same vocabulary).
    """
    dataset = (
        tf.data.Dataset.from_tensor_slices((reviews, labels[:, None]))
        .shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)  # same order everywhere
        .batch(batch_size)
    )
    batches = strategy.experimental_distribute_dataset(dataset)
    loss_fn = keras.losses.BinaryCrossentropy(reduction=None)
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)  # its slots, created under the strategy

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            p = model(x, training=True)
            losses = loss_fn(y, p)  # one per review of this worker's shard
            loss = tf.nn.compute_average_loss(losses, global_batch_size=batch_size)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))  # summed
        right = tf.cast(tf.equal(tf.cast(p > 0.5, y.dtype), y), "float32")
        return tf.reduce_sum(losses), tf.reduce_sum(right), tf.cast(tf.size(y), "float32")

    @tf.function
    def step(batch):
        results = strategy.run(replica_step, args=batch)
        return [strategy.reduce("SUM", value, axis=None) for value in results]

    for epoch in range(epochs):
        totals = tf.zeros(3)
        for batch in batches:
            totals += tf.stack(step(batch))
        loss, right, seen = totals.numpy()  # sums over every worker's reviews
        print(
            f"epoch {epoch + 1}/{epochs} - loss: {loss / seen:.4f} - accuracy: {right / seen:.4f}"
        )


def load_sentiment_model(model_path, *, stand_in_path, stand_in_texts, stand_in_labels, **train):
    """Load lesson 09's exported sentiment model, or train and save a small stand-in.

    The file is loaded with ``keras.saving.load_model`` (this module registers the custom
    standardization). When it is missing, or does not load (e.g. written by an older lesson 09
    whose standardization had another registered name), a stand-in is trained with
    :func:`train_sentiment_model` on the given reviews and saved to ``stand_in_path`` — never
    over ``model_path``. What happened is printed.

    Args:
        model_path: lesson 09's ``.keras`` file (``build/models/sentiment_lstm.keras``).
        stand_in_path: where a stand-in is saved (a ``.keras`` path; folders are created).
        stand_in_texts, stand_in_labels: reviews to train a stand-in on.
        **train: more arguments for :func:`train_sentiment_model` (e.g. ``epochs=2``).

    Returns:
        ``(model, path)``: the model and the ``.keras`` file it lives in (for a model server).
    """
    import time
    from pathlib import Path

    start = time.perf_counter()
    model_path, model = Path(model_path), None
    if model_path.is_file():
        try:
            model = keras.saving.load_model(model_path)
            print(f"loaded lesson 09's model from {model_path}")
        except (TypeError, ValueError) as error:
            print(f"{model_path} does not load ({str(error)[:160]}...)")
    else:
        print(f"{model_path} does not exist (lesson 09 not run yet?)")
    if model is None:
        model_path = Path(stand_in_path)
        print(f"training a small stand-in model on {len(stand_in_texts):,} reviews instead")
        model = train_sentiment_model(stand_in_texts, stand_in_labels, **train)
        model_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(model_path) as partial:  # a unique name: two kernels never share it
            model.save(partial)  # written in full, then renamed: never a half-written model file
    print(f"model {model.name!r} ready in {time.perf_counter() - start:.1f} s: {model_path}")
    return model, model_path
