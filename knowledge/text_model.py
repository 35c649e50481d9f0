"""A small linear text classifier: TF-IDF word and character n-grams with a
linear SVM (scikit-learn), scored straight from the fitted weights.

Used twice: to tell which kind of ruling a scope question asks for, and as
a second opinion on whether the person writing is in distress. Training
takes well under a second on the bundled data.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline, make_union
from sklearn.svm import LinearSVC

from knowledge.matching import fold


class LinearTextModel:
    def __init__(self, texts: Sequence[str], labels: Sequence[str], C: float = 0.3, class_weight: dict | str | None = None):
        features = make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
        )
        self.pipeline = make_pipeline(features, LinearSVC(C=C, class_weight=class_weight))
        self.pipeline.fit([fold(t) for t in texts], list(labels))
        self.labels = [str(label) for label in self.pipeline.classes_]
        svm = self.pipeline[-1]
        # scikit-learn's per-call checks cost milliseconds for one short
        # question; scoring straight from the fitted weights costs a tenth.
        weights = svm.coef_.T
        if len(self.labels) == 2:  # a binary SVM has one column: the second label's score
            weights = np.hstack([-weights, weights])
        self._weights = np.ascontiguousarray(weights)
        intercept = svm.intercept_
        self._intercept = np.concatenate([-intercept, intercept]) if len(self.labels) == 2 else intercept
        self._parts = []
        offset = 0
        for _, vectorizer in features.transformer_list:
            self._parts.append((vectorizer.build_analyzer(), vectorizer.vocabulary_, vectorizer.idf_, offset))
            offset += len(vectorizer.vocabulary_)

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
