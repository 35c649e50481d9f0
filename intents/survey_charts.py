"""Trend charts for team summaries, drawn with matplotlib.

Imported only when a summary has a trend to show, so nothing else pays for
matplotlib's start-up.
"""

from __future__ import annotations

import io
from typing import Any

from bot.model import Image
from knowledge.instruments import Instrument


def trend_chart(instrument: Instrument, team: str, rows: list[dict[str, Any]], series: dict[str, list[float | None]] | None = None) -> Image:
    """A line per item (or per given series) across released rounds, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    labels = [row["label"] for row in rows]
    if series is None:
        series = {
            item.text: [row["summary"]["items"].get(item.id, {}).get("mean") for row in rows]
            for item in instrument.scale_items()
        }
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=100)
    try:
        for name, values in series.items():
            ax.plot(labels, [v if v is not None else float("nan") for v in values], marker="o", label=_short(name))
        ax.set_title(f"{instrument.title.capitalize()}: {team} team")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        fig.autofmt_xdate(rotation=30)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    finally:
        plt.close(fig)
    trend = ", ".join(f"{_short(name)} {values[-1]}" for name, values in series.items() if values and values[-1] is not None)
    return Image(png=buffer.getvalue(), alt=f"Trend over {len(rows)} rounds; latest: {trend}", title=f"{team} {instrument.title}")


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
