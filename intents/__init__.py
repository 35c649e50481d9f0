"""Every capability the bot has, registered in one place.

Order matters: screens run in this order before anything else, and free
text is offered to intents in this order, catch-alls last.
"""

from __future__ import annotations

from intents.base import Command, Context, Intent


def build_intents() -> list[Intent]:
    from intents.admin import Admin
    from intents.help import Help

    return [
        Help(),
        Admin(),
    ]


__all__ = ["Command", "Context", "Intent", "build_intents"]
