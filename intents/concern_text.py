"""What the concern flow says: the forms, the post supervisors see, the
preview a reporter sees before sending, and the status view.

Kept apart from the flow so the words can be read (and reviewed) in one
place. The voice is warm and plain; it tells people what will happen and
who will see what, and never what they "should" do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.model import Choice, FieldKind, Form, FormField, Option
from intents.times import spoken_time

CATEGORIES = {
    "scope": "Scope drift or co-optation",
    "supervision": "Supervision",
    "workload": "Workload",
    "conditions": "Working conditions",
    "stigma": "Stigma or discrimination",
    "safety": "Safety at work",
    "other": "Something else",
}
STATES = {
    "held": "held until others on the team raise the same",
    "open": "waiting for a peer supervisor to acknowledge it",
    "acknowledged": "acknowledged",
    "taken": "taken on",
    "resolved": "resolved",
}
EVENTS = {
    "raised": "raised it",
    "held": "is holding it until others raise the same",
    "released": "sent it on, together with the others that were raised",
    "viewed": "looked at it",
    "acknowledged": "acknowledged it",
    "taken": "took it on",
    "replied": "wrote to the reporter",
    "answered": "answered back",
    "escalated": "raised it again with a wider group, as nobody had acknowledged it",
    "resolved": "resolved it",
    "relay-deleted": "deleted the link to the reporter",
    "purged": "deleted its text (retention period)",
}
MAX_TEXT = 3000  # the most a Slack modal's text box takes
TOGETHER_NEEDED = 2  # others, besides the one held, before held concerns go out


@dataclass
class Draft:
    """A concern written but not sent: flow state, in memory or sealed, never readable in the database."""

    category: str
    text: str
    named: bool
    about_supervisor: bool
    follow_up: bool
    together: bool
    reporter_id: str | None = None
    reporter_name: str | None = None
    reporter_via: str | None = None
    relay: str | None = None
    team: str | None = None
    person: str | None = None  # keyed hash, for the flood gate


def when(stamp: str | None, tz: str) -> str:
    """A stored moment (UTC) as the reader reads it, in ``tz``: the
    organisation's time zone, or the person's own check-in one."""
    if not stamp:
        return ""
    return spoken_time(stamp, tz)


def concern_form(*, anonymous: bool, can_relay: bool, initial: dict[str, str] | None = None, hidden: dict[str, str] | None = None) -> Form:
    initial = initial or {}
    fields = [
        FormField(
            name="category",
            label="What is it about?",
            kind=FieldKind.choice,
            options=[Option(label=label, value=value) for value, label in CATEGORIES.items()],
            initial=initial.get("category"),
        ),
        FormField(
            name="what",
            label="What happened? In your own words; only what you write here is sent.",
            kind=FieldKind.long_text,
            max_length=MAX_TEXT,
            initial=initial.get("what"),
        ),
        FormField(
            name="about",
            label="Is it about a peer supervisor?",
            kind=FieldKind.choice,
            options=[Option(label="No", value="no"), Option(label="Yes: keep it away from the peer supervisors' channel", value="yes")],
            initial=initial.get("about", "no"),
        ),
    ]
    if not anonymous or can_relay:
        fields.append(
            FormField(
                name="follow_up",
                label="Would you like to hear back?",
                kind=FieldKind.choice,
                options=[Option(label="Yes, keep me posted", value="yes"), Option(label="No follow-up", value="no")],
                initial=initial.get("follow_up", "yes"),
            )
        )
    fields.append(
        FormField(
            name="timing",
            label="When should it go?",
            kind=FieldKind.choice,
            options=[
                Option(label="Send it now", value="now"),
                Option(label="Scope drift only: when two more people on my team raise the same", value="together"),
            ],
            initial=initial.get("timing", "now"),
        )
    )
    if anonymous:
        intro = (
            "Anonymous: the peer supervisors see what you write here, and not who wrote it. "
            "I don't keep your name or user id with it."
        )
        if not can_relay:
            intro += " Hearing back on an anonymous concern isn't set up here, so keep the reference I give you to check on it."
    else:
        intro = "With your name: the peer supervisors see your name with it and can write back to you through me."
    intro += " You'll see exactly what will be sent before anything goes."
    return Form(
        id="concern:anonymous" if anonymous else "concern:named",
        title="Anonymous concern" if anonymous else "Raise a concern",
        intro=intro,
        fields=fields,
        submit_label="Preview",
        sensitive=True,
        anonymous=anonymous,
        hidden=hidden or {},
    )


def note_form(name: str, ref: str, *, cap: str = "", anonymous: bool = False, once: str = "") -> Form:
    """The small forms around a concern: a resolution note, a message to the
    reporter, and the reporter's answer back. ``once`` is a fresh token the
    form carries, so a form sent twice passes its message on once."""
    labels = {
        "resolve": ("Resolve " + ref, "A short note on how it was resolved (the reporter sees it too, if they asked to hear back)."),
        "reply": ("Write to the reporter", "Your message to the person who raised " + ref + ". I pass it on; it isn't stored."),
        "answer": ("Answer back", "Your answer to the peer supervisors about " + ref + ". I pass it on; it isn't stored."),
    }
    title, label = labels[name]
    hidden = {"ref": ref}
    if cap:
        hidden["cap"] = cap
    if once:
        hidden["once"] = once
    return Form(
        id=f"concern:{name}",
        title=title[:24],
        fields=[FormField(name="text", label=label, kind=FieldKind.long_text, max_length=MAX_TEXT)],
        submit_label="Send",
        sensitive=name == "answer",
        anonymous=anonymous,
        hidden=hidden,
    )


def who_line(row: dict[str, Any]) -> str:
    if row["named"]:
        name = row.get("reporter_name") or row.get("reporter_id") or "(name deleted)"
        return f"From {name}" + ("" if row["follow_up"] else " (no follow-up wanted)")
    if row.get("relay"):
        return "Anonymous; they'd like to hear back (write to them with the button: I pass it on)"
    return "Anonymous; no follow-up" if not row["follow_up"] else "Anonymous"


def post_text(row: dict[str, Any], events: list[dict[str, Any]], *, tz: str, lead: str = "") -> str:
    """The supervisors' post, as it stands now."""
    lines = [lead, ""] if lead else []
    lines.append(f"Concern {row['ref']} · {CATEGORIES.get(row['category'], row['category'])}")
    lines.append(who_line(row))
    if row.get("about_supervisor"):
        if to_admins_via(row.get("destination")) is not None:
            lines.append("It is about a peer supervisor, so it came to the bot's admins directly instead of the supervisors' channel.")
        else:
            lines.append("It is about a peer supervisor, so it came to this channel instead of the supervisors' one.")
    if row.get("released_with"):
        lines.append(f"Held until others on the same team raised the same; sent together: {row['released_with']}.")
    lines += ["", row["body"] if row.get("body") is not None else "(The text was deleted after the retention period.)", ""]
    lines.append(f"Status: {STATES.get(row['state'], row['state'])}")
    for event in events:
        if event["what"] in ("acknowledged", "taken", "resolved", "escalated"):
            lines.append(f"• {when(event['at'], tz)}: {event['who']} {EVENTS[event['what']]}")
    if row["state"] == "resolved" and row.get("resolution"):
        lines.append(f"Note: {row['resolution']}")
    return "\n".join(lines)


def post_choices(row: dict[str, Any]) -> list[Choice]:
    if row["state"] == "resolved":
        return []
    ref = row["ref"]
    choices = []
    if row["state"] == "open":
        choices.append(Choice(label="Acknowledge", action="concern:ack", value=ref))
    if row["state"] != "taken":
        choices.append(Choice(label="I'll take this", action="concern:take", value=ref))
    choices.append(Choice(label="Resolve", action="concern:resolve", value=ref))
    if reachable(row):
        choices.append(Choice(label="Write to the reporter", action="concern:reply", value=ref))
    return choices


def reachable(row: dict[str, Any]) -> bool:
    if row["named"]:
        return bool(row["follow_up"] and row.get("reporter_id"))
    return bool(row.get("relay"))


# A concern about a peer supervisor routed to the admins is stored with this
# destination and the platform it came from ("admins@slack"): it goes to each
# admin in PEERBOT_ADMINS by direct message on that platform.
ADMINS_DESTINATION = "admins@"


def supervisor_route(settings: Any, msg_via: str) -> str | None:
    """Where a concern about a peer supervisor goes: the backup channel; else
    each admin directly (the fewest people, none of them necessarily a peer
    supervisor's colleague in a channel); else the escalation channel. None
    when nowhere is set up, and then it isn't sent at all."""
    if settings.backup_channel:
        return settings.backup_channel
    if settings.admins:
        return ADMINS_DESTINATION + msg_via
    return settings.concern_escalation_channel or None


def to_admins_via(destination: str | None) -> str | None:
    """The platform of a concern routed to the admins, or None for a channel."""
    if destination and destination.startswith(ADMINS_DESTINATION):
        return destination[len(ADMINS_DESTINATION):]
    return None


def where_words(draft: Draft, settings: Any) -> str:
    if draft.about_supervisor:
        if settings.backup_channel:
            place = f"the backup channel ({settings.backup_channel})"
        elif settings.admins:
            place = "the bot's admins, each in a direct message"
        else:
            place = f"the escalation channel ({settings.concern_escalation_channel})"
        return f"{place}, because it's about a peer supervisor; it doesn't go to the peer supervisors' channel"
    return f"the peer supervisors' channel ({settings.supervisor_channel}), where the peer supervisors read it"


def preview_text(draft: Draft, settings: Any, can_relay: bool) -> str:
    row = {
        "ref": "(reference given on sending)",
        "category": draft.category,
        "named": draft.named,
        "reporter_name": draft.reporter_name,
        "reporter_id": draft.reporter_id,
        "follow_up": draft.follow_up,
        "relay": "yes" if draft.relay else None,
        "about_supervisor": draft.about_supervisor,
        "body": draft.text,
        "state": "open",
    }
    lines = ["Here is exactly what I'd send, and who would see it.", ""]
    lines.append(f"Where: {where_words(draft, settings)}.")
    if draft.named:
        lines.append(f"Your name ({draft.reporter_name or draft.reporter_id}) goes with it.")
    else:
        lines.append("No name: your name and user id aren't sent, and I don't store them with it.")
    if draft.named and draft.follow_up:
        lines.append("You'll hear from me here when someone acknowledges it, takes it on or resolves it, and the supervisors can write to you through me.")
    elif draft.follow_up and draft.relay:
        lines.append(
            "You'd like to hear back, so I keep a locked link to reach you: only the bot's key opens it, it's used only to "
            "pass messages on, and it's deleted when the concern is resolved."
        )
    elif draft.named:
        lines.append("No follow-up: I won't message you about it, though your name still goes with it. You can check on it with the reference I'll give you.")
    else:
        lines.append("No follow-up: nothing links it back to you. You can still check on it with the reference I'll give you.")
    if draft.together and draft.category == "scope":
        lines.append(
            "Held: nobody sees it until two more people on your team raise a scope-drift concern; then they all go together. "
            "You can send it on before that at any time."
        )
    elif draft.together:
        lines.append("Holding until others raise the same is only for scope drift, so this one would go now.")
    lines += ["", "---", post_text(row, [], tz=settings.timezone), "---"]
    return "\n".join(lines)


def status_text(row: dict[str, Any], events: list[dict[str, Any]], *, with_text: bool, tz: str) -> str:
    lines = [
        f"Concern {row['ref']} · {CATEGORIES.get(row['category'], row['category'])} · raised {when(row['created_at'], tz)}",
        f"Status: {STATES.get(row['state'], row['state'])}",
    ]
    if with_text:
        lines += ["", who_line(row), "", row.get("body") or "(The text was deleted after the retention period.)"]
        if row.get("resolution"):
            lines.append(f"Resolution note: {row['resolution']}")
    lines += ["", "Who has looked at it and acted on it:"]
    lines += [f"• {when(e['at'], tz)}: {e['who']} {EVENTS.get(e['what'], e['what'])}" for e in events]
    return "\n".join(lines)
