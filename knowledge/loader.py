"""Read knowledge entries from YAML files.

The bundled entries live in ``knowledge/entries``; an organisation may add a
directory of its own in the same format. An entry in the organisation's
directory with the same id as a bundled one replaces it, so a local job
description or policy wins over the general material.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from knowledge.schema import Entry
from knowledge.yaml_text import load_yaml

BUNDLED_ENTRIES = Path(__file__).parent / "entries"
# Files in an organisation's directory that are not entry lists.
SPECIAL_FILES = {"resources.yaml", "offtopic.yaml"}


@dataclass
class LoadReport:
    """Entries that loaded, and a readable line for each problem found."""

    entries: dict[str, Entry] = field(default_factory=dict)
    origin: dict[str, Path] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "entry"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def _read_file(path: Path, report: LoadReport, seen_here: set[str], overriding: bool) -> None:
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        report.problems.append(f"{path}: cannot be read as YAML ({exc.__class__.__name__})")
        return
    if raw is None:
        return
    if not isinstance(raw, list):
        report.problems.append(f"{path}: expected a list of entries at the top level")
        return
    for position, item in enumerate(raw, start=1):
        label = item.get("id", f"#{position}") if isinstance(item, dict) else f"#{position}"
        try:
            entry = Entry.model_validate(item)
        except ValidationError as exc:
            report.problems.append(f"{path}: entry {label}: {_describe(exc)}")
            continue
        if entry.id in seen_here:
            report.problems.append(f"{path}: entry {entry.id}: id used twice")
            continue
        seen_here.add(entry.id)
        if entry.id in report.entries and not overriding:
            report.problems.append(f"{path}: entry {entry.id}: id already used in {report.origin[entry.id]}")
            continue
        report.entries[entry.id] = entry
        report.origin[entry.id] = path


def load_entries(extra_dir: Path | None = None) -> LoadReport:
    """Load the bundled entries, then an organisation's own directory over them."""
    report = LoadReport()
    bundled_ids: set[str] = set()
    for path in sorted(BUNDLED_ENTRIES.glob("*.yaml")):
        _read_file(path, report, bundled_ids, overriding=False)
    if extra_dir is not None:
        local_ids: set[str] = set()
        for path in sorted(Path(extra_dir).glob("*.y*ml")):
            if path.name not in SPECIAL_FILES:
                _read_file(path, report, local_ids, overriding=True)
    for entry in report.entries.values():
        for rel in entry.related:
            if rel not in report.entries:
                report.problems.append(f"{report.origin[entry.id]}: entry {entry.id}: related id '{rel}' does not exist")
    return report


if __name__ == "__main__":  # a quick check for people writing entries
    import sys

    rep = load_entries(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    for line in rep.problems:
        print(line)
    print(f"{len(rep.entries)} entries, {len(rep.problems)} problems")
    sys.exit(1 if rep.problems else 0)
