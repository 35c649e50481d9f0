"""Plain words in everything the bot says from the knowledge base.

Peer workers in the US read these answers, often in a hurry: no talk of "the
decks" or "the cheat sheet" they have never seen, American spelling, the
ruling not repeated under the heading that already shows it, and "organizations
differ" never said about threats, force or coercion.
"""

from __future__ import annotations

import re

import pytest
import yaml

from knowledge.loader import BUNDLED_ENTRIES

BANNED_PHRASES = ("deck", "cheat sheet", "is / is-not", "is/is-not", "is-not table", "is / is not table",
                  "stricter peer-values", "locked link")

BRITISH_WORDS = {
    "behaviour", "behaviours", "behavioural", "counselling", "counsellor", "counsellors", "honour", "labelled",
    "labelling", "labour", "colour", "favour", "neighbour", "humour", "centre", "centres", "theatre", "programme",
    "programmes", "judgement", "judgements", "judgemental", "afterwards", "ageing", "practise", "practised", "practising", "travelling", "cancelled",
    "modelling", "modelled", "signalling", "fuelled", "enrol", "enrolment", "fulfil", "licence", "defence", "offence",
    "whilst", "amongst", "learnt", "paediatric", "sceptical", "grey", "mum", "cheque", "jewellery",
}
# -ise, -ised, -ises, -ising words that are American spellings too.
AMERICAN_ISE = {
    "adv", "otherw", "ra", "expert", "prom", "superv", "exerc", "comprom", "surpr", "enterpr", "prec", "no", "pra",
    "w", "ar", "r", "dev", "rev", "compr", "disgu", "prem", "franch", "merchand", "likew", "conc", "dem", "desp",
    "improv", "bru", "cru", "treat", "parad", "gu", "po", "an", "exc", "inc", "chast", "telev", "repr", "cr",
    "advert", "sunr", "clockw", "streetw", "upr",
}
HEADLINES = ("yes", "no,", "no.", "it depends", "this depends", "this one depends", "this is peer work",
             "this isn't part of the peer role", "this is not part of the peer role", "some background")
FORCE = re.compile(r"\b(threat|coerc|forc(e|ed|ing)\b|restrain|seclusion|commitment|court order)", re.IGNORECASE)


def british_spellings(text: str) -> list[str]:
    found = []
    for word in re.findall(r"[A-Za-z]+", text):
        lower = word.lower()
        if lower in BRITISH_WORDS or lower.endswith(("isation", "isations")):
            found.append(word)
            continue
        ise = re.fullmatch(r"(\w+)is(e|ed|es|ing)", lower)
        if ise and ise.group(1) not in AMERICAN_ISE:
            found.append(word)
            continue
        if re.fullmatch(r"\w+ys(e|ed|es|ing)", lower) or re.fullmatch(r"\w+iour(s|ed)?", lower):
            found.append(word)
    return found


def bundled_entries() -> list[dict]:
    return [item for path in sorted(BUNDLED_ENTRIES.glob("*.yaml")) for item in yaml.safe_load(path.read_text())]


def said_lines(entry: dict) -> list[tuple[str, str]]:
    """Every line of an entry the bot shows: title, answer, conditions, instead."""
    lines = [("title", entry["title"]), ("answer", entry["answer"])]
    lines += [("condition", line) for line in entry.get("conditions", [])]
    lines += [("instead", line) for line in entry.get("instead", [])]
    return lines


def test_the_spelling_check_catches_british_spellings_and_leaves_american_ones_alone():
    assert british_spellings("Organisations differ on behaviour; we recognised the programme and practise it")
    assert len(british_spellings("organisation behaviour recognised programme practise")) == 5
    assert british_spellings("Advise, supervise, raise and promise the expertise otherwise; organize behavior") == []


@pytest.mark.parametrize("entry", bundled_entries(), ids=lambda e: e["id"])
def test_what_the_bot_says_uses_plain_american_words(entry: dict):
    for field, line in said_lines(entry):
        lowered = line.lower()
        for phrase in BANNED_PHRASES:
            assert phrase not in lowered, f"{entry['id']} {field} says {phrase!r}: {line}"
        assert not british_spellings(line), f"{entry['id']} {field}: {british_spellings(line)}"


@pytest.mark.parametrize("entry", bundled_entries(), ids=lambda e: e["id"])
def test_the_answer_does_not_open_by_repeating_the_heading(entry: dict):
    assert not entry["answer"].lower().startswith(HEADLINES), entry["answer"][:80]


def test_organizations_differ_is_never_said_about_threats_or_force():
    for entry in bundled_entries():
        about_force = any(s["section"].startswith(("in the name of treatment", "it is a mistake to use peers"))
                          for s in entry["sources"]) or FORCE.search(entry["title"] + " " + entry["answer"].split(". ")[0])
        for _, line in said_lines(entry):
            for sentence in re.split(r"(?<=[.!?])\s+", line):
                if re.search(r"\bdiffer\b", sentence, re.IGNORECASE):
                    assert not about_force, f"{entry['id']} is about force or threats and says organizations differ"
                    assert not FORCE.search(sentence), f"{entry['id']}: {sentence}"


def test_sources_are_named_by_organization_and_title():
    from knowledge.answering import KnowledgeBase

    kb = KnowledgeBase.load()
    assert kb.source_title("000_2137eba02a587870.txt") == "Promise Resource Network, Peer Support Gone Wild"
    for title in kb.sources.values():
        assert "," in title and british_spellings(title) == []


async def test_a_threat_question_gets_no_organizations_differ_and_a_readable_source(chat):
    reply = await chat.say("the program wants me to tell a guy he loses his bed if he skips his injection")
    assert "This isn't part of the peer role." in reply
    assert "differ" not in reply.lower() and "organisation" not in reply.lower()
    source = next(line for line in reply.splitlines() if line.startswith("Source: "))
    assert "Promise Resource Network, Peer Support Gone Wild: " in source or "Mental Health America, The Value of Peer Support: " in source
    assert "deck" not in reply.lower() and "cheat sheet" not in reply.lower()


def test_off_topic_replies_use_plain_american_words_too():
    routes = yaml.safe_load((BUNDLED_ENTRIES.parent / "offtopic.yaml").read_text())
    for route in routes:
        for line in (route["title"], route["reply"]):
            assert not british_spellings(line), f"{route['id']}: {british_spellings(line)}"
            assert not any(phrase in line.lower() for phrase in BANNED_PHRASES), route["id"]
