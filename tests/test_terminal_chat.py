"""Talking to the bot in the terminal, as a peer worker would."""

from __future__ import annotations

import pytest

from tests.conftest import Chat


async def test_help_tells_a_peer_worker_what_the_bot_can_do(chat: Chat):
    reply = await chat.say("help")
    assert "peer support workers" in reply
    assert "/help" in reply
    # Admin-only commands are not offered to someone who can't use them.
    assert "/status" not in reply


async def test_help_works_with_a_slash_and_in_any_case(chat: Chat):
    assert "/help" in await chat.say("/HELP")
    assert "/help" in await chat.say("Help?")


async def test_an_admin_sees_admin_commands_in_help(runtime):
    admin = Chat(runtime, user="u-root")
    assert "/status" in await admin.say("help")


async def test_a_command_for_admins_politely_refuses_others(chat: Chat):
    reply = await chat.say("/status")
    assert "only for admins" in reply
    assert "Store:" not in reply


async def test_an_admin_can_run_the_status_command(runtime):
    admin = Chat(runtime, user="u-root")
    reply = await admin.say("/status")
    assert "reachable" in reply and "NOT" not in reply


async def test_an_unknown_command_gets_a_pointer_to_help(chat: Chat):
    reply = await chat.say("/frobnicate now")
    assert "don't know the command /frobnicate" in reply


async def test_an_empty_line_gets_a_gentle_reply(chat: Chat):
    assert "didn't catch anything" in await chat.say("")
    assert "didn't catch anything" in await chat.say("   \t ")


async def test_a_huge_message_gets_a_kind_reply_not_a_crash(chat: Chat):
    reply = await chat.say("a" * 100_000)
    assert "longer than I can take in" in reply
    # The bot still works afterwards.
    assert "/help" in await chat.say("help")


@pytest.mark.parametrize("noise", ["\x00\x01\x02help\x1b[31m", "he\x07lp", "\u202ehelp"])
async def test_control_characters_are_dropped_before_reading(chat: Chat, noise: str):
    reply = await chat.say(noise)
    assert "/help" in reply or "not sure" in reply
    assert "\x1b" not in reply and "\x00" not in reply


async def test_a_mistyped_button_number_keeps_the_buttons_and_the_next_number_presses_one(chat: Chat):
    offer = await chat.say("/concern")
    assert "[2] Anonymously" in offer
    slip = await chat.say("5")
    assert "There's no button 5 here: type a number from 1 to 3" in slip
    assert "not sure" not in slip.lower()
    pressed = await chat.say("2")
    assert pressed.startswith("Anonymous: the peer supervisors see what you write here, and not who wrote it.")
