"""Receipts, not guessable references: who can look a concern up by its
reference, through the terminal channel.

An anonymous concern shows its trail only to whoever holds its receipt (the
reference and a secret part shown once) or its relay link; a named one only
to its reporter and the peer supervisors. Every unknown, foreign or wrong
reference gets the same words, and a person gets five tries a minute.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.config import Settings
from bot.model import Action, Inbound
from bot.runtime import Runtime
from intents.concern_desk import NOT_FOUND, TRY_LATER
from tests.conftest import Chat, Clock, make_settings
from tests.test_concerns import raise_concern, ref_of

KEY = Fernet.generate_key().decode()
RECEIPT = re.compile(r"Your receipt: ([A-Z0-9]{6})-([A-Z0-9]{6})\n")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, supervisors="u-sam", admins="u-root", concern_key=KEY, concern_daily_limit=10)


def receipt_of(text: str) -> tuple[str, str]:
    match = RECEIPT.search(text)
    assert match, text
    return match.group(1), match.group(2)


def answer(printed: str) -> str:
    """What the bot said, without the terminal's prompt decoration."""
    return printed.strip()


async def test_the_receipt_is_shown_once_whole_and_says_to_keep_it(runtime: Runtime):
    zelda = Chat(runtime, user="u-zelda", name="Zelda")
    printed = await raise_concern(zelda, anonymous=True, follow_up="No follow-up")
    ref, secret = receipt_of(printed)
    assert ref == ref_of(printed) and re.fullmatch(r"[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}", secret)
    assert "Keep the whole receipt somewhere safe: I show it only this once" in printed
    assert f"/concern status {ref}-{secret}" in printed
    assert "you should" not in printed.lower()
    # Not stored anywhere: neither in the row nor in the file.
    row = await runtime.store.concerns.get(ref)
    assert secret not in str(row)
    await runtime.store.close()
    db = Path(runtime.settings.db)
    for path in (db, db.with_name(db.name + "-wal")):
        assert f"{ref}-{secret}".encode() not in (path.read_bytes() if path.exists() else b"")
    from bot.store import Store

    runtime.store = await Store.open(runtime.settings.db)


async def test_an_anonymous_concern_shows_its_trail_only_with_the_whole_receipt(runtime: Runtime, clock: Clock):
    zelda = Chat(runtime, user="u-zelda", name="Zelda")
    printed = await raise_concern(zelda, anonymous=True, follow_up="No follow-up", text="The back door doesn't lock.")
    ref, secret = receipt_of(printed)
    await Chat(runtime, user="u-sam", name="Sam").say(f"/concerns ack {ref}")

    for how in (f"{ref}-{secret}", f"{ref.lower()} {secret.lower()}", f"{ref}{secret}"):
        status = await zelda.say(f"/concern status {how}")
        assert f"Concern {ref}" in status and "Sam acknowledged it" in status and "The back door doesn't lock." in status
    # The reference alone is not enough, not even for the person who raised it:
    # nothing ties them to it.
    assert answer(await zelda.say(f"/concern status {ref}")) == NOT_FOUND
    bea = Chat(runtime, user="u-bea", name="Bea")
    assert answer(await bea.say(f"/concern status {ref}")) == NOT_FOUND
    # Whoever holds the receipt holds the concern.
    assert "The back door doesn't lock." in await bea.say(f"/concern status {ref}-{secret}")


async def test_the_check_status_button_on_the_receipt_still_works(runtime: Runtime):
    [form] = await runtime.engine.handle(
        Inbound(channel="slack", user="U0ZELDA", conversation="D1", action=Action(id="concern:begin", value="anonymous|")), shows_forms=True
    )
    values = {"category": "safety", "what": "The back door doesn't lock.", "about": "no", "follow_up": "no", "timing": "now", **form.form.hidden}
    from bot.model import Submission

    [preview] = await runtime.engine.handle(
        Inbound(channel="slack", user="anonymous", conversation="anonymous", submission=Submission(form=form.form.id, values=values)), shows_forms=True
    )
    send = next(c for c in preview.choices if c.label == "Send")
    receipt = (await runtime.engine.handle(
        Inbound(channel="slack", user="anonymous", conversation="anonymous", action=Action(id=send.action, value=send.value)), shows_forms=True
    ))[-1]
    check = next(c for c in receipt.choices if c.label == "Check status")
    [status] = await runtime.engine.handle(
        Inbound(channel="slack", user="U0ZELDA", conversation="D1", action=Action(id=check.action, value=check.value)), shows_forms=True
    )
    assert "The back door doesn't lock." in status.text and "Who has looked at it" in status.text
    # The same button with its secret part altered opens nothing.
    forged = check.value[:-1] + ("0" if check.value[-1] != "0" else "1")
    [refused] = await runtime.engine.handle(
        Inbound(channel="slack", user="U0ZELDA", conversation="D1", action=Action(id=check.action, value=forged)), shows_forms=True
    )
    assert refused.text == NOT_FOUND


async def test_an_anonymous_reporter_who_asked_to_hear_back_is_found_through_the_relay_link(runtime: Runtime):
    zelda = Chat(runtime, user="u-zelda", name="Zelda")
    ref = ref_of(await raise_concern(zelda, anonymous=True, text="Lone working on nights."))
    assert "Lone working on nights." in await zelda.say(f"/concern status {ref}")
    assert answer(await Chat(runtime, user="u-bea", name="Bea").say(f"/concern status {ref}")) == NOT_FOUND


async def test_a_named_concern_shows_to_its_reporter_and_supervisors_only(runtime: Runtime):
    ada = Chat(runtime, user="u-ada", name="Ada")
    ref = ref_of(await raise_concern(ada, text="Asked to cover two units at once."))
    assert "Asked to cover two units at once." in await ada.say(f"/concern status {ref}")
    sam = Chat(runtime, user="u-sam", name="Sam")
    assert "Asked to cover two units at once." in await sam.say(f"/concern status {ref}")
    assert "Asked to cover two units at once." in await sam.say(f"/concerns {ref}")
    bea = Chat(runtime, user="u-bea", name="Bea")
    assert answer(await bea.say(f"/concern status {ref}")) == NOT_FOUND
    # The same user id on another platform is another person.
    [elsewhere] = await runtime.engine.handle(Inbound(channel="slack", user="u-ada", conversation="D1", text=f"/concern status {ref}"))
    assert elsewhere.text == NOT_FOUND


async def test_unknown_foreign_and_wrong_references_all_get_the_same_words(runtime: Runtime):
    ada = Chat(runtime, user="u-ada", name="Ada")
    named = ref_of(await raise_concern(ada))
    anonymous, secret = receipt_of(await raise_concern(Chat(runtime, user="u-zed", name="Zed"), anonymous=True, follow_up="No follow-up"))
    wrong = "".join("A" if c != "A" else "B" for c in secret)
    tries = [
        "ZZZZZZ",                    # no such concern
        "ZZZZZZ-ABCDEF",             # no such concern, with a made-up secret
        named,                       # someone else's, named
        f"{named}-{wrong}",          # someone else's, named, with a wrong secret
        anonymous,                   # anonymous, without the secret
        f"{anonymous}-{wrong}",      # anonymous, with a wrong secret
        "not-a-reference",           # nonsense
    ]
    answers = set()
    for i, typed in enumerate(tries):
        # A fresh person for each, so the limit doesn't come into it.
        answers.add(answer(await Chat(runtime, user=f"u-prober-{i}", name="P").say(f"/concern status {typed}")))
    assert answers == {NOT_FOUND}


async def test_five_tries_a_minute_even_all_at_once_then_a_kind_wait(runtime: Runtime, clock: Clock):
    prober = Chat(runtime, user="u-prober", name="Prober")
    guesses = [f"K7Q2M{c}-ABCDEF" for c in "ABCDEFGHJK"]
    # The same person pressing from ten places at the same moment.
    answers = await asyncio.gather(*(Chat(runtime, user="u-prober", name="Prober").say(f"/concern status {g}") for g in guesses))
    assert sorted(answer(a) for a in answers) == sorted([NOT_FOUND] * 5 + [TRY_LATER] * 5)
    assert "try again in a minute" in TRY_LATER and "you should" not in TRY_LATER.lower()
    assert answer(await prober.say("/concern status ZZZZZZ")) == TRY_LATER
    # Someone else is not held up by it.
    assert answer(await Chat(runtime, user="u-bea", name="Bea").say("/concern status ZZZZZZ")) == NOT_FOUND
    clock.advance(minutes=1)
    assert answer(await prober.say("/concern status ZZZZZZ")) == NOT_FOUND


async def test_looking_at_your_own_concern_is_never_limited(runtime: Runtime):
    ada = Chat(runtime, user="u-ada", name="Ada")
    ref = ref_of(await raise_concern(ada))
    for _ in range(8):
        assert f"Concern {ref}" in await ada.say(f"/concern status {ref}")


async def test_the_limit_is_kept_in_the_store_so_it_holds_across_processes(runtime: Runtime, tmp_path: Path):
    from bot.runtime import build_runtime

    other = await build_runtime(runtime.settings, now=runtime.engine.now)
    try:
        here, there = Chat(runtime, user="u-prober", name="P"), Chat(other, user="u-prober", name="P")
        said = [await (here if i % 2 else there).say(f"/concern status ZZZZZ{i}") for i in range(7)]
        assert [answer(s) for s in said] == [NOT_FOUND] * 5 + [TRY_LATER] * 2
    finally:
        await other.close()
    # Only keyed hashes and minutes are kept, never who asked.
    rows = await runtime.store.run(lambda: list(runtime.store.db.query("select * from attempt_limits")))
    assert rows and all("u-prober" not in str(r) for r in rows)
