"""The knowledge base's YAML is parsed once per version of each file and
read back from JSON after: the same values (dates included), a damaged
cache file parsed again, an edited file parsed afresh, and a file JSON
can't hold exactly parsed every time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from knowledge import yaml_text
from knowledge.loader import BUNDLED_ENTRIES


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    monkeypatch.setenv("PEERBOT_CACHE_DIR", str(tmp_path / "cache"))
    yaml_text.forget()
    calls: list[str] = []
    real = yaml_text.parse_yaml
    monkeypatch.setattr(yaml_text, "parse_yaml", lambda text: calls.append(text[:20]) or real(text))
    yield calls
    yaml_text.forget()


def test_the_bundled_entries_read_back_the_same(parses: list[str]):
    for path in sorted(BUNDLED_ENTRIES.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        first = yaml_text.load_yaml(text)
        yaml_text.forget()  # as a new process would
        assert yaml_text.load_yaml(text) == first == yaml_text.parse_yaml(text)


def test_dates_stay_dates_and_each_version_is_parsed_once(parses: list[str]):
    text = "- id: a\n  reviewed: 2026-05-01\n  note: plain\n"
    assert yaml_text.load_yaml(text) == [{"id": "a", "reviewed": dt.date(2026, 5, 1), "note": "plain"}]
    yaml_text.forget()
    value = yaml_text.load_yaml(text)
    assert value[0]["reviewed"] == dt.date(2026, 5, 1)
    assert len(parses) == 1
    edited = text.replace("plain", "edited")
    assert yaml_text.load_yaml(edited)[0]["note"] == "edited"
    assert len(parses) == 2


def test_each_call_gets_its_own_copy(parses: list[str]):
    text = "- id: a\n  phrasings: [one, two]\n"
    yaml_text.load_yaml(text)[0]["phrasings"].append("three")
    assert yaml_text.load_yaml(text)[0]["phrasings"] == ["one", "two"]


def test_a_damaged_cache_file_is_parsed_again(parses: list[str], tmp_path: Path):
    text = "greeting: hello\n"
    yaml_text.load_yaml(text)
    [path] = (tmp_path / "cache").glob("yaml-*.json")
    path.write_text('{"greeting": "hel')
    yaml_text.forget()
    assert yaml_text.load_yaml(text) == {"greeting": "hello"}
    assert len(parses) == 2


def test_what_json_cannot_hold_is_parsed_every_time(parses: list[str], tmp_path: Path):
    text = "labels:\n  1: never\n  2: sometimes\n"
    assert yaml_text.load_yaml(text) == {"labels": {1: "never", 2: "sometimes"}}
    yaml_text.forget()
    assert yaml_text.load_yaml(text) == {"labels": {1: "never", 2: "sometimes"}}
    assert len(parses) == 2
    assert not list((tmp_path / "cache").glob("yaml-*.json"))


@pytest.mark.parametrize("text", ["when: 2026-05-01 10:30:00\n", "x: {$date: not-a-date}\n", "x: {$date: 2026-05-01}\n"])
def test_values_json_would_change_are_never_kept(parses: list[str], tmp_path: Path, text: str):
    expected = yaml_text.parse_yaml(text)
    assert yaml_text.load_yaml(text) == expected
    assert not list((tmp_path / "cache").glob("yaml-*.json"))


def test_a_yaml_error_still_reaches_the_caller(parses: list[str]):
    import yaml

    with pytest.raises(yaml.YAMLError):
        yaml_text.load_yaml("key: [unclosed\n")


@pytest.mark.parametrize("loosen", ["folder", "file"])
def test_a_cache_others_could_have_written_is_never_read(parses: list[str], tmp_path: Path, loosen: str,
                                                          caplog: pytest.LogCaptureFixture):
    """What is read back decides what the bot says (the crisis lines among it):
    a cache file someone else could have written is ignored, and the YAML itself is read."""
    import logging
    import os

    text = "crisis:\n  - name: 988 Suicide & Crisis Lifeline\n"
    yaml_text.load_yaml(text)
    [path] = (tmp_path / "cache").glob("yaml-*.json")
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    path.write_text('{"crisis": [{"name": "555-0100 a number someone slipped in"}]}')
    os.chmod(path.parent if loosen == "folder" else path, 0o777 if loosen == "folder" else 0o666)
    yaml_text.forget()
    with caplog.at_level(logging.WARNING, logger="knowledge.cache"):
        assert yaml_text.load_yaml(text) == {"crisis": [{"name": "988 Suicide & Crisis Lifeline"}]}
    assert "isn't private" in caplog.text
