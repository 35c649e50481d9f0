"""Replies and forms as Block Kit, within Slack's limits.

Pure functions from the neutral model to the JSON Slack takes (and back for
modal answers), so they are easy to test and hold no Slack client. Slack
rejects a whole message over any limit, so everything here trims or splits
first: long text is split at paragraph or line ends, and labels are cut
with an ellipsis rather than refused.
"""

from __future__ import annotations

import json
from typing import Any

from bot.model import FieldKind, Form, FormField, Reply

# Block Kit limits (Slack's reference, "Block Kit" and "Composition objects").
SECTION_TEXT = 3000
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
ACTIONS_ELEMENTS = 25
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
ACTION_ID = 255
OPTION_TEXT = 75
OPTION_VALUE = 150
SELECT_OPTIONS = 100
RADIO_OPTIONS = 10
VIEW_TITLE = 24
LABEL = 2000
HINT = 2000
PRIVATE_METADATA = 3000
FALLBACK_TEXT = 3000
INPUT_MAX = 3000

FORM_CALLBACK = "peerbot_form"
OPEN_FORM = "peerbot.open_form"
CUT_NOTE = "(That's as much as fits in one Slack message; the rest was left out.)"


def trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def escape(text: str) -> str:
    """Slack reads &, < and > as markup; the bot's text is plain."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def split_text(text: str, limit: int = SECTION_TEXT) -> list[str]:
    """Pieces of at most ``limit`` characters, broken at a paragraph, a line
    or a space where possible, never mid-word unless a word is that long."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"))
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut < limit // 4:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": trim(text, limit) or " ", "emoji": True}


def text_blocks(text: str) -> list[dict[str, Any]]:
    escaped = escape(text)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": piece}} for piece in split_text(escaped)]


def action_id(action: str, index: int) -> str:
    """Unique within a message (Slack requires it); the engine's id comes back by ``action_of``."""
    suffix = f"#{index}"
    return action[: ACTION_ID - len(suffix)] + suffix


def action_of(slack_action_id: str) -> str:
    return slack_action_id.rpartition("#")[0] if "#" in slack_action_id else slack_action_id


def button(label: str, action: str, value: str, index: int) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "button", "text": plain(label, BUTTON_TEXT), "action_id": action_id(action, index)}
    if value:
        element["value"] = value[:BUTTON_VALUE]
    return element


def reply_blocks(reply: Reply, *, form_token: str | None = None, limit: int = MESSAGE_BLOCKS) -> list[dict[str, Any]]:
    """A reply's text as sections and its choices as buttons. ``form_token``
    adds a button that opens the reply's form in a modal."""
    blocks = text_blocks(reply.text) if reply.text else []
    elements = [button(c.label, c.action, c.value, i) for i, c in enumerate(reply.choices)]
    if reply.form is not None and form_token is not None:
        elements.append(button(f"Open: {reply.form.title}", OPEN_FORM, form_token, len(elements)))
    actions = [
        {"type": "actions", "elements": elements[start : start + ACTIONS_ELEMENTS]}
        for start in range(0, len(elements), ACTIONS_ELEMENTS)
    ]
    room = limit - len(actions)
    if len(blocks) > room:
        blocks = blocks[: room - 1] + [{"type": "context", "elements": [{"type": "mrkdwn", "text": CUT_NOTE}]}]
    return blocks + actions


def fallback_text(reply: Reply) -> str:
    """The top-level ``text``: what notifications and screen readers show."""
    text = reply.text or (reply.form.title if reply.form else "") or (reply.image.alt if reply.image else "")
    return escape(trim(text, FALLBACK_TEXT)) or " "


def message(reply: Reply, *, form_token: str | None = None) -> dict[str, Any]:
    return {"text": fallback_text(reply), "blocks": reply_blocks(reply, form_token=form_token)}


# -- modals ------------------------------------------------------------------


def _options(field: FormField) -> list[dict[str, Any]]:
    if field.options:
        pairs = [(o.label, o.value) for o in field.options]
    else:
        pairs = [(str(n), str(n)) for n in range(field.min or 0, (field.max if field.max is not None else 10) + 1)]
    return [{"text": plain(label, OPTION_TEXT), "value": value[:OPTION_VALUE]} for label, value in pairs]


def _element(field: FormField) -> dict[str, Any]:
    kind = field.kind
    has_range = field.min is not None and field.max is not None
    if kind in (FieldKind.text, FieldKind.long_text):
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "multiline": kind is FieldKind.long_text,
            "max_length": min(field.max_length, INPUT_MAX),
        }
        if field.initial:
            element["initial_value"] = field.initial[: element["max_length"]]
        return element
    if kind is FieldKind.choice or field.options or (kind is FieldKind.scale and has_range and field.max - field.min < SELECT_OPTIONS):
        options = _options(field)
        element = {"type": "radio_buttons" if len(options) <= RADIO_OPTIONS else "static_select"}
        if element["type"] == "static_select":
            options = options[:SELECT_OPTIONS]
            element["placeholder"] = plain("Choose one", 150)
        element["options"] = options
        initial = next((o for o in options if o["value"] == field.initial), None)
        if initial is not None:
            element["initial_option"] = initial
        return element
    element = {"type": "number_input", "is_decimal_allowed": False}
    if field.min is not None:
        element["min_value"] = str(field.min)
    if field.max is not None:
        element["max_value"] = str(field.max)
    if field.initial:
        element["initial_value"] = field.initial
    return element


def form_view(form: Form, *, conversation: str = "") -> dict[str, Any]:
    """A modal for a whole form. What the submission needs back (the form's
    id, its hidden values, whether it is anonymous) rides in private_metadata."""
    metadata = json.dumps({"f": form.id, "h": form.hidden, "a": form.anonymous, "c": conversation}, separators=(",", ":"))
    if len(metadata) > PRIVATE_METADATA:
        raise ValueError(f"the form {form.id} carries more hidden data than a Slack modal can hold")
    blocks: list[dict[str, Any]] = []
    if form.intro:
        blocks += text_blocks(form.intro)
    if form.anonymous:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "Anonymous: your name isn't attached to what you send here."}]}
        )
    for field in form.fields:
        block: dict[str, Any] = {
            "type": "input",
            "block_id": field.name,
            "label": plain(field.label, LABEL),
            "element": {**_element(field), "action_id": "value"},
            "optional": not field.required,
        }
        if field.hint:
            block["hint"] = plain(field.hint, HINT)
        blocks.append(block)
    return {
        "type": "modal",
        "callback_id": FORM_CALLBACK,
        "title": plain(form.title, VIEW_TITLE),
        "submit": plain(form.submit_label, VIEW_TITLE),
        "close": plain("Cancel", VIEW_TITLE),
        "private_metadata": metadata,
        "blocks": blocks[:VIEW_BLOCKS],
    }


def form_metadata(view: dict[str, Any]) -> dict[str, Any]:
    """What ``form_view`` put in private_metadata; empty if it isn't ours."""
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) and isinstance(data.get("f"), str) else {}


def submitted_values(view: dict[str, Any]) -> dict[str, Any]:
    """The answers in a submitted modal, by field name, as raw strings (or None)."""
    values: dict[str, Any] = {}
    state = (view.get("state") or {}).get("values") or {}
    for block_id, actions in state.items():
        element = (actions or {}).get("value") or {}
        if "selected_option" in element:
            selected = element["selected_option"] or {}
            values[block_id] = selected.get("value")
        else:
            values[block_id] = element.get("value")
    return values


def closing_view(title: str, replies: list[Reply]) -> dict[str, Any]:
    """The modal a form turns into after it is sent: the bot's answer, shown
    only here (never echoed into a direct message)."""
    blocks: list[dict[str, Any]] = []
    for reply in replies:
        if blocks:
            blocks.append({"type": "divider"})
        blocks += reply_blocks(reply, limit=VIEW_BLOCKS - len(blocks))
    return {
        "type": "modal",
        "callback_id": "peerbot_done",
        "title": plain(title, VIEW_TITLE),
        "close": plain("Close", VIEW_TITLE),
        "blocks": blocks[:VIEW_BLOCKS] or text_blocks("Done."),
    }


def home_view(sections: list[Reply], *, form_tokens: dict[int, str] | None = None) -> dict[str, Any]:
    """The App Home tab: each intent's section, divided, within the view's block limit."""
    blocks: list[dict[str, Any]] = []
    tokens = form_tokens or {}
    for number, section in enumerate(sections):
        room = VIEW_BLOCKS - len(blocks) - (1 if blocks else 0)
        if room < 2:
            break
        if blocks:
            blocks.append({"type": "divider"})
        blocks += reply_blocks(section, form_token=tokens.get(number), limit=room)
    if not blocks:
        blocks = text_blocks("Hi, I'm peerbot. Send me a message any time.")
    return {"type": "home", "blocks": blocks}
