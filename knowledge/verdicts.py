"""A verdict model: which kind of ruling a question is asking for.

Lexical retrieval finds the entry whose phrasings share the most words
with a question, but it is easily pulled by one shared noun ("meds",
"meeting") towards a neighbour with the opposite ruling. A linear support
vector machine (scikit-learn) trained on every phrasing, with word and
character n-grams, learns which wordings mark each kind of ruling across
all entries ("they want me to report...", "can I help her learn to...").
The answer is then the best-ranked entry whose ruling the model expects,
so what is shown and what is ruled always agree.

Training takes well under a second for the bundled knowledge base and
grows with the number of phrasings, not of entries (one class per ruling).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline, make_union
from sklearn.svm import LinearSVC

from knowledge.matching import fold
from knowledge.schema import Entry, OffTopic

OFFTOPIC = "offtopic"
ASKS_FOR_A_RULING = re.compile(
    r"\b(can|could|may|should) (i|we|peers?)\b|\bis (it|that|this) (ok|okay|alright|fine|allowed|my (job|place|role)|part of|peer)"
    r"|\b(am i|are peers?) (allowed|supposed|expected)\b|\b(my|our) (job|role|place)\b|\bin scope\b|\bpeer work\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class VerdictGuess:
    label: str      # in_scope, out_of_scope, depends, info or offtopic
    margin: float   # lead of the best label over the next, in SVM units


class VerdictModel:
    C = 0.3

    def __init__(self, entries: Iterable[Entry], offtopics: Iterable[OffTopic] = ()):
        texts: list[str] = []
        labels: list[str] = []
        for entry in entries:
            for text in (entry.title, *entry.phrasings):
                texts.append(fold(text))
                labels.append(entry.verdict.value)
        for route in offtopics:
            for text in (route.title, *route.phrasings):
                texts.append(fold(text))
                labels.append(OFFTOPIC)
        features = make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
        )
        self.pipeline = make_pipeline(features, LinearSVC(C=self.C))
        self.pipeline.fit(texts, labels)
        self.labels = list(self.pipeline.classes_)
        if len(self.labels) < 3:
            raise ValueError("the verdict model needs at least three kinds of entries")
        # scikit-learn's per-call checks cost milliseconds for one short
        # question; scoring straight from the fitted weights costs a tenth.
        svm = self.pipeline[-1]
        self._weights = np.ascontiguousarray(svm.coef_.T)  # features x labels
        self._intercept = svm.intercept_
        self._parts = []
        offset = 0
        for _, vectorizer in features.transformer_list:
            self._parts.append((vectorizer.build_analyzer(), vectorizer.vocabulary_, vectorizer.idf_, offset))
            offset += len(vectorizer.vocabulary_)

    def scores(self, question: str) -> np.ndarray:
        """The SVM's score for each label, as ``decision_function`` would give."""
        text = fold(question)
        rows: list[np.ndarray] = []
        for analyze, vocabulary, idf, offset in self._parts:
            counts: dict[int, int] = {}
            for gram in analyze(text):
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

    def guess(self, question: str) -> VerdictGuess:
        scores = self.scores(question)
        order = [int(i) for i in np.argsort(-scores)]
        if self.labels[order[0]] == "info" and ASKS_FOR_A_RULING.search(question):
            # "Can I...?" wants a ruling, not background: take the next best.
            order = order[1:]
        return VerdictGuess(label=self.labels[order[0]], margin=float(scores[order[0]] - scores[order[1]]))
