"""Shortcut answers for the exercises of lesson 04 · Text as features.

Each must FAIL: grammars that only cover part of the entities, the single-word pipeline, a
bigram pipeline whose classifier guesses a constant or is never fitted.
"""

from __future__ import annotations

from shortcut_answers import Shortcut

_DOCS = ["a good film", "not good at all", "a great plot", "an awful plot"] * 5
_LABELS = [1, 0, 1, 0] * 5


def _text_pipeline(ngram_range, classifier=None, fit=True):
    from sklearn.dummy import DummyClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(ngram_range=ngram_range),
        classifier or DummyClassifier(strategy="prior"),
    )
    return model.fit(_DOCS, _LABELS) if fit else model


def _unigram_logistic():
    from sklearn.linear_model import LogisticRegression

    return _text_pipeline((1, 1), LogisticRegression())


SHORTCUTS = {
    "04.1": [
        Shortcut(
            "the lesson's proper-noun rule unchanged",
            lambda: (r"NE: {<NNP|NNPS>+}", {}),
            forbidden=("<NNP>+<IN>", "<NNP|NNPS>+<IN>"),
        ),
        Shortcut(
            "only the 'of' rule",
            lambda: (r"NE: {<NNP>+<IN><NNP>+}", {}),
            forbidden=("<NNP|NNPS>+}",),
        ),
        Shortcut("everything in one chunk", lambda: (r"NE: {<.*>+}", {})),
    ],
    "04.2": [
        Shortcut("the single-word pipeline", lambda: (_unigram_logistic(), {})),
        Shortcut(
            "word pairs with a constant classifier",
            lambda: (_text_pipeline((1, 2)), {}),
            forbidden=("LogisticRegression(C=",),
        ),
        Shortcut("word pairs, never fitted", lambda: (_text_pipeline((1, 2), fit=False), {})),
    ],
}
