"""Slack payloads as neutral ``Inbound`` messages.

Plain functions over the documented payload shapes (Events API, slash
commands, block actions, message shortcuts, view submissions), so each
translation can be read and tested on its own. Nothing here decides what
to do; the engine does.
"""

from __future__ import annotations

import re
from typing import Any

from bot.channels.slack import blocks
from bot.channels.slack.channel import NAME
from bot.channels.slack.manifest import command_word
from bot.model import Action, Inbound, Submission

ANONYMOUS = "anonymous"
FLAG_ACTION = "concern:flag"
_LINK = re.compile(r"<(https?://[^|>]+)(?:\|([^>]*))?>")
_MAILTO = re.compile(r"<mailto:([^|>]+)(?:\|([^>]*))?>")


def unformat(text: str, bot_user_id: str | None = None) -> str:
    """Slack's markup back to what the person typed: the bot's own mention
    dropped, links as their words, entities decoded."""
    if bot_user_id:
        text = text.replace(f"<@{bot_user_id}>", " ")
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = _MAILTO.sub(lambda m: m.group(2) or m.group(1), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def is_dm(channel_id: str) -> bool:
    return channel_id.startswith("D")


def from_message(event: dict[str, Any], *, bot_user_id: str | None, user_name: str | None) -> Inbound:
    channel_id = event.get("channel") or ""
    return Inbound(
        channel=NAME,
        user=event["user"],
        user_name=user_name,
        conversation=channel_id,
        text=unformat(event.get("text") or "", bot_user_id),
        direct=is_dm(channel_id),
    )


def from_command(body: dict[str, Any], *, user_name: str | None) -> Inbound:
    """Any slash command becomes the text "/word args", as if typed."""
    command = "/" + command_word(str(body.get("command") or ""))
    text = unformat(f"{command} {body.get('text') or ''}")
    return Inbound(
        channel=NAME,
        user=body["user_id"],
        user_name=user_name,
        conversation=body.get("channel_id") or "",
        text=text,
        direct=is_dm(body.get("channel_id") or ""),
    )


def conversation_of(body: dict[str, Any]) -> str:
    container = body.get("container") or {}
    return (body.get("channel") or {}).get("id") or container.get("channel_id") or f"home:{body['user']['id']}"


def from_button(body: dict[str, Any], action: dict[str, Any], *, user_name: str | None) -> Inbound:
    conversation = conversation_of(body)
    return Inbound(
        channel=NAME,
        user=body["user"]["id"],
        user_name=user_name,
        conversation=conversation,
        action=Action(id=blocks.action_of(action.get("action_id") or ""), value=str(action.get("value") or "")),
        direct=is_dm(conversation),
    )


def from_flag(body: dict[str, Any], *, user_name: str | None, limit: int) -> Inbound:
    """The "Flag to peer supervisor" message shortcut: the concern flow,
    with the message quoted."""
    quoted = unformat((body.get("message") or {}).get("text") or "")[:limit]
    conversation = (body.get("channel") or {}).get("id") or ""
    return Inbound(
        channel=NAME,
        user=body["user"]["id"],
        user_name=user_name,
        conversation=conversation,
        action=Action(id=FLAG_ACTION, value=quoted),
        direct=is_dm(conversation),
    )


def from_submission(body: dict[str, Any], *, user_name: str | None) -> Inbound | None:
    """A submitted modal, or None if it isn't one of ours. For an anonymous
    form the submitter is dropped right here, before anything else sees it."""
    view = body.get("view") or {}
    meta = blocks.form_metadata(view)
    if not meta:
        return None
    hidden = meta.get("h") if isinstance(meta.get("h"), dict) else {}
    values = {**blocks.submitted_values(view), **{str(k): str(v) for k, v in hidden.items()}}
    submission = Submission(form=meta["f"], values=values)
    if meta.get("a"):
        return Inbound(channel=NAME, user=ANONYMOUS, conversation=ANONYMOUS, submission=submission, direct=True)
    conversation = str(meta.get("c") or f"home:{body['user']['id']}")
    return Inbound(
        channel=NAME,
        user=body["user"]["id"],
        user_name=user_name,
        conversation=conversation,
        submission=submission,
        direct=is_dm(conversation),
    )


def for_home(user_id: str, channel_id: str | None, *, user_name: str | None) -> Inbound:
    return Inbound(channel=NAME, user=user_id, user_name=user_name, conversation=channel_id or f"home:{user_id}")
