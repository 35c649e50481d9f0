"""The engine: route one neutral message to the intent that decides, and
return its replies.

Routing order, first match wins:
1. a button press goes to the intent named before the ``:`` in its id;
2. a form submission is checked against the form and goes to its intent;
3. typed text is cleaned (control characters out, length capped);
4. while a form is being filled in conversation, text answers its field
   (``/commands`` still work and the draft stays saved);
5. screens run on every typed message (the scope intent's distress check);
6. ``/word``, a bare command word, or the word followed by arguments its
   usage line allows runs that command, if the role allows;
7. intents that take free text are asked in registration order;
8. otherwise a gentle "I didn't catch that".

The engine never delivers anything itself: it returns replies, each with a
destination, and the channel that called it delivers them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
import unicodedata
from typing import TYPE_CHECKING, Any, Callable, Iterable

from bot.config import Settings
from bot.flow_state import FlowState, MemoryFlowState
from bot.forms import AnswerError, ask_field, check_submission, parse_answer
from bot.model import Action, Choice, FieldKind, Form, Inbound, Reply, Submission
from bot.store import Store
from bot.store.conversations import FormSession
from intents.base import Command, Context, Intent, utc_now

if TYPE_CHECKING:
    from bot.scheduler import Schedule

log = logging.getLogger(__name__)

SORRY = (
    "Sorry, something went wrong on my side and I couldn't finish that. "
    "Nothing you had already saved is lost. Could you try again in a moment?"
)
EMPTY = "I didn't catch anything there. Type help to see what I can do, or just ask your question."
NOT_UNDERSTOOD = "I'm not sure what to do with that one. Type help to see what I can do."
ROLE_NAMES = {"supervisor": "peer supervisors", "admin": "admins"}
# Bidirectional overrides can make text display differently from what it says.
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
# Terminal escape sequences (colours, cursor moves) pasted into a message.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")


def clean_text(text: str, limit: int) -> tuple[str, str | None]:
    """Normalise typed text; return it with a kind message if it can't be used."""
    text = _ESCAPES.sub("", unicodedata.normalize("NFC", text))
    text = "".join(
        ch for ch in text if ch in "\n\t" or (unicodedata.category(ch) not in ("Cc", "Cs") and ch not in _BIDI)
    ).strip()
    if len(text) > limit:
        return "", (
            f"That message is longer than I can take in at once ({len(text):,} characters; "
            f"I read up to {limit:,}). Could you send the main part in a shorter message?"
        )
    return text, None


# A half-filled sensitive form, kept in the flow state while the person
# fills it in (a check-in period is a week; /resume picks it up).
PRIVATE_FORM = "private-form"
PRIVATE_FORM_LIFE = dt.timedelta(days=7)


def _form_token(channel: str, user: str, conversation: str) -> str:
    """Where a person's half-filled private form is kept: a digest, so the
    token doesn't spell out whose it is (a shared backend keys it with a secret)."""
    return hashlib.sha256(f"{channel}\x1f{user}\x1f{conversation}".encode()).hexdigest()[:32]


class Engine:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        intents: Iterable[Intent],
        now: Callable[[], dt.datetime] = utc_now,
        schedule: "Schedule | None" = None,
        flows: FlowState | None = None,
    ):
        self.settings = settings
        self.store = store
        self.now = now
        self.schedule = schedule
        self.resources: dict[str, Any] = {}
        self.intents: list[Intent] = []
        self._by_name: dict[str, Intent] = {}
        self._commands: dict[str, tuple[Intent, Command]] = {}
        # What people build up over several steps (bot/flow_state.py). Half-filled
        # sensitive forms (check-ins, concerns) are kept there, never in the
        # database next to the person; other half-filled forms are stored.
        self.flows: FlowState = flows if flows is not None else MemoryFlowState(now)
        for intent in intents:
            self._register(intent)

    def _register(self, intent: Intent) -> None:
        if not intent.name or ":" in intent.name:
            raise ValueError(f"intent {intent!r} needs a name without ':'")
        if intent.name in self._by_name:
            raise ValueError(f"two intents are named {intent.name!r}")
        for command in intent.commands:
            if command.word in self._commands or command.word in ("cancel", "resume"):
                raise ValueError(f"the command {command.word!r} is registered twice")
            self._commands[command.word] = (intent, command)
        self._by_name[intent.name] = intent
        self.intents.append(intent)

    def context(self, msg: Inbound) -> Context:
        roles = self.settings.roles_of(msg.user)
        return Context(
            settings=self.settings,
            store=self.store,
            roles=roles,
            now=self.now,
            resources=self.resources,
            commands=tuple(self.commands_for(roles)),
            abouts=tuple(intent.about for intent in self.intents if intent.about),
            schedule=self.schedule,
            flows=self.flows,
        )

    def commands_for(self, roles: frozenset[str]) -> list[Command]:
        """The commands a person with these roles may use, in registration order."""
        return [command for _, command in self._commands.values() if command.role in roles]

    async def handle(self, msg: Inbound, *, shows_forms: bool = False) -> list[Reply]:
        """Route one message. ``shows_forms`` says the channel can show a whole
        form at once (a modal or card); otherwise forms are asked field by field."""
        try:
            replies = await self._route(msg, shows_forms)
            ctx = self.context(msg)
            for intent in self.intents:
                replies = await intent.decorate(msg, replies, ctx)
            replies = [self._address(reply, msg) for reply in replies]
            return await self._start_forms(replies, msg, shows_forms)
        except Exception:  # a failing intent must never take the conversation down
            kind = "action" if msg.action else "submission" if msg.submission else "text"
            log.exception("could not handle a %s on %s", kind, msg.channel)
            return [Reply(text=SORRY)]

    def intent(self, name: str) -> Intent | None:
        return self._by_name.get(name)

    def system_context(self) -> Context:
        """The context for scheduled jobs and operators' commands: every role."""
        ctx = self.context(Inbound(channel="system", user="system", conversation="system"))
        ctx.roles = frozenset({"peer", "supervisor", "admin"})
        return ctx

    async def on_schedule(self, kind: str, payload: dict[str, Any]) -> list[Reply]:
        """Hand a due job ("<intent>:<kind>") to its intent; return what it wants sent."""
        intent = self._by_name.get(kind.partition(":")[0])
        if intent is None:
            log.warning("no intent for %s jobs", kind)
            return []
        try:
            return await intent.on_schedule(kind, payload, self.system_context())
        except Exception:
            log.exception("the %s job failed", kind)
            return []

    async def warm_up(self) -> None:
        """Let intents load what they need before the first message arrives."""
        ctx = self.context(Inbound(channel="system", user="system", conversation="system"))
        for intent in self.intents:
            try:
                await intent.warm_up(ctx)
            except Exception:
                log.exception("the %s intent could not warm up", intent.name)

    async def home(self, msg: Inbound) -> list[Reply]:
        """Every intent's sections for this person's home view, in registration order."""
        ctx = self.context(msg)
        sections: list[Reply] = []
        for intent in self.intents:
            try:
                sections += await intent.home(msg, ctx)
            except Exception:
                log.exception("the %s intent could not build its home section", intent.name)
        return sections

    @staticmethod
    def _address(reply: Reply, msg: Inbound) -> Reply:
        """A direct message with no platform named goes out on the one the person wrote from."""
        if reply.to.kind == "user" and reply.to.via is None:
            return reply.model_copy(update={"to": reply.to.model_copy(update={"via": msg.channel})})
        return reply

    # -- routing -----------------------------------------------------------

    async def _route(self, msg: Inbound, shows_forms: bool) -> list[Reply]:
        ctx = self.context(msg)
        if msg.action is not None:
            return await self._on_action(msg.action, msg, ctx)
        if msg.submission is not None:
            return await self._on_submission(msg.submission, msg, ctx)

        text, problem = clean_text(msg.text, self.settings.max_message_chars)
        if problem:
            return [Reply(text=problem)]
        msg = msg.model_copy(update={"text": text})

        session = await self._draft(msg)
        if session is not None and not text.startswith("/"):
            return await self._continue_form(session, msg, ctx)
        if not text:
            return [Reply(text=EMPTY)]

        for intent in self.intents:
            claimed = await intent.screen(msg, ctx)
            if claimed is not None:
                return claimed

        replies = await self._on_command_or_text(msg, ctx, session)
        if session is not None and self._word(text) not in ("cancel", "resume"):
            title = session.form.get("title", "form")
            replies.append(Reply(text=f"(The form you were filling in, {title}, is saved. Type /resume to carry on, or /cancel to set it aside.)"))
        return replies

    @staticmethod
    def _word(text: str) -> str:
        first = text.split(maxsplit=1)[0] if text.split() else ""
        return first.lstrip("/").lower()

    async def _on_command_or_text(self, msg: Inbound, ctx: Context, session: FormSession | None) -> list[Reply]:
        text = msg.text
        parts = text.split(maxsplit=1)
        slashed = text.startswith("/")
        word = parts[0].lstrip("/").lower()
        bare = text.strip().rstrip("?!. ").lower()
        if word in ("cancel", "resume") and (slashed or bare == word):
            return await self._form_control(word, session, msg, ctx)
        typed = self._commands.get(word)
        # Without a slash: the bare word, or the word and what its usage says
        # comes next ("concerns ack K9XYSP"); "help me with a client" is a
        # question. The same rule for every platform.
        spelled_out = not slashed and typed is not None and len(parts) > 1 and typed[1].fits(parts[1])
        if slashed or bare in self._commands or spelled_out:
            key = word if slashed or spelled_out else bare
            if key not in self._commands:
                return [Reply(text=f"I don't know the command /{key[:30]}. Type help to see what I can do.")]
            intent, command = self._commands[key]
            if command.role not in ctx.roles:
                who = ROLE_NAMES.get(command.role, command.role)
                return [
                    Reply(
                        text=f"/{command.word} is only for {who}, so I can't run it for you. "
                        "If you need it for your work, an admin can add you in the bot's settings."
                    )
                ]
            args = parts[1] if (slashed or spelled_out) and len(parts) > 1 else ""
            return await intent.on_command(command.word, args, msg, ctx)

        for intent in self.intents:
            replies = await intent.on_text(msg, ctx)
            if replies is not None:
                return replies
        return [Reply(text=NOT_UNDERSTOOD)]

    async def _on_action(self, action: Action, msg: Inbound, ctx: Context) -> list[Reply]:
        owner, _, verb = action.id.partition(":")
        if owner == "form":
            session = await self._draft(msg)
            return await self._form_control(verb, session, msg, ctx)
        intent = self._by_name.get(owner)
        if intent is None or not verb:
            return [Reply(text="That button doesn't do anything any more. Type help to see what I can do.")]
        return await intent.on_action(action, msg, ctx)

    async def _care_first(self, texts: list[str], msg: Inbound, ctx: Context) -> list[Reply]:
        """Screens for words written inside a form (a note, what happened):
        distress there gets care too, and the form carries on."""
        for text in texts:
            for intent in self.intents:
                claimed = await intent.screen(msg.model_copy(update={"text": text, "submission": None}), ctx, in_form=True)
                if claimed is not None:
                    return claimed
        return []

    async def _on_submission(self, submission: Submission, msg: Inbound, ctx: Context) -> list[Reply]:
        owner, _, name = submission.form.partition(":")
        intent = self._by_name.get(owner)
        form = intent.form(name, ctx) if intent is not None else None
        if intent is None or form is None:
            return [Reply(text="That form isn't available any more. Type help to start again.")]
        clean, errors = check_submission(form, submission.values)
        if errors:
            labels = {f.name: f.label for f in form.fields}
            lines = [f"- {labels[name]}: {message}" for name, message in errors.items()]
            return [Reply(text="A couple of answers need another look:\n" + "\n".join(lines), field_errors=errors)]
        # Hidden values (a one-time token, say) come back beside the fields.
        names = {f.name for f in form.fields}
        hidden = {k: str(v) for k, v in submission.values.items() if k not in names}
        written = [str(clean[f.name]) for f in form.fields if f.kind in (FieldKind.text, FieldKind.long_text) and clean.get(f.name)]
        care = await self._care_first(written, msg, ctx)
        return care + await intent.on_submission(name, {**clean, **hidden}, msg, ctx)

    # -- forms filled in conversation -------------------------------------

    async def _start_forms(self, replies: list[Reply], msg: Inbound, shows_forms: bool) -> list[Reply]:
        """Replace a form meant for this conversation with its first question
        when the channel can't show the whole form at once."""
        if shows_forms or not any(r.form and r.to.kind == "here" for r in replies):
            return replies
        out: list[Reply] = []
        for reply in replies:
            if reply.form is None or reply.to.kind != "here":
                out.append(reply)
                continue
            out.extend(await self.open_form(reply.form, msg, lead=reply.text))
        return out

    async def _draft(self, msg: Inbound) -> FormSession | None:
        private = await self.flows.get(PRIVATE_FORM, _form_token(msg.channel, msg.user, msg.conversation))
        if private is not None:
            return FormSession(**private)
        return await self.store.forms.get(msg.channel, msg.user, msg.conversation)

    async def _keep(self, session: FormSession) -> None:
        if session.form.get("sensitive"):
            token = _form_token(session.channel, session.user, session.conversation)
            await self.flows.put(PRIVATE_FORM, dataclasses.asdict(session), lifetime=PRIVATE_FORM_LIFE, token=token)
        else:
            await self.store.forms.save(session)

    async def _drop(self, msg: Inbound) -> None:
        if await self.flows.drop(PRIVATE_FORM, _form_token(msg.channel, msg.user, msg.conversation)) is None:
            await self.store.forms.delete(msg.channel, msg.user, msg.conversation)

    async def open_form(self, form: Form, msg: Inbound, lead: str = "") -> list[Reply]:
        """Start filling ``form`` field by field in this person's conversation."""
        owner = form.id.partition(":")[0]
        session = FormSession(
            channel=msg.channel,
            user=msg.user,
            conversation=msg.conversation,
            form=form.model_dump(mode="json"),
            owner=owner,
            answers={},
            position=0,
            updated_at=self.now().isoformat(),
        )
        await self._keep(session)
        intro = "\n\n".join(part for part in (lead, form.intro or form.title) if part)
        intro += "\n(Type cancel at any time to stop; nothing is sent until the end.)"
        if form.sensitive and self.flows.lasts_through_restart:
            # Sealed flow state: in the database, but only ever encrypted.
            intro += "\n(What you type here is kept encrypted until you send it, for up to a week: /resume picks up where you left off.)"
        elif form.sensitive:
            # Sensitive drafts never touch the database, so say what that means.
            intro += "\n(What you type here stays only in the bot's memory until you send it: if the bot restarts, the draft is gone and you start again.)"
        else:
            intro += "\n(If you're interrupted, the answers so far are saved: /resume picks up where you left off.)"
        return [Reply(text=intro), ask_field(form, 0)]

    async def _continue_form(self, session: FormSession, msg: Inbound, ctx: Context) -> list[Reply]:
        form = Form.model_validate(session.form)
        text = msg.text
        if text.lower().rstrip(".!") in ("cancel", "stop", "quit"):
            return await self._form_control("cancel", session, msg, ctx)

        idle = self.now() - dt.datetime.fromisoformat(session.updated_at)
        if idle > dt.timedelta(minutes=self.settings.form_idle_minutes):
            session.updated_at = self.now().isoformat()
            await self._keep(session)
            return [
                Reply(
                    text=f"Welcome back. You were part-way through {form.title} "
                    f"({session.position} of {len(form.fields)} answered). Would you like to carry on?",
                    choices=[
                        Choice(label="Carry on", action="form:resume"),
                        Choice(label="Start over", action="form:restart"),
                        Choice(label="Set it aside", action="form:cancel"),
                    ],
                )
            ]

        field = form.fields[session.position]
        raw: Any = text if text or not field.initial else field.initial
        try:
            value = parse_answer(field, raw)
        except AnswerError as exc:
            return [Reply(text=str(exc)), ask_field(form, session.position)]
        session.answers[field.name] = value
        care = await self._care_first([value], msg, ctx) if field.kind in (FieldKind.text, FieldKind.long_text) and value else []
        session.position += 1
        session.updated_at = self.now().isoformat()
        if session.position < len(form.fields):
            await self._keep(session)
            return [*care, ask_field(form, session.position)]

        await self._drop(msg)
        name = form.id.partition(":")[2]
        submission = Submission(form=form.id, values={**session.answers, **form.hidden})
        done = msg.model_copy(update={"text": "", "submission": submission})
        intent = self._by_name.get(session.owner)
        if intent is None:
            return [Reply(text="That form isn't available any more. Type help to start again.")]
        clean, errors = check_submission(form, session.answers)
        if errors:  # the form changed under the draft: ask again from the top
            return await self.open_form(form, msg, lead="Some answers no longer fit this form, so let's go through it again.")
        return [*care, *await intent.on_submission(name, {**clean, **form.hidden}, done, self.context(done))]

    async def _form_control(self, verb: str, session: FormSession | None, msg: Inbound, ctx: Context) -> list[Reply]:
        if session is None:
            return [Reply(text="There's no half-filled form to pick up right now.")]
        form = Form.model_validate(session.form)
        if verb == "cancel":
            await self._drop(msg)
            return [Reply(text=f"Okay, I've set {form.title} aside. Nothing from it was sent.")]
        if verb == "restart":
            return await self.open_form(form, msg)
        session.updated_at = self.now().isoformat()
        await self._keep(session)
        return [ask_field(form, session.position)]
