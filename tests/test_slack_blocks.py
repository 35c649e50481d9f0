"""Block Kit limits: whatever an intent sends, Slack never refuses it for
size; long text is split at sensible places and labels are trimmed."""

from __future__ import annotations

from bot.channels.slack import blocks
from bot.model import Choice, FieldKind, Form, FormField, Option, Reply


def test_long_text_is_split_at_paragraphs_within_the_section_limit():
    paragraphs = [f"Paragraph {n}. " + "words " * 120 for n in range(20)]
    out = blocks.reply_blocks(Reply(text="\n\n".join(paragraphs)))
    texts = [b["text"]["text"] for b in out]
    assert all(len(t) <= blocks.SECTION_TEXT for t in texts)
    assert all(t.startswith("Paragraph") for t in texts)
    assert " ".join(texts).split() == "\n\n".join(paragraphs).split()


def test_a_huge_reply_stays_within_fifty_blocks_and_says_it_was_cut():
    out = blocks.reply_blocks(Reply(text="x " * 200_000, choices=[Choice(label="More", action="a:b")]))
    assert len(out) <= blocks.MESSAGE_BLOCKS
    assert out[-1]["type"] == "actions" and out[-2]["type"] == "context"


def test_many_buttons_are_spread_over_actions_blocks_with_unique_ids():
    choices = [Choice(label=f"Option {n} " + "long " * 30, action="scope:entry", value=str(n)) for n in range(30)]
    out = blocks.reply_blocks(Reply(text="Pick one", choices=choices))
    actions = [b for b in out if b["type"] == "actions"]
    assert [len(a["elements"]) for a in actions] == [25, 5]
    elements = [e for a in actions for e in a["elements"]]
    assert len({e["action_id"] for e in elements}) == 30
    assert all(len(e["text"]["text"]) <= blocks.BUTTON_TEXT for e in elements)
    assert {blocks.action_of(e["action_id"]) for e in elements} == {"scope:entry"}


def test_text_is_escaped_so_it_shows_as_written():
    [section] = blocks.reply_blocks(Reply(text="a <b> & <!channel>"))
    assert section["text"]["text"] == "a &lt;b&gt; &amp; &lt;!channel&gt;"


def test_a_modal_keeps_to_slacks_limits():
    form = Form(
        id="pulse:survey",
        title="A much longer title than a Slack modal can show",
        submit_label="Send my answers now please",
        fields=[
            FormField(name="team", label="Team", kind=FieldKind.choice,
                      options=[Option(label=f"Team {n} " + "x" * 100, value=f"t{n}") for n in range(150)]),
            FormField(name="score", label="Score", kind=FieldKind.scale, min=0, max=10),
            FormField(name="hours", label="Hours", kind=FieldKind.number, min=0, max=80, initial="4"),
            FormField(name="why", label="Why?", max_length=10_000),
        ],
    )
    view = blocks.form_view(form, conversation="DU1")
    assert len(view["title"]["text"]) <= 24 and len(view["submit"]["text"]) <= 24
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["team"]["type"] == "static_select" and len(inputs["team"]["options"]) == 100
    assert all(len(o["text"]["text"]) <= 75 for o in inputs["team"]["options"])
    assert inputs["score"]["type"] == "static_select" and len(inputs["score"]["options"]) == 11
    assert inputs["hours"] == {"type": "number_input", "is_decimal_allowed": False, "min_value": "0", "max_value": "80",
                               "initial_value": "4", "action_id": "value"}
    assert inputs["why"]["max_length"] == 3000
    assert blocks.form_metadata(view) == {"f": "pulse:survey", "h": {}, "a": False, "c": "DU1"}


def test_answers_are_read_back_from_a_submitted_modal():
    view = {"state": {"values": {
        "mood": {"value": {"type": "radio_buttons", "selected_option": {"value": "4"}}},
        "note": {"value": {"type": "plain_text_input", "value": None}},
        "team": {"value": {"type": "static_select", "selected_option": None}},
    }}}
    assert blocks.submitted_values(view) == {"mood": "4", "note": None, "team": None}


def test_the_home_tab_keeps_within_a_hundred_blocks():
    sections = [Reply(text="Section " + "y " * 2000, choices=[Choice(label="Go", action="a:b")]) for _ in range(60)]
    view = blocks.home_view(sections)
    assert view["type"] == "home" and len(view["blocks"]) <= blocks.VIEW_BLOCKS
