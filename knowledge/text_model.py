"""A small linear text classifier: TF-IDF word and character n-grams with a
linear SVM, scored straight from the fitted weights.

Used twice: to tell which kind of ruling a scope question asks for, and as
a second opinion on whether the person writing is in distress.

Fitting needs scikit-learn; scoring does not. ``LinearTextModel.fit``
imports it, fits, and keeps only what scoring needs: each vectorizer's
vocabulary and idf, and the SVM's weights. Those are plain arrays, saved
and loaded by ``knowledge.model_cache``, so a process that answers
questions from a fitted model never imports scikit-learn or scipy (they
cost 0.7 s and 70 MB at every start). The n-grams are cut here the way
scikit-learn's analyzers cut them, in the same order, so the scores are
the ones ``decision_function`` would give, to the last bit.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from knowledge.folding import fold

# The two feature sets, as scikit-learn names them: word 1-2 grams, and
# character 2-5 grams inside word boundaries.
WORDS = "word:1:2"
CHARS = "char_wb:2:5"
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # TfidfVectorizer's default token_pattern
_WHITE_SPACES = re.compile(r"\s\s+")


def word_grams(text: str, min_n: int = 1, max_n: int = 2) -> list[str]:
    """scikit-learn's word analyzer (lowercase, default tokens, n-grams)."""
    words = _TOKEN.findall(text.lower())
    grams = list(words) if min_n == 1 else []
    for n in range(max(min_n, 2), min(max_n + 1, len(words) + 1)):
        grams.extend(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    return grams


def char_wb_grams(text: str, min_n: int = 2, max_n: int = 5) -> list[str]:
    """scikit-learn's ``char_wb`` analyzer: n-grams inside words, padded with a space."""
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text.lower()).split():
        word = " " + word + " "
        for n in range(min_n, max_n + 1):
            offset = 0
            grams.append(word[offset : offset + n])
            while offset + n < len(word):
                offset += 1
                grams.append(word[offset : offset + n])
            if offset == 0:  # a short word is counted once
                break
    return grams


def analyzer(kind: str):
    name, low, high = kind.split(":")
    cut = {"word": word_grams, "char_wb": char_wb_grams}[name]
    return lambda text: cut(text, int(low), int(high))


class LinearTextModel:
    """Scores for each label from a fitted linear SVM's weights (numpy only)."""

    def __init__(self, labels: Sequence[str], weights: np.ndarray, intercept: np.ndarray,
                 parts: Sequence[tuple[str, Sequence[str], np.ndarray]]):
        self.labels = [str(label) for label in labels]
        self._weights = np.ascontiguousarray(weights, dtype=np.float64)
        self._intercept = np.asarray(intercept, dtype=np.float64)
        self._kinds = [kind for kind, _, _ in parts]
        self._parts = []
        offset = 0
        for kind, terms, idf in parts:
            vocabulary = dict(zip(terms, range(len(terms))))
            self._parts.append((analyzer(kind), vocabulary, np.asarray(idf, dtype=np.float64), offset))
            offset += len(vocabulary)
        if offset != len(self._weights):
            raise ValueError("the weights do not match the vocabulary")

    @classmethod
    def fit(cls, folded: Sequence[str], labels: Sequence[str], C: float = 0.3,
            class_weight: dict | str | None = None) -> "LinearTextModel":
        """Fit on texts already ``fold``-ed (the only place scikit-learn is used)."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline, make_union
        from sklearn.svm import LinearSVC

        features = make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
        )
        pipeline = make_pipeline(features, LinearSVC(C=C, class_weight=class_weight, random_state=0))
        pipeline.fit(list(folded), list(labels))
        names = [str(label) for label in pipeline.classes_]
        svm = pipeline[-1]
        weights, intercept = svm.coef_.T, svm.intercept_
        if len(names) == 2:  # a binary SVM has one column: the second label's score
            weights = np.hstack([-weights, weights])
            intercept = np.concatenate([-intercept, intercept])
        parts = []
        for (_, vectorizer), kind in zip(features.transformer_list, (WORDS, CHARS)):
            terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
            parts.append((kind, terms, vectorizer.idf_))
        return cls(names, weights, intercept, parts)

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything scoring needs, as arrays ``from_arrays`` reads back."""
        out = {"labels": np.array(self.labels), "weights": self._weights, "intercept": self._intercept,
               "kinds": np.array(self._kinds)}
        for i, (_, vocabulary, idf, _) in enumerate(self._parts):
            out[f"terms{i}"] = np.array(list(vocabulary))
            out[f"idf{i}"] = idf
        return out

    @classmethod
    def from_arrays(cls, arrays) -> "LinearTextModel":
        kinds = [str(k) for k in arrays["kinds"]]
        parts = [(kind, arrays[f"terms{i}"].tolist(), arrays[f"idf{i}"]) for i, kind in enumerate(kinds)]
        return cls(arrays["labels"].tolist(), arrays["weights"], arrays["intercept"], parts)

    def scores(self, text: str) -> np.ndarray:
        """The SVM's score for each label, as ``decision_function`` would give."""
        folded = fold(text)
        rows: list[np.ndarray] = []
        for analyze, vocabulary, idf, offset in self._parts:
            counts: dict[int, int] = {}
            for gram in analyze(folded):
                index = vocabulary.get(gram)
                if index is not None:
                    counts[index] = counts.get(index, 0) + 1
            if not counts:
                continue
            index = np.fromiter(counts, dtype=np.int64)
            values = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64))) * idf[index]
            values /= np.linalg.norm(values)
            rows.append(values @ self._weights[index + offset])
        return self._intercept + (np.sum(rows, axis=0) if rows else 0.0)

    def score_of(self, text: str, label: str) -> float:
        return float(self.scores(text)[self.labels.index(label)])
