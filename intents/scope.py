"""Scope answers: "is this part of my job?", answered from the curated
knowledge base with the ruling in plain words, the reason, what it depends
on or what to do instead, and where it comes from.

Any plain message nobody else claimed is read as a question. The bot never
guesses a ruling: when the match is weak it says so and offers the closest
topics, and it declines clinical questions instead of answering them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import re

from bot.model import Action, Choice, Inbound, Reply
from intents.base import Command, Context, Intent
from knowledge.answering import KnowledgeBase, ScopeAnswer, decode_facts
from knowledge.schema import Entry, Verdict
from knowledge.situation import Situation

_LOADING = asyncio.Lock()

HEADINGS = {
    Verdict.in_scope: "Yes, this is peer work.",
    Verdict.out_of_scope: "This isn't part of the peer role.",
    Verdict.depends: "It depends.",
    Verdict.info: "Some background.",
}
QUIZ_GUESSES = {"in_scope": "Scope", "out_of_scope": "No scope", "depends": "It depends"}
ROUND = 5
# A quiz left unanswered this long is over: a later "yes" is a new message.
QUIZ_OPEN_FOR = dt.timedelta(minutes=30)
# Typed quiz answers, most specific first ("no scope" before "scope").
TYPED_GUESSES = (
    ("depends", re.compile(r"\b(it )?depends\b|\bmaybe\b|\bsometimes\b|\bnot sure\b", re.I)),
    ("out_of_scope", re.compile(r"\b(no|not|out of|outside( of)?|isn'?t|isnt|not in) scope\b|\bno scope\b|\bnot (peer work|part of)\b|^\s*(no|nope|nah|out)\b", re.I)),
    ("in_scope", re.compile(r"\b(in )?scope\b|\bpeer work\b|^\s*(yes|yep|yeah|yup|sure|in)\b", re.I)),
)
QUIZ_STOP = re.compile(r"^\s*(stop|quit|end|exit|done|enough)( (the )?quiz)?\s*[.!]*\s*$", re.I)


def typed_guess(text: str) -> str | None:
    for verdict, pattern in TYPED_GUESSES:
        if pattern.search(text):
            return verdict
    return None


def quiz_value(entry_id: str, guess: str, right: int, asked: int) -> str:
    """A quiz button's value: the question, the guess and the score so far,
    so the round's score survives without anything kept in memory."""
    return f"{entry_id}|{guess}|{right}|{asked}"


def parse_quiz_value(value: str) -> tuple[str, str, int, int]:
    parts = value.split("|")
    entry_id, guess = parts[0], parts[1] if len(parts) > 1 else ""
    try:
        right, asked = int(parts[2]), int(parts[3])
    except (IndexError, ValueError):
        right, asked = 0, 0  # a button from before scores were kept: a new round
    return entry_id, guess, max(0, min(right, ROUND)), max(0, min(asked, ROUND - 1))


async def load_knowledge(ctx: Context) -> KnowledgeBase:
    """The knowledge base, loaded once per process, off the event loop."""
    kb = ctx.resources.get("knowledge")
    if kb is None:
        async with _LOADING:
            kb = ctx.resources.get("knowledge")
            if kb is None:
                kb = await asyncio.to_thread(KnowledgeBase.load, ctx.settings.kb_dir)
                ctx.resources["knowledge"] = kb
    return kb


class Scope(Intent):
    name = "scope"
    about = (
        "Ask me whether something is part of the peer role, in your own words, for example "
        "\"Can I go with someone to their doctor's appointment?\""
    )
    commands = (
        Command("scope", "ask whether something is part of the peer role", usage="QUESTION"),
        Command("quiz", "practice with a \"Scope or No Scope?\" situation"),
    )

    def __init__(self) -> None:
        # The quiz question waiting for an answer in each conversation, so a
        # typed "no scope" is read as an answer: (entry id, right, asked, since).
        self._open_quiz: dict[tuple[str, str], tuple[str, int, int, dt.datetime]] = {}

    async def warm_up(self, ctx: Context) -> None:
        await load_knowledge(ctx)

    async def on_command(self, word: str, args: str, msg: Inbound, ctx: Context) -> list[Reply]:
        if word == "quiz":
            return await self._quiz(ctx, msg)
        if word == "scope" and not args.strip() and self._pending_quiz(msg, ctx):
            return await self._typed_quiz_answer("in_scope", msg, ctx)
        if not args.strip():
            return [Reply(text="What would you like to check? For example: /scope can I drive someone to an appointment?")]
        return await self._answer(args, ctx)

    async def on_text(self, msg: Inbound, ctx: Context) -> list[Reply] | None:
        if self._pending_quiz(msg, ctx):
            if QUIZ_STOP.match(msg.text):
                _, right, asked, _ = self._open_quiz.pop(self._key(msg))
                return [Reply(text=f"Okay, we'll stop there. You got {right} of {asked}. Type /quiz any time for another round.")]
            guess = typed_guess(msg.text)
            if guess is not None:
                return await self._typed_quiz_answer(guess, msg, ctx)
            # Not an answer: the person has moved on to a real question.
            self._open_quiz.pop(self._key(msg), None)
        return await self._answer(msg.text, ctx)

    @staticmethod
    def _key(msg: Inbound) -> tuple[str, str]:
        return (msg.channel, msg.conversation)

    def _pending_quiz(self, msg: Inbound, ctx: Context) -> bool:
        pending = self._open_quiz.get(self._key(msg))
        if pending is None:
            return False
        if ctx.now() - pending[3] > QUIZ_OPEN_FOR:
            del self._open_quiz[self._key(msg)]
            return False
        return True

    async def _typed_quiz_answer(self, guess: str, msg: Inbound, ctx: Context) -> list[Reply]:
        entry_id, right, asked, _ = self._open_quiz.pop(self._key(msg))
        kb = await load_knowledge(ctx)
        if entry_id not in kb.entries:
            return await self._quiz(ctx, msg)
        return [quiz_feedback(kb, kb.entries[entry_id], guess, right, asked)]

    async def on_action(self, action: Action, msg: Inbound, ctx: Context) -> list[Reply]:
        kb = await load_knowledge(ctx)
        verb = action.id.partition(":")[2]
        if verb == "entry" and action.value in kb.entries:
            return [render_entry(kb, kb.entries[action.value])]
        if verb == "helpful":
            entry_id, _, said = action.value.partition("|")
            if entry_id in kb.entries:
                await ctx.store.knowledge.record_helpful(entry_id, said == "yes")
                if said == "yes":
                    return [Reply(text="Thanks for letting me know.")]
                return [Reply(text="Thanks, that helps. The people who look after these answers will see it. "
                            "If you'd like to talk it through, your peer supervisor is a good person to ask.")]
        if verb == "raise" and action.value in kb.entries:
            # Hands over to the concern flow, with the question filled in.
            from intents.concern import start_reply

            return [start_reply(origin=f"scope:{action.value}", lead=RAISE_LEAD)]
        if verb == "rule":
            # An answer to "who asked for this?": the button carries the entry
            # and every fact given so far, so nothing is remembered between.
            entry_id, facts = decode_facts(action.value)
            if entry_id in kb.entries:
                return [render_answer(kb, kb.rule(kb.entries[entry_id], Situation(), facts))]
        if verb == "quiz":
            entry_id, guess, right, asked = parse_quiz_value(action.value)
            if entry_id in kb.entries and guess in QUIZ_GUESSES:
                self._open_quiz.pop(self._key(msg), None)
                return [quiz_feedback(kb, kb.entries[entry_id], guess, right, asked)]
        if verb == "quiz-next":
            _, _, right, asked = parse_quiz_value(f"-|-|{action.value}" if action.value else "-|-")
            return await self._quiz(ctx, msg, right=right, asked=asked if asked < ROUND else 0)
        return [Reply(text="That button doesn't do anything any more. Ask me again and I'll look it up.")]

    async def _answer(self, question: str, ctx: Context) -> list[Reply]:
        kb = await load_knowledge(ctx)
        result = kb.answer(question)
        if result.kind == "not_sure":
            likely = result.alternatives[0].id if result.alternatives else None
            await ctx.store.knowledge.record_gap(question, likely)
        return [render_answer(kb, result)]

    async def _quiz(self, ctx: Context, msg: Inbound, right: int = 0, asked: int = 0) -> list[Reply]:
        """The next question of a round of five; ``right`` and ``asked`` are
        the score so far, carried in the buttons."""
        kb = await load_knowledge(ctx)
        pool = [e for e in kb.entries.values() if e.verdict is not Verdict.info]
        entry = random.choice(pool)
        situation = random.choice(entry.phrasings)
        self._open_quiz[self._key(msg)] = (entry.id, right, asked, ctx.now())
        return [
            Reply(
                text=f"Question {asked + 1} of {ROUND}. Scope or No Scope?\n\n\"{situation}\"\n\n"
                "What do you think? Pick one, or type your answer.",
                choices=[
                    Choice(label=label, action="scope:quiz", value=quiz_value(entry.id, verdict, right, asked))
                    for verdict, label in QUIZ_GUESSES.items()
                ],
            )
        ]


def sources_line(kb: KnowledgeBase, entry: Entry) -> str:
    cited = [f"{kb.source_title(s.file)}: {s.section}" for s in entry.sources[:2]]
    return "Source: " + "; ".join(cited)


RULED_HEADINGS = {
    "in_scope": "Then yes, this is peer work, because {because}.",
    "out_of_scope": "Then this isn't part of the peer role, because {because}.",
}


def render_entry(kb: KnowledgeBase, entry: Entry, lead: str = "", verdict: str | None = None, because: str = "",
                 follow_up=None) -> Reply:
    """One entry's answer. ``verdict`` and ``because`` are set when a
    "depends" entry was ruled on a fact the person stated or chose."""
    verdict = verdict or entry.verdict.value
    lines = [lead] if lead else []
    if because and verdict in RULED_HEADINGS:
        lines += [f"{RULED_HEADINGS[verdict].format(because=because)} ({entry.title})", "", entry.answer]
    else:
        lines += [f"{HEADINGS[entry.verdict]} ({entry.title})", "", entry.answer]
    if entry.conditions:
        title = "It stays that way as long as:" if because and verdict == "in_scope" else "What it depends on:"
        lines += ["", title, *[f"• {c}" for c in entry.conditions]]
    if entry.instead:
        lines += ["", "What you could do instead:", *[f"• {c}" for c in entry.instead]]
    lines += ["", sources_line(kb, entry)]
    if follow_up is not None:
        lines += ["", follow_up.question]
    choices = [
        Choice(label=kb.entries[rel].title, action="scope:entry", value=rel)
        for rel in entry.related[:3]
        if rel in kb.entries
    ]
    if verdict == "out_of_scope":
        choices.insert(0, Choice(label="Raise this with my peer supervisor", action="scope:raise", value=entry.id))
    if follow_up is not None:
        choices = [Choice(label=label, action="scope:rule", value=value) for label, value, _ in follow_up.choices] + choices
    choices += [
        Choice(label="Helpful", action="scope:helpful", value=f"{entry.id}|yes"),
        Choice(label="Not helpful", action="scope:helpful", value=f"{entry.id}|no"),
    ]
    return Reply(text="\n".join(lines), choices=choices)


CARE_LEAD = (
    "That sounds like a lot to carry. Feeling worn out is common in this work, and it says nothing bad about you. "
    "Here is something on looking after yourself, and on getting support from your supervisor:"
)


def with_care(reply: Reply, result: ScopeAnswer) -> Reply:
    """Answer what was asked, and offer the self-care and supervision topics too."""
    if not result.care:
        return reply
    extra = [Choice(label=e.title, action="scope:entry", value=e.id) for e in result.care]
    text = reply.text + "\n\nYou mentioned being worn out. If it helps, there's more on looking after yourself and on support from your supervisor."
    return Reply(text=text, choices=[*extra, *reply.choices])


def render_answer(kb: KnowledgeBase, result: ScopeAnswer) -> Reply:
    return with_care(_render_answer(kb, result), result)


def _render_answer(kb: KnowledgeBase, result: ScopeAnswer) -> Reply:
    if result.kind == "care" and result.entry is not None:
        # Not a ruling: nobody asked whether resting is allowed.
        entry = result.entry
        text = "\n".join([CARE_LEAD, "", f"{entry.title}:", entry.answer, "", sources_line(kb, entry)])
        choices = [Choice(label=e.title, action="scope:entry", value=e.id) for e in result.alternatives]
        return Reply(text=text, choices=choices)
    if result.kind in ("offtopic", "clinical") and result.route is not None:
        return Reply(text=result.route.reply)
    if result.kind == "not_sure" or result.entry is None:
        lines = [
            "I'm not sure I understood that one, and I'd rather not guess about your role.",
        ]
        choices = [Choice(label=e.title, action="scope:entry", value=e.id) for e in result.alternatives[:3]]
        if choices:
            lines.append("Is it close to one of these?")
        lines.append("You could also try other words, or bring it to your peer supervisor, who knows your job description.")
        return Reply(text="\n".join(lines), choices=choices)
    if result.close_call and result.alternatives:
        # Two readings, two answers: show both rather than pick one.
        both = [result.entry, result.alternatives[0]]
        lines = ["I can read that two ways, and they have different answers:", ""]
        for entry in both:
            lines.append(f"• If it's about {entry.title[0].lower() + entry.title[1:]}: {HEADINGS[entry.verdict]}")
        lines += ["", "Which is closer to what you meant? I'll show you the whole answer."]
        return Reply(text="\n".join(lines), choices=[Choice(label=e.title, action="scope:entry", value=e.id) for e in both])
    return render_entry(kb, result.entry, verdict=result.verdict, because=result.because, follow_up=result.follow_up)


RAISE_LEAD = (
    "Raising it can feel awkward, and it's part of looking after the role. I can pass it to the peer supervisors "
    "for you, with your question filled in and room to say what happened. You decide whether it goes; "
    "I don't send anything on my own."
)


def quiz_feedback(kb: KnowledgeBase, entry: Entry, guess: str, right: int = 0, asked: int = 0) -> Reply:
    """Whether the guess matches the material, why, and the score so far."""
    correct = guess == entry.verdict.value
    right, asked = right + int(correct), asked + 1
    lead = "That's how the material sees it too." if correct else f"Not quite: the material would say \"{QUIZ_GUESSES[entry.verdict.value]}\"."
    reply = render_entry(kb, entry, lead=lead)
    if asked >= ROUND:
        score = f"That's the round: you got {right} of {ROUND}."
        next_choice = Choice(label="Play another round", action="scope:quiz-next", value="0|0")
    else:
        score = f"So far: {right} of {asked}."
        next_choice = Choice(label="Another one", action="scope:quiz-next", value=f"{right}|{asked}")
    return Reply(text=reply.text + "\n\n" + score, choices=[next_choice])
