"""From a question to a decision: crisis, a scope ruling, background, an
off-topic pointer, or "I'm not sure".

This is the one place that decides; the chat intent and the ``peerbot ask``
and ``peerbot eval`` commands all call ``KnowledgeBase.answer`` so that what
is measured is exactly what people get.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from knowledge.distress import DistressSign, shared_check, support_resources
from knowledge.loader import LoadReport, load_entries
from knowledge.matching import Matcher, Ranked
from knowledge.schema import Entry, OffTopic, OffTopicKind, Verdict
from knowledge.verdicts import OFFTOPIC, VerdictModel

HERE = Path(__file__).parent

# Dosing questions are clinical whatever else they mention: declined, never
# answered, even when they share words with a scope entry.
DOSING = re.compile(
    r"\b(\d+\s?mg|milligrams?|dosage|dosing|doses?|max(imum)? (daily )?(dose|amount))\b|"
    r"\bhow (much|many)\b[^.?!]{0,40}\b(can|should|could) (i|he|she|they|someone) (take|have)\b",
    re.IGNORECASE,
)
# What a tired or burnt-out person is offered (see ``_care_entries``).
CARE_TOPICS = (
    "taking breaks and self-care when I'm burnt out or exhausted",
    "asking my peer supervisor for support and supervision",
)
_ASKS = re.compile(
    r"\?|\b(can|could|may|should|do|does|is|are|am|who|what|how|where|when|which|why)\b[^.!]*\b(i|we|peers?|my|it|this|that|someone)\b",
    re.IGNORECASE,
)


def asks_something(question: str) -> bool:
    """A question, not only a sigh: "is it ok to ask for a break?" vs "so tired"."""
    return bool(_ASKS.search(question))


# Below this confidence the bot says it isn't sure instead of ruling.
NOT_SURE_BELOW = 0.3
# Two entries with different rulings this close in retrieval, while the
# verdict model barely prefers one ruling: ask which was meant.
CLOSE_CALL = 0.1
CLOSE_MARGIN = 0.15


@dataclass
class ScopeAnswer:
    """What the bot concluded about one question."""

    verdict: str                     # in_scope, out_of_scope, depends, unknown, crisis
    kind: str                        # ruling, info, offtopic, clinical, not_sure, crisis
    confidence: float
    entry: Entry | None = None
    route: OffTopic | None = None
    distress: DistressSign | None = None
    alternatives: list[Entry] = field(default_factory=list)
    close_call: bool = False
    care: list[Entry] = field(default_factory=list)  # offered alongside, to someone who says they are worn out

    def as_json(self, sources: dict[str, str]) -> dict[str, Any]:
        entry = self.entry
        return {
            "verdict": self.verdict,
            "kind": self.kind,
            "entry_id": entry.id if entry else (self.route.id if self.route else None),
            "confidence": round(self.confidence, 3),
            "answer": entry.answer if entry else (self.route.reply if self.route else ""),
            "conditions": entry.conditions if entry else [],
            "instead": entry.instead if entry else [],
            "sources": [
                {"file": s.file, "section": s.section, "title": sources.get(s.file, s.file)}
                for s in (entry.sources if entry else [])
            ],
            "alternatives": [e.id for e in self.alternatives],
        }


def _read_yaml(name: str, extra_dir: Path | None) -> Any:
    local = extra_dir / name if extra_dir else None
    path = local if local is not None and local.is_file() else HERE / name
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _fingerprint(extra_dir: Path | None) -> tuple:
    """Changes when any knowledge file changes, so an edited folder is reloaded."""
    folders = [HERE, HERE / "entries"] + ([extra_dir] if extra_dir else [])
    return tuple(
        (str(p), p.stat().st_mtime_ns, p.stat().st_size)
        for folder in folders
        if folder.is_dir()
        for p in sorted(folder.glob("*.y*ml"))
    )


@lru_cache(maxsize=4)
def _load_cached(extra_dir: Path | None, fingerprint: tuple) -> "KnowledgeBase":
    return KnowledgeBase.build(extra_dir)


class KnowledgeBase:
    """Everything the scope answers are made from, loaded once."""

    def __init__(self, report: LoadReport, offtopics: list[OffTopic], resources: dict[str, Any], sources: dict[str, str]):
        self.report = report
        self.entries = report.entries
        self.offtopics = {route.id: route for route in offtopics}
        self.resources = resources
        self.sources = sources
        self.distress = shared_check()
        self.matcher = Matcher(self.entries.values(), offtopics)
        self.verdicts = VerdictModel(self.entries.values(), offtopics)
        self.care_entries = self._care_entries()

    @classmethod
    def load(cls, extra_dir: Path | None = None) -> "KnowledgeBase":
        """Load (once per process and folder: the knowledge base never changes
        while the bot runs, and training the verdict model takes a moment)."""
        return _load_cached(extra_dir.resolve() if extra_dir else None, _fingerprint(extra_dir))

    @classmethod
    def build(cls, extra_dir: Path | None = None) -> "KnowledgeBase":
        report = load_entries(extra_dir)
        offtopics = [OffTopic.model_validate(item) for item in _read_yaml("offtopic.yaml", extra_dir)]
        return cls(report, offtopics, support_resources(extra_dir), _read_yaml("sources.yaml", None))

    def _care_entries(self) -> list[Entry]:
        """The entries a tired or burnt-out person is offered: looking after
        oneself, and support from a supervisor. Found by what they are about,
        not by id, so an organisation's own entries on these topics count."""
        found: list[Entry] = []
        for topic in CARE_TOPICS:
            best = next((r for r in self.matcher.rank(topic, k=5) if r.target.kind == "entry"), None)
            if best is not None and self.entries[best.target.id] not in found:
                found.append(self.entries[best.target.id])
        return found

    def source_title(self, file: str) -> str:
        return self.sources.get(file, file)

    def answer(self, question: str) -> ScopeAnswer:
        result = self._decide(question)
        if result.kind not in ("crisis", "care") and self.care_entries and self.distress.is_burnout(question):
            result.care = [e for e in self.care_entries if e is not result.entry]
        return result

    def _decide(self, question: str) -> ScopeAnswer:
        sign = self.distress.find(question)
        if sign is not None:
            return ScopeAnswer(verdict="crisis", kind="crisis", confidence=1.0, distress=sign)
        if self.care_entries and self.distress.is_burnout(question) and not asks_something(question):
            # Tired or burnt out, and not asking about the role: offer care, not a ruling.
            return ScopeAnswer(verdict="unknown", kind="care", confidence=1.0, entry=self.care_entries[0],
                               alternatives=self.care_entries[1:])
        ranked = self.matcher.rank(question, k=10)
        if not ranked or not re.search(r"[^\W\d_]{2}", question):  # nothing word-like to go on
            return ScopeAnswer(verdict="unknown", kind="not_sure", confidence=0.0)
        guess = self.verdicts.guess(question)
        # The best-ranked candidate with the ruling the verdict model expects.
        chosen = next((r for r in ranked if self._label(r) == guess.label), None)
        if chosen is not None and chosen is not ranked[0]:
            ranked = [chosen, *[r for r in ranked if r is not chosen]]
        top = ranked[0]
        confidence = self._confidence(ranked, guess.margin if chosen is not None else 0.0)
        if DOSING.search(question) and "medication-dosing" in self.offtopics:
            route = self.offtopics["medication-dosing"]
            return ScopeAnswer(verdict="unknown", kind="clinical", confidence=max(confidence, 0.9), route=route)
        if top.target.kind == "offtopic":
            route = self.offtopics[top.target.id]
            kind = "clinical" if route.kind is OffTopicKind.clinical else "offtopic"
            return ScopeAnswer(verdict="unknown", kind=kind, confidence=confidence, route=route)
        entries = [self.entries[r.target.id] for r in ranked if r.target.kind == "entry"]
        if confidence < NOT_SURE_BELOW:
            return ScopeAnswer(verdict="unknown", kind="not_sure", confidence=confidence, alternatives=entries[:3])
        entry = entries[0]
        rival = next(
            (r for r in ranked[1:] if r.target.kind == "entry" and self.entries[r.target.id].verdict != entry.verdict),
            None,
        )
        # Ask which was meant only when neither the words nor the wording decide.
        close = (
            rival is not None
            and guess.margin < CLOSE_MARGIN
            and abs(top.score - rival.score) < CLOSE_CALL
        )
        alternatives = [self.entries[rival.target.id]] if close and rival else []
        if entry.verdict is Verdict.info:
            # Background, not a ruling: reported as no verdict.
            return ScopeAnswer(verdict="unknown", kind="info", confidence=confidence, entry=entry, alternatives=alternatives, close_call=close)
        return ScopeAnswer(
            verdict=entry.verdict.value,
            kind="ruling",
            confidence=confidence,
            entry=entry,
            alternatives=alternatives,
            close_call=close,
        )

    def _label(self, ranked: Ranked) -> str:
        if ranked.target.kind == "offtopic":
            return OFFTOPIC
        return self.entries[ranked.target.id].verdict.value

    @staticmethod
    def _confidence(ranked: list[Ranked], margin: float) -> float:
        """How sure the answer is, from 0 to 1: words shared with the chosen
        entry's phrasings, and how clearly the verdict model prefers its ruling."""
        top = ranked[0]
        evidence = min(1.0, max(top.phrase, top.pooled * 0.8) / 6.0)
        lead = min(1.0, max(0.0, margin) / 1.0)
        return 0.6 * evidence + 0.4 * lead
