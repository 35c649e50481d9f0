"""From a question to a decision: crisis, a scope ruling, background, an
off-topic pointer, or "I'm not sure".

This is the one place that decides; the chat intent and the ``peerbot ask``
and ``peerbot eval`` commands all call ``KnowledgeBase.answer`` so that what
is measured is exactly what people get.

How a ruling is chosen, and why:

1. Retrieval (``knowledge.matching``) finds the entry the question is about:
   the task or situation. It knows words, not who wants what.
2. The verdict model (``knowledge.verdicts``) may replace that entry with a
   lower-ranked one whose ruling it expects, but only when it prefers that
   ruling by a clear margin and the other entry is nearly as close in
   words. It used to pick "the best-ranked entry with the ruling the model
   expects" at any margin: that gained on the sets it was tuned on and lost
   on new ones, because a small SVM lead on a new wording is mostly noise.
3. The situation (``knowledge.situation``): who asked and for whose goal.
   An entry of verdict ``depends`` is ruled by the facts the question
   states: the person's own request or goal makes it peer work, the
   system's purpose (compliance, monitoring, reporting) makes it
   co-optation. When the deciding fact is missing, the answer is
   ``depends`` with one follow-up question whose buttons carry the fact
   back (``rule``), so the ruling never rests on a guess. A peer who asks
   how to push back on co-optation is not ruled against for naming it.
4. Two entries that are both close and rule differently are shown side by
   side (``close_call``), reported as ``depends``: the honest answer is that
   it depends which situation was meant.
5. Dosing questions are declined, but only questions that ask for a dose;
   a task that mentions one ("the nurse wants me to hand out her 50 mg")
   is a scope question about the task.
6. A question after a fact ("what's the difference between parole and
   probation", "does our EHR have spell check") asks for no ruling, whatever
   domain word it names: it gets background or an off-topic pointer
   (``asks_for_a_fact``), unless it is about the peer role itself.
7. Two kinds of question are peer work whatever they mention: asking whether
   to speak up against a practice the role rules out (``SPEAKING_UP``), and
   asking one's own supervisor for help (``ASKING_SUPERVISOR``).
8. Some situations are the same whatever task or setting names them, and
   retrieval, which follows the nouns, lands them on the setting instead:
   telling one's own history is disclosure (``disclosing``: a hard piece of
   history depends on whom it serves, recovery told for hope is peer work);
   the system asking the peer to carry its consequence to the person, or
   the person's doings back to it, is relaying a threat or being the mole
   (``_messenger_entry``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any


from knowledge.distress import DistressSign, shared_check, support_resources
from knowledge.loader import LoadReport, load_entries
from knowledge.matching import Matcher, Ranked
from knowledge.schema import Entry, OffTopic, OffTopicKind, Verdict
from knowledge.situation import Situation, read_situation
from knowledge.verdicts import ASKS_FOR_A_RULING, OFFTOPIC, VerdictModel
from knowledge.yaml_text import load_yaml

HERE = Path(__file__).parent

# Dosing questions are clinical whatever else they mention: declined, never
# answered, even when they share words with a scope entry.
DOSING = re.compile(
    r"\bhow (much|many)( \w+){0,4} (can|should|could|do|does|would|is it safe to|is it ok to) (i|he|she|they|someone|a person|you) (take|give|have|use|double|mix)\b"
    r"|\b(what|whats|what is|what's) (the |a |her |his |their )?(right |correct |usual |normal |safe |max(imum)? |starting |typical |daily |lethal )*(dose|dosage|amount|mg)\b"
    r"|\b(max(imum)?|safe|lethal|right|correct|usual|starting) (daily )?(dose|dosage|amount)\b"
    r"|\bis \d+\s?(mg|milligrams?|pills?|tablets?)\b[^.?!]{0,30}\b(too much|safe|ok|okay|a lot|enough|dangerous)\b"
    r"|\b(can|could|should) (i|he|she|they|someone) (take|have|double|skip|split|up|increase|lower|cut)( \w+){0,2} (\d+\s?(mg|milligrams?)|dose|doses|dosage|extra)\b"
    r"|\b(should|can|could|would|do|does|is it (ok|okay|safe|bad|dangerous)( for (her|him|them|me|someone))? to|how (do|does|can|could) (i|she|he|they|someone)) "
    r"(\w+ ){0,2}(double|increase|lower|reduce|split|skip) (her|his|their|my|a|the) (dose|dosage)\b|\bdos(age|ing) (of|for)\b",
    re.IGNORECASE,
)
# "Is it my place to tell the director the way restraints are done here is
# harmful?" asks whether the peer may speak up against a practice, and that is
# peer work (questioning coercion, challenging the clinical lens), even though
# retrieval lands on the entry that rules the practice itself out.
_SPEAK_UP_ACTS = (
    r"(push back|say no|refuse|decline|question|challenge|object|speak up|"
    r"raise (it|this|that|concerns?)|bring (it|this|that) up|bring up (at|in|with|to) (the |my |our |a )?(\w+ )?(meeting|team|staff|huddle|rounds|supervisor|director)|"
    r"bring up that|point out|call (it|them|this) out|say something|"
    r"(tell|remind) (the|my|our) (\w+ )?(director|supervisor|manager|boss|team|staff|nurse|doctor|psychiatrist|unit|leadership|clinicians?|coworkers?))"
)
SPEAKING_UP = re.compile(
    rf"\b(can|could|may|should) (i|we)\b[^.?!]{{0,20}}\b{_SPEAK_UP_ACTS}\b"
    r"|\b(is it|is that|would it be) (\w+ )?(ok|okay|alright|fine|my place|my job|my role|within my role|part of my (job|role)|appropriate|in scope)"
    rf"( as (a|the) peer)?( for (me|a peer))? to ({_SPEAK_UP_ACTS[1:-1]}|advocate)\b",
    re.IGNORECASE,
)
def speaking_up(question: str) -> bool:
    """Speaking up to the team, not telling the team about someone ("can I
    tell the team if he's using again?" is about passing something on)."""
    return bool(SPEAKING_UP.search(question)) and not REPORTING_ON_SOMEONE.search(question)


# The entries a speaking-up question is answered from (found by what they are
# about): the one the question is closest to in words, else the first.
SPEAK_UP_TOPICS = (
    "questioning policies and practices that use threats, force or coercion",
    "raising it when asked to do work outside the peer role",
    "speaking up when the team sees someone only through symptoms and labels",
)

# "Can I ask my supervisor to help me prioritize?" is about asking for help,
# which is always part of the work, whatever the situation it mentions.
ASKING_SUPERVISOR = re.compile(
    r"\b(can|could|may|should) i (ask|talk to|go to|bring (this|it|that) to|check with) my (peer )?(supervisor|manager|boss)\b"
    r"|\b(can|could|may|should) i (talk|bring|take|process|discuss|raise|debrief|go over|work through|run)( it| this| that| things| what happened)?"
    r"( through| over| up| by)? (with|to) my (peer )?(supervisor|manager|boss)\b"
    r"|\b(is it|would it be) (ok|okay|alright|fine) (for me )?to (ask|talk to|go to|check with) my (peer )?(supervisor|manager|boss)\b",
    re.IGNORECASE,
)
SUPERVISOR_TOPIC = "bringing a hard situation to my supervisor and asking for help"

# "Would it be wrong to tell patients I was committed twice myself?" asks
# about the peer's own disclosure, whatever else it names (commitment,
# relapse, a warmline). The seeds draw the line by purpose: a recovery story
# told for the other person's hope is peer work; how much of a hard history
# to share (a commitment, self-harm, an overdose, a diagnosis) depends on
# whether it serves them, unless the question says they asked or why it
# helps them. Retrieval alone lands on whatever the history names.
DISCLOSING = re.compile(
    r"\b(tell|telling|share|sharing|mention|mentioning|talk about|talking about|open up about|disclose|disclosing|bring up|let (\w+ ){1,3}know)\b"
    r"( \S+){0,8}? (about )?("
    r"my (own )?([\w/-]+ ){0,2}(story|stories|history|past|journey|diagnos[ie]s|trauma|relapses?|recovery|overdoses?|addiction|"
    r"drug use|using days|incarceration|record|hospitali[sz]ations?|attempts?|self-harm|self-injury|struggles?|experiences?|time (in|on|at))"
    r"|(that |how |when |what )?i ?(was|used|got|had|have been|'ve been|ve been|am|'m|m|did|self-harmed|spent|went|rebuilt|relapsed|"
    r"overdosed|tried|attempted|struggled|lived|survived|made it|recovered|got through|did time|was committed|cut))\b"
    # peers, in a supervisor's or a third-person question: "can warmline peers share their own diagnosis"
    r"|\b(peers?|staff|peer staff|supervisees|specialists?|coaches)( \w+){0,3} (share|tell|disclose|talk about|mention) "
    r"(their|our) (own )?(recovery )?(stor(y|ies)|history|histories|diagnos[ie]s|past|lived experiences?|trauma)\b",
    re.IGNORECASE,
)
# A hard piece of history, as opposed to recovery itself.
_HARD_HISTORY = re.compile(
    r"\b(overdos\w*|self-?harm\w*|self-?injur\w*|cut myself|cutting|suicid\w*|attempts?|trauma\w*|abuse\w*|incarcerat\w*|prison|jail|"
    r"locked up|did time|committed|on a hold|involuntar\w*|diagnos[ie]s|psych history|using days|drug use|eating disorder|"
    r"relapse[sd]?|mental health history)\b",
    re.IGNORECASE,
)
_RECOVERY_TOLD = re.compile(
    r"\b(my (own )?(recovery|recovery story|journey)|i'?m in recovery|(how|what) (i|finally) (got|rebuilt|made|turned|came|stayed|kept)|"
    r"got (me )?(clean|sober|better|back|through|housed)|how i did it|what helped me|doing well|back on my feet|rebuilt my life)\b",
    re.IGNORECASE,
)
# Naming what someone else might have or should do, not telling one's own story.
_ABOUT_THEM = re.compile(
    r"\b(i think|think) (they|she|he|her|his|their)\b|\b(her|his|their) diagnos"
    r"|\b(they|she|he|you) (should|need to|have to|ought|must|might have|may have|could have|probably have)\b"
    # keeping it from an employer, or a supervisor asking about it: not a story told to someone supported
    r"|\bwithout (disclosing|telling|sharing|mentioning)\b"
    r"|\b(supervisor|manager|boss|director|hr|employer)( \w+)? (wants|asks|asked|keeps asking|tries|keeps trying) (me )?to (talk|ask|hear|know|discuss)\b",
    re.IGNORECASE,
)
# An entry is about telling one's own story when this share of its phrasings
# is (a story told at a fundraiser keeps its own conditions).
DISCLOSURE_SHARE = 0.25
DISCLOSURE_TOPICS = (
    "how much of my own history to share, and when",
    "sharing my own recovery story with the people I support",
)


def _what_is_told(question: str) -> str:
    """The part of the question from the telling on, to the end of its
    sentence: "he's two weeks out of prison and wants to hear how I found
    work" names his history, not what I'd share."""
    found = DISCLOSING.search(question)
    if found is None:
        return question
    rest = question[found.start():]
    return re.split(r"(?<=[.?!])\s", rest, maxsplit=1)[0]


def disclosing(question: str) -> bool:
    """Asks about telling one's own history, not about someone else's."""
    return bool(DISCLOSING.search(question)) and not _ABOUT_THEM.search(question)


# "Staff want me to tell members they lose privileges if they miss group":
# carrying the program's consequence to the person makes the peer the
# messenger for leverage, whatever task or setting the message is about
# (a shelter bed, the clubhouse, a tent at the camp). Ruled as relaying a
# threat when the system asks for it; asking whether to push back on it is
# still speaking up.
RELAYING_A_CONSEQUENCE = re.compile(
    r"\b(tell|telling|warn|warning|remind|reminding|let (\w+ ){1,2}know|inform|pass (that|it|this) (on|along)|deliver|explain to)\b"
    r"[^.?!]{0,50}\b(lose|loses|losing|or else|or (we|they|he|she|staff)('ll| will| are going to| gonna)|"
    r"(be|get|gets) (discharged|kicked out|written up|violated|sanctioned|banned|trespassed|exited)|no longer (be )?allowed|"
    r"(have|has|need|needs) to (go|take|attend|leave|move|follow|sign|comply|accept))\b",
    re.IGNORECASE,
)
RELAYING_TOPIC = "passing on consequences or threats from the program"
# The other direction: "the sergeant asked me to let him know which guys in
# my group are still using". Passing on who does what, for the system, is
# being the mole, whatever the setting or the task it mentions.
REPORTING_ON_SOMEONE = re.compile(
    r"\b(tell|telling|let (\w+ ){1,2}know|report|reporting|inform|informing|update|updating|give (\w+ ){1,2}a heads up|flag|text|email)\b"
    r"[^.?!]{0,25}\b(which|who|whether|if|when|anytime|any time|every time|whenever)\b[^.?!]{0,40}\b"
    r"(using|used|uses|drinking|drinks|drank|high|relaps\w*|breaks|broke|breaking|missed|misses|skips|skipped|talks about|says|said|"
    r"stops taking|stopped taking|isn'?t taking|not taking|hanging out|sleeps|leaves|left|comes in|came in|smells like|"
    r"seems|seemed|looks|looked|acts|acted|is acting|was acting|gets|got|plans|planning|is planning)\b",
    re.IGNORECASE,
)
REPORTING_TOPIC = "reporting to staff on what someone does or says, being the mole"


# Questions that ask for a fact, not for a ruling on the asker's work: "what's
# the difference between parole and probation", "is it called a 5150
# everywhere", "does our EHR have spell check", "is kratom picked up on a 12
# panel". A domain word in them ("probation", "notes") pulls retrieval toward
# a scope entry, but nothing in them asks whether something is peer work.
# They get background when the best match is background, and otherwise the
# nearest off-topic route (see ``_factual``).
FACTUAL = re.compile(
    r"\b(what'?s|what is|whats|what are) the difference(s)? between\b"
    r"|\b(is it|is that|is this|are they) (called|spelled|pronounced|named)\b"
    r"|\bwhat (do|does|did) (they|other states|other places|people|you|we|it|\w+) call\b"
    r"|\bwhat('?s| is| are) (it|that|this|they) called\b"
    r"|\bdoes (our|the|this|that|their|my) \w+( \w+)? (have|has|support|offer|validate|include|come with)\b(?! to\b)"
    r"|\b(picked up|pick up|show up|shows up|detected|detect|come up|comes up|test positive|screen positive) (on|in|by) "
    r"(a |an |the )?([\w-]+ ){0,2}(panel|test|tests|screen|screens|tox|ua|uds|drug test|breathalyzer)\b"
    r"|\bdoes anyone know (if|whether|where|when|how|what|who)\b"
    r"|\bwhat does \w+ stand for\b|\bwhat year (was|did|were)\b",
    re.IGNORECASE,
)
# ...unless it is about the peer role itself ("the difference between a peer
# bridger and a discharge planner" is a scope question).
_ROLE_WORDS = re.compile(
    r"\bpeers?\b|\bpeer[- ]|\b(my|our|their|a|the) (job|role|scope)\b|\brecovery coach|\bbridger|\bwarm ?line"
    r"|\bsupervis\w*|\bscope of practice\b|\bco-?opt\w*|\blived experience\b",
    re.IGNORECASE,
)


# A factual question goes to the nearest off-topic route when that route scores
# at least this share of the best match; otherwise to general knowledge.
FACTUAL_ROUTE_SHARE = 0.75


def asks_for_a_fact(question: str) -> bool:
    """A factual question that asks for no ruling and isn't about the peer role."""
    return bool(FACTUAL.search(question)) and not ASKS_FOR_A_RULING.search(question) \
        and not _ROLE_WORDS.search(question)


# What a tired or burnt-out person is offered (see ``_care_entries``).
CARE_TOPICS = (
    "taking breaks and self-care when I'm burnt out or exhausted",
    "asking my peer supervisor for support and supervision",
)
_ASKS = re.compile(
    r"\?|\b(can|could|may|should|do|does|is|are|am|who|what|how|where|when|which|why)\b[^.!]*\b(i|we|peers?|my|it|this|that|someone)\b",
    re.IGNORECASE,
)


def asks_something(question: str) -> bool:
    """A question, not only a sigh: "is it ok to ask for a break?" vs "so tired"."""
    return bool(_ASKS.search(question))


# Below this confidence the bot says it isn't sure instead of ruling.
NOT_SURE_BELOW = 0.3
# The verdict model replaces the best-matching entry only when it prefers
# another entry's ruling by at least this much (SVM units), and by more than
# the best match leads that entry in retrieval (combined score, best ~1.6).
OVERRIDE_MARGIN = 0.2

# Background gives way to a ruling entry this close in retrieval when the
# question asks for a ruling ("can I...?", "is it appropriate for a peer
# to...?"): background can't answer whether something is peer work, so a
# ruling entry within a fifth of the best score (~1.6) answers instead.
INFO_YIELDS = 0.3

# Two entries with different rulings this close in retrieval, while the
# verdict model barely prefers one ruling: ask which was meant.
CLOSE_CALL = 0.1
CLOSE_MARGIN = 0.15


@dataclass
class ScopeAnswer:
    """What the bot concluded about one question."""

    verdict: str                     # in_scope, out_of_scope, depends, unknown, crisis
    kind: str                        # ruling, info, offtopic, clinical, not_sure, crisis
    confidence: float
    entry: Entry | None = None
    route: OffTopic | None = None
    distress: DistressSign | None = None
    alternatives: list[Entry] = field(default_factory=list)
    close_call: bool = False
    care: list[Entry] = field(default_factory=list)  # offered alongside, to someone who says they are worn out
    follow_up: "FollowUp | None" = None  # the one question that decides a "depends"
    because: str = ""                    # the stated fact a ruling rests on, in plain words

    def as_json(self, sources: dict[str, str]) -> dict[str, Any]:
        entry = self.entry
        return {
            "verdict": self.verdict,
            "kind": self.kind,
            "entry_id": entry.id if entry else (self.route.id if self.route else None),
            "confidence": round(self.confidence, 3),
            "answer": entry.answer if entry else (self.route.reply if self.route else ""),
            "conditions": entry.conditions if entry else [],
            "instead": entry.instead if entry else [],
            "sources": [
                {"file": s.file, "section": s.section, "title": sources.get(s.file, s.file)}
                for s in (entry.sources if entry else [])
            ],
            "alternatives": [e.id for e in self.alternatives],
            **({"follow_up": self.follow_up.as_json()} if self.follow_up else {}),
        }


@dataclass(frozen=True)
class FollowUp:
    """The one question that decides a "depends", with its answers. Each
    choice's value carries the entry and every fact known so far, so a
    button press can be ruled on without remembering anything."""

    question: str
    choices: list[tuple[str, str, str]]  # (label, value for the button, verdict it leads to)

    def as_json(self) -> dict[str, Any]:
        return {"question": self.question,
                "choices": [{"label": label, "verdict": verdict} for label, _, verdict in self.choices]}


def encode_facts(entry_id: str, facts: dict[str, str]) -> str:
    return entry_id + "|" + ",".join(f"{k}={v}" for k, v in sorted(facts.items()))


def decode_facts(value: str) -> tuple[str, dict[str, str]]:
    entry_id, _, rest = value.partition("|")
    facts = dict(part.split("=", 1) for part in rest.split(",") if "=" in part)
    return entry_id, facts


# What a "depends" entry's conditions turn on, read from their words.
_HINGE_WHO = re.compile(r"\b(asked|asks|chose|choose|chooses|wants?|said yes|agreed|their own goal|own goals?|the team|staff|compliance|report)\b", re.I)
_HINGE_TEAM = re.compile(r"\b(team|staff|program|agency|case ?manager|clinic\w*|court|probation|doctor|nurse|compliance|report\w*)\b", re.I)
_HINGE_POLICY = re.compile(r"\b(polic(y|ies)|organi[sz]ation'?s (rules|policy)|rules)\b", re.I)

BECAUSE = {
    ("purpose", "own"): "it serves the person's own goal",
    ("purpose", "system"): "it serves the team's purpose (compliance, monitoring or reporting) rather than the person's own goal",
    ("requester", "person"): "the person asked for it",
    ("requester", "system"): "the team wants it done, not the person",
    ("manner", "with"): "you'd be doing it with them, so they can do it themselves",
    ("manner", "for"): "it means doing it for them rather than with them",
    ("voice", "peer"): "it's in your own, plain words",
    ("voice", "clinical"): "it asks for a clinical voice (labels, assessments) rather than your own",
    ("policy", "yes"): "your organization's policy allows it",
    ("policy", "no"): "your organization's policy doesn't allow it",
    ("asked", "yes"): "the person asked for it or welcomed it",
    ("asked", "no"): "it isn't something the person asked for or welcomed",
    ("fit", "yes"): "it serves the person's own recovery, on their terms",
    ("fit", "no"): "it doesn't serve the person's own recovery on their terms",
}


def _read_yaml(name: str, extra_dir: Path | None) -> Any:
    local = extra_dir / name if extra_dir else None
    path = local if local is not None and local.is_file() else HERE / name
    return load_yaml(path.read_text(encoding="utf-8"))


def _fingerprint(extra_dir: Path | None) -> tuple:
    """Changes when any knowledge file changes, so an edited folder is reloaded."""
    folders = [HERE, HERE / "entries"] + ([extra_dir] if extra_dir else [])
    return tuple(
        (str(p), p.stat().st_mtime_ns, p.stat().st_size)
        for folder in folders
        if folder.is_dir()
        for p in sorted(folder.glob("*.y*ml"))
    )


@lru_cache(maxsize=4)
def _load_cached(extra_dir: Path | None, fingerprint: tuple) -> "KnowledgeBase":
    return KnowledgeBase.build(extra_dir)


class KnowledgeBase:
    """Everything the scope answers are made from, loaded once."""

    def __init__(self, report: LoadReport, offtopics: list[OffTopic], resources: dict[str, Any], sources: dict[str, str]):
        self.report = report
        self.entries = report.entries
        self.offtopics = {route.id: route for route in offtopics}
        self.resources = resources
        self.sources = sources
        self.distress = shared_check()
        self.matcher = Matcher(self.entries.values(), offtopics)
        self.verdicts = VerdictModel(self.entries.values(), offtopics)
        self.care_entries = self._care_entries()
        self.supervisor_entry = self._entry_about(SUPERVISOR_TOPIC, Verdict.in_scope)
        self.disclosure_depends = self._entry_about(DISCLOSURE_TOPICS[0], Verdict.depends)
        self.recovery_story = self._entry_about(DISCLOSURE_TOPICS[1], Verdict.in_scope)
        self.relaying_entry = self._entry_about(RELAYING_TOPIC, Verdict.out_of_scope)
        self.reporting_entry = self._entry_about(REPORTING_TOPIC, Verdict.out_of_scope)
        self.about_disclosure = {
            e.id for e in self.entries.values()
            if e.phrasings and sum(map(disclosing, e.phrasings)) >= DISCLOSURE_SHARE * len(e.phrasings)
        }
        self.speak_up_entries: list[Entry] = []
        for topic in SPEAK_UP_TOPICS:
            found = self._entry_about(topic, Verdict.in_scope)
            if found is not None and found not in self.speak_up_entries:
                self.speak_up_entries.append(found)

    @classmethod
    def load(cls, extra_dir: Path | None = None) -> "KnowledgeBase":
        """Load (once per process and folder: the knowledge base never changes
        while the bot runs, and training the verdict model takes a moment)."""
        return _load_cached(extra_dir.resolve() if extra_dir else None, _fingerprint(extra_dir))

    @classmethod
    def build(cls, extra_dir: Path | None = None) -> "KnowledgeBase":
        report = load_entries(extra_dir)
        offtopics = [OffTopic.model_validate(item) for item in _read_yaml("offtopic.yaml", extra_dir)]
        return cls(report, offtopics, support_resources(extra_dir), _read_yaml("sources.yaml", None))

    def _care_entries(self) -> list[Entry]:
        """The entries a tired or burnt-out person is offered: looking after
        oneself, and support from a supervisor. Found by what they are about,
        not by id, so an organisation's own entries on these topics count."""
        found: list[Entry] = []
        for topic in CARE_TOPICS:
            best = next((r for r in self.matcher.rank(topic, k=5) if r.target.kind == "entry"), None)
            if best is not None and self.entries[best.target.id] not in found:
                found.append(self.entries[best.target.id])
        return found

    def _entry_about(self, topic: str, verdict: Verdict) -> Entry | None:
        """The best-matching entry of this verdict for a topic, found by
        words, so an organization's own entry on the topic counts."""
        for r in self.matcher.rank(topic, k=5):
            if r.target.kind == "entry" and self.entries[r.target.id].verdict is verdict:
                return self.entries[r.target.id]
        return None

    def source_title(self, file: str) -> str:
        return self.sources.get(file, file)

    def answer(self, question: str) -> ScopeAnswer:
        result = self._decide(question)
        if result.kind not in ("crisis", "care") and self.care_entries and self.distress.is_burnout(question):
            result.care = [e for e in self.care_entries if e is not result.entry]
        return result

    def _decide(self, question: str) -> ScopeAnswer:
        sign = self.distress.find(question)
        if sign is not None:
            return ScopeAnswer(verdict="crisis", kind="crisis", confidence=1.0, distress=sign)
        if self.care_entries and self.distress.is_burnout(question) and not asks_something(question):
            # Tired or burnt out, and not asking about the role: offer care, not a ruling.
            return ScopeAnswer(verdict="unknown", kind="care", confidence=1.0, entry=self.care_entries[0],
                               alternatives=self.care_entries[1:])
        ranked = self.matcher.rank(question, k=10)
        if not ranked or not re.search(r"[^\W\d_]{2}", question):  # nothing word-like to go on
            return ScopeAnswer(verdict="unknown", kind="not_sure", confidence=0.0)
        guess = self.verdicts.guess(question)
        top = ranked[0]
        # The verdict model overrides the best match only by a clear margin:
        # its preference for another entry's ruling has to outweigh how much
        # closer in words the best match is.
        chosen = None
        if self._label(top) != guess.label:
            label_scores = dict(zip(self.verdicts.labels, guess.scores))
            top_support = label_scores.get(self._label(top), 0.0)
            for r in ranked[1:4]:
                if self._label(r) != guess.label:
                    continue
                lead = label_scores[guess.label] - top_support
                if lead >= OVERRIDE_MARGIN and lead > top.score - r.score:
                    chosen = r
                break
            if chosen is not None:
                ranked = [chosen, *[r for r in ranked if r is not chosen]]
                top = chosen
        agrees = self._label(top) == guess.label
        confidence = self._confidence(ranked, guess.margin if agrees else 0.0)
        if DOSING.search(question) and "medication-dosing" in self.offtopics:
            route = self.offtopics["medication-dosing"]
            return ScopeAnswer(verdict="unknown", kind="clinical", confidence=max(confidence, 0.9), route=route)
        if top.target.kind != "offtopic" and asks_for_a_fact(question):
            return self._factual(ranked, confidence)
        if top.target.kind == "offtopic":
            route = self.offtopics[top.target.id]
            kind = "clinical" if route.kind is OffTopicKind.clinical else "offtopic"
            return ScopeAnswer(verdict="unknown", kind=kind, confidence=confidence, route=route)
        entries = [self.entries[r.target.id] for r in ranked if r.target.kind == "entry"]
        if confidence < NOT_SURE_BELOW:
            return ScopeAnswer(verdict="unknown", kind="not_sure", confidence=confidence, alternatives=entries[:3])
        entry = entries[0]
        speaking = speaking_up(question)
        if entry.verdict is Verdict.info and ASKS_FOR_A_RULING.search(question) and not speaking:
            # "Can I...?" wants a ruling: a ruling entry nearly as close beats background.
            scores = {r.target.id: r.score for r in ranked}
            ruling = next((e for e in entries[1:4] if e.verdict is not Verdict.info), None)
            if ruling is not None and scores[entry.id] - scores[ruling.id] < INFO_YIELDS:
                entry = ruling
        if entry.verdict is not Verdict.out_of_scope:
            entry = self._messenger_entry(question) or entry
        if entry.verdict in (Verdict.out_of_scope, Verdict.info) and speaking:
            # Asking whether to speak up against a practice, or for a peer value
            # ("remind the team that peer services are voluntary"): the speaking
            # up is ruled on.
            about_force = any(src.section.startswith("in the name of treatment") for src in entry.sources)
            voice = (self.speak_up_entries[0] if about_force and self.speak_up_entries else None) or \
                next((e for e in entries if e in self.speak_up_entries), None) or \
                (self.speak_up_entries[0] if self.speak_up_entries else None)
            if voice is not None:
                return ScopeAnswer(verdict="in_scope", kind="ruling", confidence=confidence, entry=voice,
                                   alternatives=[entry])
        if entry.verdict is Verdict.info:
            # Background, not a ruling: reported as no verdict.
            return ScopeAnswer(verdict="unknown", kind="info", confidence=confidence, entry=entry)
        if entry.verdict is not Verdict.in_scope and self.supervisor_entry is not None and ASKING_SUPERVISOR.search(question):
            return ScopeAnswer(verdict="in_scope", kind="ruling", confidence=confidence, entry=self.supervisor_entry,
                               alternatives=[entry])
        told_own_story = disclosing(question)
        if told_own_story:
            entry = self._disclosure_entry(question, entry)
        # Only a "depends" entry is ruled on the situation; reading it costs a little.
        situation = read_situation(question) if entry.verdict is Verdict.depends else Situation()
        if told_own_story:
            # Naming one's own diagnosis is the peer's own story, not a clinical voice.
            situation = replace(situation, voice=None)
        ruled = self.rule(entry, situation)
        ruled.confidence = confidence
        if ruled.follow_up is None and not ruled.because and not told_own_story:
            # (A question about telling one's own story was already ruled on
            # what is told; the neighbouring disclosure entry is no rival.)
            rival = self._close_rival(entry, ranked, guess.margin)
            if rival is not None:
                ruled.verdict, ruled.close_call, ruled.alternatives = "depends", True, [rival]
        return ruled

    def _messenger_entry(self, question: str) -> Entry | None:
        """The system asking the peer to carry its message to the person (a
        consequence) or the person's doings back to it (being the mole):
        ruled as relaying a threat or reporting on people."""
        relaying = self.relaying_entry is not None and RELAYING_A_CONSEQUENCE.search(question)
        reporting = self.reporting_entry is not None and REPORTING_ON_SOMEONE.search(question)
        if not (relaying or reporting) or read_situation(question).requester != "system":
            return None
        return self.relaying_entry if relaying else self.reporting_entry

    def _disclosure_entry(self, question: str, entry: Entry) -> Entry:
        """The entry a question about telling one's own history is ruled
        from: how much to share (depends) for a hard piece of history, the
        recovery story (peer work) for recovery itself. An entry that is
        already about sharing one's story in some setting stays."""
        own = (self.disclosure_depends, self.recovery_story)
        if entry.id in self.about_disclosure and entry not in own:
            return entry  # a story told for the agency, at a fundraiser: its own conditions
        told = _what_is_told(question)
        if _HARD_HISTORY.search(told) and not _RECOVERY_TOLD.search(told):
            return self.disclosure_depends or entry
        if entry in own:
            return entry
        return self.recovery_story or entry

    def _factual(self, ranked: list[Ranked], confidence: float) -> ScopeAnswer:
        """A question after a fact: background if that's the best match,
        else the nearest off-topic route (general knowledge if none is near)."""
        top = ranked[0]
        if self.entries[top.target.id].verdict is Verdict.info:
            return ScopeAnswer(verdict="unknown", kind="info", confidence=confidence, entry=self.entries[top.target.id])
        near = next((r for r in ranked if r.target.kind == "offtopic"), None)
        # A route only a little closer than nothing would be a random pointer.
        close = near is not None and near.score >= FACTUAL_ROUTE_SHARE * top.score
        route_id = near.target.id if close else "trivia-and-general-knowledge"
        route = self.offtopics.get(route_id) or next(iter(self.offtopics.values()), None)
        if route is None:
            return ScopeAnswer(verdict="unknown", kind="not_sure", confidence=confidence)
        kind = "clinical" if route.kind is OffTopicKind.clinical else "offtopic"
        return ScopeAnswer(verdict="unknown", kind=kind, confidence=confidence, route=route)

    def _close_rival(self, entry: Entry, ranked: list[Ranked], margin: float) -> Entry | None:
        """Another entry nearly as close that rules differently, while the
        verdict model barely prefers one ruling: then neither is picked."""
        top = ranked[0]
        for r in ranked[1:]:
            if r.target.kind != "entry":
                continue
            other = self.entries[r.target.id]
            if other.verdict in (entry.verdict, Verdict.info):
                continue
            if margin < CLOSE_MARGIN and top.score - r.score < CLOSE_CALL:
                return other
            return None
        return None

    def rule(self, entry: Entry, situation: Situation, facts: dict[str, str] | None = None) -> ScopeAnswer:
        """The ruling for ``entry`` in the situation the question states
        (or the answers given to follow-up questions, ``facts``)."""
        facts = dict(facts or {})
        if entry.verdict is not Verdict.depends:
            # A blunt ruling stands. (Turning peer-work entries into
            # co-optation on a stated system purpose was tried: it misread
            # questions about resisting that purpose more often than it
            # caught co-optation, on every set.)
            return ScopeAnswer(verdict=entry.verdict.value, kind="ruling", confidence=1.0, entry=entry)
        # A "depends" entry: rule on what is known, or ask for what decides it.
        if situation.purpose and "purpose" not in facts:
            facts["purpose"] = situation.purpose
        if situation.voice and "voice" not in facts:
            facts["voice"] = situation.voice
        if situation.requester and "requester" not in facts:
            facts["requester"] = situation.requester
        if situation.manner and "manner" not in facts:
            facts["manner"] = situation.manner
        known = Situation(facts.get("requester"), facts.get("purpose"), facts.get("voice"), manner=facts.get("manner"))
        lean = known.leaning
        for key in ("asked", "policy", "fit"):
            if facts.get(key) in ("yes", "no"):
                lean = "person" if facts[key] == "yes" else "system"
                return self._ruled(entry, "in_scope" if lean == "person" else "out_of_scope", (key, facts[key]))
        if lean == "person":
            key = next(k for k in ("purpose", "voice", "manner", "requester") if facts.get(k) in ("own", "peer", "with", "person"))
            return self._ruled(entry, "in_scope", (key, facts[key]))
        if lean == "system" and not situation.resisting:
            key = next(k for k in ("purpose", "voice", "manner") if facts.get(k) in ("system", "clinical", "for"))
            return self._ruled(entry, "out_of_scope", (key, facts[key]))
        return ScopeAnswer(verdict="depends", kind="ruling", confidence=1.0, entry=entry, follow_up=self.follow_up(entry, facts))

    @staticmethod
    def _ruled(entry: Entry, verdict: str, fact: tuple[str, str]) -> ScopeAnswer:
        return ScopeAnswer(verdict=verdict, kind="ruling", confidence=1.0, entry=entry, because=BECAUSE[fact])

    @staticmethod
    def follow_up(entry: Entry, facts: dict[str, str]) -> FollowUp:
        """The one question that decides this entry, given what is known."""
        def choice(label: str, key: str, value: str, verdict: str) -> tuple[str, str, str]:
            return (label, encode_facts(entry.id, {**facts, key: value}), verdict)

        if entry.follow_up is not None:
            return FollowUp(entry.follow_up.question, [
                choice(c.label, "fit", "yes" if c.verdict is Verdict.in_scope else "no", c.verdict.value)
                for c in entry.follow_up.choices
            ])
        conditions = " ".join(entry.conditions)
        if _HINGE_WHO.search(conditions) and not _HINGE_TEAM.search(conditions):
            # Turns on the person's own wish, with no team in the picture (a hug, a visit).
            return FollowUp("Did the person ask for this, or say yes when you offered?", [
                choice("Yes, they did", "asked", "yes", "in_scope"),
                choice("No, or I'm not sure", "asked", "no", "out_of_scope"),
            ])
        if _HINGE_WHO.search(conditions):
            if facts.get("requester") == "system":
                return FollowUp("Whose goal does it serve: the person's own, or the team's (for example, getting them to go along with a plan)?", [
                    choice("The person's own goal", "purpose", "own", "in_scope"),
                    choice("The team's", "purpose", "system", "out_of_scope"),
                ])
            return FollowUp("Who asked for this: the person, or the team?", [
                choice("The person", "requester", "person", "in_scope"),
                choice("The team", "requester", "system", "depends"),
            ])
        if _HINGE_POLICY.search(conditions):
            return FollowUp("Does your organization's policy allow it?", [
                choice("Yes, it does", "policy", "yes", "in_scope"),
                choice("No, it doesn't", "policy", "no", "out_of_scope"),
            ])
        return FollowUp("Does it serve the person's own recovery, on their terms?", [
            choice("Yes, it's for them", "fit", "yes", "in_scope"),
            choice("No, it's for something else", "fit", "no", "out_of_scope"),
        ])

    def _label(self, ranked: Ranked) -> str:
        if ranked.target.kind == "offtopic":
            return OFFTOPIC
        return self.entries[ranked.target.id].verdict.value

    @staticmethod
    def _confidence(ranked: list[Ranked], margin: float) -> float:
        """How sure the answer is, from 0 to 1: words shared with the chosen
        entry's phrasings, and how clearly the verdict model prefers its ruling."""
        top = ranked[0]
        evidence = min(1.0, max(top.phrase, top.pooled * 0.8) / 6.0)
        lead = min(1.0, max(0.0, margin) / 1.0)
        return 0.6 * evidence + 0.4 * lead
