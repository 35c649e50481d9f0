"""Changes curators make on purpose: the knowledge base never edits itself."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import yaml

from knowledge.loader import load_entries

ACCEPTED_FILE = "accepted-phrasings.yaml"


def accept_phrasing(kb_dir: Path | None, entry_id: str, question: str) -> Path:
    """Write ``question`` as a new phrasing of ``entry_id`` into the
    organisation's directory, as an override of that entry.

    Idempotent (a phrasing already there is not added again), and safe when
    two curators accept at once: the file is read, changed and replaced
    under an exclusive lock, and replaced whole, so no acceptance is lost and
    no reader sees half a file."""
    if kb_dir is None:
        raise ValueError("set PEERBOT_KB_DIR to your organisation's knowledge folder first; accepted phrasings are written there")
    report = load_entries(kb_dir)
    if entry_id not in report.entries:
        raise ValueError(f"there is no entry '{entry_id}'; pass --entry ID to choose one")
    path = Path(kb_dir) / ACCEPTED_FILE
    with (Path(kb_dir) / f".{ACCEPTED_FILE}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        existing = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else []
        existing = existing or []
        entry = report.entries[entry_id]
        data = next((item for item in existing if item.get("id") == entry_id), None)
        if data is None:
            data = entry.model_dump(mode="json")
            existing.append(data)
        if question.lower() in {p.lower() for p in data["phrasings"]}:
            return path
        data["phrasings"].append(question)
        fresh = path.with_name(f".{ACCEPTED_FILE}.new")
        fresh.write_text(yaml.safe_dump(existing, sort_keys=False, allow_unicode=True), encoding="utf-8")
        os.replace(fresh, path)
    return path
