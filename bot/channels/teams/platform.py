"""Teams at ``POST /api/messages`` in the one aiohttp server.

Every request is checked before the bot sees it: with an app id configured,
botbuilder validates the Bot Framework token (no token or a bad one: 401)
with signing keys from ``tokens.SigningKeys``, which fetches them without
blocking and answers 503 at once while they can't be had; without one,
the endpoint runs unauthenticated for local testing and says so loudly at
start. Malformed bodies, unknown activity types and missing fields get a
4xx with a plain reason, never a traceback. An activity delivered again
(the same id in the same conversation) is acknowledged and answered once
(bot/store/teams.py).

Teams is acknowledged first. A turn runs as a background task, apart from
the request: a message (or an install) is answered 201 at once, and its
replies go out afterwards, so a connector that is slow or unreachable (the
connector client retries for a few seconds) never holds Teams' request open. An
invoke needs its answer in the response body, so the request waits only
until the bot has decided that answer (``answered``), never on the other
messages the turn sends. Messages in one conversation keep their order.
Turns are bounded by ``turn_seconds``, failures
are logged by kind only, and ``stop`` lets running turns finish briefly,
then cancels them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from types import SimpleNamespace
from typing import Any

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity

from bot.channels.base import Address
from bot.channels.teams.activities import BIND_WORD, TeamsBot, answer_slot, failure_answer
from bot.channels.teams.channel import NAME, TeamsChannel
from bot.channels.teams.connector import Connectors, PooledAuthentication
from bot.channels.teams.pacing import Pacer
from bot.channels.teams.tokens import KeysUnavailable, SigningKeys, precheck, using
from bot.config import Settings
from bot.model import Destination, Reply
from bot.runtime import Runtime

log = logging.getLogger(__name__)

ROUTE = "/api/messages"
# Activity types Bot Framework defines; anything else is refused with 400.
KNOWN_TYPES = {
    "message", "contactRelationUpdate", "conversationUpdate", "typing", "endOfConversation", "event",
    "invoke", "deleteUserData", "messageUpdate", "messageDelete", "installationUpdate", "messageReaction",
    "suggestion", "trace", "handoff", "command", "commandResult",
}
NEEDS_CONVERSATION = {"message", "invoke", "conversationUpdate", "installationUpdate"}
REFRESH_SECONDS = 30
# Longest a turn may run in the background (its replies included) before it is cancelled.
TURN_SECONDS = 60.0
# Longest an invoke's request waits for the bot to decide its answer; Teams gives up at 15 s.
INVOKE_SECONDS = 10.0
# At shutdown, how long running turns get to finish before they are cancelled.
DRAIN_SECONDS = 5.0
UNREACHABLE_HELP = (
    "I couldn't reach {who} on Microsoft Teams, so a message for them is waiting undelivered ({why}). "
    "This usually means the peerbot app isn't installed for them, or was removed. Installing the app for them "
    "fixes it: for everyone at once, an app setup policy in the Teams admin center can install peerbot "
    "for a group of people. Once it's installed I'll be able to reach them again."
)


def _problem(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


class TeamsPlatform:
    def __init__(self, settings: Settings, pacer: Pacer | None = None, keys: SigningKeys | None = None):
        self.settings = settings
        self.app_id = settings.teams_app_id or ""
        password = settings.teams_app_password.get_secret_value() if settings.teams_app_password else ""
        config = SimpleNamespace(APP_ID=self.app_id, APP_PASSWORD=password)
        if settings.teams_tenant_id and self.app_id:
            config.APP_TYPE, config.APP_TENANTID = "SingleTenant", settings.teams_tenant_id
        # Connector clients reused per service URL, one pooled HTTP session, the bot's token cached (connector.py).
        self.connectors = Connectors(self.app_id, password, settings.teams_tenant_id if self.app_id else "")
        self.adapter = CloudAdapter(PooledAuthentication(config, self.connectors))
        self.adapter.on_turn_error = self._turn_failed
        self.bot = TeamsBot(self)
        self.pacer = pacer or Pacer()
        # Microsoft's token signing keys, fetched without blocking (tests point them at loopback).
        self.keys = keys or SigningKeys()
        self.runtime: Runtime | None = None
        self.channel: TeamsChannel | None = None
        self._refresher: asyncio.Task | None = None
        self._notices: set[asyncio.Task] = set()
        self._turns: set[asyncio.Task] = set()
        self._last_turn: dict[str, asyncio.Task] = {}  # the latest message turn of each conversation
        self.turn_seconds, self.invoke_seconds, self.drain_seconds = TURN_SECONDS, INVOKE_SECONDS, DRAIN_SECONDS
        if not self.app_id:
            log.warning(
                "TEAMS IS RUNNING UNAUTHENTICATED at %s (PEERBOT_TEAMS_LOCAL_TESTING): anyone who can reach this "
                "port can talk to the bot as anyone. For local testing only; set PEERBOT_TEAMS_APP_ID and "
                "PEERBOT_TEAMS_APP_PASSWORD for real use.",
                ROUTE,
            )

    # -- lifecycle -----------------------------------------------------------

    async def start(self, runtime: Runtime) -> None:
        await self.connectors.start()
        self.runtime = runtime
        self.channel = TeamsChannel(self.adapter, self.app_id, runtime.store, self.pacer, runtime.engine.now)
        await self.channel.refresh()
        runtime.courier.register(self.channel)
        runtime.courier.on_unreachable.append(self.tell_admins)
        self._refresher = asyncio.create_task(self._keep_fresh(), name="teams-bindings")
        if self.app_id:
            self.keys.start()

    async def stop(self) -> None:
        await self.settle(self.drain_seconds)
        for turn in list(self._turns):
            turn.cancel()
        await asyncio.gather(*self._turns, return_exceptions=True)
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        await self.keys.close()
        await self.connectors.close()

    async def _keep_fresh(self) -> None:
        """Pick up a channel bound from the command line while the server runs."""
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            with contextlib.suppress(Exception):
                await self.channel.refresh()
            with contextlib.suppress(Exception):
                await self.runtime.store.teams_activities.forget_before(self.runtime.engine.now())

    def tell_admins(self, address: Address, via: str, error: str) -> None:
        """Courier hook: someone on Teams can't be reached; admins hear how to fix it, once a day."""
        if via != NAME or self.runtime is None:
            return
        who = f"the person with Teams user id {address.id}" if address.kind == "user" else f"the {address.id} channel"
        log.warning("teams: %s is unreachable: %s", who, error)
        text = UNREACHABLE_HELP.format(who=who, why=error)
        if address.kind == "channel":
            text = (
                f"I couldn't post to the {address.id} channel on Microsoft Teams ({error}). Add peerbot to that "
                f"team, then type {BIND_WORD} in the channel, or run peerbot teams bind-supervisors."
            )
        day = self.runtime.engine.now().date().isoformat()
        for admin in sorted(self.runtime.settings.admins):
            reply = Reply(text=text, to=Destination.user(admin, via=NAME))
            key = f"teams-unreachable:{address.kind}:{address.id}:{admin}:{day}"
            task = asyncio.get_running_loop().create_task(self.runtime.courier.send(reply, key=key))
            self._notices.add(task)
            task.add_done_callback(self._notices.discard)

    async def settle(self, timeout: float | None = None) -> None:
        """Wait (at most ``timeout`` seconds) for the turns running now, their replies included."""
        while self._turns:
            _, pending = await asyncio.wait(set(self._turns), timeout=timeout)
            if pending:
                return

    async def _turn_failed(self, context: TurnContext, error: Exception) -> None:
        # Only the kind of failure is logged: never what anyone wrote.
        log.error("teams: a %s turn failed: %s", context.activity.type, error.__class__.__name__)
        await self.bot.tell_of_failure(context)

    def _begin_turn(self, checked: Any, activity: Activity) -> tuple[asyncio.Task, "asyncio.Future[tuple[int, Any]]"]:
        """Run the turn in the background; the future gets the invoke answer as soon as it is decided."""
        answered: asyncio.Future[tuple[int, Any]] = asyncio.get_running_loop().create_future()
        # Messages in one conversation are still handled one after another, in
        # the order they came (Teams no longer waits for one before sending the
        # next); invokes need their answer now, so they don't queue.
        key = activity.conversation.id if activity.type != "invoke" and activity.conversation else None
        before = self._last_turn.get(key) if key else None

        async def turn() -> Any:
            answer_slot.set(answered)
            if before is not None:
                await asyncio.wait({before})
            try:
                return await asyncio.wait_for(self.adapter.process_activity(checked, activity, self.bot.on_turn), self.turn_seconds)
            except asyncio.TimeoutError:
                log.warning("teams: a %s turn took longer than %.0f s and was stopped", activity.type, self.turn_seconds)
            except Exception as exc:  # the adapter's own failures (a connector it can't build, say)
                log.error("teams: a %s turn failed outside the bot: %s", activity.type, exc.__class__.__name__)
            finally:
                if not answered.done():
                    answered.cancel()
            return None

        task = asyncio.get_running_loop().create_task(turn(), name=f"teams-turn-{activity.type}")
        self._turns.add(task)
        task.add_done_callback(self._turns.discard)
        if key:
            self._last_turn[key] = task
            task.add_done_callback(lambda done: self._last_turn.pop(key, None) if self._last_turn.get(key) is done else None)
        return task, answered

    # -- the endpoint --------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        if self.runtime is None:
            return _problem(503, "peerbot is still starting")
        auth = request.headers.get("Authorization", "")
        if self.app_id and not auth:
            return _problem(401, "a Bot Framework token is needed")
        if self.app_id:
            refusal = precheck(auth)
            if refusal:
                log.info("teams: refused a request: %s", refusal)
                return _problem(401, "the Bot Framework token isn't valid for this bot")
        if request.content_type != "application/json":
            return _problem(415, "send the activity as application/json")
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return _problem(400, "the body isn't valid JSON")
        problem = self._check(body)
        if problem:
            return _problem(400, problem)
        entities = body.get("entities")
        if entities is not None:
            # Entities that aren't objects (or have no type) are dropped: a bad one costs nothing.
            body["entities"] = [e for e in entities if isinstance(e, dict) and isinstance(e.get("type"), str)] if isinstance(entities, list) else None
        if not self._our_tenant(body):
            return _problem(403, "this bot serves another organization")
        try:
            activity = Activity().deserialize(body)
        except Exception:
            return _problem(400, "the activity couldn't be read")
        checked: Any = auth
        if self.app_id:
            checked = await self._authenticate(auth, activity)
            if isinstance(checked, web.Response):
                return checked
        task, answered = self._begin_turn(checked, activity)
        if activity.type == "invoke":
            return await self._invoke_answer(activity, task, answered)
        if activity.delivery_mode == "expectReplies":  # the replies travel in the response body
            return self._response(await asyncio.shield(task))
        return web.Response(status=201)

    async def _invoke_answer(self, activity: Activity, task: asyncio.Task, answered: "asyncio.Future[tuple[int, Any]]") -> web.Response:
        """The invoke's answer, as soon as the bot has decided it (the turn may go on sending)."""
        await asyncio.wait({task, answered}, timeout=self.invoke_seconds, return_when=asyncio.FIRST_COMPLETED)
        if answered.done() and not answered.cancelled():
            status, body = answered.result()
            return web.json_response(body.serialize() if hasattr(body, "serialize") else body, status=status)
        if task.done():
            return self._response(task.result())
        log.warning("teams: an invoke wasn't answered within %.0f s", self.invoke_seconds)
        return web.json_response(failure_answer(activity.name), status=200)

    @staticmethod
    def _response(result: Any) -> web.Response:
        if result is None:
            return web.Response(status=201)
        body = result.body
        if hasattr(body, "serialize"):
            body = body.serialize()
        return web.json_response(body, status=result.status or 200)

    async def _authenticate(self, auth: str, activity: Activity) -> Any:
        """botbuilder's token validation, with keys from ``self.keys``: its
        result, or the refusal to send. Every way a token can fail (forged,
        expired, wrong audience, unknown key, unreadable) is a 401; keys that
        can't be fetched right now are a quick 503, so Teams tries again."""
        try:
            with using(self.keys):
                return await self.adapter.bot_framework_authentication.authenticate_request(activity, auth)
        except KeysUnavailable:
            log.warning("teams: a request was turned away: the signing keys can't be fetched right now")
            response = _problem(503, "the token can't be checked right now; try again shortly")
            response.headers["Retry-After"] = "30"
            return response
        except Exception as exc:  # botbuilder raises plain Exception, IndexError, jwt errors...
            # One line and no traceback: the kind of failure, never the token.
            log.info("teams: refused a Bot Framework token (%s)", exc.__class__.__name__)
            return _problem(401, "the Bot Framework token isn't valid for this bot")

    def _check(self, body: Any) -> str | None:
        """Why an activity can't be taken, or None."""
        if not isinstance(body, dict):
            return "the body must be a JSON object (a Bot Framework activity)"
        kind = body.get("type")
        if not isinstance(kind, str) or kind not in KNOWN_TYPES:
            return f"unknown activity type {str(kind)[:40]!r}"
        if kind in NEEDS_CONVERSATION:
            missing = [
                name for name, value in (
                    ("serviceUrl", body.get("serviceUrl")),
                    ("conversation.id", (body.get("conversation") or {}).get("id") if isinstance(body.get("conversation"), dict) else None),
                    ("from.id", (body.get("from") or {}).get("id") if isinstance(body.get("from"), dict) else None),
                    ("recipient.id", (body.get("recipient") or {}).get("id") if isinstance(body.get("recipient"), dict) else None),
                ) if not isinstance(value, str) or not value
            ]
            if missing:
                return "the activity is missing " + ", ".join(missing)
            if kind == "invoke" and not isinstance(body.get("name"), str):
                return "an invoke activity needs a name"
        for name in ("text", "value", "channelData"):
            if name in body and not isinstance(body[name], (str, dict, list, type(None))):
                return f"{name} has the wrong type"
        if body.get("text") is not None and not isinstance(body.get("text"), str):
            return "text must be a string"
        return None

    def _our_tenant(self, body: dict[str, Any]) -> bool:
        """A single-tenant bot (PEERBOT_TEAMS_TENANT_ID) takes nothing from other organisations."""
        tenant = self.settings.teams_tenant_id
        if not tenant:
            return True
        data, conversation = body.get("channelData"), body.get("conversation")
        seen = data.get("tenant", {}).get("id") if isinstance(data, dict) and isinstance(data.get("tenant"), dict) else None
        seen = seen or (conversation.get("tenantId") if isinstance(conversation, dict) else None)
        return not isinstance(seen, str) or seen.lower() == tenant.lower()


TEAMS = web.AppKey("teams", TeamsPlatform)


def mount(app: web.Application, settings: Settings) -> TeamsPlatform:
    platform = TeamsPlatform(settings)
    app[TEAMS] = platform
    app.router.add_post(ROUTE, platform.handle)
    return platform
