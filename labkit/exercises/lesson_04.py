"""Checks for the exercises of lesson 04 · Text as features.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from labkit.exercises import (
    Fail,
    _need,
    _register,
)

_NER_SENTENCE = [
    ("Alice", "NNP"), ("Smith", "NNP"), ("left", "VBD"), ("Bank", "NNP"), ("of", "IN"),
    ("America", "NNP"), ("in", "IN"), ("2019", "CD"), ("to", "TO"), ("teach", "VB"),
    ("at", "IN"), ("the", "DT"), ("University", "NNP"), ("of", "IN"), ("Cambridge", "NNP"),
    ("and", "CC"), ("moved", "VBD"), ("from", "IN"), ("New", "NNP"), ("York", "NNP"),
    (".", "."),
]  # fmt: skip
_NER_EXPECTED = {
    "Alice Smith",
    "Bank of America",
    "University of Cambridge",
    "New York",
}


@_register(
    "04.1",
    "A better rule-based NER",
    expects="a str: a RegexpParser grammar",
    verifies='your grammar chunks "Bank of America", "University of Cambridge", "New York" and '
    '"Alice Smith" as whole entities and nothing else, on a POS-tagged test sentence',
    hint="a grammar can have several lines, each one rule, applied in order: a longer pattern "
    "must come before a shorter one that would otherwise take its pieces; <IN> is the tag of "
    "'of'.",
)
def _check_04_1(answer: Any, **context: Any) -> None:
    import nltk

    if not isinstance(answer, str):
        raise Fail(f"expected a grammar string, got {type(answer).__name__}.")
    try:
        parser = nltk.RegexpParser(answer)
    except ValueError as error:
        raise Fail(f"nltk.RegexpParser cannot read the grammar ({error}).") from None
    tree = parser.parse(list(_NER_SENTENCE))
    chunks = {
        " ".join(word for word, _ in subtree.leaves())
        for subtree in tree
        if isinstance(subtree, nltk.Tree)
    }
    missing = sorted(_NER_EXPECTED - chunks)
    extra = sorted(chunks - _NER_EXPECTED)
    _need(not missing, f"these entities are not chunked as a whole: {missing}.")
    _need(not extra, f"these chunks are not entities (or are cut wrongly): {extra}.")


@functools.lru_cache(maxsize=2)
def _reviews_check_split(seed: int) -> tuple[list[str], Any, list[str], Any]:
    """The check's own reviews: the lesson's training part, split again into fit and held-out.

    The lesson's test reviews (``train_test_split(..., test_size=0.25, stratify=labels,
    random_state=seed)`` of all 2,000) are left out entirely.
    """
    from nltk.corpus import movie_reviews
    from sklearn.model_selection import train_test_split

    from labkit import datasets

    datasets.nltk_setup(["movie_reviews"])
    fileids = movie_reviews.fileids()
    documents = [movie_reviews.raw(f) for f in fileids]
    labels = np.array([movie_reviews.categories(f)[0] == "pos" for f in fileids], dtype=int)
    docs_train, _, y_train, _ = train_test_split(
        documents, labels, test_size=0.25, stratify=labels, random_state=seed
    )
    docs_fit, docs_held, y_fit, y_held = train_test_split(
        docs_train, y_train, test_size=0.25, stratify=y_train, random_state=seed + 1
    )
    return docs_fit, y_fit, docs_held, y_held


@_register(
    "04.2",
    "Beyond single words",
    expects="your fitted scikit-learn Pipeline (TfidfVectorizer with word pairs, then a "
    "classifier) taking raw review texts",
    verifies="the vectorizer uses word pairs (ngram_range up to 2 or more, bigrams in the fitted "
    "vocabulary), and a copy of your pipeline, refitted by the check on reviews of the lesson's "
    "training part, classifies held-out reviews at 75% or better; the lesson's test reviews "
    "are not used",
    hint="the vectorizer's ngram_range sets the shortest and the longest run of words that "
    "becomes a feature; keep the lesson's other settings and classifier, fit on the training "
    "reviews only, and compare the variants on a validation split carved from them.",
)
def _check_04_2(answer: Any, **context: Any) -> str:
    from sklearn import base
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import Pipeline

    if not isinstance(answer, Pipeline):
        raise Fail(f"expected a scikit-learn Pipeline, got {type(answer).__name__}.")
    vectorizers = [step for _, step in answer.steps if isinstance(step, TfidfVectorizer)]
    _need(bool(vectorizers), "the pipeline has no TfidfVectorizer step.")
    vectorizer = vectorizers[0]
    _need(
        vectorizer.ngram_range[1] >= 2,
        "the TfidfVectorizer still uses single words only.",
    )
    vocabulary = getattr(vectorizer, "vocabulary_", None)
    _need(
        vocabulary is not None,
        "the pipeline is not fitted: fit it on the training reviews.",
    )
    _need(any(" " in term for term in vocabulary), "the vocabulary has no word pairs.")
    docs_fit, y_fit, docs_held, y_held = _reviews_check_split(int(context.get("seed", 42)))
    model = base.clone(answer).fit(docs_fit, y_fit)
    predicted = np.asarray(model.predict(list(docs_held))).ravel()
    _need(
        predicted.shape == y_held.shape,
        "the pipeline must predict one label per review.",
    )
    accuracy = float(np.mean(predicted == y_held))
    _need(
        accuracy >= 0.75,
        f"refitted on the check's training reviews your pipeline classifies {accuracy:.1%} of "
        "held-out reviews correctly (guessing gets 50%): does its last step learn from the "
        "TF-IDF features?",
    )
    return f"held-out accuracy {accuracy:.3f} (the check's own split of the training reviews)"
