"""BM25 keyword scores over short documents, built once and scored with numpy.

bm25s builds the index: it works out each word's BM25 weight in each
document and keeps them as one sparse column per word. Building it imports
scipy (a fifth of a second and 30 MB at start), so the built columns are
kept as plain arrays by ``knowledge.model_cache``, and a question is scored
from them here, exactly as bm25s's ``get_scores`` scores it (the same
columns added in the same order, in float32), without importing bm25s.
"""

from __future__ import annotations

import logging
from typing import Mapping, Sequence

import numpy as np


class KeywordIndex:
    """One BM25 weight per (word, document), by word."""

    def __init__(self, words: Sequence[str], data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, documents: int):
        self.columns = {word: i for i, word in enumerate(words)}
        self.data = data
        self.indices = indices
        self.indptr = indptr
        self.documents = int(documents)

    @classmethod
    def build(cls, documents: Sequence[Sequence[str]]) -> "KeywordIndex":
        """Index tokenised documents (the only place bm25s is used)."""
        import bm25s

        # bm25s logs every index build at DEBUG, its logger set so at import; keep it quiet.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        built = bm25s.BM25()
        built.index([list(d) for d in documents], show_progress=False)
        scores = built.scores
        # bm25s adds an empty word to its vocabulary with no column behind it.
        columns = len(scores["indptr"]) - 1
        words = [""] * columns
        for word, column in built.vocab_dict.items():
            if column < columns:
                words[column] = word
        return cls(words, scores["data"], scores["indices"], scores["indptr"], scores["num_docs"])

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """Each document's BM25 score for these query tokens (repeats count again, as in bm25s)."""
        out = np.zeros(self.documents, dtype=self.data.dtype)
        for token in tokens:
            column = self.columns.get(token)
            if column is not None:
                start, end = self.indptr[column], self.indptr[column + 1]
                out[self.indices[start:end]] += self.data[start:end]
        return out

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        words = sorted(self.columns, key=self.columns.__getitem__)
        return {f"{prefix}words": np.array(words, dtype=str), f"{prefix}data": self.data,
                f"{prefix}indices": self.indices, f"{prefix}indptr": self.indptr,
                f"{prefix}documents": np.array(self.documents)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], prefix: str) -> "KeywordIndex":
        index = cls(arrays[f"{prefix}words"].tolist(), arrays[f"{prefix}data"], arrays[f"{prefix}indices"],
                    arrays[f"{prefix}indptr"], int(arrays[f"{prefix}documents"]))
        if len(index.indptr) != len(index.columns) + 1:
            raise ValueError("index columns and words disagree")
        return index
