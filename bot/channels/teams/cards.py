"""Adaptive Cards: how replies, choices and forms look in Teams, and how a
press or a submission comes back.

Every button and submit button carries ``{"peerbot": {...}}`` in its data:
``kind`` "action" with the Choice's action id and value, or ``kind`` "form"
with the form id, its hidden values, whether it is anonymous, and the form
itself (so a submission with a problem can be shown again with the problem
next to the field). Teams merges the inputs into that same data.

A card that a submitted form turns into (a preview, a thanks) marks its
buttons ``in_place``: pressing one answers in that same card again, the
way a button inside a Slack modal answers in the modal, so what a person
typed into an anonymous form never turns into a message in the chat.

In messages, buttons are ``Action.Execute`` (Universal Actions: Teams sends
an ``adaptiveCard/action`` invoke and the bot answers with the card that
replaces it) with an ``Action.Submit`` fallback for older clients; in
dialogs (the message extension's task module) they are ``Action.Submit``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Iterable, Literal

from pydantic import ValidationError

from bot.model import Action, FieldKind, Form, FormField, Reply, Submission

CARD = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
KEY = "peerbot"
MAX_VALUE = 20_000  # longest single value accepted back from a card
MAX_VALUES = 60

Surface = Literal["message", "dialog"]


class CardDataError(ValueError):
    """Data that came back from a card doesn't make sense; the message is for people."""


@dataclass(frozen=True)
class Pressed:
    action: Action
    # The button was on a card that answers in place (see the module docstring).
    in_place: bool = False


@dataclass(frozen=True)
class Submitted:
    submission: Submission
    form: Form | None
    anonymous: bool


def attachment(card: dict[str, Any]) -> dict[str, Any]:
    return {"contentType": CARD, "content": card}


def card(body: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "body": body or [_text(" ")]}


def reply_card(reply: Reply, surface: Surface = "message") -> dict[str, Any]:
    return card(reply_elements(reply, surface))


def replies_card(replies: Iterable[Reply], surface: Surface = "message", *, in_place: bool = False) -> dict[str, Any]:
    """Several replies as one card: what a submitted form turns into."""
    body: list[dict[str, Any]] = []
    for reply in replies:
        elements = reply_elements(reply, surface, in_place=in_place)
        if body and elements:
            elements[0] = {**elements[0], "separator": True, "spacing": "medium"}
        body += elements
    return card(body)


def reply_elements(reply: Reply, surface: Surface = "message", *, in_place: bool = False) -> list[dict[str, Any]]:
    body = text_blocks(reply.text)
    if reply.image is not None:
        if reply.image.title:
            body.append(_text(reply.image.title, weight="bolder"))
        data = base64.b64encode(reply.image.png).decode("ascii")
        body.append({"type": "Image", "url": f"data:image/png;base64,{data}", "altText": reply.image.alt, "size": "stretch"})
    if reply.form is not None:
        body += form_elements(reply.form, surface=surface)
    if reply.choices:
        extra = {"in_place": True} if in_place else {}
        body.append(
            _actions([_button(c.label, {"kind": "action", "id": c.action, "value": c.value, **extra}, surface) for c in reply.choices])
        )
    return body


def text_blocks(text: str) -> list[dict[str, Any]]:
    """One block a line, so line breaks survive; a blank line becomes space."""
    blocks: list[dict[str, Any]] = []
    gap = False
    for line in text.split("\n"):
        if not line.strip():
            gap = bool(blocks)
            continue
        block = _text(line)
        if blocks:
            block["spacing"] = "medium" if gap else "none"
        blocks.append(block)
        gap = False
    return blocks


def form_elements(
    form: Form,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    surface: Surface = "message",
) -> list[dict[str, Any]]:
    values, errors = values or {}, errors or {}
    body = [_text(form.title, weight="bolder", size="medium")]
    if form.intro:
        body += text_blocks(form.intro)
    for field in form.fields:
        body.append(_input(field, values.get(field.name)))
        if field.name in errors:
            body.append(_text(errors[field.name], color="attention", spacing="none"))
    data = {
        "kind": "form",
        "form": form.id,
        "hidden": dict(form.hidden),
        "anonymous": form.anonymous,
        "def": form.model_dump(mode="json", exclude={"hidden"}, exclude_defaults=True),
    }
    body.append(_actions([_button(form.submit_label, data, surface, style="positive")]))
    return body


def _input(field: FormField, value: Any) -> dict[str, Any]:
    element: dict[str, Any] = {"id": field.name, "label": field.label, "isRequired": field.required}
    if field.required:
        element["errorMessage"] = "This one is needed."
    current = value if value is not None else field.initial
    options = [{"title": o.label, "value": o.value} for o in field.options]
    if field.kind is FieldKind.scale and not options and field.min is not None and field.max is not None and field.max - field.min <= 10:
        options = [{"title": str(n), "value": str(n)} for n in range(field.min, field.max + 1)]
    if field.kind in (FieldKind.choice, FieldKind.scale) and options:
        element.update(type="Input.ChoiceSet", choices=options, style="expanded" if len(options) <= 5 else "compact")
    elif field.kind in (FieldKind.scale, FieldKind.number):
        element["type"] = "Input.Number"
        element.update({k: v for k, v in (("min", field.min), ("max", field.max)) if v is not None})
    else:
        element.update(type="Input.Text", maxLength=field.max_length, isMultiline=field.kind is FieldKind.long_text)
    if field.hint:
        element["placeholder"] = field.hint
    if current is not None:
        element["value"] = str(current)
    return element


def _button(title: str, data: dict[str, Any], surface: Surface, style: str | None = None) -> dict[str, Any]:
    submit: dict[str, Any] = {"type": "Action.Submit", "title": title[:80], "data": {KEY: data}}
    if style:
        submit["style"] = style
    if surface == "dialog":
        return submit
    return {**submit, "type": "Action.Execute", "verb": KEY, "fallback": submit}


def _actions(actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "ActionSet", "actions": actions}


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


# -- what comes back ----------------------------------------------------------


def read(data: Any) -> Pressed | Submitted | None:
    """Turn a card's data into a press or a submission; None if it isn't ours.
    Raises CardDataError with a kind message when it is ours but broken."""
    if not isinstance(data, dict) or KEY not in data:
        return None
    meta = data[KEY]
    if not isinstance(meta, dict):
        raise CardDataError("That card's data didn't come through properly.")
    kind = meta.get("kind")
    if kind == "action":
        action_id, value = meta.get("id"), meta.get("value", "")
        if not isinstance(action_id, str) or not isinstance(value, str) or ":" not in action_id or len(action_id) > 200:
            raise CardDataError("That button's data didn't come through properly.")
        # A button's value is the bot's own (a preview's answers, say), so it
        # may be as long as any answer; typed text keeps the message limit.
        if len(value) > MAX_VALUE:
            raise CardDataError("That button carried more than I can take in.")
        return Pressed(Action(id=action_id, value=value), in_place=meta.get("in_place") is True)
    if kind == "form":
        return _submitted(data, meta)
    raise CardDataError("That card's data didn't come through properly.")


def _submitted(data: dict[str, Any], meta: dict[str, Any]) -> Submitted:
    form_id, hidden = meta.get("form"), meta.get("hidden", {})
    if not isinstance(form_id, str) or ":" not in form_id or len(form_id) > 200 or not isinstance(hidden, dict):
        raise CardDataError("That form's data didn't come through properly.")
    values = {k: v for k, v in data.items() if k != KEY}
    values.update(hidden)
    if len(values) > MAX_VALUES:
        raise CardDataError("That form carried more answers than it has questions.")
    for name, value in values.items():
        if not isinstance(name, str) or not (value is None or isinstance(value, (str, int, float, bool))):
            raise CardDataError("Some answers in that form didn't come through properly.")
        if isinstance(value, str) and len(value) > MAX_VALUE:
            raise CardDataError("One of those answers is longer than I can take in. Could you shorten it?")
    form = None
    if isinstance(meta.get("def"), dict):
        try:
            form = Form.model_validate({**meta["def"], "hidden": hidden})
        except ValidationError:
            form = None
    return Submitted(Submission(form=form_id, values=values), form, meta.get("anonymous") is True)
