"""The 0-100 pulse index, overall and per sign (see knowledge.instruments.Index).

Pure arithmetic on item averages, so it can be checked by hand: because
each item's score is a straight line of the answer, the average of the
scores equals the score of the average answer.
"""

from __future__ import annotations

from statistics import fmean

from knowledge.instruments import Direction, Instrument, Item


def item_score(item: Item, mean: float) -> float:
    """0 to 1 towards 'worse': reverse-scored for items where high is good."""
    assert item.scale is not None
    share = (mean - item.scale.min) / (item.scale.max - item.scale.min)
    return share if item.high_is is Direction.bad else 1.0 - share


def index_of(instrument: Instrument, means: dict[str, float | None]) -> dict[str, object]:
    """{"overall": 0-100, "signs": {sign: 0-100}} from item averages; items no
    one answered are left out."""
    assert instrument.index is not None
    worse = {item.id: item_score(item, means[item.id]) for item in instrument.scale_items() if means.get(item.id) is not None}
    flip = instrument.index.higher_means == "better"

    def scaled(values: list[float]) -> float | None:
        if not values:
            return None
        score = fmean(values)
        return round(100 * (1 - score if flip else score), 1)

    signs = {
        sign: scaled([worse[i.id] for i in instrument.scale_items() if i.measures == sign and i.id in worse])
        for sign in instrument.signs
    }
    return {"overall": scaled(list(worse.values())), "signs": signs}


def is_concerning(instrument: Instrument, value: float | None, threshold: float) -> bool:
    """Past the threshold in the index's bad direction."""
    if value is None or instrument.index is None:
        return False
    return value >= threshold if instrument.index.higher_means == "worse" else value <= 100 - threshold


def worsened(instrument: Instrument, now: float | None, before: float | None, jump: float) -> bool:
    if now is None or before is None or instrument.index is None:
        return False
    change = now - before if instrument.index.higher_means == "worse" else before - now
    return change >= jump
