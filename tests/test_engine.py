"""The engine's promises: one place registers intents, failures stay kind,
and message text never reaches the logs."""

from __future__ import annotations

import logging

import pytest

from bot.engine import Engine
from bot.model import Inbound, Reply
from bot.runtime import Runtime
from intents import build_intents
from intents.base import Command, Intent


class Boom(Intent):
    name = "boom"
    commands = (Command("boom", "always fails"),)

    async def on_command(self, word, args, msg, ctx):
        raise RuntimeError("internal detail that must not leak")


class Echo(Intent):
    name = "echo"

    async def on_text(self, msg, ctx):
        return [Reply(text=f"echo: {msg.text}")]


def test_two_intents_with_one_name_are_refused(runtime: Runtime):
    with pytest.raises(ValueError, match="two intents are named 'echo'"):
        Engine(runtime.settings, runtime.store, [Echo(), Echo()])


def test_a_command_registered_twice_is_refused(runtime: Runtime):
    class Other(Boom):
        name = "other"

    with pytest.raises(ValueError, match="'boom' is registered twice"):
        Engine(runtime.settings, runtime.store, [Boom(), Other()])


def test_the_bundled_intents_register_cleanly(runtime: Runtime):
    engine = Engine(runtime.settings, runtime.store, build_intents())
    assert "help" in {c.word for c in engine.commands_for(frozenset({"peer"}))}


async def test_a_failing_intent_gets_a_kind_reply_and_no_details(runtime: Runtime, caplog):
    engine = Engine(runtime.settings, runtime.store, [Boom()])
    with caplog.at_level(logging.ERROR):
        replies = await engine.handle(Inbound(channel="t", user="u", conversation="c", text="/boom secret words"))
    assert "something went wrong on my side" in replies[0].text
    assert "internal detail" not in replies[0].text
    assert "secret words" not in caplog.text


async def test_free_text_goes_to_the_first_intent_that_takes_it(runtime: Runtime):
    engine = Engine(runtime.settings, runtime.store, [Boom(), Echo()])
    replies = await engine.handle(Inbound(channel="t", user="u", conversation="c", text="  hello\x00 there "))
    assert replies[0].text == "echo: hello there"


async def test_a_command_word_counts_as_a_command_only_with_the_arguments_its_usage_allows(runtime):
    from tests.conftest import Chat

    supervisor = Chat(runtime, user="u-sam", name="Sam", team=None)
    # "concerns ack REF" fits the usage, so it runs the command (the reference is unknown).
    assert "can't find a concern with the reference ABCDEF" in await supervisor.say("concerns ack ABCDEF")
    # "help" takes nothing after it: a sentence starting with it is a question, not the help page.
    peer = Chat(runtime)
    assert "Things you can type" not in await peer.say("help a client fill in a housing form, is that ok?")
    assert "Things you can type" in await peer.say("help")
