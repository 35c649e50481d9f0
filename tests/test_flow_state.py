"""What a person builds up over several steps is kept behind one interface
(bot/flow_state.py): kept and read back as a copy, replaced under the same
token, forgotten on request or when its lifetime ends, and never more than
a kind's limit at once, alike in memory and sealed in the database. And the
flows that use it keep working through it: a concern draft survives being
previewed and edited, is gone after a restart in memory, and a half-filled
check-in is picked up with /resume."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.config import ConfigError
from bot.flow_state import FlowState, MemoryFlowState, SealedFlowState
from bot.runtime import Runtime, build_runtime
from bot.store import Store
from intents.concern_text import Draft
from tests.conftest import Chat, Clock, make_settings
from tests.test_concerns import REF, raise_concern

HOUR = dt.timedelta(hours=1)
FLOW_KEY = Fernet.generate_key().decode()


@pytest.fixture
async def store(tmp_path: Path):
    opened = await Store.open(tmp_path / "flows.db")
    yield opened
    await opened.close()


@pytest.fixture(params=["memory", "sealed"])
def flows(request: pytest.FixtureRequest, store: Store, clock: Clock) -> FlowState:
    """Each backend in turn: what holds for one holds for the other."""
    return MemoryFlowState(clock) if request.param == "memory" else SealedFlowState(store, FLOW_KEY, clock)


async def test_a_value_is_kept_and_read_back_as_a_copy(flows: FlowState, clock: Clock):
    value = {"text": "the nurse asked me to hand out meds", "named": False, "tags": ["scope"]}
    token = await flows.put("draft", value, lifetime=HOUR)
    value["tags"].append("changed after")
    got = await flows.get("draft", token)
    assert got == {"text": "the nurse asked me to hand out meds", "named": False, "tags": ["scope"]}
    got["text"] = "changed by a reader"
    assert (await flows.get("draft", token))["text"] == "the nurse asked me to hand out meds"


async def test_tokens_are_new_and_kinds_are_apart(flows: FlowState, clock: Clock):
    first = await flows.put("draft", {"n": 1}, lifetime=HOUR)
    second = await flows.put("draft", {"n": 2}, lifetime=HOUR)
    assert first != second and len(first) >= 16
    assert await flows.get("prefill", first) is None


async def test_putting_under_a_token_replaces_it(flows: FlowState, clock: Clock):
    token = await flows.put("draft", {"text": "first"}, lifetime=HOUR)
    assert await flows.put("draft", {"text": "edited"}, lifetime=HOUR, token=token) == token
    assert await flows.get("draft", token) == {"text": "edited"}
    assert await flows.count("draft") == 1


async def test_a_value_ends_with_its_lifetime(flows: FlowState, clock: Clock):
    token = await flows.put("draft", {"text": "x"}, lifetime=HOUR)
    clock.advance(minutes=59)
    assert await flows.get("draft", token) is not None
    clock.advance(minutes=1)
    assert await flows.get("draft", token) is None
    assert await flows.count("draft") == 0


async def test_what_outlived_its_lifetime_is_erased_not_only_hidden(flows: FlowState, clock: Clock):
    await flows.put("private-form", {"answers": {"mood": "rough week"}}, lifetime=HOUR)
    clock.advance(days=60)
    await flows.put("private-form", {"answers": {}}, lifetime=HOUR)  # any later write of the kind
    assert await flows.count("private-form") == 1


async def test_drop_forgets_and_returns_it(flows: FlowState, clock: Clock):
    token = await flows.put("draft", {"text": "x"}, lifetime=HOUR)
    assert await flows.drop("draft", token) == {"text": "x"}
    assert await flows.get("draft", token) is None
    assert await flows.drop("draft", token) is None


async def test_a_flood_of_abandoned_values_keeps_only_the_newest(flows: FlowState, clock: Clock):
    day = dt.timedelta(days=1)
    older = [await flows.put("draft", {"n": n}, lifetime=day, keep=10) for n in range(10)]
    clock.advance(hours=2)  # all still alive; the newer end in a later hour
    newer = [await flows.put("draft", {"n": n}, lifetime=day, keep=10) for n in range(10, 50)]
    assert await flows.count("draft") == 10
    assert [await flows.get("draft", token) for token in older] == [None] * 10
    assert await flows.get("draft", newer[-1]) == {"n": 49}  # the one just written always stays


async def test_only_what_a_shared_backend_could_hold_is_taken(flows: FlowState, clock: Clock):
    with pytest.raises(TypeError):
        await flows.put("draft", {"when": dt.date(2026, 1, 1)}, lifetime=HOUR)
    with pytest.raises(ValueError):
        await flows.put("draft", {"score": float("nan")}, lifetime=HOUR)


async def test_a_concern_draft_lives_in_the_flow_state_and_a_restart_clears_it(chat: Chat, runtime: Runtime):
    preview = await raise_concern(chat, send=False)
    assert "[1] Send" in preview
    assert await runtime.engine.flows.count("concern-draft") == 1
    again = await chat.say("/concern")
    assert "haven't sent yet" in again
    await chat.say("Look at it again")
    edit = await chat.say("Edit")
    assert "press Enter to keep" in edit
    runtime.engine.flows = MemoryFlowState(runtime.engine.now)  # what a restart leaves
    after = await chat.say("/concern")
    assert "haven't sent yet" not in after
    assert await runtime.store.concerns.listing() == []


async def test_a_half_filled_check_in_waits_in_the_flow_state_not_the_database(chat: Chat, runtime: Runtime):
    """Sensitive forms are held by the flow state; nothing of them is in the form table."""
    from bot.model import Form, FormField, Inbound

    form = Form(id="checkin:test", title="Check-in", sensitive=True,
                fields=[FormField(name="mood", label="How are you?"), FormField(name="more", label="Anything else?")])
    msg = Inbound(channel="terminal", user="u-ada", conversation="c1", text="")
    await runtime.engine.open_form(form, msg)
    assert await runtime.engine.flows.count("private-form") == 1
    assert await runtime.store.forms.get("terminal", "u-ada", "c1") is None


async def test_slack_keeps_long_button_values_and_waiting_forms_in_the_engines_flow_state(clock: Clock):
    """What waits behind a Slack button is in the same place as everything
    else a person builds up, so a restart (or another replica's backend)
    treats it alike."""
    from bot.channels.slack import blocks
    from bot.channels.slack.channel import SlackChannel
    from bot.model import Choice, Form, FormField, Reply

    slack = SlackChannel(client=None, channel_ids={})  # type: ignore[arg-type]
    slack.flows = flows = MemoryFlowState(clock)
    long_value = "checkin:send|" + "д" * 2500
    fitted = await slack.fit(Reply(text="Here is your preview.", choices=[Choice(label="Send", action="checkin:send", value=long_value)]))
    [sent] = fitted.choices
    assert len(sent.value) <= blocks.BUTTON_VALUE and await flows.count("slack-value") == 1
    assert await slack.unfit(sent.value) == long_value
    form = Form(id="concern:named", title="Raise a concern", fields=[FormField(name="what", label="What happened?")])
    token = await slack.hold_form(form)
    assert await slack.held_form(token) == form
    slack.flows = MemoryFlowState(clock)  # a restart
    assert await slack.unfit(sent.value) is None
    assert await slack.held_form(token) is None


# -- sealed in the database, for several replicas ------------------------------


@pytest.fixture(params=["memory", "sealed"])
async def replicas(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock):
    """Two processes' view of the flow state: one process's own twice in
    memory, or two stores (two replicas) on one database file, sealed."""
    if request.param == "memory":
        one = MemoryFlowState(clock)
        yield one, one
        return
    stores = [await Store.open(tmp_path / "shared.db") for _ in range(2)]
    yield tuple(SealedFlowState(store, FLOW_KEY, clock) for store in stores)
    for store in stores:
        await store.close()


async def test_two_drops_at_once_get_the_value_exactly_once(replicas: tuple[FlowState, FlowState]):
    """Two presses of Send arriving together (at two replicas) take the draft once."""
    first, second = replicas
    for n in range(20):
        token = await first.put("draft", {"n": n}, lifetime=HOUR)
        got = await asyncio.gather(first.drop("draft", token), second.drop("draft", token))
        assert sorted(got, key=lambda value: value is not None) == [None, {"n": n}]


async def test_a_token_made_on_one_replica_is_resolved_on_another(tmp_path: Path, clock: Clock):
    one, two = [await Store.open(tmp_path / "shared.db") for _ in range(2)]
    try:
        here, there = SealedFlowState(one, FLOW_KEY, clock), SealedFlowState(two, FLOW_KEY, clock)
        token = await here.put("concern-draft", {"text": "the rota changed again"}, lifetime=HOUR)
        assert await there.get("concern-draft", token) == {"text": "the rota changed again"}
        await there.put("concern-draft", {"text": "edited there"}, lifetime=HOUR, token=token)
        assert await here.get("concern-draft", token) == {"text": "edited there"}
        assert await there.drop("concern-draft", token) == {"text": "edited there"}
        assert await here.get("concern-draft", token) is None
        # A replica with another key finds nothing of it, not even a row to open.
        stranger = SealedFlowState(two, Fernet.generate_key().decode(), clock)
        token = await here.put("concern-draft", {"text": "kept"}, lifetime=HOUR)
        assert await stranger.get("concern-draft", token) is None
        assert await here.get("concern-draft", token) == {"text": "kept"}
    finally:
        await one.close()
        await two.close()


def _rows(path: Path) -> list[tuple[str, str, str, bytes]]:
    """The table as someone holding the file reads it."""
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT key, kind, expires_at, sealed FROM flow_states").fetchall()


def _write_sealed(path: Path, key: str, sealed: bytes) -> None:
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    conn.execute("UPDATE flow_states SET sealed = ? WHERE key = ?", [sealed, key])
    conn.close()


async def test_an_altered_or_foreign_sealed_value_is_gone_never_an_error(store: Store, clock: Clock, caplog):
    path = store.path
    mine = SealedFlowState(store, FLOW_KEY, clock)
    other = SealedFlowState(store, Fernet.generate_key().decode(), clock)
    tokens, rows = [], []
    for flows in (mine, mine, mine, other):
        before = {row[0] for row in _rows(path)}
        tokens.append(await flows.put("draft", {"text": "a private draft"}, lifetime=HOUR))
        rows.append(next(row for row in _rows(path) if row[0] not in before))
    flipped = bytearray(rows[0][3])
    flipped[20] ^= 1
    _write_sealed(path, rows[0][0], bytes(flipped))       # one bit changed
    _write_sealed(path, rows[1][0], rows[3][3])           # sealed with another key
    _write_sealed(path, rows[2][0], rows[1][3][:7])        # cut short
    for token in tokens[:3]:
        assert await mine.get("draft", token) is None
    assert await mine.drop("draft", tokens[0]) is None
    assert await other.get("draft", tokens[3]) == {"text": "a private draft"}
    assert "a private draft" not in caplog.text


async def test_a_value_moved_to_another_row_does_not_open_there(store: Store, clock: Clock):
    """Someone who can write the file can't hand one person's draft to another's token."""
    flows = SealedFlowState(store, FLOW_KEY, clock)
    first = await flows.put("draft", {"text": "first"}, lifetime=HOUR)
    rows = {row[0]: row[3] for row in _rows(store.path)}
    second = await flows.put("draft", {"text": "second"}, lifetime=HOUR)
    [second_row] = [row[0] for row in _rows(store.path) if row[0] not in rows]
    _write_sealed(store.path, second_row, next(iter(rows.values())))
    assert await flows.get("draft", second) is None
    assert await flows.get("draft", first) == {"text": "first"}


def _on_disk(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


async def test_a_copy_of_the_database_shows_no_draft_person_token_or_exact_time(tmp_path: Path, clock: Clock):
    """What an attacker holding the file (and its log) learns of a sealed
    concern draft: rows of one size ending on the hour, nothing else."""
    store = await Store.open(tmp_path / "copied.db")
    flows = SealedFlowState(store, FLOW_KEY, clock)
    clock.advance(minutes=17, seconds=42)
    text = "Marisol on the night shift keeps asking me to sign off on meds"
    draft = dataclasses.asdict(Draft(category="safety", text=text, named=True, about_supervisor=False, follow_up=True,
                                     together=False, reporter_id="U0ZELDA5521", reporter_name="Zelda Quintero",
                                     reporter_via="slack", team="north"))
    token = await flows.put("concern-draft", draft, lifetime=dt.timedelta(days=7))
    await flows.put("concern-unsent", {"draft": token}, lifetime=dt.timedelta(days=7), token="U0ZELDA5521")
    rows = _rows(store.path)
    assert len(rows) == 2
    on_disk = _on_disk(store.path)
    for secret in (text, "Marisol", "U0ZELDA5521", "Zelda Quintero", token, "concern-draft", "safety"):
        assert secret.encode() not in on_disk, secret
    assert {len(row[3]) for row in rows} == {12 + 512 + 16}  # a draft and a pointer look alike
    assert {row[2] for row in rows} == {(clock() + dt.timedelta(days=7, hours=1)).strftime("%Y-%m-%dT%H:00:00+00:00")}
    await store.close()
    assert text.encode() not in _on_disk(store.path) and b"U0ZELDA5521" not in _on_disk(store.path)


def test_the_flow_state_key_is_checked_at_start_with_one_line_and_never_shown(tmp_path: Path):
    with pytest.raises(ConfigError) as bad:
        make_settings(tmp_path, flow_state_key="hunter2-not-a-key")
    assert bad.value.lines == [
        "PEERBOT_FLOW_STATE_KEY: must be a key made by `peerbot concerns new-key` (44 characters of URL-safe base64)"
    ]
    with pytest.raises(ConfigError) as same:
        make_settings(tmp_path, concern_key=FLOW_KEY, flow_state_key=FLOW_KEY)
    assert same.value.lines == [
        "PEERBOT_FLOW_STATE_KEY: must be a different key from PEERBOT_CONCERN_KEY: make another with `peerbot concerns new-key`"
    ]
    assert FLOW_KEY not in repr(make_settings(tmp_path, flow_state_key=FLOW_KEY))


async def test_the_backend_is_memory_unless_a_key_is_set(tmp_path: Path, clock: Clock):
    for key, backend in ((None, MemoryFlowState), (FLOW_KEY, SealedFlowState)):
        runtime = await build_runtime(make_settings(tmp_path, flow_state_key=key), now=clock)
        try:
            assert type(runtime.engine.flows) is backend
        finally:
            await runtime.close()


async def test_a_concern_drafted_on_one_replica_is_sent_from_another_exactly_once(tmp_path: Path, clock: Clock):
    """Two bots on one database, sealed flow state: Ada writes a concern on
    one, finds it waiting on the other and sends it there; the first one's
    Send button then knows it went, and the supervisors get it once. And
    the form says where the draft is kept."""
    settings = make_settings(tmp_path, supervisors="u-sam", admins="u-root", concern_key=Fernet.generate_key().decode(),
                             flow_state_key=FLOW_KEY)
    one, two = await build_runtime(settings, now=clock), await build_runtime(settings, now=clock)
    try:
        here, there = Chat(one), Chat(two)
        await here.say("/concern")
        opened = await here.say("With my name")
        assert "kept encrypted until you send it, for up to a week" in opened and "bot's memory" not in opened
        await here.say("cancel")
        preview = await raise_concern(here, text="The new rota leaves one person alone on nights.", send=False)
        assert "[1] Send" in preview
        on_disk = _on_disk(settings.db)
        assert b"alone on nights" not in on_disk and b"u-ada" not in on_disk
        assert "haven't sent yet" in await there.say("/concern")
        assert "The new rota leaves one person alone on nights." in await there.say("Look at it again")
        receipt = await there.say("Send")
        ref = REF.search(receipt).group(1)  # type: ignore[union-attr]
        assert f"Already sent: your reference is {ref}" in await here.say("Send")
        assert [c["ref"] for c in await one.store.concerns.listing()] == [ref]
        assert "haven't sent yet" not in await here.say("/concern")
        # Send pressed on both at the same moment: one concern, one reference.
        await raise_concern(here, text="Handover notes keep going missing.", send=False)
        await there.say("/concern")
        await there.say("Look at it again")
        both = await asyncio.gather(here.say("Send"), there.say("Send"))
        refs = {REF.search(answer).group(1) for answer in both}  # type: ignore[union-attr]
        assert len(refs) == 1 and sum("Already sent" in answer for answer in both) == 1
        assert len(await two.store.concerns.listing()) == 2
    finally:
        await one.close()
        await two.close()


async def test_a_slack_open_button_made_on_one_replica_opens_its_form_on_another(tmp_path: Path, clock: Clock):
    from bot.channels.slack.channel import SlackChannel
    from bot.model import Form, FormField

    stores = [await Store.open(tmp_path / "shared.db") for _ in range(2)]
    try:
        one, two = (SlackChannel(client=None, channel_ids={}) for _ in stores)  # type: ignore[arg-type]
        one.flows, two.flows = (SealedFlowState(store, FLOW_KEY, clock) for store in stores)
        form = Form(id="concern:named", title="Raise a concern", fields=[FormField(name="what", label="What happened?")])
        token = await one.hold_form(form)
        assert await two.held_form(token) == form
    finally:
        for store in stores:
            await store.close()
