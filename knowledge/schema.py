"""The shape of a knowledge entry.

Entries are data reviewed by people, so the schema is strict: a typo in a
field name or a missing source is an error at load time, not a silent gap
in an answer a peer worker relies on.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SEED_FILES = (
    "000_2137eba02a587870.txt",
    "001_d476dd75f5525b42.txt",
    "002_8b578f9a8bd4a1db.txt",
    "003_95fceace7037bd74.txt",
    "004_eb4b9b483aa05215.txt",
)

ID_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_SENTENCE_END = re.compile(r"[.!?](?:[\"')\]]*)(?:\s|$)")


class Verdict(str, Enum):
    in_scope = "in_scope"
    out_of_scope = "out_of_scope"
    depends = "depends"
    info = "info"


class Source(BaseModel):
    """Where a fact comes from: a file (a seed, or an organisation's own
    document) and the slide heading or section inside it."""

    model_config = ConfigDict(extra="forbid")

    file: str = Field(min_length=1)
    section: str = Field(min_length=1)


class FollowUpChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=60)
    verdict: Verdict

    @field_validator("verdict")
    @classmethod
    def _a_ruling(cls, value: Verdict) -> Verdict:
        if value not in (Verdict.in_scope, Verdict.out_of_scope):
            raise ValueError("a follow-up answer leads to in_scope or out_of_scope")
        return value


class FollowUpSpec(BaseModel):
    """Optional, on a 'depends' entry: the one question that decides it, when
    it isn't who asked or whose goal it serves (the bot asks those by itself)."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=5, max_length=160)
    choices: list[FollowUpChoice] = Field(min_length=2, max_length=4)


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: str = Field(min_length=3, max_length=120)
    verdict: Verdict
    answer: str = Field(min_length=20, max_length=900)
    conditions: list[str] = Field(default_factory=list)
    instead: list[str] = Field(default_factory=list)
    phrasings: list[str] = Field(min_length=5)
    sources: list[Source] = Field(min_length=1)
    related: list[str] = Field(default_factory=list)
    follow_up: FollowUpSpec | None = None
    owner: str = Field(min_length=2)
    reviewed: dt.date

    @field_validator("id")
    @classmethod
    def _id_is_a_slug(cls, value: str) -> str:
        if not ID_PATTERN.match(value):
            raise ValueError("use lower-case words joined by hyphens, e.g. 'med-compliance-monitoring'")
        return value

    @field_validator("phrasings")
    @classmethod
    def _phrasings_are_distinct(cls, value: list[str]) -> list[str]:
        cleaned = [p.strip() for p in value if p.strip()]
        if len({p.lower() for p in cleaned}) != len(cleaned):
            raise ValueError("phrasings repeat each other")
        return cleaned

    @field_validator("answer")
    @classmethod
    def _answer_is_short(cls, value: str) -> str:
        sentences = len(_SENTENCE_END.findall(value.strip()))
        if not 2 <= sentences <= 4:
            raise ValueError(f"the answer has {sentences} sentences; keep it to two to four")
        return " ".join(value.split())

    @model_validator(mode="after")
    def _verdict_extras(self) -> "Entry":
        if self.verdict is Verdict.depends and not self.conditions:
            raise ValueError("a 'depends' entry names the conditions that decide it")
        if self.verdict is Verdict.out_of_scope:
            if not self.instead:
                raise ValueError("an 'out_of_scope' entry says what the peer worker can do instead")
            if not any("supervis" in step.lower() for step in self.instead):
                raise ValueError("an 'out_of_scope' entry offers raising it with a peer supervisor")
        return self


class OffTopicKind(str, Enum):
    clinical = "clinical"      # dosing, diagnosis, symptoms: declined, never answered
    workplace = "workplace"    # HR, payroll, IT, facilities: pointed to the right team
    general = "general"        # weather, trivia, small talk


class OffTopic(BaseModel):
    """A kind of question the bot does not answer, and where to point people.

    Off-topic routes compete with scope entries in retrieval, so that a
    payroll question lands here instead of on the nearest scope entry."""

    model_config = ConfigDict(extra="forbid")

    id: str
    title: str = Field(min_length=3, max_length=120)
    kind: OffTopicKind
    reply: str = Field(min_length=20, max_length=600)
    phrasings: list[str] = Field(min_length=8)

    _id_is_a_slug = field_validator("id")(Entry._id_is_a_slug.__func__)
    _phrasings_are_distinct = field_validator("phrasings")(Entry._phrasings_are_distinct.__func__)
