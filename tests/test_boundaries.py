"""The shape of the code: platform libraries stay inside their channels,
and SQL stays inside the store."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLATFORM_LIBRARIES = ("slack_bolt", "slack_sdk", "botbuilder", "botframework", "msrest", "msal")


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def python_files(*folders: str) -> list[Path]:
    return [p for folder in folders for p in (ROOT / folder).rglob("*.py")]


def test_core_and_intents_import_no_platform_library():
    for path in python_files("bot", "intents", "knowledge"):
        # Only a platform's own channel module (or folder) may import it.
        if "channels" in path.parts and any(p.removesuffix(".py") in ("slack", "teams") for p in path.parts):
            continue
        assert not imports_of(path) & set(PLATFORM_LIBRARIES), f"{path.relative_to(ROOT)} imports a platform library"


SQL = re.compile(r"\b(select|insert into|update \w+ set|delete from|create table)\b", re.IGNORECASE)


def test_sql_lives_only_in_the_store():
    for path in python_files("bot", "intents", "knowledge"):
        if "store" in path.relative_to(ROOT).parts:
            continue
        strings = [n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        offending = [s for s in strings if SQL.search(s) and ("from " in s.lower() or "into " in s.lower() or "table" in s.lower())]
        assert not offending, f"{path.relative_to(ROOT)} has SQL: {offending[:1]}"
