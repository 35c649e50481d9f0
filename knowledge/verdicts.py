"""A verdict model: which kind of ruling a question is asking for.

Lexical retrieval finds the entry whose phrasings share the most words
with a question, but it is easily pulled by one shared noun ("meds",
"meeting") towards a neighbour with the opposite ruling. A linear support
vector machine (scikit-learn) trained on every phrasing, with word and
character n-grams, learns which wordings mark each kind of ruling across
all entries ("they want me to report...", "can I help her learn to...").
It is a second opinion, not the judge: ``knowledge.answering`` lets it swap
the best-matching entry for a near neighbour only when it prefers that
neighbour's ruling by a clear margin, larger than the neighbour's gap in
retrieval. (Taking "the best-ranked entry with the ruling the model
expects" at any margin gained on the sets it was tuned on and did no better
than plain BM25 on new questions.) What is shown and what is ruled are
always the same entry.

Training takes well under a second for the bundled knowledge base, and
happens once per knowledge base (``knowledge.model_cache``). It would grow with the number of phrasings, so it is capped: repeated
(phrasing, ruling) pairs count once, and each ruling keeps at most
``MAX_PER_LABEL`` phrasings, an even spread over its entries. The model
learns how rulings are worded across the whole knowledge base, and a few
thousand wordings per ruling say that as well as fifty thousand; without
the cap a 5,000-entry knowledge base took over a minute to train.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

import numpy as np
from knowledge.schema import Entry, OffTopic
from knowledge.model_cache import fitted_model

OFFTOPIC = "offtopic"
ASKS_FOR_A_RULING = re.compile(
    r"\b(can|could|may|should) (i|we|peers?|a peer|the peer)\b|\bis (it|that|this) (ok|okay|alright|fine|allowed|my (job|place|role)|part of|peer)"
    r"|\bis (it|that|this) (\w+ )?(appropriate|acceptable|wrong|legit|ethical|within|outside|in my lane)\b"
    r"|\b(am i|are peers?|are we|is a peer|is the peer) (allowed|supposed|expected|permitted)\b|\b(my|our) (job|role|place|lane)\b"
    r"|\bin scope\b|\bpeer work\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class VerdictGuess:
    label: str      # in_scope, out_of_scope, depends, info or offtopic
    margin: float   # lead of the best label over the next, in SVM units
    scores: tuple[float, ...] = ()  # every label's score, in the model's label order


MAX_PER_LABEL = 1500


def training_sample(texts: list[str], labels: list[str], cap: int = MAX_PER_LABEL) -> tuple[list[str], list[str]]:
    """Distinct (text, label) pairs, at most ``cap`` per label, spread evenly
    and deterministically over the input order (entries stay represented)."""
    pairs = list(dict.fromkeys(zip(texts, labels)))
    by_label: dict[str, list[tuple[str, str]]] = {}
    for pair in pairs:
        by_label.setdefault(pair[1], []).append(pair)
    kept: list[tuple[str, str]] = []
    for items in by_label.values():
        if len(items) > cap:
            step = len(items) / cap
            items = [items[int(i * step)] for i in range(cap)]
        kept.extend(items)
    return [t for t, _ in kept], [label for _, label in kept]


class VerdictModel:
    C = 0.3

    def __init__(self, entries: Iterable[Entry], offtopics: Iterable[OffTopic] = ()):
        texts: list[str] = []
        labels: list[str] = []
        for entry in entries:
            for text in (entry.title, *entry.phrasings):
                texts.append(text)
                labels.append(entry.verdict.value)
        for route in offtopics:
            for text in (route.title, *route.phrasings):
                texts.append(text)
                labels.append(OFFTOPIC)
        if len(set(labels)) < 3:
            raise ValueError("the verdict model needs at least three kinds of entries")
        texts, labels = training_sample(texts, labels)
        self.model = fitted_model("verdicts", texts, labels, C=self.C)
        self.labels = self.model.labels

    def scores(self, question: str) -> np.ndarray:
        return self.model.scores(question)

    def guess(self, question: str) -> VerdictGuess:
        scores = self.scores(question)
        order = [int(i) for i in np.argsort(-scores)]
        if self.labels[order[0]] == "info" and ASKS_FOR_A_RULING.search(question):
            # "Can I...?" wants a ruling, not background: take the next best.
            order = order[1:]
        return VerdictGuess(label=self.labels[order[0]], margin=float(scores[order[0]] - scores[order[1]]),
                            scores=tuple(float(x) for x in scores))
