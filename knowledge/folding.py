"""Read a question and a phrasing the same way: lower case, straight
quotes, contractions closed up, and everyday synonyms as one canonical
word (``synonyms.yaml``).

Everything fitted from the knowledge base (the keyword index, the verdict
and distress models) reads folded text, so the cache keys of those
fitted results include ``fold_signature()``: editing a synonym, or this
code, fits them again.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path

from knowledge.yaml_text import load_yaml

SYNONYMS_FILE = Path(__file__).parent / "synonyms.yaml"
_CONTRACTION = re.compile(r"'(s|t|m|re|ve|ll|d)\b")


@lru_cache(maxsize=1)
def _synonym_rules() -> tuple[re.Pattern[str], dict[str, str]]:
    table = load_yaml(SYNONYMS_FILE.read_text(encoding="utf-8")) or {}
    mapping: dict[str, str] = {}
    for canonical, variants in table.items():
        token = canonical.replace("-", "_")
        for variant in variants:
            mapping[str(variant).lower()] = token
    ordered = sorted(mapping, key=len, reverse=True)
    pattern = re.compile(r"(?<![a-z0-9_])(" + "|".join(re.escape(v) for v in ordered) + r")(?![a-z0-9_])")
    return pattern, mapping


# Not memoised: questions and check-in notes are folded too, and what people
# write is not kept in memory any longer than answering takes.
def fold(text: str) -> str:
    """Lower-case, straighten quotes, and read synonyms as their canonical word."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    text = _CONTRACTION.sub(r"\1", text)  # don't -> dont, I'm -> im
    pattern, mapping = _synonym_rules()
    return pattern.sub(lambda m: " " + mapping[m.group(1)] + " ", text)


@lru_cache(maxsize=1)
def fold_signature() -> str:
    """Changes when the synonyms or the folding code change."""
    digest = hashlib.sha256(SYNONYMS_FILE.read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]
