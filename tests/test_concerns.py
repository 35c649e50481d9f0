"""Concerns, as a peer worker raising one and a peer supervisor taking it
on see them, through the terminal channel."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from bot.channels.base import Address
from bot.config import ConfigError, Settings, load_settings
from bot.model import Action, Inbound, Submission
from bot.runtime import Runtime, build_runtime
from bot.business_days import business_deadline
from tests.conftest import Chat, Clock, feed, make_settings
from tests.test_courier import FlakyPlatform

KEY = Fernet.generate_key().decode()
REF = re.compile(r"reference is ([A-Z0-9]{6})")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path, supervisors="u-sam", admins="u-root", concern_key=KEY, backup_channel="peer-leads", concern_daily_limit=3
    )


@pytest.fixture
def sam(runtime: Runtime) -> Chat:
    return Chat(runtime, user="u-sam", name="Sam", team=None)


async def raise_concern(
    chat: Chat, *, anonymous: bool = False, category: str = "Workload", text: str = "The rota changed again with no notice.",
    about: str = "", follow_up: str = "", timing: str = "", send: bool = True,
) -> str:
    """Go through /concern as a person would; return the receipt (or the preview)."""
    await chat.say("/concern")
    await chat.say("Anonymously" if anonymous else "With my name")
    for answer in (category, text, about, follow_up, timing):
        last = await chat.say(answer)
    return await chat.say("Send") if send else last


def ref_of(receipt: str) -> str:
    match = REF.search(receipt)
    assert match, receipt
    return match.group(1)


def messages_to(runtime: Runtime, user: str) -> list[dict[str, Any]]:
    return runtime.courier.local.feed(Address(kind="user", id=user))


async def press(runtime: Runtime, user: str, action: str, value: str, name: str | None = None, **kw: Any) -> str:
    """Press a button shown somewhere other than this person's chat (a post in
    the supervisors' channel, a direct message) and deliver what comes back."""
    chat = Chat(runtime, user=user, name=name)
    msg = Inbound(channel="terminal", user=user, user_name=name, conversation=f"terminal:{user}", action=Action(id=action, value=value))
    await chat.channel.deliver(await runtime.engine.handle(msg, **kw))
    return chat.out.getvalue()


# -- raising one -------------------------------------------------------------


async def test_the_reporter_sees_exactly_what_goes_and_who_sees_it_before_anything_is_sent(chat: Chat, runtime: Runtime):
    first = await chat.say("/concern")
    assert "who sees what" in first and "Nothing is sent until" in first
    preview = await raise_concern(chat, send=False)
    assert "Here is exactly what I'd send, and who would see it." in preview
    assert "peer supervisors' channel (supervisors)" in preview and "Your name (Ada) goes with it." in preview
    assert "The rota changed again with no notice." in preview
    assert "[1] Send" in preview and "[2] Edit" in preview and "[3] Cancel" in preview
    assert feed(runtime) == [] and await runtime.store.concerns.listing() == []
    assert "you should" not in (first + preview).lower()

    receipt = await chat.say("Send")
    ref = ref_of(receipt)
    assert re.fullmatch(r"[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}", ref)
    [post] = feed(runtime)
    assert post["key"] == f"concern:{ref}"
    assert f"Concern {ref} · Workload" in post["text"] and "From Ada" in post["text"]
    assert [c["label"] for c in post["choices"]] == ["Acknowledge", "I'll take this", "Resolve", "Write to the reporter"]


async def test_cancel_sends_nothing_and_edit_reopens_the_form_with_the_answers_kept(chat: Chat, runtime: Runtime):
    await raise_concern(chat, send=False)
    edit = await chat.say("Edit")
    assert "press Enter to keep: Workload" in edit
    for _ in range(2):
        await chat.say("")
    await chat.say("")
    await chat.say("No follow-up")
    preview = await chat.say("")
    assert "No follow-up: nothing links it back to you" not in preview  # named: your name goes with it
    assert "(no follow-up wanted)" in preview and "The rota changed again" in preview
    assert "Nothing was sent" in await chat.say("Cancel")
    assert feed(runtime) == [] and await runtime.store.concerns.listing() == []


# -- supervisors -------------------------------------------------------------


async def test_each_supervisor_action_updates_the_post_in_place_tells_the_reporter_and_joins_the_trail(chat: Chat, sam: Chat, runtime: Runtime):
    ref = ref_of(await raise_concern(chat))
    # A button press on the post in the supervisors' channel...
    done = await press(runtime, "u-sam", "concern:ack", ref, name="Sam")
    assert f"Done: {ref} is acknowledged. I've let the person who raised it know." in done
    [post] = feed(runtime)
    assert "edited_at" in post and "Status: acknowledged" in post["text"] and "Sam acknowledged it" in post["text"]
    assert [c["label"] for c in post["choices"]] == ["I'll take this", "Resolve", "Write to the reporter"]
    # ...and the same from the chat, by command.
    await sam.say(f"/concerns take {ref}")
    await sam.say(f"/concerns reply {ref}")
    assert "Sent to the person who raised" in await sam.say("Could we talk on Thursday at 2?")
    await sam.say(f"/concerns resolve {ref}")
    await sam.say("Rota now goes out two weeks ahead.")
    [post] = feed(runtime)
    assert "Status: resolved" in post["text"] and "Note: Rota now goes out two weeks ahead." in post["text"]
    assert post["choices"] == []

    told = [m["text"] for m in messages_to(runtime, "u-ada")]
    assert any("Sam acknowledged it" in t for t in told) and any("Sam has taken it on" in t for t in told)
    assert any("Could we talk on Thursday at 2?" in t for t in told)
    assert any("resolved by Sam" in t and "two weeks ahead" in t for t in told)

    status = await chat.say(f"/concern status {ref}")
    for line in ("Sam acknowledged it", "Sam took it on", "Sam wrote to the reporter", "Sam resolved it"):
        assert line in status
    assert ref in await chat.say("/concern mine")


async def test_only_peer_supervisors_can_act_on_a_concern(chat: Chat, runtime: Runtime):
    ref = ref_of(await raise_concern(chat))
    assert "only for peer supervisors" in await chat.say(f"/concerns ack {ref}")
    assert "for peer supervisors" in await press(runtime, "u-bea", "concern:ack", ref)
    [post] = feed(runtime)
    assert "edited_at" not in post


async def test_a_supervisor_looking_at_a_concern_is_in_the_trail_the_reporter_sees(chat: Chat, sam: Chat):
    ref = ref_of(await raise_concern(chat))
    view = await sam.say(f"/concerns {ref}")
    assert "The rota changed again" in view
    assert "Sam looked at it" in await chat.say(f"/concern status {ref}")
    assert ref in await sam.say("/concerns")


async def test_a_concern_about_a_peer_supervisor_goes_to_the_backup_channel_only(chat: Chat, runtime: Runtime):
    preview = await raise_concern(chat, category="Supervision", about="Yes", send=False)
    assert "backup channel (peer-leads)" in preview and "doesn't go to the peer supervisors' channel" in preview
    await chat.say("Send")
    assert feed(runtime) == []
    [post] = feed(runtime, "peer-leads")
    assert "about a peer supervisor" in post["text"]


async def test_without_a_backup_channel_a_concern_about_a_supervisor_is_kept_not_sent(tmp_path: Path, clock: Clock):
    runtime = await build_runtime(make_settings(tmp_path, concern_key=KEY), now=clock)
    try:
        chat = Chat(runtime)
        preview = await raise_concern(chat, category="Supervision", about="Yes", send=False)
        assert "won't send it to the supervisors' channel" in preview and "[1] Edit" in preview and "Send" not in preview
        assert "PEERBOT" not in preview and "admin can set" not in preview  # never configuration, to a peer worker
        assert feed(runtime) == [] and await runtime.store.concerns.listing() == []
    finally:
        await runtime.close()


# -- anonymous ---------------------------------------------------------------


async def test_an_anonymous_concern_relays_both_ways_and_leaves_no_trace_of_the_reporter_in_the_database(runtime: Runtime, sam: Chat):
    zelda = Chat(runtime, user="u-zelda-7731", name="Zelda Quist", team="north")
    preview = await raise_concern(zelda, anonymous=True, text="Asked to sit in on a restraint.", send=False)
    assert "No name" in preview and "locked link" in preview and "Zelda" not in preview
    ref = ref_of(await zelda.say("Send"))
    [post] = feed(runtime)
    assert "Anonymous; they'd like to hear back" in post["text"] and "Zelda" not in post["text"]

    await press(runtime, "u-sam", "concern:ack", ref, name="Sam")
    await sam.say(f"/concerns reply {ref}")
    await sam.say("Thank you for raising this. Is it still happening?")
    heard = messages_to(runtime, "u-zelda-7731")
    assert any("Sam acknowledged it" in m["text"] for m in heard)
    note = next(m for m in heard if "Is it still happening?" in m["text"])
    answer = next(c for c in note["choices"] if c["label"] == "Answer back")
    form = await press(runtime, "u-zelda-7731", "concern:answer", answer["value"], name="Zelda Quist")
    assert "Answer back" in form
    # Submitted as a modal or card would send it: the person dropped on receipt.
    reply = await runtime.engine.handle(
        Inbound(channel="terminal", user="anonymous", conversation="anonymous",
                submission=Submission(form="concern:answer", values={"text": "Yes, every Tuesday.", **_hidden(answer["value"])})),
        shows_forms=True,
    )
    await zelda.channel.deliver(reply)
    assert any("answered:\n\nYes, every Tuesday." in p["text"] for p in feed(runtime))

    await sam.say(f"/concerns resolve {ref}")
    await sam.say("Raised with the unit manager; peers won't be asked again.")
    row = await runtime.store.concerns.get(ref)
    assert row["relay"] is None and row["reporter_id"] is None and row["reporter_name"] is None
    assert "relay-deleted" in [e["what"] for e in await runtime.store.concerns.events(ref)]

    db = Path(runtime.settings.db)
    for path in (db, db.with_name(db.name + "-wal")):
        data = path.read_bytes() if path.exists() else b""
        for needle in (b"u-zelda-7731", b"Zelda", b"Quist", "u-zelda-7731".encode("utf-16-le")):
            assert needle not in data, f"{needle!r} found in {path.name}"
    assert any("unit manager" in m["text"] for m in messages_to(runtime, "u-zelda-7731"))


def _hidden(value: str) -> dict[str, str]:
    ref, _, cap = value.partition("|")
    return {"ref": ref, "cap": cap}


async def test_an_anonymous_form_opens_anonymous_and_its_relay_link_is_locked(runtime: Runtime):
    [reply] = await runtime.engine.handle(
        Inbound(channel="slack", user="U0ZELDA", conversation="D1", action=Action(id="concern:begin", value="anonymous|")), shows_forms=True
    )
    form = reply.form
    assert form is not None and form.anonymous and form.sensitive
    assert "U0ZELDA" not in form.model_dump_json()
    assert Fernet(KEY.encode()).decrypt(form.hidden["relay"].encode()) == b'{"u": "U0ZELDA", "v": "slack"}'
    values = {"category": "safety", "what": "The back door doesn't lock.", "about": "no", "follow_up": "yes", "timing": "now", **form.hidden}
    # As Slack and Teams deliver it: the person is dropped on receipt.
    [preview] = await runtime.engine.handle(
        Inbound(channel="slack", user="anonymous", conversation="anonymous", submission=Submission(form=form.id, values=values)), shows_forms=True
    )
    send = next(c for c in preview.choices if c.label == "Send")
    replies = await runtime.engine.handle(
        Inbound(channel="slack", user="anonymous", conversation="anonymous", action=Action(id=send.action, value=send.value)), shows_forms=True
    )
    ref = ref_of(replies[-1].text)
    row = await runtime.store.concerns.get(ref)
    assert row["named"] == 0 and row["reporter_id"] is None and row["relay"]
    assert "U0ZELDA" not in row["relay"]
    # A second press of Send (a double click, a retried event) sends nothing twice.
    [again] = await runtime.engine.handle(
        Inbound(channel="slack", user="anonymous", conversation="anonymous", action=Action(id=send.action, value=send.value)), shows_forms=True
    )
    assert f"Already sent: your reference is {ref}" in again.text
    assert len(await runtime.store.concerns.listing()) == 1


async def test_no_follow_up_stores_no_link_at_all(runtime: Runtime):
    zelda = Chat(runtime, user="u-zelda-7731", name="Zelda Quist")
    ref = ref_of(await raise_concern(zelda, anonymous=True, follow_up="No follow-up"))
    row = await runtime.store.concerns.get(ref)
    assert row["relay"] is None and row["follow_up"] == 0
    [post] = feed(runtime)
    assert "Anonymous; no follow-up" in post["text"] and "Write to the reporter" not in str(post["choices"])
    sam = Chat(runtime, user="u-sam", name="Sam")
    assert "chose no follow-up" in await sam.say(f"/concerns reply {ref}")
    # The reference alone shows nothing to anyone else (tests/test_concern_receipts.py).
    status = await Chat(runtime, user="u-bea").say(f"/concern status {ref}")
    assert "I can't find a concern I can show you" in status and "waiting for a peer supervisor" not in status


# -- held until others raise the same ---------------------------------------


async def test_held_scope_concerns_go_out_together_once_two_more_people_on_the_team_raise_one(runtime: Runtime):
    scope = "Scope drift or co-optation"
    ada = Chat(runtime, user="u-ada", name="Ada", team="north")
    receipt = await raise_concern(ada, category=scope, text="Asked to do med counts.", timing="2")
    assert "held" in receipt.lower() and "Send it on now" in receipt
    await raise_concern(Chat(runtime, user="u-dee", name="Dee", team="south"), category=scope, text="South team.", timing="2")
    await raise_concern(Chat(runtime, user="u-bea", name="Bea", team="north"), category=scope, text="Asked to do intake screenings.", timing="2")
    assert feed(runtime) == []
    await raise_concern(Chat(runtime, user="u-cy", name="Cy", team="north"), category=scope, text="Asked to drive the van.")
    texts = [p["text"] for p in feed(runtime)]
    assert len(texts) == 3 and not any("South team." in t for t in texts)
    assert sum("go out together" in t for t in texts) == 2
    assert any("has gone to the peer supervisors, together" in m["text"] for m in messages_to(runtime, "u-ada"))


async def test_a_held_concern_can_be_sent_on_by_its_reporter(chat: Chat, runtime: Runtime):
    receipt = await raise_concern(chat, category="Scope drift or co-optation", timing="2")
    assert "Sent on" in await chat.say("Send it on now")
    assert len(feed(runtime)) == 1 and ref_of(receipt) in feed(runtime)[0]["text"]


# -- escalation and retention -----------------------------------------------


def test_one_business_day_from_a_friday_afternoon_is_the_monday_afternoon():
    friday = dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.timezone.utc)
    assert business_deadline(friday, 24, "America/New_York") == dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.timezone.utc)
    assert business_deadline(friday, 4, "UTC") == dt.datetime(2026, 11, 27, 19, 0, tzinfo=dt.timezone.utc)


def test_a_public_holiday_is_not_a_business_day():
    wednesday = dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.timezone.utc)  # the day before Thanksgiving
    friday_after = dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.timezone.utc)
    assert business_deadline(wednesday, 24, "America/New_York") == friday_after
    assert business_deadline(wednesday, 24, "America/New_York", holidays="none") == friday_after - dt.timedelta(days=1)
    # New Year's Day 2027 is a Friday: a concern raised on the Thursday waits until Monday.
    new_years_eve = dt.datetime(2026, 12, 31, 15, 0, tzinfo=dt.timezone.utc)
    assert business_deadline(new_years_eve, 24, "America/New_York") == dt.datetime(2027, 1, 4, 15, 0, tzinfo=dt.timezone.utc)
    # A state's own holidays count when the deployment names it (California: the day after Thanksgiving).
    assert business_deadline(wednesday, 24, "America/Los_Angeles", holidays="US-CA") == dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("value", ["US", "usa", "GB", "US-CA", "gb-sct", "none"])
def test_every_calendar_the_library_knows_is_taken_at_start(tmp_path: Path, value: str):
    assert make_settings(tmp_path, holidays=value).holidays == value


@pytest.mark.parametrize("value, says", [("XX", "country code"), ("US-ZZ", "subdivision"), ("korea", "country code"), ("../US", "country code")])
def test_an_unknown_holiday_calendar_is_refused_at_start_with_one_line(tmp_path: Path, value: str, says: str):
    from bot.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        make_settings(tmp_path, holidays=value)
    [line] = caught.value.lines
    assert "PEERBOT_HOLIDAYS" in line and says in line


async def test_an_unacknowledged_concern_is_escalated_after_one_business_day(chat: Chat, runtime: Runtime, clock: Clock):
    clock.current = dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.timezone.utc)  # a Friday
    ref = ref_of(await raise_concern(chat))
    job = f"concern:{ref}:escalate"
    assert runtime.schedule.next_run(job) == dt.datetime(2026, 11, 30, 15, 0, tzinfo=dt.timezone.utc)
    clock.current = dt.datetime(2026, 11, 30, 15, 1, tzinfo=dt.timezone.utc)
    await runtime.schedule.fire(job)
    first, again = feed(runtime)
    assert again["text"].startswith(f"Backup peer supervisors and admins: concern {ref} has waited one business day")
    assert [c["label"] for c in again["choices"]][0] == "Acknowledge"
    assert any("raised it again with a wider group" in m["text"] for m in messages_to(runtime, "u-ada"))
    # Acknowledging updates both posts; a second sweep escalates nothing more.
    await press(runtime, "u-sam", "concern:ack", ref, name="Sam")
    assert all("Status: acknowledged" in p["text"] for p in feed(runtime))
    for reply in await runtime.engine.on_schedule("concern:sweep", {}):
        await runtime.courier.send(reply)
    await runtime.courier.deliver_due()
    assert len(feed(runtime)) == 2


async def test_an_acknowledged_concern_is_not_escalated(chat: Chat, runtime: Runtime, clock: Clock):
    ref = ref_of(await raise_concern(chat))
    await press(runtime, "u-sam", "concern:ack", ref, name="Sam")
    assert runtime.schedule.job_ids(f"concern:{ref}") == []
    clock.advance(days=5)
    assert await runtime.engine.on_schedule("concern:sweep", {}) == []


async def test_resolved_text_is_purged_after_the_retention_period_and_the_counts_stay(chat: Chat, sam: Chat, runtime: Runtime, clock: Clock):
    receipt = await raise_concern(chat, text="zebra-crossing-rota-4471 keeps changing")
    ref = ref_of(receipt)
    await sam.say(f"/concerns resolve {ref}")
    await sam.say("Sorted with the manager: quokka-note-9902.")
    clock.advance(days=89)
    await runtime.engine.on_schedule("concern:sweep", {})
    assert (await runtime.store.concerns.get(ref))["body"] is not None
    clock.advance(days=2)
    await runtime.engine.on_schedule("concern:sweep", {})
    row = await runtime.store.concerns.get(ref)
    assert row["body"] is None and row["resolution"] is None and row["reporter_id"] is None and row["purged_at"]
    assert await runtime.store.concerns.counts() == {"workload": {"resolved": 1}}
    # Who raised it is gone with the text; the receipt still finds it.
    full = re.search(r"Your receipt: ([A-Z0-9]{6}-[A-Z0-9]{6})", receipt).group(1)
    assert "deleted its text" in await chat.say(f"/concern status {full}")
    await runtime.store.close()
    data = Path(runtime.settings.db).read_bytes()
    assert b"zebra-crossing-rota-4471" not in data and b"quokka-note-9902" not in data
    from bot.store import Store

    runtime.store = await Store.open(runtime.settings.db)


# -- never lost --------------------------------------------------------------


async def test_a_concern_stored_but_never_queued_is_posted_once_by_the_sweep(runtime: Runtime, clock: Clock):
    fields = {"category": "workload", "body": "Stored, then the process stopped.", "named": 0, "follow_up": 0,
              "about_supervisor": 0, "destination": "supervisors", "hold": 0, "state": "open"}
    ref = await runtime.store.concerns.create(fields, clock())
    for _ in range(2):
        for reply in await runtime.engine.on_schedule("concern:sweep", {}):
            await runtime.courier.send(reply)
        await runtime.courier.deliver_due()
    [post] = feed(runtime)
    assert ref in post["text"] and "Stored, then the process stopped." in post["text"]


async def test_a_channel_outage_delays_the_post_but_never_loses_or_doubles_it(chat: Chat, runtime: Runtime, clock: Clock):
    platform = FlakyPlatform(failures=4)
    runtime.courier.register(platform)
    receipt = await raise_concern(chat)
    ref = ref_of(receipt)
    assert "keep trying until it arrives" in receipt
    assert platform.posts == [] and (await runtime.store.concerns.get(ref))["state"] == "open"
    for _ in range(8):
        clock.advance(minutes=10)
        await runtime.courier.deliver_due()
    [(address, reply)] = platform.posts
    assert address.id == "supervisors" and reply.key == f"concern:{ref}" and ref in reply.text
    for reply in await runtime.engine.on_schedule("concern:sweep", {}):
        await runtime.courier.send(reply)
    await runtime.courier.deliver_due()
    assert len(platform.posts) == 1


# -- bad input ---------------------------------------------------------------


async def test_empty_and_very_long_text_get_kind_replies_and_the_draft_is_kept(chat: Chat, runtime: Runtime):
    await chat.say("/concern")
    await chat.say("With my name")
    await chat.say("Workload")
    assert "This one is needed" in await chat.say("   ")
    too_long = await chat.say("x" * 20_000)
    assert "longer than I can take in" in too_long and "Traceback" not in too_long
    assert "(3 of 5)" in await chat.say("Short and clear now.")
    for answer in ("", "", ""):
        preview = await chat.say(answer)
    assert "Short and clear now." in preview


async def test_a_twenty_thousand_character_submission_from_a_modal_is_refused_by_its_field(runtime: Runtime):
    values = {"category": "other", "what": "y" * 20_000, "about": "no", "follow_up": "yes", "timing": "now"}
    [reply] = await runtime.engine.handle(
        Inbound(channel="slack", user="U1", conversation="D1", submission=Submission(form="concern:named", values=values)), shows_forms=True
    )
    assert "what" in reply.field_errors and "up to 3,000" in reply.field_errors["what"]
    assert await runtime.store.concerns.listing() == []


@pytest.mark.parametrize("anonymous", [False, True], ids=["named", "anonymous"])
async def test_a_per_person_limit_keeps_the_draft_until_it_can_go(chat: Chat, runtime: Runtime, clock: Clock, anonymous: bool):
    for n in range(3):
        ref_of(await raise_concern(chat, text=f"Concern number {n}.", anonymous=anonymous))
    assert ref_of(await raise_concern(Chat(runtime, user="u-bea"), anonymous=anonymous))  # someone else isn't held back
    refused = await raise_concern(chat, text="The fourth one today.", anonymous=anonymous)
    assert "as many as I can pass on from one person in a day" in refused and "Your draft is kept" in refused
    assert len(feed(runtime)) == 4
    clock.advance(hours=25)
    assert "reference is" in await chat.say("Send")
    assert len(feed(runtime)) == 5


async def test_without_a_concern_key_an_anonymous_concern_says_plainly_it_cant_hear_back(tmp_path: Path, clock: Clock):
    runtime = await build_runtime(make_settings(tmp_path), now=clock)
    try:
        chat = Chat(runtime)
        await chat.say("/concern")
        opened = await chat.say("Anonymously")
        assert "Hearing back on an anonymous concern isn't set up here" in opened and "(1 of 4)" in opened
        for answer in ("Workload", "Too many shifts.", "", ""):
            preview = await chat.say(answer)
        assert "No follow-up: nothing links it back to you" in preview
        ref = ref_of(await chat.say("Send"))
        assert (await runtime.store.concerns.get(ref))["relay"] is None
    finally:
        await runtime.close()


async def test_a_form_left_half_way_is_picked_up_again(chat: Chat, runtime: Runtime):
    await chat.say("/concern")
    await chat.say("With my name")
    await chat.say("Safety at work")
    aside = await chat.say("/help")
    assert "Raise a concern, is saved" in aside
    resumed = await chat.say("/resume")
    assert "(2 of 5)" in resumed
    await chat.say("The fire exit is blocked.")
    for answer in ("", ""):
        await chat.say(answer)
    await chat.say("")  # the preview
    # Left at the preview: /concern offers it again instead of starting over.
    again = await chat.say("/concern")
    assert "haven't sent yet" in again
    assert "The fire exit is blocked." in await chat.say("Look at it again")
    ref_of(await chat.say("Send"))


# -- the ways in ------------------------------------------------------------


async def test_flag_to_peer_supervisor_starts_the_flow_with_the_message_quoted(runtime: Runtime):
    msg = Inbound(channel="teams", user="aad-ada", conversation="a:1", action=Action(id="concern:flag", value="They asked me to hold meds & keys"))
    [start] = await runtime.engine.handle(msg, shows_forms=True)
    assert "flag a message" in start.text and [c.label for c in start.choices][:2] == ["With my name", "Anonymously"]
    pressed = msg.model_copy(update={"action": Action(id=start.choices[0].action, value=start.choices[0].value)})
    [opened] = await runtime.engine.handle(pressed, shows_forms=True)
    what = next(f for f in opened.form.fields if f.name == "what")
    assert "They asked me to hold meds & keys" in what.initial and opened.form.sensitive


def test_a_bad_concern_key_stops_the_start_with_one_clear_line(tmp_path: Path):
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, db=tmp_path / "p.db", concern_key="not-a-key")
    assert caught.value.lines == [
        "PEERBOT_CONCERN_KEY: must be a key made by `peerbot concerns new-key` (44 characters of URL-safe base64)"
    ]


# -- the terminal commands ---------------------------------------------------


def test_supervisors_list_show_and_count_concerns_from_the_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import asyncio

    from click.testing import CliRunner

    from bot.cli import cli

    settings = make_settings(tmp_path, supervisors="u-sam", concern_key=KEY)

    async def raise_two() -> list[str]:
        runtime = await build_runtime(settings, now=Clock())
        try:
            named = ref_of(await raise_concern(Chat(runtime), text="Named one."))
            anonymous = ref_of(await raise_concern(Chat(runtime, user="u-zed", name="Zed"), anonymous=True, category="Safety at work", text="Anon one."))
            await press(runtime, "u-sam", "concern:take", named, name="Sam")
            return [named, anonymous]
        finally:
            await runtime.close()

    named, anonymous = asyncio.run(raise_two())
    monkeypatch.chdir(tmp_path)
    env = {"PEERBOT_DB": str(settings.db), "PEERBOT_CONCERN_KEY": KEY}
    runner = CliRunner()
    listed = runner.invoke(cli, ["concerns", "list", "--open"], env=env)
    assert listed.exit_code == 0, listed.output
    assert named in listed.output and anonymous in listed.output and "taken" in listed.output
    assert "Named one." not in listed.output and "Ada" not in listed.output

    shown = runner.invoke(cli, ["concerns", "show", named, "--by", "Robin"], env=env)
    assert "Named one." in shown.output and "Sam took it on" in shown.output
    assert "Robin (terminal) looked at it" in runner.invoke(cli, ["concerns", "show", named], env=env).output
    assert "no concern with the reference" in runner.invoke(cli, ["concerns", "show", "ZZZZZZ"], env=env).output

    stats = runner.invoke(cli, ["concerns", "stats"], env=env).output
    assert "Workload" in stats and "Safety at work" in stats
    swept = runner.invoke(cli, ["concerns", "sweep"], env=env)
    assert "0 message(s) queued" in swept.output
    key = runner.invoke(cli, ["concerns", "new-key"]).output.strip()
    assert load_settings(_env_file=None, db=settings.db, concern_key=key).concern_key is not None


async def test_a_concern_form_says_its_draft_lives_only_in_memory_and_a_restart_really_clears_it(settings: Settings, clock: Clock):
    runtime = await build_runtime(settings, now=clock)
    try:
        chat = Chat(runtime)
        await chat.say("/concern")
        opened = await chat.say("With my name")
        assert "stays only in the bot's memory until you send it: if the bot restarts, the draft is gone" in opened
        await chat.say("1")
    finally:
        await runtime.close()
    runtime = await build_runtime(settings, now=clock)
    try:
        assert "no half-filled form" in await Chat(runtime).say("/resume")
    finally:
        await runtime.close()


async def test_a_reply_or_resolution_typed_with_the_command_is_sent_as_typed(chat: Chat, runtime: Runtime, sam: Chat):
    ref = ref_of(await raise_concern(chat, follow_up="Yes"))
    said = await sam.say(f"concerns reply {ref} Thanks for raising this.\nCan we talk on Tuesday?")
    assert "Sent to the person who raised" in said and "Write to the reporter" not in said
    assert any("Thanks for raising this.\nCan we talk on Tuesday?" in m["text"] for m in messages_to(runtime, "u-ada"))
    resolved = await sam.say(f"/concerns resolve {ref} Rota now fixed two weeks ahead.")
    assert f"{ref} is resolved" in resolved
    assert any("Rota now fixed two weeks ahead." in m["text"] for m in messages_to(runtime, "u-ada"))
    # Without the text, the form still opens to write it in.
    other = ref_of(await raise_concern(chat, text="Another one.", follow_up="Yes"))
    assert "Resolve" in await sam.say(f"/concerns resolve {other}")
