"""Every capability the bot has, registered in one place.

Order matters: screens run in this order before anything else, and free
text is offered to intents in this order, catch-alls last.
"""

from __future__ import annotations

from intents.base import Command, Context, Intent


def build_intents() -> list[Intent]:
    from intents.admin import Admin
    from intents.concern import Concern
    from intents.checkin import Checkin
    from intents.help import Help
    from intents.pulse import Pulse
    from intents.scope import Scope
    from intents.support import Support

    return [
        Support(),  # screens every message for distress before anything else
        Help(),
        Admin(),
        Checkin(),
        Pulse(),
        Concern(),
        Scope(),  # takes any plain message as a question: keep it last
    ]


__all__ = ["Command", "Context", "Intent", "build_intents"]
