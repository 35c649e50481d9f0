"""Who wants it, and for whose goal: the facts a scope ruling turns on.

Most "is this my job?" questions are not about a task but about a task in a
situation. Going to an appointment, teaching a coping skill, writing a note
or sitting in a team meeting is peer work when the person asked for it and
it serves their own goal, and co-optation when the team wants it done to get
them to comply, to watch them or to report on them. The seed material says
so again and again: the line runs through who is asking and for what, not
through the task. A matcher that only knows words has to learn that line
afresh for every task from phrasings; a new wording of a known situation
("her PO wants me to...") then lands wherever its nouns point.

So the question is read for three facts, each independent of any entry:

- requester: the person ("she asked me", "at his request") or the system
  (the team, staff, a doctor, a court, probation, "I was told to");
- purpose: the person's own goal or choice ("so she can decide", "his own
  goals", "she wants to") or the system's (making sure someone complies,
  monitoring, reporting back, the program's numbers or convenience);
- voice: the peer's own (plain words, lived experience) or clinical
  (diagnoses, clinical terms, assessments);
- manner: doing it with the person, so they can do it themselves ("show
  him how", "while she calls herself"), or doing it for them instead
  ("just fill it out for him, it's faster", "book it for him every week").
  Showing someone how counts only with the point of it said ("so he can do
  it himself", "instead of doing it for her"): "can I teach someone to
  cook" still turns on whether they picked the skill.
  The seeds put helping with forms, calls and errands on this line: teaching
  how to get a resource is peer work, doing the task for someone is not.

``knowledge.answering`` combines them with the best-matching entry: an entry
of verdict ``depends`` names its conditions, and these facts are what those
conditions are about. When the question states the deciding fact the ruling
follows it; when it doesn't, the answer is ``depends`` and the bot asks the
one question that decides (``follow_up``), with buttons that carry the fact
back so that nothing needs remembering between messages.

Only "depends" entries are ruled this way. Turning a peer-work entry into
co-optation because the question names a system purpose was tried and
measured: it misread peers asking how to resist that purpose more often
than it caught co-optation. And a peer who pushes back ("can I refuse when
the nurse wants me to make sure he takes them?") is asking about resisting
co-optation, which is peer work: the system purpose is not held against
them (``resisting``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PERSON = (
    r"(she|he|they|clients?|participants?|residents?|members?|patients?|pts?|person|people|parents?|callers?|guests?|guys?|woman|women|man|men|"
    r"lady|youth|teens?|kids?|veterans?|mom|dad|mother|father|family|\d+ ?(y/?o|year[- ]old)|"
    r"someone i (support|work with|serve)|folks?( i (support|work with))?)"
)
SYSTEM = (
    r"(team|treatment team|staff|nurses?|charge nurse|doctors?|dr|psychiatrists?|prescribers?|clinicians?|therapists?|"
    r"counselors?|supervisors?|manager|boss|director|program|agency|court|judge|probation( officer)?|parole( officer)?|"
    r"po|officers?|police|cops?|case ?managers?|social workers?|caseworkers?|unit|hospital|clinic|admin|administration|"
    r"leadership|organi[sz]ation|house manager|shelter|landlord|cps|dcfs|insurance|md|np|rn|er|ed|attending|"
    r"psych|employer|school|teachers?|guidance counselor|jail|prison|corrections|sgt|sergeant|guards?|correctional officers?|"
    r"deputy|deputies|warden|shift lead|team lead)"
)
ASKING = (
    r"(asked|asks|asking|wants|wanted|want|would like|told|tells|telling|expects|expected|requires|required|needs|"
    r"is making|are making|made|makes|assigned|ordered|orders|is pushing|are pushing|pushes|pressur\w+|directed|"
    r"instructed|keeps asking|keep asking|insists|insisted|has me|had me|put me|volunteered me|signed me up|says to|said to)"
)

_REQUESTER_PERSON = re.compile(
    rf"\b{PERSON}\b[^.?!]{{0,30}}\b(asked|asks|asking|requested|requests|wants|wanted|would like|invited|begged|"
    r"called me|texted me|reached out|keeps? asking|kept asking)\b( me| if i| whether i| for (my )?(help|support)| my help| how i| what it was like| about my)"
    r"|\bwhen (she|he|they) (ask|asks|asked) me\b"
    r"|\b(at|on) (her|his|their) (own )?request\b|\b(her|his|their) (own )?(idea|request|call)\b"
    rf"|\b{PERSON}\b[^.?!]{{0,40}}\b(wants|wanted|would like|is asking|was asking) to (hear|know|learn) (how|what|about|if|whether|why|when) (i|my)\b"
    rf"|\bi offered and {PERSON} (said yes|agreed|wanted)\b|\b(she|he|they) (said|says) yes\b"
    r"|[,;(?.-] ?(and )?(she|he|they) (asked|asked me|asked me to|wants me to|invited me)[.!?)\s]*$",
    re.IGNORECASE,
)
# Between the system and its asking, no one else doing the telling ("let the
# psychiatrist know what she told me" is not the psychiatrist asking).
_GAP = r"(?:(?!\b(she|he|they|i|we)\b)[^.?!]){0,25}"
_REQUESTER_SYSTEM = re.compile(
    # ("a patient in the ED wants to understand..." names a place, not who asks)
    rf"(?<!\bin )(?<!\bat )(?<!\bfrom )(?<!\binto )(?<!\bon )(?<!\bof )\b(the|my|our|his|her|their|a|an)( \w+)? {SYSTEM}('s)?\b{_GAP}\b{ASKING}\b"
    rf"|^{SYSTEM}\b{_GAP}\b{ASKING}\b"
    r"|\b(i was|im|i am|we are|were|ive been|i have been|we have been|i keep getting|i got) (being )?(asked|told|expected|required|assigned|supposed|ordered|instructed|pressured) to\b"
    r"|\b(part of|in) my (job description|duties)\b|\bmandated\b|\bcourt[- ]ordered\b",
    re.IGNORECASE,
)
_PURPOSE_OWN = re.compile(
    # "a patient in the ED wants to understand her rights before she signs": informing her own choice
    rf"\b{PERSON}\b[^.?!]{{0,30}}\b(wants|would like|is trying|needs) to (understand|learn about|find out|figure out|weigh|look into|"
    r"know (more|about|her|his|their|the difference|what (her|his|their) (options|rights)))\b|"
    r"\bso (that )?(she|he|they|the person|my client|my participant|the client|the participant|it|people|folks|someone) "
    r"(can|could|will|would|gets to|get to|is able to|are able to|feels?|has|have|knows?) "
    r"(decide|choose|make|speak|advocate|ask|say|understand|know|feel|get what|go after|reach(?! me| us| out to me)|work|practice|prepare|"
    r"figure|weigh|think|plan|be heard|have a say|bring|raise|tell|explain|stand up|find|pick|learn|decide for)"
    r"|\b(her|his|their|the person'?s|the persons|the client'?s|the clients|own) (own )?(goals?|choices?|decisions?|terms|wishes|priorities|own words|own voice|own plan|recovery plan|wrap plan|crisis plan)\b"
    r"|\b(help|helping|support|supporting) (her|him|them|someone|the person|my client|people) (to )?(decide|choose|figure out|prepare|practice|speak up|speak for|advocate|get ready|weigh|think through|make up (her|his|their) mind|make (her|his|their) own)"
    r"|\b(she|he|they|the person|my client|my participant|someone|somebody|a client|a participant|a member|a resident|my member|the member|the client|the participant|the resident|\d+ ?y/?o|\d+[- ]year[- ]old|"
    r"(some |a few |two |several )?(members|residents|clients|participants|patients|guys|folks))( really| herself| himself| themselves)? (wants?|would like|has decided|decided|chose|chooses|is hoping|hopes|dreams?) to\b"
    r"|\bwhat (she|he|they) (wants?|chooses?|decides?)\b|\bup to (her|him|them)\b|\b(her|his|their) (own )?choice\b"
    r"|\bif (she|he|they) (wants?|chooses?|agrees?|likes?|asks?|asked)\b|\bwith (her|his|their) (ok|okay|permission|consent|blessing)\b"
    r"|\b(she|he|they) (agreed|consented|signed off|is on board|are on board)\b"
    r"|\b(who|that) (choose|chooses|chose|want|wants|opt|opts|decide|decides) to (come|attend|join|take part|participate|be there)\b"
    r"|\b(voluntary|optional|drop-in|opt-in) (group|circle|meeting|class|check-in)s?\b",
    re.IGNORECASE,
)
_PURPOSE_SYSTEM = re.compile(
    r"\b(make sure|makes sure|making sure|ensure|ensuring|check(ing)? that|see to it that|confirm(ing)? that|verify|verifying) "
    r"(that )?(she|he|they|the person|my client|people|folks|everyone|clients|participants|residents|him|her|them|patients|someone|the guys?)\b"
    r"|\b(get|getting|convince|convincing|persuade|persuading|push|pushing|pressure|pressuring|talk|talking|nudge|nudging|make|making|force|forcing|coax|coaxing|sell|selling|guilt|guilting|scare|scaring|threaten|threatening)\b "
    r"(her|him|them|the person|my client|people|clients|someone|participants|residents|folks|patients|the guys?|this guy|this woman|callers|members|guests)"
    r"( into| to| back)? (take|taking|comply|go|going|attend|agree|accept|sign|stay|stop|keep|be compliant|follow|start|move|give up|engage|show up|come|admit|enroll|quit|leave|do|get|"
    r"make an appointment|book|schedule)\b"
    r"|\b(get|getting|bring|bringing) (\w+ ){1,2}on board['\"]? with (the|their|our|his|her)( \w+)?('s)? (plan|program|treatment|meds|rules|recommendations?)\b"
    r"|\bcomplian(ce|t)\b|\bcomply\b|\bnon-?complian\w*|\badheren(ce|t)\b|\bon track with (the |their |her |his )?(meds|medications?|treatment|plan|program)\b"
    r"|\bso (that )?(she|he|they|the person|my client|people|folks) (doesn'?t|does not|don'?t|won'?t|will not|wont|doesnt|dont) "
    r"(get |be )?(discharged|kicked out|violated|sanctioned|dropped|written up|sent back|lose (her|his|their) (bed|spot|housing|place))\b"
    r"|\b(report|reporting) (back|on (her|him|them|people|clients|participants))\b|\bkeep (tabs|an eye) on\b|\bwatch (her|him|them|people|clients)\b"
    r"|\bmonitor(ing|s)?\b|\bkeep track of (her|his|their|whether|if)\b|\bcheck (up )?on (her|him|them) for (the )?(team|staff)\b|\b(spy|snitch|inform) on\b"
    r"|\bso (that )?(the )?(team|staff|doctor|nurse|program|agency|court|unit|psychiatrist|probation|parole|we) (can|could|will|would|knows?|has|have|gets?|doesnt|won'?t)\b"
    r"|\bfor the (team|staff|program|agency|court|unit|doctor|nurse|chart|record|file)\b(?! meeting)"
    r"|\b(team|program|staff|agency|hospital|unit)'?s? (goals?|plan|numbers|stats|metrics|convenience|paperwork|agenda|rules|quota)\b"
    r"|\b(readmission|no-?show|attendance|census|retention|follow-?up) (numbers|rates?|stats|metrics|targets?)\b"
    r"|\b(we'?re|we are|i'?m|i am|they'?re|the clinic is|the agency is|we get|i get) (being )?(measured|graded|judged|scored|rated|paid) on\b"
    r"|\bwithin (7|seven|30|thirty) days\b|\b(get|getting) (them|him|her|people|folks|everyone|members) (seen|in|back in)\b"
    r"|\b(until|till|til) (they|he|she|people|folks) (agree|agrees|book|books|schedule|schedules|show|shows|come|comes|sign|signs)\b"
    r"|\b(they'?ll|he'?ll|she'?ll|they will|he will|she will) (be discharged|get discharged|lose)\b"
    r"|\b(hit|hits|hitting|meet|meets|meeting|make|makes) (its|their|our|the|his|her) (numbers|targets?|quotas?|metrics)\b"
    r"|\b(stays?|stay|keep (her|him|them)) (on|in) (her|his|their|the)? ?(meds|medication|treatment|program|line|check)\b|\b(behave|behaves|in line|in check)\b"
    r"|\bor (else|she loses|he loses|they lose|lose)\b|\b(lose|loses|losing) (her|his|their) (bed|housing|spot|place|benefits|kids|voucher)\b",
    re.IGNORECASE,
)
# Passing something on to staff: the system's purpose when the system wants
# it, but not when the person asked for it ("she asked me to tell her
# therapist") or when the peer is only asking whether they may (then it
# depends on the person's okay, which the question doesn't state).
_PASSING_ON = re.compile(
    r"\b(report|reporting|reports|tell|telling|inform|informing|update|updating|let) (back )?(to )?(the |my |his |her |their )?"
    r"(team|staff|doctor|nurse|psychiatrist|clinicians?|supervisor|court|probation|parole|po|judge|case ?manager|therapist|program|landlord|cps)\b",
    re.IGNORECASE,
)
_MAY_I_PASS_ON = re.compile(
    r"\b(can|could|may|should) (i|we) (\w+ )?(report|tell|inform|update|let|share with|message|email|text)\b"
    r"|\b(is it|would it be) (ok|okay|alright|fine|allowed) (for me )?to (report|tell|inform|update|let|share with)\b",
    re.IGNORECASE,
)

_VOICE_CLINICAL = re.compile(
    r"\bclinical (terms|language|words|jargon|notes?|assessment|impressions?|opinion)\b|\bdiagnos\w*\b|\bsymptoms?\b|\bassess(ing|ment)? (her|him|them|for|risk)\b|\bmental status\b|\bscore (her|him|them)\b"
    r"|\binsight into (her|his|their|the) (illness|condition|diagnosis)\b|\b(low|high)[- ]functioning\b|\btoo symptomatic\b"
    r"|\bdecompensat\w*|\b(manipulative|attention[- ]seeking|treatment[- ]resistant|med[- ]seeking)\b",
    re.IGNORECASE,
)
_VOICE_PEER = re.compile(
    r"\b(in|using) (my own|plain|everyday|simple|ordinary|peer|non-?clinical) (words|language|terms)\b|\bfrom my own (experience|recovery|story)\b|\bmy lived experience\b|\bin (her|his|their) (own )?words\b",
    re.IGNORECASE,
)
# Asking about resisting co-optation is peer work, whatever it mentions.
_RESISTING = re.compile(
    r"\b(push back|pushback|say no|refuse|refusing|decline|declining|challenge|challenging|question|questioning|object|"
    r"stand up|speak up|speaking up|raise (it|this|concerns?)|bring (it|this) up|set (a )?boundar\w+|not (do|doing) it|"
    r"get out of|turn (it|this) down|how do i (tell|say|explain|handle|respond|deal)|what do i say|advocate|advocating|"
    r"stop (them|the team|staff)|dont want to|don'?t want to|feels? (wrong|off|weird|icky|bad))\b",
    re.IGNORECASE,
)


_MANNER_WITH = re.compile(
    r"\b(show|showing|teach|teaching|coach|coaching|walk|walking) (her|him|them|the person|my client|people|someone|folks) (how|through|to)\b"
    r"[^.?!]{0,60}\b(herself|himself|themselves|on (her|his|their) own|next time|by (herself|himself|themselves))\b"
    r"|\bso (that )?(she|he|they|the person|people|folks) (can|could|will|would) (do|handle|manage|call|fill|make|file|finish|apply|book) "
    r"(it|this|that|them|the \w+|\w+ \w+)?( \w+)? ?(herself|himself|themselves|on (her|his|their) own|next time|by (herself|himself|themselves))\b"
    r"|\b(while|as|and) (she|he|they) (call|calls|fill|fills|do|does|make|makes|file|files|apply|applies|write|writes|handle|handles)( \w+){0,4} "
    r"(herself|himself|themselves)\b"
    r"|\b(learn|learns|learning) (how )?to (do|fill|make|handle|call|apply|file) (it|them|this|that)?( \w+){0,3} ?(herself|himself|themselves|on (her|his|their) own)\b"
    r"|\bside by side\b|\binstead of (doing|filling|calling|making|completing) (it|them|that|this|the \w+|\w+ \w+) for (her|him|them)\b",
    re.IGNORECASE,
)
_MANNER_FOR = re.compile(
    r"\bjust (do|did|call|fill|book|sort|handle|take care of|make|file|submit|finish|complete)\b[^.?!]{0,50}\bfor (her|him|them)\b"
    r"|\b(do|did|doing|fill|filling|complete|completing|book|booking|handle|handling) (it|them|this|that|everything|all of it|the whole thing)( all)? for (her|him|them)\b"
    r"|\b(fill|filling|fill out|filling out|do|doing|write|writing|complete|completing) (out )?(her|his|their) (\w+ ){0,2}"
    r"(application|form|forms|paperwork|renewal|claim|resume|taxes) for (her|him|them)\b"
    r"|\bfor (her|him|them)[^.?!]{0,20}\b(it'?s|its|it is|it would be|that'?s) (faster|quicker|easier)\b"
    r"|\bfor (her|him|them) every (week|time|month|day)\b|\bevery (week|time|month)\b[^.?!]{0,30}\bfor (her|him|them)\b"
    r"|\bon (her|his|their) behalf\b(?! at)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Situation:
    """The deciding facts a question states; None where it states nothing."""

    requester: str | None = None   # "person" or "system"
    purpose: str | None = None     # "own" or "system"
    voice: str | None = None       # "peer" or "clinical"
    resisting: bool = False
    manner: str | None = None      # "with" (so they can do it themselves) or "for" (instead of them)

    @property
    def leaning(self) -> str | None:
        """Which way the stated facts lean: "person" (peer work), "system"
        (co-optation), "mixed", or None. Purpose decides before requester:
        the team may refer someone for their own goal, and a person's own
        request can't make monitoring them peer work."""
        own = self.purpose == "own" or self.voice == "peer" or self.manner == "with"
        system = self.purpose == "system" or self.voice == "clinical" or self.manner == "for"
        if own and system:
            return "mixed"
        if system and self.requester == "person" and self.purpose is None and self.voice is None:
            # She asked me to fill it in for her: her request, but doing it for her.
            return "mixed"
        if system:
            return "system"
        if own:
            return "person"
        if self.requester == "person":
            return "person"
        return None


_NAMING_A_CATEGORY = re.compile(
    r"\b(is|isn'?t|would|does) (that|this|it) (count as |be |just |the |a |kind of |considered )*"
    r"(compliance|monitoring|reporting|med compliance)( \w+)?\b",
    re.IGNORECASE,
)


def read_situation(text: str) -> Situation:
    """The requester, purpose and voice the question states."""
    text = text.replace("\u2019", "'")
    person_asked = bool(_REQUESTER_PERSON.search(text))
    system_asked = bool(_REQUESTER_SYSTEM.search(text))
    requester = "person" if person_asked and not system_asked else "system" if system_asked and not person_asked else None
    # "or is that the compliance stuff peers don't do?" asks about a category; it states no purpose.
    own, system = bool(_PURPOSE_OWN.search(text)), bool(_PURPOSE_SYSTEM.search(_NAMING_A_CATEGORY.sub(" ", text)))
    if not system and _PASSING_ON.search(text):
        system = system_asked or not (person_asked or _MAY_I_PASS_ON.search(text))
    purpose = "own" if own and not system else "system" if system and not own else None
    peer_voice, clinical_voice = bool(_VOICE_PEER.search(text)), bool(_VOICE_CLINICAL.search(text))
    voice = "peer" if peer_voice and not clinical_voice else "clinical" if clinical_voice and not peer_voice else None
    # "should I call for her or teach her how?" offers both: it states neither.
    either = bool(re.search(r"\bor (show|teach|coach|walk|just|do it)\b", text, re.IGNORECASE))
    with_them, for_them = bool(_MANNER_WITH.search(text)) and not either, bool(_MANNER_FOR.search(text)) and not either
    manner = "with" if with_them and not for_them else "for" if for_them and not with_them else None
    return Situation(requester, purpose, voice, resisting=bool(_RESISTING.search(text)), manner=manner)
