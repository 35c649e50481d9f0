"""The knowledge base from the shell: ask, eval, and the curator's kb commands."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

import bot.cli_knowledge  # noqa: F401  (registers the commands)
from bot.cli import cli
from knowledge.loader import BUNDLED_ENTRIES


def invoke(args: list[str], tmp_path: Path, **env: str):
    environment = {"PEERBOT_DB": str(tmp_path / "peerbot.db"), **env}
    return CliRunner().invoke(cli, args, env=environment, catch_exceptions=False)


def test_ask_json_carries_the_checking_contract(tmp_path: Path):
    result = invoke(["ask", "--json", "can I be someone's NA sponsor?"], tmp_path)
    data = json.loads(result.output)
    assert data["verdict"] == "out_of_scope"
    assert data["entry_id"] == "sponsor-role"
    assert 0 < data["confidence"] <= 1
    assert data["answer"] and data["sources"][0]["file"].endswith(".txt")


def test_ask_json_reports_crisis_and_unknown(tmp_path: Path):
    assert json.loads(invoke(["ask", "--json", "i want to die"], tmp_path).output)["verdict"] == "crisis"
    assert json.loads(invoke(["ask", "--json", "is it going to rain tomorrow"], tmp_path).output)["verdict"] == "unknown"


def test_eval_prints_accuracy_per_verdict_and_a_confusion_table(tmp_path: Path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        "\n".join(
            json.dumps(q)
            for q in [
                {"question": "can I be someone's NA sponsor?", "verdict": "out_of_scope"},
                {"question": "can I help someone write a psychiatric advance directive?", "verdict": "in_scope"},
                {"question": "whats the wifi password", "verdict": "unknown"},
                {"question": "i want to die", "verdict": "crisis"},
                {"question": "not json at all"},
            ]
        )
    )
    result = invoke(["eval", str(questions)], tmp_path)
    assert "accuracy: 4/4 = 100.0%" in result.output
    assert "crisis        recall 1/1" in result.output
    assert "confusion" in result.output
    lines = [json.loads(line) for line in invoke(["eval", "--json", str(questions)], tmp_path).stdout.splitlines()]
    assert lines[0]["predicted"] == "out_of_scope" and set(lines[0]) == {"question", "expected", "predicted", "entry_id", "confidence"}


def test_the_bundled_knowledge_base_checks_clean(tmp_path: Path):
    result = invoke(["kb", "check"], tmp_path)
    assert result.exit_code == 0, result.output
    assert "0 problems" in result.output
    count = int(result.output.strip().splitlines()[-2].split()[0])
    assert count >= 60


def org_dir_with(tmp_path: Path, entries: list[dict]) -> Path:
    folder = tmp_path / "org"
    folder.mkdir(exist_ok=True)
    (folder / "ours.yaml").write_text(yaml.safe_dump(entries))
    return folder


def bundled(entry_id: str) -> dict:
    for path in BUNDLED_ENTRIES.glob("*.yaml"):
        for item in yaml.safe_load(path.read_text()):
            if item["id"] == entry_id:
                return item
    raise KeyError(entry_id)


def test_kb_check_reports_broken_entries_and_exits_non_zero(tmp_path: Path):
    broken = dict(bundled("sponsor-role"), id="our-rule", related=["no-such-entry"], sources=[])
    folder = org_dir_with(tmp_path, [broken])
    result = invoke(["kb", "check"], tmp_path, PEERBOT_KB_DIR=str(folder))
    assert result.exit_code == 1
    assert "our-rule" in result.output and "sources" in result.output


def test_kb_check_warns_about_entries_past_their_review(tmp_path: Path):
    old = dict(bundled("sponsor-role"), reviewed="2020-01-01")
    folder = org_dir_with(tmp_path, [old])
    result = invoke(["kb", "check"], tmp_path, PEERBOT_KB_DIR=str(folder))
    assert result.exit_code == 0
    assert "review due: sponsor-role: last reviewed 2020-01-01" in result.output


def test_an_organisation_can_override_an_entry(tmp_path: Path):
    ours = dict(bundled("sponsor-role"), answer="At our agency this is decided case by case. Talk with your peer supervisor first.")
    folder = org_dir_with(tmp_path, [ours])
    data = json.loads(invoke(["ask", "--json", "can I be someone's NA sponsor?"], tmp_path, PEERBOT_KB_DIR=str(folder)).output)
    assert data["answer"].startswith("At our agency")


def test_a_curator_accepts_a_gap_as_a_phrasing_written_to_the_org_folder(tmp_path: Path):
    folder = tmp_path / "org"
    folder.mkdir()
    import asyncio

    from bot.store import Store

    async def add_gap():
        s = await Store.open(tmp_path / "peerbot.db")
        await s.knowledge.record_gap("can i be his recovery mentor outside work", "sponsor-role")
        await s.knowledge.record_gap("can i be his recovery mentor outside work", "sponsor-role")
        await s.close()

    asyncio.run(add_gap())
    listed = invoke(["kb", "gaps"], tmp_path, PEERBOT_KB_DIR=str(folder)).output
    assert "(2x) can i be his recovery mentor outside work" in listed
    accepted = invoke(["kb", "gaps", "--accept", "1"], tmp_path, PEERBOT_KB_DIR=str(folder))
    assert "Added as a phrasing of sponsor-role" in accepted.output
    written = yaml.safe_load((folder / "accepted-phrasings.yaml").read_text())
    assert "can i be his recovery mentor outside work" in written[0]["phrasings"]
    assert "No unanswered questions" in invoke(["kb", "gaps"], tmp_path, PEERBOT_KB_DIR=str(folder)).output
    assert invoke(["kb", "check"], tmp_path, PEERBOT_KB_DIR=str(folder)).exit_code == 0


def test_accepting_needs_an_org_folder(tmp_path: Path):
    import asyncio

    from bot.store import Store

    async def add_gap():
        s = await Store.open(tmp_path / "peerbot.db")
        await s.knowledge.record_gap("something odd", "sponsor-role")
        await s.close()

    asyncio.run(add_gap())
    result = CliRunner().invoke(cli, ["kb", "gaps", "--accept", "1"], env={"PEERBOT_DB": str(tmp_path / "peerbot.db")})
    assert result.exit_code == 2
    assert "PEERBOT_KB_DIR" in result.output


def test_kb_check_validates_survey_definitions_too(tmp_path: Path):
    folder = tmp_path / "org"
    (folder / "surveys").mkdir(parents=True)
    (folder / "surveys" / "ours.yaml").write_text("id: ours\ntitle: our pulse\nkind: pulse\nintro: too short\nitems: []\nsources: []\n")
    from knowledge.instruments import load_instruments

    load_instruments.cache_clear()
    result = invoke(["kb", "check"], tmp_path, PEERBOT_KB_DIR=str(folder))
    load_instruments.cache_clear()
    assert result.exit_code == 1
    assert "survey definition" in result.output and "ours.yaml" in result.output


def test_eval_refuses_a_file_that_expects_a_verdict_that_does_not_exist(tmp_path: Path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "can I be someone's NA sponsor?", "verdict": "out-of-scope"}) + "\n")
    result = invoke(["eval", str(questions)], tmp_path)
    assert result.exit_code == 2
    assert "'out-of-scope', which isn't one of in_scope, out_of_scope, depends, unknown, crisis" in result.output
    assert "accuracy" not in result.output
