"""Find the knowledge entry a question is about.

Lexical retrieval with BM25 (bm25s) over every alternate phrasing, plus one
document per entry that pools all its phrasings, so both a close paraphrase
and a question that borrows words from several phrasings land well.
Questions are read the same way as the phrasings: typos are corrected
against the knowledge base's own vocabulary (rapidfuzz), everyday synonyms
are folded together (``synonyms.yaml``), and words are stemmed.

Off-topic routes (payroll, IT, dosing, ...) are ranked alongside the
entries, so that a question that isn't about the peer role finds its route
instead of the nearest scope entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

import numpy as np
import Stemmer
from rapidfuzz import fuzz, process

from knowledge.folding import fold, fold_signature
from knowledge import keyword_index
from knowledge.cache import code_signature, package_version
from knowledge.keyword_index import KeywordIndex
from knowledge.model_cache import cached_arrays, content_key
from knowledge.schema import Entry, OffTopic

__all__ = ["Matcher", "Ranked", "Target", "fold", "STOPWORDS", "TOKEN"]

# Words that carry no topic. Pronouns and question words are noise for
# matching; "not" and "no" are too, because phrasings ask both ways.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here
    hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of
    off on once only or other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours yourself yourselves im ive id dont doesnt
    cant wont isnt arent wasnt didnt shouldnt wouldnt couldnt ok okay okey yeah hey hi hello pls please thanks
    really actually just like kind sort get got gets getting go going gonna wanna want wants wanted also still even
    ever much many lot lots thing things stuff way ask asked asking question wondering know let lets s t d ll m re ve""".split()
)
TOKEN = re.compile(r"[a-z0-9_]+")


@dataclass(frozen=True)
class Target:
    """Something a question can land on: a scope entry or an off-topic route."""

    id: str
    kind: str  # "entry" or "offtopic"


@dataclass
class Ranked:
    target: Target
    score: float       # combined, relative: the best target scores highest
    phrase: float      # raw BM25 of the best single phrasing
    pooled: float      # raw BM25 of the entry's pooled document


@lru_cache(maxsize=1)
def _rules_signature() -> str:
    """This module's rules (stop words, tokens) and the index's own code."""
    return code_signature(__file__, keyword_index.__file__)


class Vocabulary:
    """The knowledge base's own words, for correcting typos in questions."""

    def __init__(self, words: Iterable[str]):
        self.words = sorted({w for w in words if len(w) >= 3})
        self._known = frozenset(self.words)

    def correct(self, word: str) -> str:
        if word in self._known or len(word) < 4 or word.isdigit() or word in STOPWORDS:
            return word
        found = process.extractOne(word, self.words, scorer=fuzz.ratio, score_cutoff=84)
        return found[0] if found else word


class Matcher:
    """Ranks entries and off-topic routes for a question."""

    POOLED_WEIGHT = 0.6

    def __init__(self, entries: Iterable[Entry], offtopics: Iterable[OffTopic] = ()):
        self._stemmer = Stemmer.Stemmer("english")
        self.targets: list[Target] = []
        phrase_docs: list[str] = []
        phrase_owner: list[int] = []
        for entry in entries:
            texts = [entry.title, *entry.phrasings]
            self._add(Target(entry.id, "entry"), texts, phrase_docs, phrase_owner)
        for route in offtopics:
            self._add(Target(route.id, "offtopic"), [route.title, *route.phrasings], phrase_docs, phrase_owner)
        self._owner = np.asarray(phrase_owner, dtype=np.int64)
        # Built once per knowledge base and loaded after (knowledge.model_cache):
        # the key covers the texts, the folding rules and this module's own
        # rules (stop words, tokens), and the versions of bm25s and the stemmer.
        key = content_key("keywords", [package_version("bm25s"), package_version("PyStemmer"), fold_signature(), _rules_signature()],
                          phrase_docs, phrase_owner)
        self.vocabulary, self._phrases, self._pooled = cached_arrays(
            "keywords", key, lambda: self._build(phrase_docs, phrase_owner), self._read)

    def _build(self, phrase_docs: list[str], phrase_owner: list[int]) -> dict[str, np.ndarray]:
        # Each phrasing is folded and stemmed once; an entry's pooled
        # document is its phrasings' tokens put together (folding and
        # stemming the pooled text again doubled the build time).
        folded_phrases = [fold(t) for t in phrase_docs]
        words = sorted({w for text in folded_phrases for w in TOKEN.findall(text)})
        phrase_tokens = [self._tokens(t, folded=True) for t in folded_phrases]
        pooled_tokens: list[list[str]] = [[] for _ in self.targets]
        for owner, tokens in zip(phrase_owner, phrase_tokens):
            pooled_tokens[owner].extend(t for t in tokens if t != "__empty__")
        phrases = KeywordIndex.build(phrase_tokens)
        pooled = KeywordIndex.build([tokens or ["__empty__"] for tokens in pooled_tokens])
        return {"vocabulary": np.array(words, dtype=str), **phrases.arrays("phrases_"), **pooled.arrays("pooled_")}

    def _read(self, arrays: dict[str, np.ndarray]) -> tuple["Vocabulary", KeywordIndex, KeywordIndex]:
        phrases = KeywordIndex.from_arrays(arrays, "phrases_")
        pooled = KeywordIndex.from_arrays(arrays, "pooled_")
        if phrases.documents != len(self._owner) or pooled.documents != len(self.targets):
            raise ValueError("the saved index is for other documents")
        return Vocabulary(arrays["vocabulary"].tolist()), phrases, pooled

    def _add(self, target: Target, texts: list[str], phrase_docs: list[str], owner: list[int]) -> None:
        index = len(self.targets)
        self.targets.append(target)
        phrase_docs.extend(texts)
        owner.extend([index] * len(texts))

    def _tokens(self, text: str, folded: bool = False, correct: bool = False) -> list[str]:
        words = TOKEN.findall(text if folded else fold(text))
        if correct:
            words = [self.vocabulary.correct(w) for w in words]
        words = [w for w in words if w not in STOPWORDS]
        return self._stemmer.stemWords(words) or ["__empty__"]

    def query_tokens(self, question: str) -> list[str]:
        folded = fold(question)
        corrected = " ".join(self.vocabulary.correct(w) for w in TOKEN.findall(folded))
        # Correction can produce a synonym variant ("pils" -> "pills"): fold again.
        return self._tokens(fold(corrected), folded=True)

    def rank(self, question: str, k: int = 5) -> list[Ranked]:
        tokens = self.query_tokens(question)
        phrase_scores = self._phrases.scores(tokens)
        best_phrase = np.zeros(len(self.targets), dtype=np.float32)
        np.maximum.at(best_phrase, self._owner, phrase_scores)
        pooled = self._pooled.scores(tokens)
        top_phrase = float(best_phrase.max()) or 1.0
        top_pooled = float(pooled.max()) or 1.0
        combined = best_phrase / top_phrase + self.POOLED_WEIGHT * pooled / top_pooled
        order = np.argsort(-combined)[:k]
        return [
            Ranked(self.targets[i], float(combined[i]), float(best_phrase[i]), float(pooled[i]))
            for i in order
            if combined[i] > 0
        ]
