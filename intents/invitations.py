"""The survey invitations this bot sent while it runs, so a person who lost
the message can be offered the same Start button again.

Why in memory, beside the person, and not in the store: the store keeps
only a token's hash in a random slot (bot/store/surveys.py), so that the
database file can't tell who was sent which slot, or so whether they
answered. Keeping "this person's token" there would undo that. The bot
process already sees a token come back with a person's answer, so holding
the tokens it sent adds nothing a copy of the database could read. Like a
half-filled form, what is held here is gone after a restart; then the
person is told plainly, and the message with the button (where the chat
platform keeps it) still works.
"""

from __future__ import annotations

from intents.base import Context

RESOURCE = "survey-invitations"


class HeldInvitations:
    def __init__(self) -> None:
        # round id -> (via, user) -> token: a round's are forgotten at once
        self._tokens: dict[str, dict[tuple[str, str], str]] = {}

    def keep(self, round_id: str, issued: dict[tuple[str, str], str]) -> None:
        if issued:
            self._tokens.setdefault(round_id, {}).update(issued)

    def token(self, round_id: str, via: str, user: str) -> str | None:
        return self._tokens.get(round_id, {}).get((via, user))

    def forget_round(self, round_id: str) -> None:
        """A closed round's tokens can't be answered any more."""
        self._tokens.pop(round_id, None)


def held(ctx: Context) -> HeldInvitations:
    return ctx.resources.setdefault(RESOURCE, HeldInvitations())
