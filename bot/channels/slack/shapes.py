"""The shape of a signed Slack body, checked before Bolt sees it.

A correct signature proves a body came from Slack (or from someone holding
the signing secret), not that it has the shape Slack documents. Bolt and our
listeners read fields with ``body["user"]["id"]`` and ``.get`` chains, so a
string where an object belongs (``"event": "hi"``), a JSON array, an empty
``actions`` list or a list where an id belongs would raise deep inside them
and come back as a 500 with a traceback. ``problem(body)`` names the first
field that is off, so the endpoint can answer 400 with one log line instead.

The checks follow Slack's documented payloads (Events API, slash commands,
``block_actions``, ``view_submission`` / ``view_closed``, shortcuts) and only
cover fields something on our side reads; anything else is left alone.
"""

from __future__ import annotations

from typing import Any

# Fields that, wherever they appear, are a string (or null).
TEXT_FIELDS = (
    "type", "subtype", "team_id", "enterprise_id", "user_id", "channel_id", "api_app_id", "token",
    "thread_ts", "ts", "event_ts", "message_ts", "user_team", "channel_type", "bot_id", "tab", "text",
    "response_url", "trigger_id", "callback_id", "action_id", "block_id", "value", "private_metadata",
    "function_execution_id", "bot_access_token", "event_id", "command", "challenge", "app_installed_team_id",
    "context_team_id", "context_enterprise_id", "id", "username", "name", "hash", "view_id",
)
# Fields that are an id string or an object with a string ``id``.
ID_OR_OBJECT = ("team", "user", "channel", "enterprise")
# Fields that are an object (or null) and are looked inside.
OBJECTS = (
    "event", "message", "previous_message", "item", "view", "container", "assistant_thread",
    "function_data", "state", "title", "selected_option",
)
# Fields that are a list of objects.
LISTS = ("authorizations", "actions", "response_urls")
FLAGS = ("is_enterprise_install", "is_ext_shared_channel", "is_ephemeral")
MAX_DEPTH = 8
# Interactive payloads carry the channel as an object; events it as an id.
INTERACTIVE = ("block_actions", "view_submission", "view_closed", "shortcut", "message_action")
# Events our listeners read ``user`` and ``channel`` of, as ids.
PEOPLE_EVENTS = ("message", "app_mention", "app_home_opened")
# Inside a list (actions, authorizations) these may be objects: a button's ``text`` is.
LOOSE_IN_LISTS = ("type", "text")


class Malformed(ValueError):
    """A body that is signed but not shaped like anything Slack sends."""


def problem(body: Any) -> str | None:
    """Why Slack would never send this body, or None if its shape is fine.

    The reason names a field path, never a value, so it is safe to log."""
    try:
        check(body)
    except Malformed as exc:
        return str(exc)
    return None


def check(body: Any) -> None:
    if not isinstance(body, dict) or not body:
        raise Malformed("the body is not a JSON object")
    _fields(body, "body", 0)
    kind = body.get("type")
    if kind is None:
        if "command" in body:
            _slash_command(body)
            return
        raise Malformed("body.type is missing")
    if kind == "workflow_step_edit" or _event_type(body) == "workflow_step_execute":
        # Slack retired "Steps from Apps"; Bolt would index into fields they carried.
        raise Malformed("body is a workflow step, which peerbot doesn't offer")
    if kind in INTERACTIVE and not isinstance(body.get("channel"), (dict, type(None))):
        raise Malformed("body.channel is not an object")
    if kind == "event_callback":
        event = _need(body, "event", dict, "body")
        _need(event, "type", str, "body.event")
        if event["type"] in PEOPLE_EVENTS:
            for name in ("user", "channel"):
                if not isinstance(event.get(name), (str, type(None))):
                    raise Malformed(f"body.event.{name} is not an id")
    elif kind == "url_verification":
        _need(body, "challenge", str, "body")
    elif kind == "block_actions":
        _user(body)
        actions = _need(body, "actions", list, "body")
        if not actions:
            raise Malformed("body.actions is empty")
        for index, action in enumerate(actions):
            if not action.get("action_id"):
                raise Malformed(f"body.actions[{index}].action_id is missing")
    elif kind in ("view_submission", "view_closed"):
        _user(body)
        view = _need(body, "view", dict, "body")
        _need(view, "callback_id", str, "body.view")
        if _need(view, "type", str, "body.view") == "workflow_step":
            raise Malformed("body is a workflow step, which peerbot doesn't offer")
        _state(view)
    elif kind in ("shortcut", "message_action"):
        _user(body)
        _need(body, "callback_id", str, "body")
        if kind == "message_action":
            _need(body, "response_url", str, "body")


def _event_type(body: dict[str, Any]) -> Any:
    event = body.get("event")
    return event.get("type") if isinstance(event, dict) else None


def _slash_command(body: dict[str, Any]) -> None:
    if not str(body.get("command") or "").startswith("/"):
        raise Malformed("body.command is not a slash command")
    for name in ("user_id", "response_url"):
        if not body.get(name):
            raise Malformed(f"body.{name} is missing")


def _user(body: dict[str, Any]) -> None:
    user = _need(body, "user", dict, "body")
    if not user.get("id"):
        raise Malformed("body.user.id is missing")


def _need(data: dict[str, Any], name: str, kind: type, path: str) -> Any:
    value = data.get(name)
    if not isinstance(value, kind):
        raise Malformed(f"{path}.{name} is missing or not {'an object' if kind is dict else 'a ' + kind.__name__}")
    return value


def _state(view: dict[str, Any]) -> None:
    """``view.state.values`` is block id -> action id -> element, as blocks.submitted_values reads it."""
    values = (view.get("state") or {}).get("values")
    if values is None:
        return
    if not isinstance(values, dict):
        raise Malformed("body.view.state.values is not an object")
    for actions in values.values():
        if not isinstance(actions, dict) or not all(isinstance(e, dict) for e in actions.values()):
            raise Malformed("body.view.state.values has an entry that is not an object")
        for element in actions.values():
            selected = element.get("selected_option")
            if not isinstance(element.get("value"), (str, type(None))):
                raise Malformed("body.view.state.values has a value that is not a string")
            if selected is not None and not (isinstance(selected, dict) and isinstance(selected.get("value"), (str, type(None)))):
                raise Malformed("body.view.state.values has a choice that is not an option")


def _fields(data: dict[str, Any], path: str, depth: int) -> None:
    """The type of every field we know, at any depth we look at."""
    if depth > MAX_DEPTH:
        raise Malformed(f"{path} is nested too deep")
    for name in TEXT_FIELDS:
        if name in data and data[name] is not None and not isinstance(data[name], str):
            if name in LOOSE_IN_LISTS and path.endswith("]"):
                continue
            raise Malformed(f"{path}.{name} is not a string")
    for name in ID_OR_OBJECT:
        value = data.get(name)
        if isinstance(value, dict):
            _fields(value, f"{path}.{name}", depth + 1)
        elif value is not None and not isinstance(value, str):
            raise Malformed(f"{path}.{name} is neither an id nor an object")
    for name in OBJECTS:
        value = data.get(name)
        if isinstance(value, dict):
            _fields(value, f"{path}.{name}", depth + 1)
        elif value is not None:
            raise Malformed(f"{path}.{name} is not an object")
    for name in LISTS:
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise Malformed(f"{path}.{name} is not a list of objects")
        for index, item in enumerate(value):
            _fields(item, f"{path}.{name}[{index}]", depth + 1)
    for name in FLAGS:
        if name in data and not isinstance(data[name], (bool, str, type(None))):
            raise Malformed(f"{path}.{name} is not true or false")
