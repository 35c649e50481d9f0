"""Rulings that turn on who asked and for whose goal, and asking instead of
guessing when the question doesn't say. Through the terminal channel, and
through `peerbot ask --json` / `peerbot eval --json`."""

from __future__ import annotations

import json

from click.testing import CliRunner

from bot.cli import cli
from knowledge.answering import DOSING, KnowledgeBase
from tests.conftest import Chat


async def test_a_question_that_does_not_say_who_asked_gets_one_question_with_buttons(chat: Chat):
    reply = await chat.say("is it ok to go along to a guy's appointment at the clinic?")
    assert "It depends." in reply
    assert "What it depends on:" in reply
    assert "Who asked for this: the person, or the team?" in reply
    assert "[1] The person" in reply and "[2] The team" in reply


async def test_the_answer_to_the_question_is_ruled_on(chat: Chat):
    await chat.say("is it ok to go along to a guy's appointment at the clinic?")
    ruled = await chat.say("The person")
    assert "Then yes, this is peer work, because the person asked for it." in ruled
    assert "It stays that way as long as:" in ruled


async def test_the_team_asking_leads_to_whose_goal_and_then_a_ruling(chat: Chat):
    await chat.say("is it ok to go along to a guy's appointment at the clinic?")
    second = await chat.say("The team")
    assert "Whose goal does it serve" in second
    ruled = await chat.say("The team's")
    assert "Then this isn't part of the peer role" in ruled
    assert "Raise this with my peer supervisor" in ruled


def test_the_button_value_alone_is_enough_to_rule():
    """Nothing is remembered between the question and the press: a fresh
    knowledge base rules from the button's value."""
    from intents.scope import render_answer
    from knowledge.answering import decode_facts
    from knowledge.situation import Situation

    kb = KnowledgeBase.load()
    reply = render_answer(kb, kb.answer("is it ok to go along to a guy's appointment at the clinic?"))
    person = next(c for c in reply.choices if c.label == "The person")
    fresh = KnowledgeBase.build()
    entry_id, facts = decode_facts(person.value)
    assert fresh.rule(fresh.entries[entry_id], Situation(), facts).verdict == "in_scope"


async def test_when_the_question_states_the_deciding_fact_it_is_ruled_directly(chat: Chat):
    asked = await chat.say("she asked me if I could come with her to her psychiatrist appointment, is that ok?")
    assert "Then yes, this is peer work, because the person asked for it." in asked
    assert "Who asked for this" not in asked
    pushed = await chat.say("my supervisor wants me at his appointments to make sure he actually shows up")
    assert "isn't part of the peer role" in pushed


def test_situation_flips_a_depends_entry_both_ways():
    kb = KnowledgeBase.load()
    assert kb.answer("can I help someone fill out a housing application?").verdict == "depends"
    assert kb.answer("she wants that apartment and asked me to help her with the housing application").verdict == "in_scope"
    assert kb.answer("my supervisor wants me to complete housing applications for everyone on my list so the agency meets its targets").verdict == "out_of_scope"


def test_dosing_is_declined_only_when_a_dose_is_asked_for():
    assert DOSING.search("what's the max daily dose of sertraline?")
    assert DOSING.search("how much ibuprofen can she take with her meds?")
    assert DOSING.search("is 300mg of seroquel too much")
    assert not DOSING.search("the nurse wants me to hand a guy his 50 mg of seroquel at lunch, is that my job?")
    assert not DOSING.search("my participant wants to know about her dosage change before her appointment, can i help her write down questions?")
    kb = KnowledgeBase.load()
    assert kb.answer("the nurse wants me to hand a guy his 50 mg of seroquel at lunch, is that my job?").kind != "clinical"


def test_ask_json_carries_the_follow_up(tmp_path, monkeypatch):
    monkeypatch.setenv("PEERBOT_DB", str(tmp_path / "p.db"))
    result = CliRunner().invoke(cli, ["ask", "--json", "is it ok to go along to a guy's appointment at the clinic?"])
    data = json.loads(result.output)
    assert data["verdict"] == "depends"
    assert data["follow_up"]["question"] == "Who asked for this: the person, or the team?"
    assert [c["label"] for c in data["follow_up"]["choices"]] == ["The person", "The team"]


def test_eval_json_carries_the_follow_up(tmp_path, monkeypatch):
    monkeypatch.setenv("PEERBOT_DB", str(tmp_path / "p.db"))
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "is it ok to go along to a guy's appointment at the clinic?", "verdict": "depends"}) + "\n")
    result = CliRunner().invoke(cli, ["eval", "--json", str(questions)])
    line = json.loads(result.output.splitlines()[0])
    assert line["predicted"] == "depends" and "follow_up" in line


def test_two_close_readings_that_rule_differently_are_both_shown():
    from intents.scope import render_answer
    from knowledge.answering import ScopeAnswer

    kb = KnowledgeBase.load()
    sponsor, story = kb.entries["sponsor-role"], kb.entries["sharing-recovery-story"]
    result = ScopeAnswer(verdict="depends", kind="ruling", confidence=0.6, entry=sponsor, alternatives=[story], close_call=True)
    reply = render_answer(kb, result)
    assert reply.text.count("• If it's about") == 2
    assert "This isn't part of the peer role." in reply.text and "Yes, this is peer work." in reply.text
    assert [c.value for c in reply.choices] == ["sponsor-role", "sharing-recovery-story"]



def test_how_much_to_share_is_not_a_dosing_question():
    assert not DOSING.search("how much of my own story should I share with a new guy?")
    assert not DOSING.search("how many groups can I run in a week?")


def test_a_depends_entry_with_no_team_in_its_conditions_asks_whether_the_person_wanted_it():
    kb = KnowledgeBase.load()
    base = kb.entries["accompanying-to-appointments"]
    touch = base.model_copy(update={"id": "welcomed-touch", "conditions": ["The person wants it and says so.", "It's brief and in the open."]})
    question = KnowledgeBase.follow_up(touch, {})
    assert question.question == "Did the person ask for this, or say yes when you offered?"
    from knowledge.answering import decode_facts
    from knowledge.situation import Situation

    no = decode_facts(question.choices[1][1])[1]
    ruled = kb.rule(touch, Situation(), no)
    assert ruled.verdict == "out_of_scope" and "asked for or welcomed" in ruled.because


def test_a_question_after_a_fact_gets_no_ruling_even_when_it_names_a_domain_word():
    kb = KnowledgeBase.load()
    for question in ("whats the difference between parole and probation",
                     "is it called a 5150 in every state or just california",
                     "does our EHR have spell check"):
        answer = kb.answer(question)
        assert answer.verdict == "unknown" and answer.kind in ("offtopic", "clinical"), question
    test = kb.answer("is kratom picked up on a standard 12 panel")
    assert test.kind == "clinical" and test.route.id == "drug-test-facts"


def test_a_factual_question_about_the_peer_role_itself_is_still_answered():
    kb = KnowledgeBase.load()
    answer = kb.answer("what's the difference between a peer bridger and a discharge planner")
    assert answer.entry is not None and answer.entry.id == "bridger-transition-role"
    assert kb.answer("does my boss have to be licensed").entry is not None


def test_the_situation_reader_knows_clinical_labels_family_buy_in_and_a_question_about_a_category():
    from knowledge.situation import read_situation

    assert read_situation("they want my notes to say whether she has insight into her illness").voice == "clinical"
    assert read_situation("staff want me to sort out which members are too symptomatic to work today").voice == "clinical"
    assert read_situation("the team wants me to get his parents on board with the treatment plan").purpose == "system"
    asked = read_situation("he asked me to text him before appointments, it was his idea. or is that compliance stuff?")
    assert asked.requester == "person" and asked.purpose is None
    assert read_situation("my supervisor wants me to make sure he takes his meds").purpose == "system"
    assert read_situation("the pt asked me to sit with her while she calls her sister").requester == "person"


def test_asking_whether_to_speak_up_against_a_practice_is_ruled_peer_work():
    kb = KnowledgeBase.load()
    answer = kb.answer("can I tell the charge nurse that holding people down in the quiet room does harm?")
    assert answer.verdict == "in_scope" and answer.entry.id == "questioning-coercive-policy"
    assert kb.answer("the nurse wants me to help hold a patient down during a restraint").verdict == "out_of_scope"


def test_asking_ones_supervisor_for_help_is_peer_work_whatever_the_situation():
    kb = KnowledgeBase.load()
    answer = kb.answer("the agency wants me telling my story at every fundraiser and I'm drained. can I talk to my supervisor about it?")
    assert answer.verdict == "in_scope" and answer.entry.id == "asking-supervisor-for-help"


def test_a_group_people_choose_to_come_to_and_a_parent_asking_are_read_as_the_persons_own():
    from knowledge.situation import read_situation

    assert read_situation("a weekly circle for residents who choose to attend").leaning == "person"
    assert read_situation("a parent asked me what helped my family").requester == "person"


def test_follow_up_calls_after_discharge_turn_on_whose_goal_they_serve():
    kb = KnowledgeBase.load()
    assert kb.answer("do peers make follow-up calls to people after they get out of the hospital?").verdict == "depends"
    assert kb.answer("he asked me to call him the week after he gets discharged to check in").verdict == "in_scope"
    assert kb.answer("we're measured on 7-day follow-up, so my boss wants me calling every discharge until they book").verdict == "out_of_scope"


def test_passing_something_on_turns_on_who_wants_it_passed_on():
    from knowledge.situation import read_situation

    assert read_situation("the team wants me to tell the nurse what she says in our sessions").purpose == "system"
    assert read_situation("she asked me to tell her therapist she's had a rough week").leaning == "person"
    wondering = read_situation("can i let the psychiatrist know what he told me yesterday")
    assert wondering.requester is None and wondering.purpose is None


def test_wanting_a_different_dose_is_not_asking_for_one():
    assert not DOSING.search("she wants to lower her dose and asked me to help her write questions for her psychiatrist")
    assert DOSING.search("should he lower his dose of seroquel")
    assert DOSING.search("is it safe for her to skip a dose")


def test_someone_wanting_something_is_read_as_their_own_goal():
    from knowledge.situation import read_situation

    assert read_situation("someone wants to practice calling her landlord, can i help").purpose == "own"
    assert read_situation("a member wants to learn to cook for himself").purpose == "own"


def test_a_request_added_at_the_end_counts_and_can_i_wants_a_ruling_over_background():
    from knowledge.situation import read_situation

    assert read_situation("can i sit in on her meeting with the caseworker, she asked").requester == "person"
    kb = KnowledgeBase.load()
    assert kb.answer("can i help a member practice what to say to his doctor").kind == "ruling"


def test_knowing_someone_from_before_depends_and_if_she_asks_is_her_own_wish():
    from knowledge.situation import read_situation

    kb = KnowledgeBase.load()
    answer = kb.answer("a guy i used to party with just got assigned to me as a participant")
    assert answer.verdict == "depends" and answer.entry.id == "supporting-someone-you-knew-before"
    assert read_situation("can i pray with her if she asks").purpose == "own"


async def test_telling_a_hard_piece_of_ones_own_history_depends_on_whom_it_serves(chat: Chat):
    reply = await chat.say("would it be ok to tell the guys in my group that I was in a psych ward on a hold for a month?")
    assert "It depends." in reply
    kb = KnowledgeBase.load()
    answer = kb.answer("would it be ok to tell the guys in my group that I was in a psych ward on a hold for a month?")
    assert answer.entry.id == "self-disclosure-how-much"
    # Recovery told for the other person's hope, or because they asked, is peer work.
    assert kb.answer("can i tell a resident how I got clean after my second overdose?").verdict == "in_scope"
    assert kb.answer("a member asked me if I've ever been locked up. can i tell him I did time?").verdict == "in_scope"
    # Naming someone else's diagnosis is not telling one's own story.
    assert kb.answer("can i tell her i think she has ptsd from my own experience").verdict == "out_of_scope"


async def test_speaking_up_for_peer_values_is_peer_work_in_more_ways_of_saying_it(chat: Chat):
    reply = await chat.say("my coworkers call people 'frequent flyers' in rounds. is it my place as a peer to point out how that sounds?")
    assert "Yes, this is peer work" in reply
    kb = KnowledgeBase.load()
    assert kb.answer("should i remind my team that peer support is supposed to be voluntary").verdict == "in_scope"
    # A supervisor handing out a task is not speaking up: the task is ruled on.
    assert kb.answer("can i ask my peer staff to do the room checks every 15 minutes").verdict == "out_of_scope"


def test_people_asking_in_the_plural_or_by_age_are_read_as_the_persons_own():
    from knowledge.situation import read_situation

    assert read_situation("residents keep asking how i stayed housed, can i help them look").requester == "person"
    assert read_situation("a 16 year old wants to find a support group for trans teens").purpose == "own"
    # "they" asking right after the team is the team, not the person.
    assert read_situation("how much do i tell the team when they ask how somebody's doing").requester is None


def test_keeping_someone_from_being_discharged_or_on_track_is_the_systems_purpose():
    from knowledge.situation import read_situation

    assert read_situation("the house manager wants me to drive him to group so he doesn't get kicked out").purpose == "system"
    assert read_situation("staff want me calling her every morning so she stays on track with treatment").purpose == "system"


async def test_carrying_the_programs_consequence_to_someone_is_relaying_a_threat(chat: Chat):
    reply = await chat.say("my boss says to let residents know they lose their phone time if they skip chores. is that on me?")
    assert "This isn't part of the peer role" in reply
    kb = KnowledgeBase.load()
    assert kb.answer("the house manager wants me to warn the guys they will be kicked out if they come home high").entry.id == "relaying-threats"
    # Pushing back on it is speaking up; a person's own worry is not a threat from the program.
    assert kb.answer("can i push back when staff want me to tell people they lose their bed if they miss curfew").verdict == "in_scope"
    assert kb.answer("a member is scared he'll lose his benefits if he takes the job. can i help him look into it").verdict == "in_scope"


async def test_a_plan_that_fell_through_is_not_despair(chat: Chat):
    reply = await chat.say("the nurse told me to remind him he has to take his shot or he can't go on the outing")
    assert "988" not in reply
    assert "This isn't part of the peer role" in reply
    assert KnowledgeBase.load().distress.find("i just can't go on anymore") is not None


async def test_doing_it_with_someone_or_for_them_is_read_as_a_fact(chat: Chat):
    from knowledge.situation import read_situation

    assert read_situation("can i help her with the form so she can handle the next one on her own").manner == "with"
    assert read_situation("my boss wants me to just do the renewals for him every week").manner == "for"
    # Offering both states neither; showing how with no point said is not yet "with".
    assert read_situation("should i call the office for her or teach her how").manner is None
    assert read_situation("can i teach someone to cook").manner is None
    # Her request, but doing it for her: it depends.
    reply = await chat.say("she asked me to fill out her food stamp application for her because she hates forms")
    assert "It depends." in reply


async def test_the_system_asking_to_hear_who_is_using_is_asking_for_a_mole(chat: Chat):
    reply = await chat.say("the house manager wants me to text him whenever a resident comes in high")
    assert "This isn't part of the peer role" in reply
    kb = KnowledgeBase.load()
    assert kb.answer("on video visits the doctor wants me to stay on and tell him afterward if the patient seemed off").entry.id == "reporting-on-people"
    # Telling the team about someone is not speaking up to the team.
    assert kb.answer("can i tell the team if he is using again?").entry.id != "questioning-coercive-policy"
    # Talking a hard day through with one's own supervisor is asking for help.
    assert kb.answer("i overshared in group today. can i talk it through with my supervisor?").verdict == "in_scope"


def test_asking_whether_it_is_appropriate_wants_a_ruling_not_background():
    from knowledge.verdicts import ASKS_FOR_A_RULING

    assert ASKS_FOR_A_RULING.search("is it appropriate for a peer to sit with someone during intake")
    assert ASKS_FOR_A_RULING.search("is that within my lane")
    assert not ASKS_FOR_A_RULING.search("what's the history of the peer movement")
