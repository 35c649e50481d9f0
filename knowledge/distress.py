"""Notice when the person writing is in distress, before anything else.

Patterns (``distress.yaml``) are anchored on the writer, and a sentence
that reports someone else's words or the writer's past is set aside, so a
peer worker asking how to support someone who is struggling gets a scope
answer, while a peer worker who is struggling gets care first.

Care where it is needed, and only there. A crisis reply to "this paperwork
is killing me lol" is not harmless: it buries the answer the person asked
for and tells them the bot doesn't listen. So three kinds of words are told
apart:

- warning signs (the checklist the 988 Lifeline publishes, in our own
  words): wanting to die, hopelessness or no reason to live, feeling
  trapped or in unbearable pain, being a burden, a plan or a way, saying
  goodbye, putting one's affairs in order, giving things away. These count
  however they are said and whatever else the message says about work;
- soft signs ("I can't take this anymore", "it's all too much"): the same
  words serve for despair and for a bad shift, so they count unless the
  sentence is aimed at work ("...this caseload anymore");
- venting and burnout ("so done with this shift", "giving up on this job",
  "exhausted and burnt out"): everyday speech about work. The venting is set
  aside before the second opinion reads the message, and a message of
  tiredness or burnout is not sent to it at all: the classifier hears
  "done", "giving up" and "exhausted" as distress. ``is_burnout`` lets the
  scope answer offer self-care and supervision instead.

A miss costs far more than a false alarm, so the warning signs are broad and
the exemptions narrow: an exemption only ever removes soft words, never a
warning sign.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from knowledge.yaml_text import load_yaml

if TYPE_CHECKING:
    from knowledge.text_model import LinearTextModel

DISTRESS_FILE = Path(__file__).parent / "distress.yaml"
EXAMPLES_FILE = Path(__file__).parent / "distress_examples.yaml"
# The second opinion's score above which a message counts as distress: the
# SVM's own boundary. (At -0.2 it also caught a few calm workplace
# complaints; the patterns already cover what a lower bar would add.)
SECOND_OPINION_ABOVE = 0.0
# With work venting or burnout named in the message, the whole message must
# score at least this (measured on benchmarks/data/crisis-fresh.jsonl: work
# venting scored 0.04-0.57, the crises that came with venting 1.18-1.85;
# every other set unchanged).
VENTING_BAR = 0.6
# A sentence "about work" only because it names a stretch of time.
_ONLY_TIME = re.compile(r"\b(day|week|month|workday)$")
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
    return load_yaml(path.read_text(encoding="utf-8"))


# Words that carry no thought of their own once venting is set aside.
_FILLER = frozenset(
    "i im me my so just really totally honestly feel feeling like and but lol haha hahaha lmao ugh omg tbh the a an "
    "this that is am are was of with at to today rn right now kinda sort of pretty very super too all".split()
)


def _either(patterns) -> re.Pattern[str]:
    alternatives = [f"(?:{p.pattern})" for p in patterns]
    return re.compile("|".join(alternatives) if alternatives else r"(?!x)x")


def _kind_of(signs: list[tuple[str, re.Pattern[str]]], sentence: str) -> str:
    return next(kind for kind, pattern in signs if pattern.search(sentence))


def _has_content(text: str) -> bool:
    return any(w not in _FILLER for w in re.findall(r"[a-z]+", text))


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
    from knowledge.model_cache import fitted_model

    data = load_yaml(examples.read_text(encoding="utf-8"))
    calm = list(data.get("not_distress", []))
    calm += [p for entry in load_entries().entries.values() for p in entry.phrasings]
    offtopic = Path(__file__).parent / "offtopic.yaml"
    calm += [p for route in load_yaml(offtopic.read_text(encoding="utf-8")) for p in route["phrasings"]]
    distress = list(data.get("distress", []))
    labels = ["distress"] * len(distress) + ["calm"] * len(calm)
    return fitted_model("distress", distress + calm, labels, C=0.5, class_weight="balanced")


class DistressCheck:
    def __init__(self, path: Path = DISTRESS_FILE, examples: Path = EXAMPLES_FILE):
        data = load_yaml(path.read_text(encoding="utf-8"))
        self.signs = [(kind, re.compile(p)) for kind, patterns in data["signs"].items() for p in patterns]
        self.soft_signs = [(kind, re.compile(p)) for kind, patterns in data.get("soft_signs", {}).items() for p in patterns]
        self.venting = [re.compile(p) for p in data.get("venting_phrases", [])]
        self.about_work = [re.compile(p) for p in data.get("venting_about_work", [])]
        self.burnout = [re.compile(p) for p in data.get("burnout", [])]
        self.reported = [re.compile(p) for p in data.get("reported", [])]
        # Short lists are searched as one pattern (answers are timed in
        # milliseconds). The long list of signs is not: Python's regex engine
        # runs a 150-way alternation at every position, twice as slowly.
        self._any_soft = _either(p for _, p in self.soft_signs)
        self._any_reported = _either(self.reported)
        self._any_work = _either(self.about_work)
        self._any_burnout = _either(self.burnout)
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
        aimed_at_work = False  # a soft sign set aside because the sentence is about the work
        for sentence in _SENTENCES.split(whole):
            sentence = sentence.strip()
            if not sentence:
                continue
            hard = next((kind for kind, pattern in self.signs if pattern.search(sentence)), None)
            soft = None if hard else self._any_soft.search(sentence)
            if not (hard or soft) or self._any_reported.search(sentence):
                continue
            if hard:
                return DistressSign(kind=hard, sentence=sentence)
            work = self._any_work.search(sentence)
            if not work:
                return DistressSign(kind=_kind_of(self.soft_signs, sentence), sentence=sentence)
            # "one more day of this" names a day, not the work: the second opinion still reads it as usual.
            aimed_at_work = aimed_at_work or not _ONLY_TIME.search(work.group(0))
        if not second_opinion or self.model is None or any(f.search(whole) for f in self.figures):
            return None
        rest = whole
        for phrase in (*self.venting, *self.burnout):
            rest = phrase.sub(" ", rest)
        if rest != whole and not _has_content(rest):
            return None
        if self.model.score_of(rest, "distress") <= SECOND_OPINION_ABOVE:
            return None
        if (rest != whole or aimed_at_work or self._any_reported.search(whole)) and self.model.score_of(whole, "distress") < VENTING_BAR:
            # Venting named in it ("so done with this shift", "burnt out"):
            # what is left once it's taken out ("I want to", "three more
            # hours to go") reads darker to the model than the message does;
            # and words quoted from someone else, or from the past, read dark
            # too, and so do soft words aimed at the work ("I don't know how
            # much longer I can keep doing this job"). Then the whole message
            # has to read as distress clearly.
            return None
        return DistressSign(kind="second-opinion", sentence=whole)

    def is_burnout(self, text: str) -> bool:
        """Tiredness or burnout, named as such ("exhausted", "burnt out"), or
        venting about the work itself ("giving up on this job")."""
        whole = normalise(text)
        return bool(self._any_burnout.search(whole)) or any(v.search(whole) for v in self.venting)
