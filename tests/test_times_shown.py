"""Times people read are in the organisation's time zone, or the person's
own check-in one, written as people read them: never bare UTC."""

from __future__ import annotations

import datetime as dt

from bot.runtime import Runtime
from intents.times import spoken_day, spoken_time
from tests.conftest import Chat, feed
from tests.test_concerns import press, raise_concern, ref_of, settings  # noqa: F401  (settings: the concerns fixture)


def test_a_moment_is_written_the_way_people_read_it():
    assert spoken_time("2026-11-24T19:05:00+00:00", "America/New_York") == "Tue Nov 24, 2:05 PM EST"
    assert spoken_time("2026-07-01T00:30:00+00:00", "America/New_York") == "Tue Jun 30, 8:30 PM EDT"
    assert spoken_time(dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.timezone.utc), "Europe/London") == "Tue Nov 24, 12:00 PM GMT"
    assert spoken_time("2026-11-24T00:00:00", "Asia/Tokyo") == "Tue Nov 24, 9:00 AM JST"  # stored without a zone: UTC
    assert spoken_day("2026-11-30") == "Mon Nov 30"


async def test_the_trail_in_the_supervisors_post_is_in_the_organisations_time_zone(chat: Chat, runtime: Runtime):
    ref = ref_of(await raise_concern(chat))
    await press(runtime, "u-sam", "concern:ack", ref, name="Sam")
    [post] = feed(runtime)
    assert f"• {spoken_time(runtime.engine.now(), 'America/New_York')}: Sam acknowledged it" in post["text"]
    assert "UTC" not in post["text"]


async def test_a_reporter_reads_the_status_in_their_own_check_in_time_zone(chat: Chat, runtime: Runtime):
    ref = ref_of(await raise_concern(chat))
    await press(runtime, "u-sam", "concern:ack", ref, name="Sam")
    new_york, london = (spoken_time(runtime.engine.now(), tz) for tz in ("America/New_York", "Europe/London"))
    assert f"raised {new_york}" in await chat.say("/concern mine")
    assert "Got it" in await chat.say("/checkin tz Europe/London")
    status = await chat.say(f"/concern status {ref}")
    assert f"raised {london}" in status and f"• {london}: Sam acknowledged it" in status
    assert f"raised {london}" in await chat.say("/concern mine")
    # The supervisors' channel keeps the organisation's time.
    assert new_york in feed(runtime)[0]["text"] and london not in feed(runtime)[0]["text"]

