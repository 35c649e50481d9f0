"""The terminal channel: talk to the bot from a shell.

At a TTY it is a small interactive chat; with standard input from a file or
a pipe it reads one message a line and prints the replies, so conversations
can be scripted. Like every channel it only translates: lines become
``Inbound`` messages, replies become text.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO, TextIO

from bot.channels.base import Address
from bot.courier import Courier
from bot.engine import Engine
from bot.model import FieldKind, Inbound, Reply

CHANNEL = "terminal"
# Typed to see one's direct messages again (the terminal has no scrollback of its own across runs).
MESSAGES_WORDS = ("/messages", "messages")


def kept_reply(data: dict) -> Reply:
    """A message as the local platform keeps it, as a Reply to show again (charts aren't kept)."""
    return Reply.model_validate({k: v for k, v in data.items() if k in Reply.model_fields and k != "image"})


class TerminalChannel:
    def __init__(
        self,
        engine: Engine,
        courier: Courier,
        *,
        user: str,
        name: str | None = None,
        team: str | None = None,
        out: TextIO = sys.stdout,
        interactive: bool = False,
        image_dir: Path | None = None,
    ):
        self.engine = engine
        self.courier = courier
        self.user = user
        self.name = name
        self.team = team
        self.out = out
        self.interactive = interactive
        self.image_dir = image_dir
        # Buttons shown in the last reply, so "2" or a label presses one.
        self._buttons: list[tuple[str, str, str]] = []

    # -- inbound -------------------------------------------------------------

    def to_inbound(self, line: str) -> Inbound:
        base = dict(
            channel=CHANNEL,
            user=self.user,
            user_name=self.name,
            team=self.team,
            conversation=f"{CHANNEL}:{self.user}",
        )
        pressed = self._pressed(line)
        if pressed is not None:
            action, value = pressed
            return Inbound(**base, action={"id": action, "value": value})
        return Inbound(**base, text=line)

    def _pressed(self, line: str) -> tuple[str, str] | None:
        wanted = line.strip().lower()
        if not self._buttons or not wanted:
            return None
        for number, (label, action, value) in enumerate(self._buttons, start=1):
            if wanted in (str(number), label.lower()):
                return action, value
        return None

    def _missed_button(self, line: str) -> str | None:
        """A number typed at a button prompt that matches no button: a slip
        of the finger, not a question. Say so and keep the buttons, rather
        than ask the bot about "5" and lose them."""
        wanted = line.strip()
        if not self._buttons or not wanted.isdigit() or self._pressed(line) is not None:
            return None
        count = len(self._buttons)
        choose = "type 1" if count == 1 else f"type a number from 1 to {count}"
        return f"There's no button {wanted[:6]} here: {choose}, or the words on a button. The buttons above still work."

    async def send(self, line: str) -> None:
        """Handle one typed line and print what the bot says back."""
        if line.strip().lower() in MESSAGES_WORDS:
            self.show_messages()
            return
        missed = self._missed_button(line)
        if missed is not None:
            self.out.write(missed + "\n\n")
            self.out.flush()
            return
        buttons = self._buttons
        replies = await self.engine.handle(self.to_inbound(line))
        await self.deliver(replies)
        if not line.strip() and not self._buttons:
            self._buttons = buttons  # an accidental Enter doesn't take the buttons away

    async def deliver(self, replies: list[Reply]) -> None:
        self._buttons = []
        queued = False
        for reply in replies:
            if reply.to.kind == "here":
                self.show(reply)
            elif reply.to.kind == "user" and reply.to.target == self.user:
                # A direct message to this person: shown now, and kept where
                # a platform keeps direct messages, so it can be found again.
                self.show(reply)
                await self.courier.local.post(Address(kind="user", id=self.user), reply, seen=True)
            else:
                # Someone else: through the courier to the local platform,
                # where `peerbot feed` and their next `peerbot chat` find it.
                await self.courier.send(reply)
                queued = True
        self.out.flush()
        if queued:
            await self.courier.deliver_due()

    # -- outbound ------------------------------------------------------------

    def show(self, reply: Reply) -> None:
        self.out.write(self.render(reply) + "\n\n")

    def render(self, reply: Reply) -> str:
        lines = [reply.text] if reply.text else []
        if reply.choices:
            self._buttons = [(c.label, c.action, c.value) for c in reply.choices]
            lines += [f"  [{n}] {c.label}" for n, c in enumerate(reply.choices, start=1)]
            lines.append("  (type a number or the words on a button)")
        field = reply.asking
        if field is not None:
            lines += [f"  {n}. {o.label}" for n, o in enumerate(field.options, start=1)]
            if field.kind is FieldKind.scale and not field.options:
                lines.append(f"  (a number from {field.min} to {field.max})")
            if field.initial:
                kept = next((o.label for o in field.options if o.value == field.initial), field.initial)
                lines.append(f"  (press Enter to keep: {kept[:200]})")
            elif not field.required:
                lines.append("  (optional: press Enter to skip)")
        if reply.image is not None:
            lines.append(self._save_image(reply))
        return "\n".join(lines)

    def _save_image(self, reply: Reply) -> str:
        assert reply.image is not None
        folder = self.image_dir or Path(tempfile.gettempdir())
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix="peerbot-chart-", suffix=".png", delete=False) as fh:
            fh.write(reply.image.png)
        return f"[chart: {reply.image.alt}; saved to {fh.name}]"

    def show_messages(self, last: int = 5) -> None:
        """The terminal's way of scrolling up: the person's last direct
        messages again, as the local platform keeps them, with the buttons
        of the newest that had any (a check-in's Start button left behind
        before a restart is found here, as it would be in Slack or Teams)."""
        kept = self.courier.local.feed(Address(kind="user", id=self.user))[-last:]
        if not kept:
            self.out.write("There are no direct messages from me to you yet.\n\n")
        else:
            heading = "My last direct message to you:" if len(kept) == 1 else f"My last {len(kept)} direct messages to you, oldest first:"
            self.out.write(heading + "\n\n")
            buttons: list[tuple[str, str, str]] = []
            for data in kept:
                self._buttons = []
                self.show(kept_reply(data))
                buttons = self._buttons or buttons
            self._buttons = buttons
        self.out.flush()

    # -- the loop ------------------------------------------------------------

    async def greet(self) -> None:
        waiting = self.courier.local.take_unseen(self.user)
        if self.interactive:
            who = f", {self.name}" if self.name else ""
            self.out.write(f"Hi{who}. Type help to see what I can do, or ask me anything about the peer role.\n")
            self.out.write("/messages shows my last direct messages to you again. Press Ctrl-D (or type exit) to leave.\n\n")
        if waiting:
            self.out.write("Messages for you while you were away:\n\n")
            for data in waiting:
                self.show(kept_reply(data))
        self.out.flush()

    async def run(self, stream: BinaryIO) -> None:
        await self.greet()
        loop = asyncio.get_running_loop()
        while True:
            if self.interactive:
                self.out.write("you › ")
                self.out.flush()
            raw = await loop.run_in_executor(None, stream.readline)
            if not raw:
                break
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if self.interactive and line.strip().lower() in ("exit", "quit", "bye"):
                break
            if "\ufffd" in line and b"\xef\xbf\xbd" not in raw:
                self.out.write("(Some of that wasn't readable text, so I replaced those characters.)\n")
            await self.send(line)
        if self.interactive:
            self.out.write("Take care. Bye for now.\n")
            self.out.flush()
