"""Fit a text model once per knowledge base, and load the result after.

Every process used to train two SVMs at start (the verdict model and the
distress second opinion): a second and a half, and scikit-learn's 70 MB,
in the server, the terminal chat and every CLI command. Now the fitted
weights are saved under a key made of exactly what the fit reads: the
training texts and labels, the folding rules (synonyms and the code that
applies them), the fit's settings, this format's version and
scikit-learn's version. The keyword index (``knowledge.keyword_index``)
is kept the same way, so a start with a warm cache imports neither
scikit-learn nor bm25s and scipy. Editing an entry, a synonym or an
example changes the key, so a stale result is never loaded; a cache file
that cannot be read (cut short, corrupt, from an older format) is set
aside and the model is fitted again.

The cache lives in ``knowledge.cache.cache_dir()``. When no cache
directory can be written the model is fitted in memory, as before: the
cache only ever saves time.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import numpy as np

from knowledge import text_model
from knowledge.cache import cache_dir, code_signature, package_version, read_trusted, write_whole
from knowledge.folding import fold, fold_signature
from knowledge.text_model import LinearTextModel

T = TypeVar("T")

log = logging.getLogger(__name__)

# Bump when what is saved, or how it is fitted, changes.
FORMAT = 2
# Results kept per model name; older ones (an edited knowledge base) are removed.
KEEP = 8


@lru_cache(maxsize=1)
def _analyzers() -> str:
    """The code that cuts n-grams and scores (text_model.py): a change there fits again."""
    return code_signature(text_model.__file__)


def content_key(name: str, *parts: object) -> str:
    """A short digest of a model's name, this format and everything it is made from."""
    digest = hashlib.sha256()
    digest.update(json.dumps([FORMAT, name]).encode())
    for part in parts:
        digest.update(json.dumps(part).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:24]


def _load(path: Path) -> dict[str, np.ndarray] | None:
    data = read_trusted(path)
    if data is None:
        return None
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            return {name: arrays[name] for name in arrays.files}
    except Exception as exc:  # anything unreadable is refitted, never a traceback
        log.warning("fitted model %s could not be read (%s); fitting it again", path.name, exc.__class__.__name__)
        return None


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_whole(path, buffer.getvalue(), KEEP)


def cached_arrays(name: str, key: str, build: Callable[[], dict[str, np.ndarray]],
                  read: Callable[[dict[str, np.ndarray]], T]) -> T:
    """``read(arrays)`` of the arrays saved under ``name`` and ``key``, or of
    ``build()``'s, saved for next time. Arrays that can't be read back into
    a model (a file from an older layout) are built again."""
    folder = cache_dir()
    path = folder / f"{name}-{key}.npz" if folder is not None else None
    arrays = _load(path) if path is not None else None
    if arrays is not None:
        try:
            return read(arrays)
        except (KeyError, ValueError, IndexError, TypeError) as exc:
            log.warning("fitted model %s could not be read (%s); fitting it again", path.name, exc.__class__.__name__)
    arrays = build()
    if path is not None:
        _save(path, arrays)
    return read(arrays)


def fitted_model(name: str, texts: Sequence[str], labels: Sequence[str], *, C: float,
                 class_weight: dict | str | None = None) -> LinearTextModel:
    """The model fitted on these texts (folded first): loaded from the cache,
    or fitted and cached. The key is made of the texts as written and the
    folding rules, so a process that finds its model folds nothing."""
    key = content_key(name, [C, class_weight, package_version("scikit-learn"), fold_signature(), _analyzers()],
                      list(texts), list(labels))

    def fit() -> dict[str, np.ndarray]:
        return LinearTextModel.fit([fold(t) for t in texts], labels, C=C, class_weight=class_weight).arrays()

    return cached_arrays(name, key, fit, LinearTextModel.from_arrays)
