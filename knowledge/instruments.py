"""Survey instruments as data: the weekly check-in and the pulse surveys.

An instrument is reviewed like the knowledge entries: questions in the
voice of peer support, which sign each one measures, and which direction
is good. An organisation's ``PEERBOT_KB_DIR/surveys/`` may add instruments
or replace a bundled one by id.
"""

from __future__ import annotations

from enum import Enum
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from knowledge.schema import ID_PATTERN, Source
from knowledge.yaml_text import load_yaml

BUNDLED = Path(__file__).parent / "surveys"


class ItemKind(str, Enum):
    scale = "scale"
    text = "text"


class Direction(str, Enum):
    good = "good"   # a high answer is a good sign
    bad = "bad"     # a high answer is a warning sign (reverse-scored in indexes)


class Scale(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min: int = 1
    max: int = 5
    labels: dict[int, str]

    @model_validator(mode="after")
    def _labels_cover_the_scale(self) -> "Scale":
        if self.max <= self.min:
            raise ValueError("max must be above min")
        if set(self.labels) != set(range(self.min, self.max + 1)):
            raise ValueError(f"label every point from {self.min} to {self.max}")
        return self


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    text: str = Field(min_length=5, max_length=200)
    kind: ItemKind = ItemKind.scale
    scale: Scale | None = None
    optional: bool = False
    max_length: int = Field(500, ge=50, le=2000)
    # What the item measures (a sign of co-optation, wellbeing, ...).
    measures: str = "general"
    high_is: Direction = Direction.good
    # At or below this answer, the person gets a kind, private reply with
    # support resources (check-ins).
    low_at_or_below: int | None = None

    @model_validator(mode="after")
    def _scale_items_have_a_scale(self) -> "Item":
        if self.kind is ItemKind.scale and self.scale is None:
            raise ValueError(f"item {self.id}: a scale item needs a scale")
        return self


class Index(BaseModel):
    """How a pulse's 0-100 index is computed.

    Each answer is scored 0 to 1 towards the index's meaning: for an item
    whose high answers are a warning sign (``high_is: bad``), (answer - min)
    / (max - min); for an item whose high answers are good, the reverse.
    An item's score is the average over the people who answered it; a
    sign's score is the average of its items; the index is the average of
    all items, times 100. With ``higher_means: better`` the scale is turned
    around (100 - score), for indexes such as role clarity.
    """

    model_config = ConfigDict(extra="forbid")

    title: str
    higher_means: str = Field("worse", pattern="^(worse|better)$")


class Instrument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    kind: str = Field(pattern="^(checkin|pulse)$")
    intro: str = Field(min_length=20, max_length=600)
    items: list[Item] = Field(min_length=1)
    # For pulses: the signs an index is computed for, with plain titles,
    # and concrete next steps, from the material, for when a sign is flagged.
    signs: dict[str, str] = Field(default_factory=dict)
    next_steps: dict[str, list[str]] = Field(default_factory=dict)
    index: Index | None = None
    sources: list[Source] = Field(min_length=1)

    @model_validator(mode="after")
    def _ids(self) -> "Instrument":
        if not ID_PATTERN.match(self.id):
            raise ValueError("the id is lower-case words joined by hyphens")
        ids = [item.id for item in self.items]
        if len(set(ids)) != len(ids):
            raise ValueError("item ids repeat")
        unknown = {i.measures for i in self.items if i.kind is ItemKind.scale} - set(self.signs) - {"general", "wellbeing"}
        if self.signs and unknown:
            raise ValueError(f"items measure signs that are not listed: {sorted(unknown)}")
        if self.kind == "pulse" and (self.index is None or not self.signs):
            raise ValueError("a pulse names its signs and how its index is computed")
        missing = set(self.signs) - set(self.next_steps) if self.kind == "pulse" else set()
        if missing:
            raise ValueError(f"give next steps for every sign: {sorted(missing)}")
        return self

    def scale_items(self) -> list[Item]:
        return [item for item in self.items if item.kind is ItemKind.scale]


class InstrumentError(Exception):
    pass


@lru_cache(maxsize=4)
def load_instruments(extra_dir: Path | None = None) -> dict[str, Instrument]:
    """Every instrument by id; an organisation's folder replaces by id."""
    folders = [BUNDLED] + ([Path(extra_dir) / "surveys"] if extra_dir else [])
    found: dict[str, Instrument] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            try:
                instrument = Instrument.model_validate(load_yaml(path.read_text(encoding="utf-8")))
            except (ValidationError, yaml.YAMLError) as exc:
                raise InstrumentError(f"{path}: {exc}") from None
            found[instrument.id] = instrument
    return found
