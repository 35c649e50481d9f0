"""Trend charts for team summaries, drawn with matplotlib.

A supervisor reads these at a glance, in Slack, in a Teams card or as a
file, so each chart keeps to one scale: a check-in draws one small panel
per question, each on its own axis with the answer words at its ends
("Running on empty" ... "Plenty"), never a 1-4 item and a 1-5 item on one
axis; a pulse draws its 0-100 index and signs on one 0-100 axis that says
which end is worse. Rounds are named as people say them ("week of Nov 23",
"Nov 23"), each with how many people answered, and the legend sits beside
the plot, never over the lines.

Imported only when a summary has a trend to show, so nothing else pays for
matplotlib's start-up.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import threading
from typing import Any

from bot.model import Image
from knowledge.instruments import Instrument

_ISO_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
# One chart at a time across worker threads: matplotlib's text and font
# caches are shared, and a close of many teams draws one chart per team.
_DRAWING = threading.Lock()


def round_name(label: str) -> str:
    """A round's label as people say it: "2026-W48" is "week of Nov 23",
    an ISO date is "Nov 23"; anything else as it is."""
    week = _ISO_WEEK.match(label)
    if week:
        monday = dt.date.fromisocalendar(int(week.group(1)), int(week.group(2)), 1)
        return f"week of {monday:%b} {monday.day}"
    try:
        day = dt.datetime.fromisoformat(label)
    except ValueError:
        return label
    return f"{day:%b} {day.day}"


def _x_labels(rows: list[dict[str, Any]]) -> list[str]:
    years = {str(row["label"])[:4] for row in rows}
    labels = []
    for row in rows:
        name = round_name(str(row["label"]))
        if len(years) > 1 and re.match(r"^\d{4}", str(row["label"])):
            name += f" {str(row['label'])[:4]}"
        count = row.get("count")
        labels.append(f"{name}\n{count} answered" if count else name)
    return labels


def trend_chart(instrument: Instrument, team: str, rows: list[dict[str, Any]], series: dict[str, list[float | None]] | None = None) -> Image:
    """The trend across released rounds as a PNG: per-question panels for a
    check-in, or the given 0-100 ``series`` (a pulse's index and signs)."""
    with _DRAWING:
        return _draw(instrument, team, rows, series)


def _draw(instrument: Instrument, team: str, rows: list[dict[str, Any]], series: dict[str, list[float | None]] | None) -> Image:
    # The figure's own API, never pyplot's shared state: charts are drawn in
    # worker threads (a tenth of a second each, kept off the event loop), and
    # each figure is its own.
    from matplotlib.figure import Figure

    labels = _x_labels(rows)
    positions = list(range(len(rows)))
    title = f"{instrument.title.capitalize()}: {team} team"
    if series is None:
        items = instrument.scale_items()
        fig = Figure(figsize=(7, 2.1 * len(items) + 0.6), dpi=100)
        axes = fig.subplots(len(items), 1, sharex=True, squeeze=False)
        latest = []
        for ax, item in zip(axes[:, 0], items):
            assert item.scale is not None
            values = [row["summary"]["items"].get(item.id, {}).get("mean") for row in rows]
            _line(ax, positions, values)
            for x, value in zip(positions, values):
                if value is not None:
                    ax.annotate(f"{value:.1f}", (x, value), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=7)
            low, high = item.scale.min, item.scale.max
            ax.set_ylim(low - 0.3, high + 0.3)
            ax.set_yticks([low, high], [_short(item.scale.labels[low], 18), _short(item.scale.labels[high], 18)], fontsize=8)
            ax.set_title(_short(item.text, 80), fontsize=9, loc="left")
            ax.grid(alpha=0.3)
            if values and values[-1] is not None:
                latest.append(f"{_short(item.text)} {values[-1]} of {high}")
        axes[-1, 0].set_xticks(positions, labels, fontsize=8)
        fig.suptitle(title, fontsize=11, x=0.02, ha="left")
        alt = f"Trend over {len(rows)} rounds; latest averages: {', '.join(latest)}"
    else:
        fig = Figure(figsize=(8, 3.8), dpi=100)
        ax = fig.subplots()
        for number, (name, values) in enumerate(series.items()):
            # The first series is the overall index: drawn strongest.
            _line(ax, positions, values, label=_short(name), strong=number == 0)
        ax.set_ylim(-5, 105)
        worse_high = instrument.index is None or instrument.index.higher_means == "worse"
        ax.set_yticks([0, 50, 100], ["0 (no signs)" if worse_high else "0 (worst)", "50", "100 (strong signs)" if worse_high else "100 (best)"], fontsize=8)
        ax.set_xticks(positions, labels, fontsize=8)
        ax.set_title(title, fontsize=11, loc="left")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        latest = [f"{_short(name)} {values[-1]}" for name, values in series.items() if values and values[-1] is not None]
        alt = f"Trend over {len(rows)} rounds on a 0 to 100 scale; latest: {', '.join(latest)}"
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return Image(png=buffer.getvalue(), alt=alt, title=f"{team} {instrument.title}")


def _line(ax: Any, positions: list[int], values: list[float | None], label: str | None = None, strong: bool = False) -> None:
    style = {"color": "black", "linewidth": 2.6, "zorder": 3} if strong else {"linewidth": 1.4}
    ax.plot(positions, [v if v is not None else float("nan") for v in values], marker="o", label=label, **style)
    ax.set_xlim(-0.3, max(positions) + 0.3 if positions else 0.3)


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
