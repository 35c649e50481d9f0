"""Fit a text model once per knowledge base, and load the result after.

Every process used to train two SVMs at start (the verdict model and the
distress second opinion): a second and a half, and scikit-learn's 70 MB,
in the server, the terminal chat and every CLI command. Now the fitted
weights are saved under a key made of exactly what the fit reads: the
folded training texts and labels, the fit's settings, this format's
version and scikit-learn's version. Editing an entry, a synonym or an
example changes the key, so a stale result is never loaded; a cache file
that cannot be read (cut short, corrupt, from an older format) is set
aside and the model is fitted again.

The cache lives in ``PEERBOT_CACHE_DIR``, else ``$XDG_CACHE_HOME/peerbot``
(``~/.cache/peerbot``), never beside the package, which may be installed
read-only. When no cache directory can be written the model is fitted in
memory, as before: the cache only ever saves time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Sequence

import numpy as np

from knowledge.text_model import LinearTextModel

log = logging.getLogger(__name__)

# Bump when what is saved, or how it is fitted, changes.
FORMAT = 1
# Results kept per model name; older ones (an edited knowledge base) are removed.
KEEP = 8


def cache_dir() -> Path | None:
    """Where fitted models are kept; None when there is no home to keep them in."""
    explicit = os.environ.get("PEERBOT_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no HOME and no passwd entry (some containers)
            return None
    return Path(base) / "peerbot"


def _fitter_version() -> str:
    """scikit-learn's version, read without importing it (a new release may fit differently)."""
    try:
        return metadata.version("scikit-learn")
    except metadata.PackageNotFoundError:
        return "none"


def cache_key(name: str, folded: Sequence[str], labels: Sequence[str], C: float, class_weight: object) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([FORMAT, name, C, class_weight, _fitter_version()]).encode())
    for text, label in zip(folded, labels, strict=True):
        digest.update(json.dumps([text, label]).encode())
    return digest.hexdigest()[:24]


def _load(path: Path) -> LinearTextModel | None:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return LinearTextModel.from_arrays(arrays)
    except FileNotFoundError:
        return None
    except Exception as exc:  # anything unreadable is refitted, never a traceback
        log.warning("fitted model %s could not be read (%s); fitting it again", path.name, exc.__class__.__name__)
        return None


def _save(path: Path, model: LinearTextModel) -> None:
    """Write atomically (a reader never sees half a file), then prune old results."""
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **model.arrays())
        os.replace(temporary, path)
    except OSError as exc:
        log.info("fitted model not cached in %s (%s); it will be fitted again next start", path.parent, exc)
        if temporary is not None:
            with contextlib.suppress(OSError):
                Path(temporary).unlink()
        return
    name = path.name.rsplit("-", 1)[0]
    older = sorted(path.parent.glob(f"{name}-*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)[KEEP:]
    for stale in older:
        with contextlib.suppress(OSError):
            stale.unlink()


def fitted_model(name: str, folded: Sequence[str], labels: Sequence[str], *, C: float,
                 class_weight: dict | str | None = None) -> LinearTextModel:
    """The model fitted on these texts: loaded from the cache, or fitted and cached."""
    folder = cache_dir()
    if folder is None:
        return LinearTextModel.fit(folded, labels, C=C, class_weight=class_weight)
    path = folder / f"{name}-{cache_key(name, folded, labels, C, class_weight)}.npz"
    model = _load(path)
    if model is None:
        model = LinearTextModel.fit(folded, labels, C=C, class_weight=class_weight)
        _save(path, model)
    return model
