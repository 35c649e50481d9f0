"""Anonymous check-ins: short, regular, and truly anonymous.

Each team has a weekly cadence (a business day and a daytime hour); each
person is prompted at that hour in their own time zone, by a private
message with a one-time token. ``/checkin`` works at any time. People can
snooze, stop and restart prompts. Supervisors and the team see only the
team's picture, only after the week closes, and only when enough people
answered (see intents/surveying.py for how anonymity is kept).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from bot.model import Action, Choice, Destination, Inbound, Reply
from intents.base import Command, Context, Intent
from intents.inputs import team_name, time_zone, whole_number
from intents.invitations import held
from intents.times import spoken_day, spoken_time
from bot.store.surveys import TokenError
from intents.surveying import (
    TOKEN_PROBLEMS,
    went_to,
    ballot_of,
    clean_answers,
    preview,
    render_summary,
    send,
    summarise,
    survey_form,
    to_supervisors,
    unpack,
)
from knowledge.instruments import Instrument, load_instruments

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
DAY_NAMES = dict(zip(WEEKDAYS, ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays")))
DAYTIME = range(8, 19)  # prompts only between 08:00 and 18:59 local time: never at night
DEFAULT_CADENCE = ("wed", 10)
MAX_SNOOZE_WEEKS = 8
TEAM_NAME_HELP = "Team names are one word (letters, numbers and hyphens), like north or day-team."
CLOSE_DAY, CLOSE_HOUR = "mon", 8  # a week closes early on the following Monday, local time

THANKS = (
    "Thank you. Your answers are in, without your name: they go into the team's counts together with other "
    "people's, so nobody can pick yours out. You'll see the team's picture after the week closes, if enough people take part."
)


def zone(name: str | None) -> ZoneInfo | None:
    return time_zone(name) if name else None


def _user_id(word: str) -> str:
    """A user as an admin types them: an id, @id, or a Slack mention <@U123|name>."""
    word = word.strip().strip(",")
    if word.startswith("<@") and word.endswith(">"):
        word = word[2:-1].split("|")[0]
    return word.lstrip("@") if len(word) <= 100 else ""


def period_of(moment: dt.datetime, tz: str) -> tuple[str, dt.datetime]:
    """The ISO week a moment falls in, in the team's time zone, and when it closes."""
    local = moment.astimezone(ZoneInfo(tz))
    year, week, weekday = local.isocalendar()
    monday = (local - dt.timedelta(days=weekday - 1)).date()
    closes = dt.datetime.combine(monday + dt.timedelta(days=7), dt.time(CLOSE_HOUR), tzinfo=ZoneInfo(tz))
    return f"{year}-W{week:02d}", closes


class Checkin(Intent):
    name = "checkin"
    commands = (
        Command("checkin", "an anonymous check-in, or your check-in settings", usage="[settings|snooze [WEEKS]|off|on|tz ZONE|join TEAM|leave]"),
        Command("checkins", "team check-in results, cadence and members", role="supervisor",
                usage="report TEAM | close TEAM | members TEAM [add USER ...] | members TEAM [remove USER ...] | team TEAM DAY HOUR ZONE"),
    )

    def instrument(self, ctx: Context) -> Instrument:
        return load_instruments(ctx.settings.kb_dir)["checkin"]

    # -- people ------------------------------------------------------------

    async def on_text(self, msg: Inbound, ctx: Context) -> list[Reply] | None:
        await self._auto_join(msg, ctx)
        return None

    async def _auto_join(self, msg: Inbound, ctx: Context) -> None:
        """A channel that knows the person's team from the organisation joins
        them to it. Only the terminal sets one (``peerbot chat --team``):
        whoever runs a local deployment is its admin. A Slack user group or
        Teams team sync would put people on the roster the same way, with
        ``surveys.set_roster``."""
        if msg.team and msg.user != "anonymous" and not await ctx.store.surveys.memberships(msg.channel, msg.user):
            await self._add_member(msg.team, msg.channel, msg.user, ctx)

    async def on_command(self, word: str, args: str, msg: Inbound, ctx: Context) -> list[Reply]:
        await self._auto_join(msg, ctx)
        parts = args.split()
        verb = parts[0].lower() if parts else ""
        if word == "checkins":
            return await self._supervise(verb, parts[1:], msg, ctx)
        if verb in ("", "now", "start"):
            return await self._start(msg, ctx)
        if verb == "settings":
            return [await self._settings(msg, ctx)]
        if verb == "snooze":
            weeks = whole_number(parts[1], 1, MAX_SNOOZE_WEEKS) if len(parts) > 1 else 1
            if weeks is None:
                return [Reply(text=f"I can pause check-in prompts for 1 to {MAX_SNOOZE_WEEKS} weeks: /checkin snooze 2, say.")]
            return [await self._snooze(msg, ctx, weeks)]
        if verb in ("off", "stop"):
            return [await self._prompts(msg, ctx, "off")]
        if verb in ("on", "resume"):
            return [await self._prompts(msg, ctx, "on")]
        if verb in ("tz", "timezone"):
            return [await self._set_tz(msg, ctx, parts[1] if len(parts) > 1 else "")]
        if verb == "join" and len(parts) > 1:
            return await self._join(parts[1].lower(), msg, ctx)
        if verb == "leave":
            await ctx.store.surveys.leave(msg.channel, msg.user)
            return [Reply(text="Done: you've left your check-in team, and you won't get check-in prompts. /checkin join TEAM asks to come back.")]
        return [Reply(text="I didn't follow that. Try /checkin on its own to check in, or /checkin settings.")]

    @staticmethod
    def _team_name_problem(team: str) -> str | None:
        if not team.replace("-", "").isalnum() or len(team) > 40:
            return TEAM_NAME_HELP
        return None

    async def _add_member(self, team: str, via: str, user: str, ctx: Context) -> bool:
        """On the roster (creating the team with the default cadence if need be)."""
        if await ctx.store.surveys.team(team) is None:
            day, hour = DEFAULT_CADENCE
            await ctx.store.surveys.set_team(team, day, hour, ctx.settings.timezone)
        added = await ctx.store.surveys.join(team, via, user)
        await self._sync_jobs(team, ctx)
        return added

    async def _join(self, team: str, msg: Inbound, ctx: Context) -> list[Reply]:
        """Asking to join: membership comes from the organisation, so that
        nobody can join a team to make up its numbers and read the rest."""
        problem = self._team_name_problem(team)
        if problem:
            return [Reply(text=problem)]
        if await ctx.store.surveys.team(team) is None:
            return [Reply(text=f"There's no check-in team called {team}. Your supervisor can tell you your team's name.")]
        if any(m.team == team for m in await ctx.store.surveys.memberships(msg.channel, msg.user)):
            return [Reply(text=f"You're already in the {team} team's check-ins. " + await self._cadence_line(team, msg, ctx))]
        admins = sorted(ctx.settings.admins)
        if ctx.settings.checkin_self_join == "off" or not admins:
            return [Reply(text=f"Check-in teams are kept by your organization's admins, so one of them adds people to {team}. "
                               "Asking your supervisor is a good place to start.")]
        who = msg.user_name or msg.user
        if not await ctx.store.surveys.ask_to_join(team, msg.channel, msg.user, who, ctx.now().date().isoformat()):
            return [Reply(text=f"Your request to join the {team} team is with the admins already. I'll let you know here when one of them answers.")]
        value = f"{team}|{msg.channel}|{msg.user}"
        ask = [
            Reply(text=f"{who} ({msg.channel} {msg.user}) would like to join the {team} team's check-ins. "
                       "Only people who are really on the team should be: check-in results are shown once enough of the team answers.",
                  choices=[Choice(label="Approve", action="checkin:approve", value=value),
                           Choice(label="Decline", action="checkin:decline", value=value)],
                  to=Destination.user(admin, via=msg.channel), dedupe=f"checkin:join-request:{value}:{ctx.now().date().isoformat()}")
            for admin in admins
        ]
        return ask + [Reply(text=f"I've asked an admin to add you to the {team} team's check-ins. I'll let you know here when they have.")]

    async def _decide(self, approve: bool, value: str, msg: Inbound, ctx: Context) -> list[Reply]:
        if not ctx.has_role("admin"):
            return [Reply(text="Approving who joins a team is for admins, so I can't do that for you.")]
        team, _, rest = value.partition("|")
        via, _, user = rest.partition("|")
        if not (team and via and user):
            return [Reply(text="That button has lost its place. /checkins members TEAM add USER does the same.")]
        decided, state = await ctx.store.surveys.decide_join(team, via, user, approve)
        if state is None:
            return [Reply(text="I can't find that request any more.")]
        if not decided:
            return [Reply(text=f"That request was already {state}, so nothing changed.")]
        if approve:
            await self._sync_jobs(team, ctx)
            info = await ctx.store.surveys.team(team)
            told = Reply(text=f"Good news: you're in the {team} team's check-ins now. Prompts come on {DAY_NAMES[info['weekday']]} "
                              f"at {info['hour']:02d}:00 your time, starting with the next one.",
                         to=Destination.user(user, via=via), dedupe=f"checkin:join:{team}:{via}:{user}:approved")
            return [told, Reply(text=f"Done: {user} is on the {team} team now, and I've let them know.")]
        told = Reply(text=f"An admin didn't add you to the {team} team's check-ins this time. If you think you belong on it, "
                          "your supervisor can help sort it out. /checkin still works for any team you're on.",
                     to=Destination.user(user, via=via), dedupe=f"checkin:join:{team}:{via}:{user}:declined")
        return [told, Reply(text=f"Declined: {user} isn't added to {team}. I've let them know, kindly.")]

    async def _cadence_line(self, team: str, msg: Inbound, ctx: Context) -> str:
        info = await ctx.store.surveys.team(team)
        members = [m for m in await ctx.store.surveys.memberships(msg.channel, msg.user) if m.team == team]
        tz = (members[0].tz if members and members[0].tz else None) or info["tz"]
        return f"Prompts come on {DAY_NAMES[info['weekday']]} at {info['hour']:02d}:00 your time ({tz})."

    async def _settings(self, msg: Inbound, ctx: Context) -> Reply:
        memberships = await ctx.store.surveys.memberships(msg.channel, msg.user)
        if not memberships:
            return Reply(text="You're not in a check-in team yet. /checkin join TEAM asks to be added (your supervisor can tell you the team's name).")
        lines = []
        for member in memberships:
            status = {"on": "on", "off": "stopped"}.get(member.prompts, member.prompts)
            if member.snoozed_until and member.snoozed_until >= ctx.now().date().isoformat():
                status = f"snoozed until {member.snoozed_until}"
            lines.append(f"Team {member.team}: prompts {status}. " + await self._cadence_line(member.team, msg, ctx))
        lines.append("Change with /checkin snooze [weeks], /checkin off, /checkin on, or /checkin tz Europe/London.")
        return Reply(text="\n".join(lines))

    async def _snooze(self, msg: Inbound, ctx: Context, weeks: int) -> Reply:
        until = (ctx.now().date() + dt.timedelta(weeks=weeks)).isoformat()
        if not await ctx.store.surveys.set_preference(msg.channel, msg.user, snoozed_until=until):
            return Reply(text="You're not in a check-in team, so there's nothing to snooze.")
        return Reply(text=f"Okay, no check-in prompts until {until}. /checkin still works any time.")

    async def _prompts(self, msg: Inbound, ctx: Context, state: str) -> Reply:
        if not await ctx.store.surveys.set_preference(msg.channel, msg.user, prompts=state, snoozed_until=None):
            return Reply(text="You're not in a check-in team yet. /checkin join TEAM asks to be added.")
        if state == "off":
            return Reply(text="Okay, I've stopped check-in prompts for you. /checkin on starts them again, and /checkin works any time.")
        return Reply(text="Check-in prompts are back on. Thank you.")

    async def _set_tz(self, msg: Inbound, ctx: Context, name: str) -> Reply:
        found = zone(name)
        if found is None:
            return Reply(text="I don't know that time zone. Try a name like America/Chicago, Europe/London or Australia/Sydney.")
        name = found.key  # "europe/london" is kept as Europe/London
        if not await ctx.store.surveys.set_preference(msg.channel, msg.user, tz=name):
            return Reply(text="You're not in a check-in team yet. /checkin join TEAM asks to be added.")
        for member in await ctx.store.surveys.memberships(msg.channel, msg.user):
            await self._sync_jobs(member.team, ctx)
        return Reply(text=f"Got it: your prompts now follow {name} time.")

    # -- checking in -------------------------------------------------------

    async def _current_round(self, team: str, ctx: Context):
        info = await ctx.store.surveys.team(team)
        label, closes = period_of(ctx.now(), info["tz"])
        return await ctx.store.surveys.open_round(
            f"checkin:{team}:{label}", "checkin", team, label, ctx.now().isoformat(timespec="seconds"),
            closes.astimezone(dt.timezone.utc).isoformat(timespec="seconds"), ballot_of(self.instrument(ctx)),
        )

    async def _start(self, msg: Inbound, ctx: Context) -> list[Reply]:
        """This week's check-in, whenever it's asked for: a new invitation,
        the same Start button again if the first message is lost, or plain
        words on when it closed and when the next one opens."""
        memberships = await ctx.store.surveys.memberships(msg.channel, msg.user)
        if not memberships:
            return [Reply(text="You're not in a check-in team yet. /checkin join TEAM asks to be added (your supervisor can tell you the team's name).")]
        team = memberships[0].team
        rnd = await self._current_round(team, ctx)
        issued = await ctx.store.surveys.issue(rnd.id, [(msg.channel, msg.user)])
        held(ctx).keep(rnd.id, issued)
        if not issued and rnd.status != "open":
            return [Reply(text=await self._closed_line(team, rnd, msg, ctx))]
        if not issued and not await ctx.store.surveys.was_on_round(rnd.id, msg.channel, msg.user):
            # Only people on the team when a round opens are asked, so nobody
            # can join to make up the numbers and read someone else's answers.
            return [Reply(text=f"You joined the {team} team after this week's check-in went out, so your first one "
                               f"comes next week. {await self._next_line(team, msg, ctx)} Thank you for being here.")]
        token = issued.get((msg.channel, msg.user)) or held(ctx).token(rnd.id, msg.channel, msg.user)
        if token is None:
            return [Reply(text="This week's check-in went to you in a direct message before I last restarted, and I can "
                               "only bring its Start button back while I'm running, so the way in is that message, in our direct messages. "
                               f"If you've answered already, thank you. It closes {spoken_time(rnd.closes_at, await self._tz(team, msg, ctx))}.")]
        try:
            await ctx.store.surveys.check_token(token)
        except TokenError as exc:
            if exc.reason == "used":
                return [Reply(text="Your answers to this week's check-in are in already. Thank you. "
                                   + await self._next_line(team, msg, ctx))]
            return [Reply(text=await self._closed_line(team, rnd, msg, ctx))]
        # A direct message, so the Start button stays with the person until
        # they answer (a form abandoned half-way can be started again).
        invitation = self._invitation(team, token, ctx, to=Destination.user(msg.user, via=msg.channel),
                                      closes=spoken_time(rnd.closes_at, await self._tz(team, msg, ctx)),
                                      asked=await ctx.store.surveys.asked(rnd.id))
        if msg.direct or msg.action is not None:
            return [invitation]
        return [invitation, Reply(text="I've sent this week's check-in to our direct messages, so it stays between us.")]

    async def _tz(self, team: str, msg: Inbound, ctx: Context) -> str:
        """The person's own check-in time zone, else the team's."""
        info = await ctx.store.surveys.team(team)
        members = [m for m in await ctx.store.surveys.memberships(msg.channel, msg.user) if m.team == team]
        return (members[0].tz if members and members[0].tz else None) or info["tz"]

    async def _next_line(self, team: str, msg: Inbound, ctx: Context) -> str:
        """When the next week's check-in opens, and when its prompt comes."""
        info = await ctx.store.surveys.team(team)
        _, closes = period_of(ctx.now(), info["tz"])
        opens = closes - dt.timedelta(hours=CLOSE_HOUR)  # the next week starts at midnight on Monday
        return (f"The next one opens {spoken_day(opens, info['tz'])}, and its prompt comes on "
                f"{DAY_NAMES[info['weekday']][:-1]} at {info['hour']:02d}:00 your time.")

    async def _closed_line(self, team: str, rnd, msg: Inbound, ctx: Context) -> str:
        rows = [r for r in await ctx.store.surveys.summaries(team, "checkin") if r["round_id"] == rnd.id]
        closed = f" on {spoken_day(rows[0]['closed_at'])}" if rows and rows[0].get("closed_at") else ""
        return f"This week's check-in closed{closed}, so there's nothing to answer now. " + await self._next_line(team, msg, ctx)

    def _invitation(self, team: str, token: str, ctx: Context, to: Destination, closes: str | None,
                    asked: int) -> Reply:
        count = len(self.instrument(ctx).items)
        until = f" It's open until {closes}." if closes else ""
        return Reply(
            text=f"Hi, it's check-in time for the {team} team: {count} quick questions, under a minute. "
            f"Your answers are stored without your name, and only the team's combined picture is ever shown, "
            f"once at least {ctx.settings.min_group} people have answered. {went_to(asked, team)}"
            f"It's entirely up to you.{until}",
            choices=[
                Choice(label="Start check-in", action="checkin:start", value=token),
                Choice(label="Not this week", action="checkin:snooze"),
                Choice(label="Stop these prompts", action="checkin:off"),
            ],
            to=to,
            secret=True,
        )

    async def on_action(self, action: Action, msg: Inbound, ctx: Context) -> list[Reply]:
        verb = action.id.partition(":")[2]
        instrument = self.instrument(ctx)
        if verb == "now":
            return await self._start(msg, ctx)
        if verb == "start":
            try:
                await ctx.store.surveys.check_token(action.value)
            except TokenError as exc:
                return [Reply(text=TOKEN_PROBLEMS[exc.reason])]
            return [Reply(form=survey_form(self.name, instrument, action.value))]
        if verb == "send":
            return await send(ctx, instrument, action.value, THANKS)
        if verb == "edit":
            unpacked = unpack(action.value)
            if unpacked is None:
                return [Reply(text="Something in that button was garbled. Could you start the check-in again?")]
            token, answers = unpacked
            return [Reply(form=survey_form(self.name, instrument, token, initial=answers))]
        if verb == "discard":
            return [Reply(text="Okay, nothing was stored. If you change your mind this week, /checkin brings the Start button back.")]
        if verb == "snooze":
            return [await self._snooze(msg, ctx, 1)]
        if verb in ("approve", "decline"):
            return await self._decide(verb == "approve", action.value, msg, ctx)
        if verb == "off":
            return [await self._prompts(msg, ctx, "off")]
        return [Reply(text="That button doesn't do anything any more.")]

    def form(self, name: str, ctx: Context):
        if name == "answers":
            return survey_form(self.name, self.instrument(ctx), token="")
        return None

    async def on_submission(self, name: str, values: dict, msg: Inbound, ctx: Context) -> list[Reply]:
        instrument = self.instrument(ctx)
        token = str(values.get("token", ""))
        if not token:
            return [Reply(text="That form has lost its place, so I didn't store anything. Could you start the check-in again?")]
        # Who sent it is not looked at: only the answers and the token.
        return [preview(self.name, instrument, clean_answers(instrument, values), token, ctx.settings.min_group)]

    # -- the schedule ------------------------------------------------------

    async def _sync_jobs(self, team: str, ctx: Context) -> None:
        """One prompt job per time zone present in the team, one close job."""
        if ctx.schedule is None:
            return
        info = await ctx.store.surveys.team(team)
        zones = {m.tz or info["tz"] for m in await ctx.store.surveys.members(team)} or {info["tz"]}
        wanted = {f"checkin:prompt:{team}:{tz}" for tz in zones}
        for job_id in ctx.schedule.job_ids(f"checkin:prompt:{team}:"):
            if job_id not in wanted:
                ctx.schedule.cancel(job_id)
        for tz in zones:
            ctx.schedule.weekly(f"checkin:prompt:{team}:{tz}", "checkin:prompt", {"team": team, "tz": tz},
                                day_of_week=info["weekday"], hour=info["hour"], timezone=tz)
        ctx.schedule.weekly(f"checkin:close:{team}", "checkin:close", {"team": team},
                            day_of_week=CLOSE_DAY, hour=CLOSE_HOUR, timezone=info["tz"])

    async def on_schedule(self, kind: str, payload: dict, ctx: Context) -> list[Reply]:
        team = str(payload.get("team", ""))
        if await ctx.store.surveys.team(team) is None:
            return []
        if kind == "checkin:prompt":
            return await self.prompt(team, ctx, tz=payload.get("tz"))
        if kind == "checkin:close":
            return await self.close_due(team, ctx)
        return []

    async def prompt(self, team: str, ctx: Context, tz: str | None = None) -> list[Reply]:
        """Send this week's check-in to everyone due (idempotent: a person
        already sent this week's form gets nothing new)."""
        info = await ctx.store.surveys.team(team)
        today = ctx.now().date().isoformat()
        due = [
            m for m in await ctx.store.surveys.members(team)
            if m.prompts == "on" and not (m.snoozed_until and m.snoozed_until >= today)
            and (tz is None or (m.tz or info["tz"]) == tz)
        ]
        rnd = await self._current_round(team, ctx)
        issued = await ctx.store.surveys.issue(rnd.id, [(m.via, m.user_id) for m in due])
        held(ctx).keep(rnd.id, issued)
        zones = {m.user_id: m.tz or info["tz"] for m in due}
        asked = await ctx.store.surveys.asked(rnd.id) if issued else 0
        return [self._invitation(team, token, ctx, to=Destination.user(user, via=via),
                                 closes=spoken_time(rnd.closes_at, zones.get(user, info["tz"])), asked=asked)
                for (via, user), token in issued.items()]

    async def close_due(self, team: str, ctx: Context, everything: bool = False) -> list[Reply]:
        """Close the team's weeks that have ended (or all open ones) and share the results."""
        now = ctx.now().astimezone(dt.timezone.utc).isoformat(timespec="seconds")
        replies: list[Reply] = []
        for rnd in await ctx.store.surveys.open_rounds(team=team, instrument="checkin"):
            if everything or rnd.closes_at <= now:
                replies += await self._close(rnd, ctx)
        return replies

    async def _close(self, rnd, ctx: Context) -> list[Reply]:
        instrument = self.instrument(ctx)
        closing = await ctx.store.surveys.close(rnd.id, ctx.settings.min_group, lambda tallies: summarise(instrument, tallies), ctx.now())
        held(ctx).forget_round(rnd.id)
        if closing is None or not closing.first:
            return []  # someone else closed it at the same moment, and posts it
        row = closing.row
        rows = await ctx.store.surveys.summaries(rnd.team, "checkin")
        rows = [r for r in rows if r["label"] <= row["label"]]
        for_supervisors = await render_summary(instrument, rnd.team, rows, ctx.settings.min_group, with_notes=True)
        replies = [to_supervisors(ctx, for_supervisors, key=f"checkin:summary:{rnd.id}")]
        if row["released"]:
            # The team sees the same numbers (notes stay with supervisors).
            # The team sees the same chart, drawn once.
            for_team = await render_summary(instrument, rnd.team, rows, ctx.settings.min_group, with_notes=False, draw=False)
            for_team = for_team.model_copy(update={"image": for_supervisors.image})
            for member in await ctx.store.surveys.members(rnd.team):
                replies.append(for_team.model_copy(update={
                    "text": "Your team's check-in picture is in. Thank you to everyone who took part.\n\n" + for_team.text,
                    "to": Destination.user(member.user_id, via=member.via),
                    "dedupe": f"checkin:team-summary:{rnd.id}:{member.via}:{member.user_id}",
                }))
        return replies

    # -- supervisors -------------------------------------------------------

    async def _supervise(self, verb: str, args: list[str], msg: Inbound, ctx: Context) -> list[Reply]:
        if verb == "report" and args:
            return [await self.report(args[0].lower(), ctx)]
        if verb == "close" and args:
            team = args[0].lower()
            if await ctx.store.surveys.team(team) is None:
                return [Reply(text=f"There's no check-in team called {team}.")]
            if not await ctx.store.surveys.open_rounds(team=team, instrument="checkin"):
                return [Reply(text=f"The {team} team has no open check-in to close.")]
            # Two presses at once both hear it closed; only one posts it.
            replies = await self.close_due(team, ctx, everything=True)
            return replies + [Reply(text=f"Closed the {team} team's open check-in; the summary went to the supervisors' channel.")]
        if verb == "members" and args:
            return await self.members(args[0].lower(), args[1:], msg.channel, ctx)
        if verb == "team" and len(args) >= 4:
            if not ctx.has_role("admin"):
                return [Reply(text="Setting a team's cadence is for admins, so I can't do that for you.")]
            return [await self.set_cadence(args[0].lower(), args[1].lower()[:3], args[2], args[3], ctx)]
        return [Reply(text="Try /checkins report TEAM, /checkins close TEAM, /checkins members TEAM, or (admins) "
                           "/checkins members TEAM add USER and /checkins team TEAM wed 10 America/Chicago.")]

    async def members(self, team: str, words: list[str], via: str, ctx: Context) -> list[Reply]:
        """The roster: who is on a team (from the organisation), and for
        admins, adding and removing people. A round asks only the members
        it opened with, so a change counts from the next round."""
        problem = self._team_name_problem(team)
        if problem:
            return [Reply(text=problem)]
        replies: list[Reply] = []
        if words:
            if not ctx.has_role("admin"):
                return [Reply(text="Changing who is on a team is for admins, so I can't do that for you.")]
            verb, people = words[0].lower(), [_user_id(w) for w in words[1:] if _user_id(w)]
            if verb not in ("add", "remove") or not people:
                return [Reply(text=f"Try /checkins members {team} add USER [USER...] or /checkins members {team} remove USER.")]
            if verb == "remove" and await ctx.store.surveys.team(team) is None:
                return [Reply(text=f"There's no check-in team called {team}.")]
            for user in people:
                if verb == "add" and await self._add_member(team, via, user, ctx):
                    info = await ctx.store.surveys.team(team)
                    replies.append(Reply(
                        text=f"Hi, you've been added to the {team} team's check-ins: a short, anonymous check-in on "
                             f"{DAY_NAMES[info['weekday']]} at {info['hour']:02d}:00 your time, starting with the next one. "
                             "Taking part is always up to you; /checkin settings changes the prompts.",
                        to=Destination.user(user, via=via), dedupe=f"checkin:added:{team}:{via}:{user}"))
                elif verb == "remove":
                    await ctx.store.surveys.remove(team, via, user)
            if verb == "remove":
                await self._sync_jobs(team, ctx)
        if await ctx.store.surveys.team(team) is None:
            return [Reply(text=f"There's no check-in team called {team}.")]
        roster = await ctx.store.surveys.members(team)
        listed = ", ".join(f"{m.user_id}" + (f" ({m.via})" if m.via != via else "") for m in roster) or "nobody yet"
        return replies + [Reply(text=f"The {team} team ({len(roster)}): {listed}. Changes count from the next check-in or pulse.")]

    async def set_cadence(self, team: str, day: str, hour: str, tz: str, ctx: Context) -> Reply:
        if team_name(team) is None:
            return Reply(text=TEAM_NAME_HELP)
        if day not in WEEKDAYS:
            return Reply(text="Check-ins go out on business days only: mon, tue, wed, thu or fri.")
        at = whole_number(hour, DAYTIME.start, DAYTIME.stop - 1)
        if at is None:
            return Reply(text=f"Pick an hour between {DAYTIME.start} and {DAYTIME.stop - 1} (24-hour clock): never at night.")
        found = zone(tz)
        if found is None:
            return Reply(text="I don't know that time zone. Try a name like America/Chicago or Europe/London.")
        tz = found.key
        await ctx.store.surveys.set_team(team, day, at, tz)
        await self._sync_jobs(team, ctx)
        return Reply(text=f"The {team} team's check-ins now go out on {DAY_NAMES[day]} at {at:02d}:00, each person's own time (team zone {tz}).")

    async def report(self, team: str, ctx: Context) -> Reply:
        rows = await ctx.store.surveys.summaries(team, "checkin")
        if not rows:
            return Reply(text=f"No check-in week has closed yet for the {team} team.")
        return await render_summary(self.instrument(ctx), team, rows, ctx.settings.min_group, with_notes=True)

    async def home(self, msg: Inbound, ctx: Context) -> list[Reply]:
        memberships = await ctx.store.surveys.memberships(msg.channel, msg.user)
        sections = []
        if memberships:
            settings = await self._settings(msg, ctx)
            sections.append(Reply(text="Check-ins\n" + settings.text, choices=[
                Choice(label="Check in now", action="checkin:now"),
                Choice(label="Not this week", action="checkin:snooze"),
            ]))
        return sections
