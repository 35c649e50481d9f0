"""The knowledge base from the shell: ask, eval, and the curator's kb commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
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


def edited_coverage_map(tmp_path: Path, edit) -> Path:
    from bot.cli_knowledge import COVERAGE_MAP

    coverage = yaml.safe_load(COVERAGE_MAP.read_text(encoding="utf-8"))
    edit(coverage)
    path = tmp_path / "coverage.yaml"
    path.write_text(yaml.safe_dump(coverage, sort_keys=False, allow_unicode=True))
    return path


def section_named(coverage: dict, file: str, name: str) -> dict:
    return next(item for item in coverage[file] if item["section"] == name)


def test_the_coverage_map_accounts_for_every_seed_and_every_entry(tmp_path: Path):
    from bot.cli_knowledge import COVERAGE_MAP
    from knowledge.schema import SEED_FILES

    coverage = yaml.safe_load(COVERAGE_MAP.read_text(encoding="utf-8"))
    assert set(coverage) == set(SEED_FILES)
    mapped = {i for sections in coverage.values() for item in sections for i in item.get("entries", [])}
    bundled_ids = {item["id"] for path in BUNDLED_ENTRIES.glob("*.yaml") for item in yaml.safe_load(path.read_text())}
    assert mapped == bundled_ids
    assert all(item.get("entries") or item.get("note") for sections in coverage.values() for item in sections)


def test_kb_check_reports_a_seed_section_no_entry_covers(tmp_path: Path):
    seed = "000_2137eba02a587870.txt"

    def drop_the_five_signs(coverage):
        item = section_named(coverage, seed, "the five signs of co-optation")
        item["entries"] = []

    result = invoke(["kb", "check", "--coverage", str(edited_coverage_map(tmp_path, drop_the_five_signs))], tmp_path)
    assert result.exit_code == 1
    assert f'{seed}: "the five signs of co-optation": no entry covers this section, and no note says why' in result.output
    # the entries still cite it, so the map and the sources disagree as well
    assert "five-signs-of-co-optation cites this section but isn't listed under it" in result.output


def test_kb_check_reports_an_entry_that_covers_no_section(tmp_path: Path):
    def forget_the_sponsor_entry(coverage):
        for sections in coverage.values():
            for item in sections:
                if "sponsor-role" in item.get("entries", []):
                    item["entries"].remove("sponsor-role")

    result = invoke(["kb", "check", "--coverage", str(edited_coverage_map(tmp_path, forget_the_sponsor_entry))], tmp_path)
    assert result.exit_code == 1
    assert "coverage.yaml: entry sponsor-role is listed under no section" in result.output
    assert "entry sponsor-role cites this section but isn't listed under it" in result.output


def test_kb_check_reports_unknown_ids_and_sections_the_map_does_not_list(tmp_path: Path):
    seed = "003_95fceace7037bd74.txt"

    def add_a_ghost(coverage):
        section_named(coverage, seed, "myths and facts")["entries"].append("no-such-entry")
        coverage[seed] = [item for item in coverage[seed] if item["section"] != "national practice guidelines"]

    result = invoke(["kb", "check", "--coverage", str(edited_coverage_map(tmp_path, add_a_ghost))], tmp_path)
    assert result.exit_code == 1
    assert "entry 'no-such-entry' does not exist" in result.output
    assert f'entry practice-guidelines: cites "national practice guidelines" in {seed}, a section the coverage map doesn\'t list' in result.output


def test_an_entry_citing_no_mapped_section_is_reported(tmp_path: Path):
    ours = dict(bundled("sponsor-role"), id="our-sponsor-rule",
                sources=[{"file": "000_2137eba02a587870.txt", "section": "a slide that isn't there"}])
    folder = org_dir_with(tmp_path, [ours])
    result = invoke(["kb", "check"], tmp_path, PEERBOT_KB_DIR=str(folder))
    assert result.exit_code == 1
    assert "entry our-sponsor-rule: cites \"a slide that isn't there\"" in result.output


SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed documents are not next to this checkout")
def test_every_heading_in_the_coverage_map_is_found_in_its_seed():
    """The map's `heading` is the seed's own words (parts joined by " / "), so a
    reader can find each section, and a section can't be made up."""
    import re

    from bot.cli_knowledge import COVERAGE_MAP

    def plain(text: str) -> str:
        return re.sub(r"\s+", " ", text).lower()

    coverage = yaml.safe_load(COVERAGE_MAP.read_text(encoding="utf-8"))
    for file, sections in coverage.items():
        seed = plain((SEEDS / file).read_text(encoding="utf-8"))
        for item in sections:
            for part in item["heading"].split(" / "):
                words = re.sub(r"\s*\([^)]*\)$", "", part).strip()
                assert plain(words) in seed, f"{file}: {words!r} is not in the seed"
