"""Notice when the person writing is in distress, before anything else.

Patterns (``distress.yaml``) are anchored on the writer, and a sentence
that reports someone else's words or the writer's past is set aside, so a
peer worker asking how to support someone who is struggling gets a scope
answer, while a peer worker who is struggling gets care first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

DISTRESS_FILE = Path(__file__).parent / "distress.yaml"
# Split where a message turns: "I used to... and now I'm..." is two thoughts.
_SENTENCES = re.compile(r"(?<=[.!?\n])\s+|\s+(?=(?:but|also|actually|now)\b)")


def normalise(text: str) -> str:
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'").replace("'", "")
    return re.sub(r"[ \t]+", " ", text)


@lru_cache(maxsize=1)
def support_resources(extra_dir: Path | None = None) -> dict:
    """Crisis and support lines: an organisation's resources.yaml wins."""
    local = extra_dir / "resources.yaml" if extra_dir else None
    path = local if local is not None and local.is_file() else Path(__file__).parent / "resources.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class DistressSign:
    kind: str
    sentence: str


@lru_cache(maxsize=1)
def shared_check() -> "DistressCheck":
    return DistressCheck()


class DistressCheck:
    def __init__(self, path: Path = DISTRESS_FILE):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.signs = [(kind, re.compile(p)) for kind, patterns in data["signs"].items() for p in patterns]
        self.reported = [re.compile(p) for p in data.get("reported", [])]
        self.about_me = [re.compile(p) for p in data.get("about_me", [])]
        self.about_me_words = re.compile(data.get("about_me_words", r"$^"))

    def find(self, text: str) -> DistressSign | None:
        """The first sign of distress in ``text`` that is about the writer, now."""
        whole = normalise(text)
        if any(p.search(whole) for p in self.about_me) and self.about_me_words.search(whole):
            return DistressSign(kind="about-me", sentence=whole)
        for sentence in _SENTENCES.split(whole):
            sentence = sentence.strip()
            if not sentence:
                continue
            for kind, pattern in self.signs:
                if pattern.search(sentence) and not any(r.search(sentence) for r in self.reported):
                    return DistressSign(kind=kind, sentence=sentence)
        return None
