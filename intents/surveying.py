"""The anonymous survey flow shared by check-ins and pulse surveys.

One mechanism, two capabilities: a person gets a one-time token inside a
private message (never stored next to them), opens the form with it, sees
exactly what will be stored and who can see what, and sends it. The token
travels in the form and the buttons, on the chat platform's side; the bot
keeps only its hash. Team results come out only when a round closes, and
only when at least ``PEERBOT_MIN_GROUP`` people answered.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from typing import Any

from bot.model import Choice, Destination, FieldKind, Form, FormField, Option, Reply
from bot.store.surveys import Ballot, Tallies, TokenError
from intents.base import Context
from knowledge.distress import support_resources
from knowledge.instruments import Instrument, ItemKind

def who_sees(instrument: Instrument, k: int) -> str:
    """The consent line, saying exactly what happens to these answers: the
    team and its supervisors get the combined numbers; notes, where the form
    has one, go word for word to the peer supervisors only."""
    text = (
        "Who sees what: your answers are stored with the team and the period only: no name, no user id, no time. "
        f"Once the round closes, and only if at least {k} people answered, the peer supervisors and your team "
        "see the team's combined numbers."
    )
    if any(item.kind is ItemKind.text for item in instrument.items):
        text += " A note goes to the peer supervisors only, word for word, mixed in random order with the others; the team doesn't see the notes."
    return text

# Things in a free-text note that could point to the writer or someone else.
_MENTION = re.compile(r"(<@[\w.-]+>|@\w+)")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b")
_PHONE = re.compile(r"\b(?:\+?\d[\s().-]?){7,}\b")
_DATE = re.compile(
    r"\b(\d{1,2}[/.-]\d{1,2}([/.-]\d{2,4})?|\d{4}-\d{2}-\d{2}|(mon|tues|wednes|thurs|fri|satur|sun)day|yesterday|"
    r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.? \d{1,2}(st|nd|rd|th)?)\b",
    re.IGNORECASE,
)
# Everyday words that start sentences; any other capitalised first word may be a name.
_COMMON_STARTS = set(
    """a about after all also always an and another any anything are as at be because been before being both but by
    can could did do does doing done during each even every everyone everything feel feeling feels felt few for from
    getting go going good got had has have having he her here hers him his honestly how however i if in is it its
    just last lately less let like lot lots made make many maybe me more most much my need needed needs never next
    no not nothing now of often ok okay on once one only or other our out over please pretty quite really right same
    she since so some someone something sometimes still such supervision thank thanks that the their them then
    there these they things think this those though through time to today too tough trying very was we week
    were what when where which while who why will with work working would yes yet you your""".split()
)
_COMMON_CAPITALS = {
    "I", "I'm", "I've", "I'd", "I'll", "The", "A", "An", "My", "We", "It", "This", "That", "And", "But", "So", "If",
    "When", "Our", "Please", "Thanks", "Thank", "Also", "Just", "Not", "No", "Yes", "Ok", "OK", "Monday", "Tuesday",
    "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "AA", "NA", "WRAP", "ACT", "HR", "IT",
}


def identifying_bits(text: str) -> list[str]:
    """What in a note could identify someone: mentions, contact details,
    dates, and capitalised words that look like names."""
    found = [m.group(0) for pattern in (_MENTION, _EMAIL, _PHONE, _DATE) for m in pattern.finditer(text)]
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        words = re.findall(r"[A-Za-z][\w'-]*", sentence)
        for position, word in enumerate(words):
            if not word[0].isupper() or word in _COMMON_CAPITALS or word.isupper():
                continue
            if position == 0 and word.lower() in _COMMON_STARTS:
                continue
            found.append(word)
    seen: list[str] = []
    for bit in found:
        if bit not in seen:
            seen.append(bit)
    return seen


def ballot_of(instrument: Instrument) -> Ballot:
    """What a round of this instrument allocates when it opens: a count cell
    per answer point of each scale question, note slots for each text one."""
    return Ballot(
        scales={i.id: list(range(i.scale.min, i.scale.max + 1)) for i in instrument.scale_items() if i.scale is not None},
        notes={i.id: i.max_length for i in instrument.items if i.kind is ItemKind.text},
    )


def note_sizes(instrument: Instrument) -> dict[str, int]:
    return ballot_of(instrument).notes


def survey_form(intent: str, instrument: Instrument, token: str, initial: dict[str, Any] | None = None) -> Form:
    fields = []
    for item in instrument.items:
        value = (initial or {}).get(item.id)
        if item.kind is ItemKind.scale:
            assert item.scale is not None
            fields.append(
                FormField(
                    name=item.id, label=item.text, kind=FieldKind.choice, required=not item.optional,
                    options=[Option(label=label, value=str(point)) for point, label in sorted(item.scale.labels.items())],
                    initial=str(value) if value is not None else None,
                )
            )
        else:
            fields.append(
                FormField(name=item.id, label=item.text, kind=FieldKind.long_text, required=not item.optional,
                          max_length=item.max_length, initial=value)
            )
    return Form(
        id=f"{intent}:answers", title=f"the {instrument.title}", intro=instrument.intro, fields=fields,
        submit_label="Review", sensitive=True, anonymous=True, hidden={"token": token},
    )


def clean_answers(instrument: Instrument, values: dict[str, Any]) -> dict[str, Any]:
    """Answers as stored: scale points as numbers, empty text left out."""
    answers: dict[str, Any] = {}
    for item in instrument.items:
        value = values.get(item.id)
        if value in (None, ""):
            continue
        answers[item.id] = int(value) if item.kind is ItemKind.scale else str(value).strip()
    return answers


def _pack(token: str, answers: dict[str, Any]) -> str:
    # Unescaped, so notes in any script stay well inside button size limits.
    return json.dumps({"t": token, "a": answers}, separators=(",", ":"), ensure_ascii=False)


def unpack(value: str) -> tuple[str, dict[str, Any]] | None:
    try:
        data = json.loads(value)
        return str(data["t"]), dict(data["a"])
    except (ValueError, KeyError, TypeError):
        return None


def preview(intent: str, instrument: Instrument, answers: dict[str, Any], token: str, min_group: int) -> Reply:
    """Exactly what will be stored, who can see what, and a last chance to change it."""
    lines = ["Here is exactly what will be stored:"]
    for item in instrument.items:
        if item.id not in answers:
            lines.append(f"• {item.text} (skipped)")
        elif item.kind is ItemKind.scale and item.scale is not None:
            lines.append(f"• {item.text} {item.scale.labels[answers[item.id]]}")
        else:
            lines.append(f"• {item.text} \"{answers[item.id]}\"")
    lines += ["", who_sees(instrument, min_group)]
    choices = [Choice(label="Send", action=f"{intent}:send", value=_pack(token, answers))]
    notes = " ".join(str(answers[i.id]) for i in instrument.items if i.kind is ItemKind.text and i.id in answers)
    bits = identifying_bits(notes)
    if bits:
        shown = ", ".join(f"\"{b}\"" for b in bits[:5])
        lines += ["", f"One thing before you send: your note mentions {shown}, which could point to you or to someone else. "
                      "You can change the note, leave it out, or send it as it is."]
        without = {k: v for k, v in answers.items() if k not in {i.id for i in instrument.items if i.kind is ItemKind.text}}
        choices.append(Choice(label="Send without the note", action=f"{intent}:send", value=_pack(token, without)))
    choices += [
        Choice(label="Change my answers", action=f"{intent}:edit", value=_pack(token, answers)),
        Choice(label="Don't send", action=f"{intent}:discard"),
    ]
    return Reply(text="\n".join(lines), choices=choices)


TOKEN_PROBLEMS = {
    "used": "This one has already been answered, so there's nothing more to send. Thank you for taking part.",
    "closed": "This round has closed, so it can't take answers any more. The next one will come round soon.",
    "unknown": "I can't find that form any more. If you'd like to answer, the next round will come round soon.",
}


# What a second press of Send hears (a double click, a platform's retry):
# the same outcome as the first, not a problem.
ALREADY_SENT = "Already sent: your answers are in, stored without your name, once. Thank you for taking part."


# What Send hears while another program holds the records open (an answer
# stored then would stay in the log in answering order): nothing is lost,
# the same buttons work again in a minute.
def went_to(asked: int, team: str) -> str:
    """How many people a round went to, in every invitation: someone who
    knows their team is four people and reads seven can ask why (extra
    accounts on a roster are how a group's answers could be picked apart)."""
    people = "person" if asked == 1 else "people"
    return f"It went to the {asked} {people} on the {team} team when it opened. " if asked else ""


def send_problem(reason: str) -> str:
    """What to say when Send meets a token that can't take answers."""
    return ALREADY_SENT if reason == "used" else TOKEN_PROBLEMS[reason]


async def send(ctx: Context, instrument: Instrument, value: str, thanks: str) -> list[Reply]:
    """Store the answers once (the token redeems in one guarded write); kindly
    check in about any low answer."""
    unpacked = unpack(value)
    if unpacked is None:
        return [Reply(text="Something in that button was garbled, so I didn't store anything. Could you try the form again?")]
    token, answers = unpacked
    known = {item.id: item for item in instrument.items}
    try:
        answers = {k: v for k, v in answers.items() if k in known}
        for key, answer in answers.items():
            item = known[key]
            if item.kind is ItemKind.scale:
                assert item.scale is not None
                if not isinstance(answer, int) or not item.scale.min <= answer <= item.scale.max:
                    return [Reply(text="One of those answers is out of range, so I didn't store anything. Could you try the form again?")]
            elif len(str(answer)) > item.max_length:
                return [Reply(text="That note is longer than the form allows, so I didn't store anything. Could you shorten it?")]
        await ctx.store.surveys.redeem(token, answers, note_sizes(instrument), together=ctx.settings.min_group)
    except TokenError as exc:
        return [Reply(text=send_problem(exc.reason))]
    except ValueError:
        return [Reply(text="One of those answers doesn't fit the form, so I didn't store anything. Could you try the form again?")]
    replies = [Reply(text=thanks)]
    low = [i for i in instrument.items if i.low_at_or_below is not None and i.id in answers and answers[i.id] <= i.low_at_or_below]
    if low:
        replies.append(low_answer_reply(ctx))
    return replies


def low_answer_reply(ctx: Context) -> Reply:
    resources = support_resources(ctx.settings.kb_dir)
    lines = [
        "It sounds like this week has been a hard one. Thank you for saying so honestly; that takes something.",
        "If it would help to talk, these are there any time:",
        *[f"• {r['name']}: {r['how']}" for r in resources.get("support", []) + resources.get("crisis", [])[:2]],
        "",
        "If you'd like, I can let a peer supervisor know you'd like to talk, with your name and nothing of what you answered. "
        "Nothing is sent unless you choose it.",
    ]
    return Reply(
        text="\n".join(lines),
        choices=[Choice(label="Let a peer supervisor know", action="support:handoff"), Choice(label="Not now", action="support:handoff-cancel")],
    )


# -- summaries ---------------------------------------------------------------


def summarise(instrument: Instrument, tallies: Tallies) -> dict[str, Any]:
    """Team-level numbers for one round, from its count cells: per item, how
    many chose each point and the average; notes in random order."""
    items: dict[str, Any] = {}
    for item in instrument.scale_items():
        assert item.scale is not None
        counts = {p: tallies.counts.get(item.id, {}).get(p, 0) for p in range(item.scale.min, item.scale.max + 1)}
        answered = sum(counts.values())
        items[item.id] = {
            "counts": {str(p): n for p, n in counts.items()},
            "mean": round(sum(p * n for p, n in counts.items()) / answered, 2) if answered else None,
            "answered": answered,
        }
    notes = [note for i in instrument.items if i.kind is ItemKind.text for note in tallies.notes.get(i.id, [])]
    random.shuffle(notes)
    return {"items": items, "notes": notes}


def _change(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return ""
    diff = now - before
    if abs(diff) < 0.05:
        return " (no change since last time)"
    return f" ({'up' if diff > 0 else 'down'} {abs(diff):.1f} since last time)"


async def render_summary(instrument: Instrument, team: str, rows: list[dict[str, Any]], min_group: int, *, with_notes: bool,
                         draw: bool = True) -> Reply:
    """The text (and trend chart) for the latest closed round in ``rows``;
    ``draw=False`` leaves the chart out (a caller that has it already: it
    takes a tenth of a second to draw, per team, at every close)."""
    latest = rows[-1]
    from intents.survey_charts import round_name

    heading = f"{instrument.title.capitalize()}, {team} team, {round_name(str(latest['label']))}"
    if not latest["released"]:
        return Reply(text=f"{heading}: fewer than {min_group} people answered, so there's nothing to show this time. "
                          f"Answers stay private until at least {min_group} people answer.")
    previous = next((r for r in reversed(rows[:-1]) if r["released"]), None)
    summary = latest["summary"]
    lines = [heading, f"{latest['count']} people answered.", ""]
    for item in instrument.scale_items():
        assert item.scale is not None
        data = summary["items"].get(item.id, {})
        mean = data.get("mean")
        before = previous["summary"]["items"].get(item.id, {}).get("mean") if previous else None
        spread = " · ".join(f"{item.scale.labels[int(p)]}: {n}" for p, n in data.get("counts", {}).items())
        lines.append(f"{item.text}")
        lines.append(f"  average {mean if mean is not None else '-'} of {item.scale.max}{_change(mean, before)}")
        lines.append(f"  {spread}")
    if with_notes and summary.get("notes"):
        lines += ["", "Notes for peer supervisors (word for word, in random order):", *[f"• \"{n}\"" for n in summary["notes"]]]
    image = None
    released = [r for r in rows if r["released"]]
    if draw and len(released) >= 2:
        from intents.survey_charts import trend_chart

        image = await asyncio.to_thread(trend_chart, instrument, team, released)
    return Reply(text="\n".join(lines), image=image)


def to_supervisors(ctx: Context, reply: Reply, key: str) -> Reply:
    return reply.model_copy(update={"to": Destination.channel(ctx.settings.supervisor_channel), "private": False, "dedupe": key})
