"""Co-optation pulse surveys: teams see role drift early, together.

A supervisor starts a pulse for a team; every member gets it by private
message (the same anonymous mechanism as check-ins: intents/surveying.py).
One reminder goes to the whole team before it closes. At close, results
are released only at or above the minimum group: per-statement answers, a
0-100 index overall and per sign, the change since the team's last pulse,
a trend chart, and plain-language flags with next steps from the material.
Supervisors record what the team agreed to change; the team hears it, and
the next pulse shows whether that sign moved.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shlex
from typing import Any

from bot.model import Action, Choice, Destination, Inbound, Reply
from bot.store.surveys import Round, TokenError
from intents.base import Command, Context, Intent
from intents.inputs import whole_number
from intents.invitations import held
from intents.times import spoken_day, spoken_time
from intents.pulse_index import index_of, is_concerning, worsened
from intents.surveying import (
    TOKEN_PROBLEMS, ballot_of, clean_answers, preview, send, send_problem, summarise, survey_form, to_supervisors, unpack, went_to,
)
from knowledge.instruments import Instrument, load_instruments

THANKS = ("Thank you. Your answers are in, without your name: they go into the team's counts together with other people's, "
          "so nobody can pick yours out. The team's picture comes when the pulse closes, if enough people take part.")
USAGE = (
    "Try: /pulse start co-optation --team north --days 5 [--every month], /pulse status --team north, "
    "/pulse close --team north, /pulse report --team north, or /pulse action busy-work \"what we agreed\" --team north."
)


def _when(iso: str, tz: str) -> str:
    return spoken_time(iso, tz)


def _day(label: str) -> str:
    return dt.datetime.fromisoformat(label).strftime("%d %b %Y")


class Pulse(Intent):
    name = "pulse"
    commands = (
        # Everyone may type /pulse on its own (their team's pulse, if one is
        # running); the rest is for supervisors, checked in on_command.
        Command("pulse", "your team's pulse survey, or (supervisors) running one",
                usage="[start [SURVEY] --team TEAM | status --team TEAM | close --team TEAM | report [SURVEY] --team TEAM | action SIGN TEXT --team TEAM]"),
    )

    def instruments(self, ctx: Context) -> dict[str, Instrument]:
        return {k: v for k, v in load_instruments(ctx.settings.kb_dir).items() if v.kind == "pulse"}

    # -- commands ----------------------------------------------------------

    async def on_command(self, word: str, args: str, msg: Inbound, ctx: Context) -> list[Reply]:
        try:
            parts = shlex.split(args)
        except ValueError:
            return [Reply(text="I couldn't read that: is a quote missing? " + USAGE)]
        options: dict[str, str] = {}
        words: list[str] = []
        iterator = iter(parts)
        for part in iterator:
            if part.startswith("--"):
                options[part[2:]] = next(iterator, "")
            else:
                words.append(part)
        verb = words[0].lower() if words else ""
        if not ctx.has_role("supervisor"):
            if verb in ("", "now", "start") and not options and len(words) <= 1:
                return await self.offer(msg, ctx)
            return [Reply(text="/pulse on its own brings up your team's pulse if one is running. Starting, closing and reading "
                               "pulses is only for peer supervisors, so I can't run that for you.")]
        team = (options.get("team") or await self._own_team(msg, ctx) or "").lower()
        if verb in ("", "help"):
            offered = await self.offer(msg, ctx, quiet=True)
            return offered + [Reply(text="Pulse surveys available: " + ", ".join(self.instruments(ctx)) + ".\n" + USAGE)]
        if not team:
            return [Reply(text="Which team? Add --team TEAM. " + USAGE)]
        if await ctx.store.surveys.team(team) is None:
            return [Reply(text=f"There's no team called {team}. An admin sets one up with /checkins team {team} wed 10 ZONE "
                               f"and adds people with /checkins members {team} add USER.")]
        if verb == "start":
            return await self.start(team, words[1].lower() if len(words) > 1 else "co-optation", options.get("days", "5"), options.get("every"), ctx)
        if verb == "status":
            return [await self.status(team, ctx)]
        if verb == "close":
            replies = await self.close_team(team, ctx)
            return replies or [Reply(text=f"The {team} team has no pulse running.")]
        if verb == "report":
            return [await self.report(team, words[1].lower() if len(words) > 1 else "co-optation", ctx)]
        if verb == "action" and len(words) >= 3:
            return await self.record_action(team, words[1].lower(), " ".join(words[2:]), options.get("survey", "co-optation"), ctx)
        return [Reply(text=USAGE)]

    async def _own_team(self, msg: Inbound, ctx: Context) -> str | None:
        memberships = await ctx.store.surveys.memberships(msg.channel, msg.user)
        return memberships[0].team if memberships else None

    async def start(self, team: str, instrument_id: str, days: str, every: str | None, ctx: Context, *, quiet: bool = False) -> list[Reply]:
        instruments = self.instruments(ctx)
        if instrument_id not in instruments:
            return [Reply(text=f"I don't know a pulse called {instrument_id}. Available: {', '.join(instruments)}.")]
        running_days = whole_number(days, 1, 30)
        if running_days is None:
            return [Reply(text="A pulse runs for 1 to 30 days: --days 5, say.")]
        if every not in (None, "month", "monthly", "quarter"):
            return [Reply(text="Recurring pulses run --every month or --every quarter.")]
        if any(r.instrument == instrument_id for r in await ctx.store.surveys.open_rounds(team=team)):
            return [Reply(text=f"A {instrument_id} pulse is already running for {team}; /pulse status --team {team} shows how it's going.")]
        members = await ctx.store.surveys.members(team)
        if not members:
            return [Reply(text=f"No one is in the {team} team yet, so there's no one to ask.")]
        instrument = instruments[instrument_id]
        opens = ctx.now().astimezone(dt.timezone.utc).replace(second=0, microsecond=0)
        closes = opens + dt.timedelta(days=running_days)
        label = opens.isoformat(timespec="minutes")
        rnd = await ctx.store.surveys.open_round(f"pulse:{team}:{instrument_id}:{label}", instrument_id, team, label,
                                                 opens.isoformat(), closes.isoformat(), ballot_of(instrument))
        issued = await ctx.store.surveys.issue(rnd.id, [(m.via, m.user_id) for m in members])
        held(ctx).keep(rnd.id, issued)
        if ctx.schedule is not None:
            ctx.schedule.at(f"pulse:close:{rnd.id}", "pulse:close", {"round": rnd.id}, closes)
            remind = max(opens + (closes - opens) / 2, closes - dt.timedelta(days=1))
            ctx.schedule.at(f"pulse:remind:{rnd.id}", "pulse:remind", {"round": rnd.id}, remind)
            if every:
                info = await ctx.store.surveys.team(team)
                months = "*" if every.startswith("month") else "1,4,7,10"
                ctx.schedule.cron(f"pulse:recurring:{team}:{instrument_id}", "pulse:recur",
                                  {"team": team, "instrument": instrument_id, "days": running_days},
                                  timezone=info["tz"], month=months, day=f"1st {info['weekday']}", hour=info["hour"])
        info = await ctx.store.surveys.team(team)
        zones = {(m.via, m.user_id): m.tz or info["tz"] for m in members}
        asked = await ctx.store.surveys.asked(rnd.id) if issued else 0
        invitations = [self._invitation(team, instrument, token, via, user, rnd, ctx, tz=zones.get((via, user)), asked=asked)
                       for (via, user), token in issued.items()]
        note = f"; it will repeat every {every.rstrip('ly')}" if every else ""
        confirm = [] if quiet else [Reply(text=f"Started the {instrument.title} for the {team} team: sent to {len(issued)} people. "
                                               f"It closes {_when(rnd.closes_at, info['tz'])}{note}.")]
        return invitations + confirm

    def _invitation(self, team: str, instrument: Instrument, token: str, via: str, user: str, rnd: Round, ctx: Context,
                    tz: str | None, asked: int) -> Reply:
        closes = _when(rnd.closes_at, tz or ctx.settings.timezone)
        return Reply(
            text=f"Your team ({team}) is running a {instrument.title}: {len(instrument.items)} short statements about how your work "
            f"has felt lately. Your answers are stored without your name, and the team's picture is shown only if at least "
            f"{ctx.settings.min_group} people take part. {went_to(asked, team)}Taking part is up to you. It's open until {closes}.",
            choices=[Choice(label="Start the pulse", action="pulse:start", value=token)],
            to=Destination.user(user, via=via),
            secret=True,
        )

    async def status(self, team: str, ctx: Context) -> Reply:
        rounds = [r for r in await ctx.store.surveys.open_rounds(team=team) if r.id.startswith("pulse:")]
        if not rounds:
            return Reply(text=f"No pulse is running for the {team} team.")
        info = await ctx.store.surveys.team(team)
        lines = []
        for rnd in rounds:
            count = await ctx.store.surveys.response_count(rnd.id)
            left = dt.datetime.fromisoformat(rnd.closes_at) - ctx.now()
            hours = max(0, int(left.total_seconds() // 3600))
            lines.append(f"{self.instruments(ctx)[rnd.instrument].title.capitalize()}: {count} answer{'s' if count != 1 else ''} so far; "
                         f"closes {_when(rnd.closes_at, info['tz'])}, in about {hours // 24} days {hours % 24} hours.")
        return Reply(text="\n".join(lines))

    # -- a person's own pulse ------------------------------------------------

    async def offer(self, msg: Inbound, ctx: Context, *, quiet: bool = False) -> list[Reply]:
        """The pulse a person can still answer, with its Start button (the
        same invitation as before: its token, held while the bot runs, see
        intents/invitations.py), or plain words on when the last one closed
        and when the next opens. ``quiet``: nothing when there's no pulse."""
        memberships = await ctx.store.surveys.memberships(msg.channel, msg.user)
        if not memberships:
            return [] if quiet else [Reply(text="You're not in a team yet, so there's no pulse for you. /checkin join TEAM asks to be added.")]
        replies: list[Reply] = []
        lines: list[str] = []
        for member in memberships:
            info = await ctx.store.surveys.team(member.team)
            tz = member.tz or info["tz"]
            running = [r for r in await ctx.store.surveys.open_rounds(team=member.team) if r.id.startswith("pulse:")]
            for rnd in running:
                instrument = self.instruments(ctx).get(rnd.instrument)
                if instrument is None:
                    continue
                replies.append(await self._offer_round(rnd, instrument, member, tz, msg, ctx))
            if not running:
                lines.append(await self._no_pulse_line(member.team, tz, ctx))
        if quiet:
            return replies
        return replies + ([Reply(text="\n".join(lines))] if lines else [])

    async def _offer_round(self, rnd: Round, instrument: Instrument, member, tz: str, msg: Inbound, ctx: Context) -> Reply:
        closes = _when(rnd.closes_at, tz)
        if not await ctx.store.surveys.was_on_round(rnd.id, msg.channel, msg.user):
            return Reply(text=f"Your team's {instrument.title} went out before you joined, so your first one comes "
                              f"with the next pulse. This one closes {closes}.")
        issued = await ctx.store.surveys.issue(rnd.id, [(msg.channel, msg.user)])
        held(ctx).keep(rnd.id, issued)
        token = issued.get((msg.channel, msg.user)) or held(ctx).token(rnd.id, msg.channel, msg.user)
        if token is None:
            return Reply(text=f"Your team's {instrument.title} went to you in a direct message before I last restarted, and I can "
                              f"only bring its Start button back while I'm running, so the way in is that message, in our direct messages. "
                              f"If you've answered already, thank you. It closes {closes}.")
        try:
            await ctx.store.surveys.check_token(token)
        except TokenError as exc:
            if exc.reason == "used":
                return Reply(text=f"Your answers to your team's {instrument.title} are in already. Thank you. "
                                  f"The team's picture comes after it closes, {closes}.")
            return Reply(text=f"Your team's {instrument.title} has closed, so there's nothing to answer now.")
        return self._invitation(member.team, instrument, token, msg.channel, msg.user, rnd, ctx, tz=tz,
                                asked=await ctx.store.surveys.asked(rnd.id))

    async def _no_pulse_line(self, team: str, tz: str, ctx: Context) -> str:
        """When the team's last pulse closed, and when the next one opens."""
        closed = []
        for instrument_id, instrument in self.instruments(ctx).items():
            rows = await ctx.store.surveys.summaries(team, instrument_id)
            if rows and rows[-1].get("closed_at"):
                closed.append((rows[-1]["closed_at"], instrument))
        line = f"No pulse is running for the {team} team right now."
        if closed:
            when, instrument = max(closed, key=lambda pair: pair[0])
            line += f" The last one, the {instrument.title}, closed on {spoken_day(when)}."
        upcoming = []
        if ctx.schedule is not None:
            for job_id in ctx.schedule.job_ids(f"pulse:recurring:{team}:"):
                at = ctx.schedule.next_run(job_id)
                if at is not None:
                    upcoming.append(at)
        if upcoming:
            line += f" The next one opens {_when(min(upcoming).isoformat(), tz)}."
        else:
            line += " The next one opens when a peer supervisor starts it; it will come to you here."
        return line

    # -- answering ---------------------------------------------------------

    async def _instrument_for(self, token: str, ctx: Context, *, sending: bool = False) -> tuple[Instrument | None, str | None]:
        try:
            rnd = await ctx.store.surveys.check_token(token)
        except TokenError as exc:
            return None, send_problem(exc.reason) if sending else TOKEN_PROBLEMS[exc.reason]
        return self.instruments(ctx).get(rnd.instrument), None

    async def on_action(self, action: Action, msg: Inbound, ctx: Context) -> list[Reply]:
        verb = action.id.partition(":")[2]
        if verb == "start":
            instrument, problem = await self._instrument_for(action.value, ctx)
            if instrument is None:
                return [Reply(text=problem or "That pulse isn't available any more.")]
            return [Reply(form=survey_form(self.name, instrument, action.value))]
        if verb in ("send", "edit"):
            unpacked = unpack(action.value)
            if unpacked is None:
                return [Reply(text="Something in that button was garbled, so I didn't store anything.")]
            instrument, problem = await self._instrument_for(unpacked[0], ctx, sending=verb == "send")
            if instrument is None:
                return [Reply(text=problem or "That pulse isn't available any more.")]
            if verb == "edit":
                return [Reply(form=survey_form(self.name, instrument, unpacked[0], initial=unpacked[1]))]
            return await send(ctx, instrument, action.value, THANKS)
        if verb == "discard":
            return [Reply(text="Okay, nothing was stored. Until the pulse closes, /pulse brings the Start button back.")]
        return [Reply(text="That button doesn't do anything any more.")]

    def form(self, name: str, ctx: Context):
        if name == "answers":
            # Any pulse: the submission's token says which; check against the longest.
            return max((survey_form(self.name, i, "") for i in self.instruments(ctx).values()), key=lambda f: len(f.fields))
        return None

    async def on_submission(self, name: str, values: dict, msg: Inbound, ctx: Context) -> list[Reply]:
        token = str(values.get("token", ""))
        instrument, problem = await self._instrument_for(token, ctx)
        if instrument is None:
            return [Reply(text=problem or "That pulse isn't available any more.")]
        return [preview(self.name, instrument, clean_answers(instrument, values), token, ctx.settings.min_group)]

    # -- the schedule ------------------------------------------------------

    async def on_schedule(self, kind: str, payload: dict, ctx: Context) -> list[Reply]:
        if kind == "pulse:close":
            rnd = await ctx.store.surveys.round(str(payload.get("round")))
            return await self._close(rnd, ctx) if rnd and rnd.status == "open" else []
        if kind == "pulse:remind":
            return await self.remind(str(payload.get("round")), ctx)
        if kind == "pulse:recur":
            return await self.start(payload["team"], payload["instrument"], str(payload.get("days", 5)), None, ctx, quiet=True)
        return []

    async def remind(self, round_id: str, ctx: Context) -> list[Reply]:
        """One reminder, to the whole team: the store can't tell who answered."""
        rnd = await ctx.store.surveys.round(round_id)
        if rnd is None or rnd.status != "open":
            return []
        instrument = self.instruments(ctx)[rnd.instrument]
        info = await ctx.store.surveys.team(rnd.team)
        return [
            Reply(text=f"A gentle reminder: your team's {instrument.title} closes {_when(rnd.closes_at, m.tz or info['tz'])}. "
                       "If you've answered already, thank you. If you'd like to take part, /pulse brings up the Start button.",
                  to=Destination.user(m.user_id, via=m.via), dedupe=f"pulse:reminder:{round_id}:{m.via}:{m.user_id}")
            for m in await ctx.store.surveys.members(rnd.team)
        ]

    # -- closing and results -----------------------------------------------

    async def close_team(self, team: str, ctx: Context) -> list[Reply]:
        replies: list[Reply] = []
        for rnd in await ctx.store.surveys.open_rounds(team=team):
            if rnd.id.startswith("pulse:"):
                if ctx.schedule is not None:
                    ctx.schedule.cancel(f"pulse:close:{rnd.id}")
                    ctx.schedule.cancel(f"pulse:remind:{rnd.id}")
                replies += await self._close(rnd, ctx)
                replies.append(Reply(text=f"Closed the {rnd.instrument} pulse for {team}; the results went to the supervisors' channel."))
        return replies

    def _summarise(self, instrument: Instrument):
        def work(tallies) -> dict[str, Any]:
            summary = summarise(instrument, tallies)
            summary["index"] = index_of(instrument, {k: v["mean"] for k, v in summary["items"].items()})
            return summary

        return work

    async def _close(self, rnd: Round, ctx: Context) -> list[Reply]:
        instrument = self.instruments(ctx)[rnd.instrument]
        closing = await ctx.store.surveys.close(rnd.id, ctx.settings.min_group, self._summarise(instrument), ctx.now())
        held(ctx).forget_round(rnd.id)
        if closing is None or not closing.first:
            return []  # someone else closed it at the same moment, and posts it
        row = closing.row
        rows = [r for r in await ctx.store.surveys.summaries(rnd.team, rnd.instrument) if r["label"] <= row["label"]]
        for_supervisors = await self.render(instrument, rnd.team, rows, ctx, for_team=False)
        replies = [to_supervisors(ctx, for_supervisors, key=f"pulse:summary:{rnd.id}")]
        if row["released"]:
            # The team sees the same chart, drawn once.
            for_team = await self.render(instrument, rnd.team, rows, ctx, for_team=True, draw=False)
            for_team = for_team.model_copy(update={"image": for_supervisors.image})
            for member in await ctx.store.surveys.members(rnd.team):
                replies.append(for_team.model_copy(update={
                    "to": Destination.user(member.user_id, via=member.via),
                    "dedupe": f"pulse:team-summary:{rnd.id}:{member.via}:{member.user_id}",
                }))
        return replies

    async def report(self, team: str, instrument_id: str, ctx: Context) -> Reply:
        instrument = self.instruments(ctx).get(instrument_id)
        if instrument is None:
            return Reply(text=f"I don't know a pulse called {instrument_id}.")
        rows = await ctx.store.surveys.summaries(team, instrument_id)
        if not rows:
            return Reply(text=f"No {instrument.title} has closed yet for the {team} team.")
        return await self.render(instrument, team, rows, ctx, for_team=False)

    async def render(self, instrument: Instrument, team: str, rows: list[dict[str, Any]], ctx: Context, *, for_team: bool,
                     draw: bool = True) -> Reply:
        assert instrument.index is not None
        latest = rows[-1]
        heading = f"{instrument.title.capitalize()}, {team} team, {_day(latest['label'])}"
        k = ctx.settings.min_group
        if not latest["released"]:
            return Reply(text=f"{heading}: not enough answers to show (fewer than {k} people took part). "
                              f"Nothing from this pulse is released.")
        released = [r for r in rows if r["released"]]
        previous = released[-2] if len(released) >= 2 else None
        now, before = latest["summary"]["index"], previous["summary"]["index"] if previous else None
        meaning = "higher means more co-optation" if instrument.index.higher_means == "worse" else "higher is better"
        lines = [heading, f"{latest['count']} people answered.", "",
                 f"{instrument.index.title.capitalize()}: {now['overall']} of 100 ({meaning}){self._change(now['overall'], before and before['overall'])}",
                 "By sign:"]
        flagged = []
        for sign, title in instrument.signs.items():
            value = now["signs"].get(sign)
            old = before["signs"].get(sign) if before else None
            mark = ""
            if is_concerning(instrument, value, ctx.settings.pulse_flag_at) or worsened(instrument, value, old, ctx.settings.pulse_sharp_change):
                flagged.append((sign, title, value, old))
                mark = "  (worth a look)"
            lines.append(f"  {title}: {value if value is not None else '-'}{self._change(value, old)}{mark}")
        if flagged:
            lines += ["", "Worth a look together:"]
            for sign, title, value, old in flagged:
                why = f"it moved from {old} to {value}" if worsened(instrument, value, old, ctx.settings.pulse_sharp_change) else f"it's at {value}"
                lines.append(f"• {title}: {why}. Ideas from the material:")
                lines += [f"    - {step}" for step in instrument.next_steps.get(sign, [])]
            if not for_team:
                lines.append("When the team agrees what will change, record it: /pulse action SIGN \"what we agreed\" --team " + team)
        if previous is not None:
            for action in await ctx.store.pulse_actions.after(team, instrument.id, previous["round_id"]):
                title = instrument.signs.get(action["sign"], action["sign"])
                moved = self._change(now["signs"].get(action["sign"]), before["signs"].get(action["sign"]) if before else None)
                lines.append(f"Agreed after the last pulse: \"{action['text']}\" ({title}: now {now['signs'].get(action['sign'])}{moved}).")
        lines += ["", "Each statement (how many chose each answer):"]
        for item in instrument.scale_items():
            assert item.scale is not None
            counts = latest["summary"]["items"][item.id]["counts"]
            lines.append(f"• {item.text}")
            lines.append("    " + " · ".join(f"{item.scale.labels[int(p)]}: {n}" for p, n in counts.items()))
        image = None
        if draw and len(released) >= 2:
            from intents.survey_charts import trend_chart

            series = {instrument.index.title: [r["summary"]["index"]["overall"] for r in released]}
            series.update({title: [r["summary"]["index"]["signs"].get(sign) for r in released] for sign, title in instrument.signs.items()})
            image = await asyncio.to_thread(trend_chart, instrument, team, released, series=series)
        if for_team:
            lines.insert(0, f"Your team's {instrument.title} results are in. Thank you to everyone who took part.\n")
        return Reply(text="\n".join(lines), image=image)

    @staticmethod
    def _change(now: float | None, before: float | None) -> str:
        if now is None or before is None:
            return ""
        diff = round(now - before, 1)
        return " (no change since last time)" if abs(diff) < 0.5 else f" ({'up' if diff > 0 else 'down'} {abs(diff):g} since last time)"

    async def export_rows(self, ctx: Context, team: str | None = None) -> list[dict[str, Any]]:
        """Released results as flat rows: aggregates only, never an answer."""
        rows = []
        for info in await ctx.store.surveys.teams():
            if team and info["name"] != team:
                continue
            for survey in self.instruments(ctx):
                for row in await ctx.store.surveys.summaries(info["name"], survey, limit=1000):
                    if not row["released"]:
                        continue
                    index = row["summary"]["index"]
                    rows.append({
                        "team": row["team"], "survey": survey, "started": row["label"], "answers": row["count"],
                        "index": index["overall"], **{f"sign:{k}": v for k, v in index["signs"].items()},
                        **{f"mean:{k}": v["mean"] for k, v in row["summary"]["items"].items()},
                    })
        return rows

    async def record_action(self, team: str, sign: str, text: str, instrument_id: str, ctx: Context) -> list[Reply]:
        instrument = self.instruments(ctx).get(instrument_id)
        if instrument is None or sign not in instrument.signs:
            signs = ", ".join(instrument.signs) if instrument else ""
            return [Reply(text=f"Which sign does it address? One of: {signs}.")]
        rows = [r for r in await ctx.store.surveys.summaries(team, instrument_id) if r["released"]]
        if not rows:
            return [Reply(text=f"There are no released {instrument.title} results for {team} yet to act on.")]
        text = text.strip()[:300]
        after = rows[-1]["round_id"]
        if not await ctx.store.pulse_actions.record(team, instrument_id, sign, text, ctx.now().date().isoformat(), after):
            return [Reply(text=f"Already recorded: \"{text}\" for the {team} team. They were told once.")]
        told = [
            Reply(text=f"After your team's {instrument.title}, here's what will change: \"{text}\" "
                       f"({instrument.signs[sign]}). The next pulse will show whether it helped.",
                  to=Destination.user(m.user_id, via=m.via))
            for m in await ctx.store.surveys.members(team)
        ]
        return told + [Reply(text=f"Recorded, and the {team} team has been told. The next pulse will show how {instrument.signs[sign].lower()} moves.")]
