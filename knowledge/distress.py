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
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from knowledge.text_model import LinearTextModel

DISTRESS_FILE = Path(__file__).parent / "distress.yaml"
EXAMPLES_FILE = Path(__file__).parent / "distress_examples.yaml"
# The second opinion's score above which a message counts as distress: the
# SVM's own boundary. (At -0.2 it also caught a few calm workplace
# complaints; the patterns already cover what a lower bar would add.)
SECOND_OPINION_ABOVE = 0.0
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


def _second_opinion(examples: Path) -> "LinearTextModel | None":
    """A classifier trained on written examples of distress, against calm
    messages and every scope question in the knowledge base, to catch what
    the patterns miss."""
    if not examples.is_file():
        return None
    from knowledge.loader import load_entries
    from knowledge.text_model import LinearTextModel

    data = yaml.safe_load(examples.read_text(encoding="utf-8"))
    calm = list(data.get("not_distress", []))
    calm += [p for entry in load_entries().entries.values() for p in entry.phrasings]
    offtopic = Path(__file__).parent / "offtopic.yaml"
    calm += [p for route in yaml.safe_load(offtopic.read_text(encoding="utf-8")) for p in route["phrasings"]]
    distress = list(data.get("distress", []))
    return LinearTextModel(distress + calm, ["distress"] * len(distress) + ["calm"] * len(calm), C=0.5, class_weight="balanced")


class DistressCheck:
    def __init__(self, path: Path = DISTRESS_FILE, examples: Path = EXAMPLES_FILE):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.signs = [(kind, re.compile(p)) for kind, patterns in data["signs"].items() for p in patterns]
        self.reported = [re.compile(p) for p in data.get("reported", [])]
        self.figures = [re.compile(p) for p in data.get("figures_of_speech", [])]
        self.model = _second_opinion(examples)
        self.about_me = [re.compile(p) for p in data.get("about_me", [])]
        self.about_me_words = re.compile(data.get("about_me_words", r"$^"))

    def find(self, text: str, second_opinion: bool = True) -> DistressSign | None:
        """The first sign of distress in ``text`` that is about the writer, now.
        ``second_opinion=False`` uses the patterns only (for commands, where
        a word like "help" means the help command)."""
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
        if not second_opinion or self.model is None or any(f.search(whole) for f in self.figures):
            return None
        if self.model.score_of(text, "distress") > SECOND_OPINION_ABOVE:
            return DistressSign(kind="second-opinion", sentence=whole)
        return None
