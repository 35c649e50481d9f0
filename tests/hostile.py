"""Hostile input for the fuzz tests and benchmarks/hostile_input.py.

- Hypothesis strategies for what arrives at each endpoint: Slack bodies
  (Events API, slash commands, block_actions, view_submission, shortcuts,
  built on the real payload shapes and then bent: a field replaced by any
  JSON value, a field dropped, a list emptied), Teams activities, Bot
  Framework Authorization headers, and terminal lines with control
  characters and commands with odd arguments.
- ``FakeMicrosoft``: OpenID metadata and a JWKS on loopback, with a key the
  tests hold, so correctly signed tokens can be minted.
- ``black_hole()``: a TCP port that accepts connections and never answers,
  the network with outbound traffic dropped.
- ``Harness``: a private event loop that sync hypothesis tests drive.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
import urllib.parse
from typing import Any, Callable

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, settings, strategies as st
from jwt.algorithms import RSAAlgorithm

import jwt

ISSUER = "https://api.botframework.com"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SORRY_WORDS = "something went wrong on my side"


def fuzz_settings(examples: int) -> settings:
    """Deterministic (derandomized, no example database), no deadline: CI-safe."""
    return settings(
        max_examples=examples, deadline=None, derandomize=True, database=None, print_blob=False,
        suppress_health_check=list(HealthCheck),
    )


# -- values --------------------------------------------------------------------

# Everything a person can type, control characters included; no lone
# surrogates where the text must be encoded (form bodies, HTTP).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
ODD_WORDS = st.sampled_from([
    "", "²", "٣", "99999999999", "9" * 400, "-1", "0", "1e9", "a" * 500, "é" * 80, "\x00", "\x1b[2J", "\u202e",
    "../../etc/passwd", "America/", "Europe/London", "UTC", "north", "--team", "--days", "--every", "wed", "sat",
    "K9XYSP", "ZZZZZZ", "null", "[]", "{}", "<@U1>", "<https://x|y>", "&amp;", "%s", "{0}", "' OR 1=1 --",
])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70), st.floats(allow_nan=False), TEXT, ODD_WORDS)
JSON = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(TEXT, kids, max_size=3), max_leaves=8)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found: list[tuple] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append(prefix + (key,))
            found += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append(prefix + (index,))
            found += _paths(value, prefix + (index,))
    return found


def bend(data: st.DataObject, payload: Any, *, keep: tuple = (), most: int = 3) -> Any:
    """Change up to ``most`` places in a payload: replace a value with any
    JSON, drop a key, or empty a list. Paths starting with ``keep`` stay."""
    payload = json.loads(json.dumps(payload))
    for _ in range(data.draw(st.integers(0, most), label="bends")):
        paths = [p for p in _paths(payload) if not any(p[: len(k)] == k for k in keep)]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        parent = payload
        for step in path[:-1]:
            parent = parent[step]
        how = data.draw(st.sampled_from(["replace", "replace", "drop", "empty"]), label="how")
        if how == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif how == "empty":
            parent[path[-1]] = data.draw(st.sampled_from([[], {}, "", None, 0]))
        else:
            parent[path[-1]] = data.draw(JSON, label="value")
    if data.draw(st.integers(0, 9), label="wrap") == 0:
        payload = data.draw(st.sampled_from([[payload], "text", 5, None]), label="outer")
    return payload


# -- Slack -----------------------------------------------------------------------

SLACK_ACTIONS = [
    "checkin:now", "checkin:off", "checkin:snooze", "checkin:start", "concern:ack", "concern:answer", "concern:begin",
    "concern:cancel", "concern:drop", "concern:edit", "concern:preview", "concern:release", "concern:reply",
    "concern:resolve", "concern:send", "concern:start", "concern:status", "concern:take", "pulse:start",
    "scope:entry", "scope:helpful", "scope:quiz", "scope:quiz-next", "scope:raise", "support:handoff",
    "support:handoff-cancel", "support:handoff-confirm", "peerbot.open_form", "concern:flag",
]
COMMANDS = ["/checkin", "/checkins", "/concern", "/concerns", "/pulse", "/scope", "/help", "/quiz", "/status", "/resume"]


def slack_user(data: st.DataObject) -> dict[str, Any]:
    return {"id": data.draw(st.sampled_from(["U1", "U2", "U-SAM", "U-ROOT"])), "username": "ada", "team_id": "T1"}


def slack_event(data: st.DataObject) -> dict[str, Any]:
    kind = data.draw(st.sampled_from(["message", "message", "app_mention", "app_home_opened", "reaction_added", "member_joined_channel"]))
    user = slack_user(data)["id"]
    text = data.draw(st.one_of(TEXT, ODD_WORDS, st.sampled_from(["help", "can I drive a client to court?", "/checkin tz " + "a" * 300])))
    event: dict[str, Any] = {"type": kind, "user": user, "ts": "1700000000.000100", "event_ts": "1700000000.000100"}
    if kind == "message":
        event.update(channel=f"D{user}", channel_type="im", text=text)
    elif kind == "app_mention":
        event.update(channel="C1", text=f"<@UBOT> {text}")
    elif kind == "app_home_opened":
        event.update(channel=f"D{user}", tab="home")
    else:
        event.update(item={"type": "message", "channel": "C1", "ts": "1.1"}, reaction="tada")
    return {
        "token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback", "event": event,
        "event_id": "Ev" + data.draw(st.text("ABCDEFGH0123456789", min_size=6, max_size=10)), "event_time": 1700000000,
        "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True, "is_enterprise_install": False}],
    }


def slack_interaction(data: st.DataObject, url: str) -> dict[str, Any]:
    kind = data.draw(st.sampled_from(["block_actions", "block_actions", "view_submission", "message_action", "shortcut", "view_closed"]))
    user = slack_user(data)
    base: dict[str, Any] = {"type": kind, "team": {"id": "T1"}, "api_app_id": "A1", "token": "legacy", "user": user, "trigger_id": "t1"}
    if kind == "block_actions":
        action = data.draw(st.sampled_from(SLACK_ACTIONS)) + "#" + str(data.draw(st.integers(0, 3)))
        value = data.draw(st.one_of(TEXT, ODD_WORDS, st.just("peerbot.shelved:abc")))
        container = data.draw(st.sampled_from([
            {"type": "message", "message_ts": "1.1", "channel_id": f"D{user['id']}", "is_ephemeral": False},
            {"type": "message", "message_ts": "1.1", "channel_id": "C1", "is_ephemeral": True},
            {"type": "view", "view_id": "V1"},
        ]))
        base.update(
            container=container, channel={"id": container.get("channel_id", "C1"), "name": "x"},
            response_url=f"{url}/respond/fuzz", message={"ts": "1.1", "text": "..."},
            actions=[{"type": "button", "action_id": action, "block_id": "b1", "value": value, "action_ts": "1.2",
                      "text": {"type": "plain_text", "text": "Go"}}],
        )
        if container["type"] == "view":
            base["view"] = {"id": "V1", "type": data.draw(st.sampled_from(["home", "modal"])), "title": {"type": "plain_text", "text": "peerbot"}}
    elif kind in ("view_submission", "view_closed"):
        meta = {"f": data.draw(st.sampled_from(["concern:anonymous", "concern:named", "checkin:answers", "pulse:answers", "nope"])),
                "h": data.draw(st.dictionaries(st.sampled_from(["token", "draft", "x"]), TEXT, max_size=2)),
                "a": data.draw(st.booleans()), "c": f"D{user['id']}"}
        values = {
            name: {"value": data.draw(st.sampled_from([
                {"type": "plain_text_input", "value": data.draw(st.one_of(TEXT, ODD_WORDS))},
                {"type": "radio_buttons", "selected_option": {"value": data.draw(ODD_WORDS)}},
                {"type": "static_select", "selected_option": None},
            ]))}
            for name in data.draw(st.lists(st.sampled_from(["category", "text", "about", "follow_up", "timing", "energy", "note"]), max_size=4, unique=True))
        }
        base["view"] = {
            "id": "V9", "type": "modal", "callback_id": data.draw(st.sampled_from(["peerbot_form", "peerbot_form", "peerbot_done", "old_one"])),
            "private_metadata": data.draw(st.one_of(st.just(json.dumps(meta)), TEXT)), "hash": "h",
            "title": {"type": "plain_text", "text": "peerbot"}, "state": {"values": values},
        }
    else:
        base.update(callback_id=data.draw(st.sampled_from(["flag_to_supervisor", "flag_to_supervisor", "other"])),
                    response_url=f"{url}/respond/fuzz", channel={"id": "C1", "name": "general"},
                    message={"type": "message", "user": "U2", "ts": "1.1", "text": data.draw(TEXT)})
    return base


def slack_command(data: st.DataObject, url: str) -> dict[str, str]:
    words = data.draw(st.lists(ODD_WORDS | TEXT, max_size=5))
    form = {
        "token": "legacy", "team_id": "T1", "channel_id": data.draw(st.sampled_from(["C1", "DU1", ""])), "user_id": slack_user(data)["id"],
        "user_name": "ada", "command": data.draw(st.sampled_from(COMMANDS) | st.text(max_size=8)), "text": " ".join(words),
        "api_app_id": "A1", "response_url": f"{url}/respond/fuzz", "trigger_id": "t1",
    }
    for name in data.draw(st.lists(st.sampled_from(sorted(form)), max_size=2, unique=True)):
        if data.draw(st.booleans()):
            del form[name]
        else:
            form[name] = data.draw(TEXT)
    return form


def json_poster(client: Any, path: str = "/api/messages") -> Callable[[Any], Any]:
    """A coroutine function that posts ``body`` as JSON to ``path`` and
    returns the HTTP status (Teams activities, as the connector sends them)."""

    async def post(body: Any) -> int:
        response = await client.post(path, data=json.dumps(body), headers={"Content-Type": "application/json"})
        await response.read()
        return response.status

    return post


def signed_slack_poster(client: Any, secret: str) -> Callable[[str, str], Any]:
    """A coroutine function that posts ``body`` to /slack/events signed as
    Slack signs it (so the shape checks, not the signature, decide) and
    returns the HTTP status."""
    from slack_sdk.signature import SignatureVerifier

    signer = SignatureVerifier(secret)

    async def post(body: str, content_type: str) -> int:
        stamp = str(int(time.time()))
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp,
                   "X-Slack-Signature": signer.generate_signature(timestamp=stamp, body=body)}
        response = await client.post("/slack/events", data=body.encode(), headers=headers)
        await response.read()
        return response.status

    return post


def slack_body(data: st.DataObject, url: str) -> tuple[str, str]:
    """A Slack request body and its content type: mostly real shapes, bent."""
    shape = data.draw(st.sampled_from(["event", "event", "interaction", "interaction", "command", "garbage"]), label="shape")
    if shape == "event":
        return json.dumps(bend(data, slack_event(data))), "application/json"
    if shape == "interaction":
        payload = json.dumps(bend(data, slack_interaction(data, url)))
        return urllib.parse.urlencode({"payload": payload}), "application/x-www-form-urlencoded"
    if shape == "command":
        return urllib.parse.urlencode(slack_command(data, url)), "application/x-www-form-urlencoded"
    body = data.draw(st.one_of(TEXT, st.just("payload=" + "%7B" * 3), st.just("[" * 5000), st.just("{}"), st.just("payload=null")))
    return body, data.draw(st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain"]))


# -- Teams -----------------------------------------------------------------------

TEAMS_BOT = {"id": "28:peerbot-bot", "name": "peerbot"}
TENANT = "11111111-2222-3333-4444-555555555555"


def teams_activity(data: st.DataObject, service_url: str) -> dict[str, Any]:
    user = data.draw(st.sampled_from(["ada", "bo", "sam"]))
    kind = data.draw(st.sampled_from(["message", "message", "invoke", "invoke", "conversationUpdate", "installationUpdate",
                                      "messageReaction", "typing", "event"]))
    body: dict[str, Any] = {
        "type": kind, "id": "in-" + data.draw(st.text("0123456789", min_size=1, max_size=6)), "channelId": "msteams",
        "serviceUrl": service_url, "from": {"id": f"29:{user}", "name": user.title(), "aadObjectId": f"aad-{user}"},
        "recipient": TEAMS_BOT, "locale": "en-US",
        "conversation": {"id": f"a:chat-{user}", "conversationType": data.draw(st.sampled_from(["personal", "channel", "groupChat"])), "tenantId": TENANT},
        "channelData": {"tenant": {"id": TENANT}},
    }
    if kind == "message":
        body["text"] = data.draw(st.one_of(TEXT, ODD_WORDS, st.sampled_from(["help", "<p>checkin tz " + "a" * 300 + "</p>", "concern"])))
    elif kind == "invoke":
        name = data.draw(st.sampled_from(["adaptiveCard/action", "composeExtension/submitAction", "composeExtension/fetchTask", "task/submit", "nope"]))
        body["name"] = name
        data_field = {"action": data.draw(st.sampled_from(SLACK_ACTIONS)), "value": data.draw(ODD_WORDS | TEXT)}
        body["value"] = data.draw(st.sampled_from([
            {"action": {"type": "Action.Execute", "verb": "peerbot", "data": data_field}},
            {"commandId": "flagToSupervisor", "messagePayload": {"body": {"content": data.draw(TEXT)}}},
            data_field,
        ]))
    elif kind == "conversationUpdate":
        body["membersAdded"] = [TEAMS_BOT, {"id": f"29:{user}"}]
    elif kind == "installationUpdate":
        body["action"] = data.draw(st.sampled_from(["add", "remove"]))
    elif kind == "messageReaction":
        body["reactionsAdded"] = [{"type": "like"}]
    # The service URL stays: a bent one would have the bot post to wherever it says.
    return bend(data, body, keep=(("serviceUrl",),))


def b64(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def mint(claims: dict[str, Any], *, key=KEY, kid: str = "k1") -> str:
    return "Bearer " + jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def authorization(data: st.DataObject, service_url: str, app_id: str) -> tuple[str, bool]:
    """An Authorization header, and whether it is signed with the key the fake Microsoft publishes."""
    shape = data.draw(st.sampled_from(["text", "bearer-parts", "jwt-header", "signed", "signed", "other-key", "none"]), label="auth")
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": app_id, "serviceurl": service_url, "nbf": now - 10, "exp": now + 600}
    if shape == "text":
        return data.draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)), False
    if shape == "bearer-parts":
        parts = data.draw(st.lists(st.text("ABCDEFabcdef0123456789-_=.", max_size=30), min_size=1, max_size=4))
        return "Bearer " + ".".join(parts), False
    if shape == "jwt-header":
        header = data.draw(st.fixed_dictionaries({"alg": st.sampled_from(["RS256", "none", "HS256", "ES256", ""]) | TEXT},
                                                 optional={"kid": st.sampled_from(["k1", "", "made-up"]) | TEXT | st.integers(), "typ": TEXT}))
        return f"Bearer {b64(header)}.{b64(data.draw(JSON))}.{b64(data.draw(st.binary(max_size=40)))}", False
    if shape == "none":
        return "Bearer " + jwt.encode(claims, None, algorithm="none", headers={"kid": "k1"}), False
    bent = bend(data, claims, most=2)
    if not isinstance(bent, dict):
        bent = claims
    kid = data.draw(st.sampled_from(["k1", "k1", "made-up"]))
    try:  # PyJWT refuses to sign some bent claims (a non-string iss, say)
        if shape == "other-key":
            return mint(bent, key=OTHER_KEY, kid=kid), False
        return mint(bent, kid=kid), kid == "k1"
    except (TypeError, ValueError):
        return mint(claims, kid="made-up"), False


# -- terminal ----------------------------------------------------------------------

def terminal_line(data: st.DataObject) -> str:
    shape = data.draw(st.sampled_from(["text", "command", "command", "digit", "word"]), label="line")
    if shape == "text":
        return data.draw(st.text(st.characters(exclude_categories=("Cs",)), max_size=120))
    if shape == "digit":
        return data.draw(st.sampled_from(["1", "2", "3", "9", "0", "-1", "²", "", " "]))
    if shape == "word":
        return data.draw(st.sampled_from(["cancel", "Send", "send", "skip", "yes", "no", "help", "Anonymously", "With my name", "/resume"]))
    word = data.draw(st.sampled_from(COMMANDS + ["/concern", "/checkin"]))
    verbs = {"/checkin": ["tz", "snooze", "join", "leave", "settings", "on", "off"],
             "/checkins": ["team", "report", "close"], "/concern": ["status", "mine"],
             "/concerns": ["ack", "take", "resolve", "reply"], "/pulse": ["start", "status", "close", "report", "action", "export"]}
    verb = data.draw(st.sampled_from(verbs.get(word, [""])))
    args = data.draw(st.lists(ODD_WORDS | TEXT, max_size=5))
    return " ".join([word, verb, *args])


# -- loopback helpers ------------------------------------------------------------------

class FakeMicrosoft:
    """OpenID metadata and a JWKS with one key (``KEY``, kid k1), counting every fetch."""

    def __init__(self) -> None:
        self.url = ""
        self.fetches: list[str] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/openid", self.metadata)
        app.router.add_get("/keys", self.keys)
        return app

    async def metadata(self, request: web.Request) -> web.Response:
        self.fetches.append("metadata")
        return web.json_response({"issuer": ISSUER, "jwks_uri": f"{self.url}/keys", "id_token_signing_alg_values_supported": ["RS256"]})

    async def keys(self, request: web.Request) -> web.Response:
        self.fetches.append("keys")
        jwk = json.loads(RSAAlgorithm.to_jwk(KEY.public_key()))
        return web.json_response({"keys": [{**jwk, "kid": "k1", "use": "sig", "endorsements": ["msteams"]}]})


class BlackHole:
    """A TCP port on loopback that accepts every connection and never says a word."""

    def __init__(self) -> None:
        self.url = ""
        self._server: asyncio.AbstractServer | None = None
        self._held: list[asyncio.StreamWriter] = []

    async def start(self) -> "BlackHole":
        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._held.append(writer)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(3600)

        self._server = await asyncio.start_server(swallow, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def close(self) -> None:
        for writer in self._held:
            writer.close()
        if self._server is not None:
            self._server.close()


class Harness:
    """A private event loop for sync (hypothesis) tests: ``run`` a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._closers: list[Callable[[], Any]] = []

    def run(self, coroutine) -> Any:
        return self.loop.run_until_complete(coroutine)

    def on_close(self, closer: Callable[[], Any]) -> None:
        self._closers.append(closer)

    def settle(self, timeout: float = 5.0) -> None:
        """Let work started after a response (Bolt's lazy listeners, courier sends) finish."""

        async def quiet() -> None:
            deadline = time.monotonic() + timeout
            me = asyncio.current_task()
            while time.monotonic() < deadline:
                busy = [t for t in asyncio.all_tasks() if t is not me and not t.done() and _is_work(t)]
                if not busy:
                    return
                await asyncio.sleep(0.02)

        self.run(quiet())
        self.run(asyncio.sleep(0.05))

    def close(self) -> None:
        for closer in reversed(self._closers):
            result = closer()
            if asyncio.iscoroutine(result):
                self.run(result)
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


def _is_work(task: asyncio.Task) -> bool:
    name = getattr(task.get_coro(), "__qualname__", "")
    return "to_runnable_function" in name or name.startswith(("Listeners.", "Engine.", "Courier."))


def tracebacks(records: list[logging.LogRecord]) -> list[str]:
    """Log records of an unhandled exception: a traceback, or Bolt's one-line
    "Failed to run ..." for a listener that raised."""
    return [
        f"{r.name}: {r.getMessage()[:160]}" for r in records
        if r.exc_info or "Traceback" in r.getMessage() or r.getMessage().startswith("Failed to run")
    ]
