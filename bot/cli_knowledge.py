"""``peerbot ask``, ``peerbot eval`` and ``peerbot kb ...``: the knowledge
base from the shell, for checking answers and for the people who curate it."""

from __future__ import annotations

import collections
import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

import knowledge
from bot import clock

from bot.cli import cli, load_settings_or_exit, with_runtime

if TYPE_CHECKING:
    from bot.runtime import Runtime
    from knowledge.answering import KnowledgeBase
    from knowledge.schema import Entry

VERDICTS = ("in_scope", "out_of_scope", "depends", "unknown", "crisis")


def _knowledge() -> "KnowledgeBase":
    from knowledge.answering import KnowledgeBase

    settings = load_settings_or_exit()
    return KnowledgeBase.load(settings.kb_dir)


@cli.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (verdict, entry_id, confidence, answer, sources).")
def ask(question: str, as_json: bool) -> None:
    """Ask one scope QUESTION and print the answer."""
    from intents.scope import render_answer

    kb = _knowledge()
    result = kb.answer(question)
    if as_json:
        click.echo(json.dumps(result.as_json(kb.sources), ensure_ascii=False))
        return
    if result.kind == "crisis":
        from intents.support import care_reply

        click.echo(care_reply(kb.resources).text)
        return
    reply = render_answer(kb, result)
    click.echo(reply.text)
    for choice in reply.choices:
        click.echo(f"  [{choice.label}]")


@cli.command(name="eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON line per question instead of the summary.")
def evaluate(file: Path, as_json: bool) -> None:
    """Score the scope answers on a JSONL FILE of {"question", "verdict"} lines.

    Prints accuracy overall and per verdict, and a confusion table.
    """
    kb = _knowledge()
    rows: list[tuple[str, str, str]] = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            question, expected = str(item["question"]), str(item["verdict"])
        except (json.JSONDecodeError, KeyError, TypeError):
            click.echo(f"peerbot: line {number} of {file} is not a {{\"question\", \"verdict\"}} object; skipped", err=True)
            continue
        if expected not in VERDICTS:
            # A typo in the expected verdict would silently count as a miss.
            click.echo(f"peerbot: line {number} of {file} expects the verdict {expected[:40]!r}, which isn't one of "
                       f"{', '.join(VERDICTS)}; fix the file and run again", err=True)
            sys.exit(2)
        result = kb.answer(question)
        rows.append((question, expected, result.verdict))
        if as_json:
            entry_id = result.entry.id if result.entry else (result.route.id if result.route else None)
            line = {"question": question, "expected": expected, "predicted": result.verdict,
                    "entry_id": entry_id, "confidence": round(result.confidence, 3)}
            if result.follow_up is not None:
                line["follow_up"] = result.follow_up.as_json()
            click.echo(json.dumps(line, ensure_ascii=False))
    if as_json:
        return
    if not rows:
        click.echo("No questions to score.")
        sys.exit(1)
    print_scores(rows)


def print_scores(rows: list[tuple[str, str, str]]) -> None:
    correct = sum(expected == predicted for _, expected, predicted in rows)
    click.echo(f"accuracy: {correct}/{len(rows)} = {correct / len(rows):.1%}")
    labels = [v for v in VERDICTS if any(v in (e, p) for _, e, p in rows)]
    for verdict in labels:
        asked = [(e, p) for _, e, p in rows if e == verdict]
        if asked:
            right = sum(e == p for e, p in asked)
            name = "recall" if verdict == "crisis" else "accuracy"
            click.echo(f"  {verdict:<13} {name} {right}/{len(asked)} = {right / len(asked):.1%}")
    confusion = collections.Counter((e, p) for _, e, p in rows)
    width = max(len(v) for v in labels) + 1
    click.echo("\nconfusion (rows: expected, columns: predicted)")
    click.echo(" " * width + "".join(f"{v[:8]:>9}" for v in labels))
    for expected in labels:
        click.echo(f"{expected:<{width}}" + "".join(f"{confusion[(expected, p)]:>9}" for p in labels))


@cli.group()
def kb() -> None:
    """Check and curate the knowledge base."""


# Lives beside the bundled entries (packaged with them as knowledge/*.yaml).
COVERAGE_MAP = Path(knowledge.__file__).resolve().parent / "coverage.yaml"


def _cited_section(section: str, names: list[str]) -> str | None:
    """The map section a source cites: its name, alone or followed by a detail
    in parentheses ("the five signs of co-optation (4: ...)")."""
    for name in names:
        if section == name or section.startswith(name + " ("):
            return name
    return None


def coverage_problems(coverage: Any, entries: dict[str, "Entry"], bundled: set[str], where: str = "coverage.yaml") -> list[str]:
    """What keeps the coverage map from proving the seeds are covered.

    The map lists every section of every seed document and the entries that
    cover it. A section needs an entry, or a note saying why no peer worker
    would ask about it; every bundled entry covers some section; and the map
    and the entries' own sources agree, so neither can drift from the other.
    An organisation's entries may cite seed sections too (they must exist),
    but the map speaks only for the bundled ones.
    """
    from knowledge.schema import SEED_FILES

    if not isinstance(coverage, dict):
        return [f"{where}: expected one list of sections per seed file"]
    problems: list[str] = []
    names: dict[str, list[str]] = {}
    listed: dict[tuple[str, str], set[str]] = {}
    for file in SEED_FILES:
        if file not in coverage:
            problems.append(f"{where}: the seed {file} has no sections listed")
    for file, sections in coverage.items():
        if file not in SEED_FILES:
            problems.append(f"{where}: '{file}' is not one of the seed documents")
            continue
        if not isinstance(sections, list):
            problems.append(f"{where}: {file}: expected a list of sections")
            continue
        names[file] = []
        for position, item in enumerate(sections, start=1):
            if not isinstance(item, dict) or not str(item.get("section") or "").strip():
                problems.append(f"{where}: {file}: section #{position} has no name")
                continue
            name = str(item["section"])
            if name in names[file]:
                problems.append(f"{where}: {file}: section \"{name}\" is listed twice")
                continue
            names[file].append(name)
            ids = item.get("entries") or []
            if not isinstance(ids, list):
                problems.append(f"{where}: {file}: \"{name}\": entries should be a list of ids")
                ids = []
            listed[(file, name)] = {str(i) for i in ids}
            if not ids and not str(item.get("note") or "").strip():
                problems.append(f"{where}: {file}: \"{name}\": no entry covers this section, and no note says why")
            for entry_id in ids:
                if entry_id not in entries:
                    problems.append(f"{where}: {file}: \"{name}\": entry '{entry_id}' does not exist")
    covering: dict[str, set[tuple[str, str]]] = {}
    for entry_id, entry in sorted(entries.items()):
        for source in entry.sources:
            if source.file not in names:
                continue
            name = _cited_section(source.section, names[source.file])
            if name is None:
                problems.append(f"entry {entry_id}: cites \"{source.section}\" in {source.file}, a section the coverage map doesn't list")
                continue
            covering.setdefault(entry_id, set()).add((source.file, name))
    in_the_map = {i for ids in listed.values() for i in ids}
    for entry_id in sorted(bundled & set(entries)):
        cited = covering.get(entry_id, set())
        if not cited:
            problems.append(f"entry {entry_id}: its sources cite no section of the seed documents")
        if entry_id not in in_the_map:
            problems.append(f"{where}: entry {entry_id} is listed under no section")
        for file, name in sorted(cited):
            if entry_id not in listed.get((file, name), set()):
                problems.append(f"{where}: {file}: \"{name}\": entry {entry_id} cites this section but isn't listed under it")
    for (file, name), ids in sorted(listed.items()):
        for entry_id in sorted(ids & bundled):
            if (file, name) not in covering.get(entry_id, set()):
                problems.append(f"{where}: {file}: \"{name}\": lists entry {entry_id}, whose sources don't cite this section")
    return problems


@kb.command()
@click.option("--max-age-days", default=180, show_default=True, type=click.IntRange(1), help="Warn about entries reviewed longer ago than this.")
@click.option("--coverage", "coverage_file", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Check this coverage map instead of the bundled knowledge/coverage.yaml.")
def check(max_age_days: int, coverage_file: Path | None) -> None:
    """Validate every entry (schema, unique ids, related ids, sources), check that the
    coverage map accounts for every section of every seed document, and warn about stale reviews."""
    import yaml

    from knowledge.schema import SEED_FILES

    kb_ = None
    problems: list[str] = []
    try:
        kb_ = _knowledge()
    except Exception as exc:  # a broken offtopic/resources file: report it, don't crash
        problems.append(f"cannot load the knowledge base: {exc.__class__.__name__}: {str(exc)[:300]}")
    if kb_ is not None:
        problems += kb_.report.problems
        for entry_id, entry in kb_.entries.items():
            bundled = "knowledge/entries" in str(kb_.report.origin[entry_id]).replace("\\", "/")
            for source in entry.sources:
                if bundled and source.file not in SEED_FILES:
                    problems.append(f"{kb_.report.origin[entry_id]}: entry {entry_id}: source file '{source.file}' is not one of the seed documents")
        coverage_path = coverage_file or COVERAGE_MAP
        try:
            coverage = yaml.safe_load(coverage_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            problems.append(f"{coverage_path}: cannot be read as YAML ({exc.__class__.__name__})")
        else:
            bundled_ids = {i for i, origin in kb_.report.origin.items()
                           if "knowledge/entries" in str(origin).replace("\\", "/")}
            problems += coverage_problems(coverage, kb_.entries, bundled_ids, where=coverage_path.name)
    from knowledge.instruments import InstrumentError, load_instruments

    try:
        instruments = load_instruments(load_settings_or_exit().kb_dir)
    except InstrumentError as exc:
        problems.append(f"survey definition: {exc}")
        instruments = {}
    warnings: list[str] = []
    if kb_ is not None:
        cutoff = clock.today() - dt.timedelta(days=max_age_days)
        for entry_id, entry in sorted(kb_.entries.items()):
            if entry.reviewed < cutoff:
                warnings.append(f"{entry_id}: last reviewed {entry.reviewed} (over {max_age_days} days ago; owner: {entry.owner})")
    for line in problems:
        click.echo(f"problem: {line}")
    for line in warnings:
        click.echo(f"review due: {line}")
    if kb_ is not None:
        counts = collections.Counter(e.verdict.value for e in kb_.entries.values())
        summary = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
        click.echo(f"{len(kb_.entries)} entries ({summary}), {len(kb_.offtopics)} off-topic routes, "
                   f"{len(instruments)} survey definitions ({', '.join(sorted(instruments))})")
    click.echo(f"{len(problems)} problems, {len(warnings)} reviews due")
    if problems:
        sys.exit(1)


@kb.command()
@click.option("--accept", "accept", type=int, default=None, metavar="N", help="Add gap number N as a phrasing of its likely entry.")
@click.option("--entry", "entry_id", default=None, help="With --accept: the entry to add it to, instead of the likely one.")
def gaps(accept: int | None, entry_id: str | None) -> None:
    """Questions the bot could not answer, most frequent first (text only, no users).

    A curator can accept one as a new phrasing of an entry; it is written to
    the organisation's own directory (PEERBOT_KB_DIR). The knowledge base
    never changes by itself. Each gap keeps its number, so accepting N twice
    (or from two terminals at once) accepts it once.
    """
    if accept is None:
        rows = with_runtime(lambda runtime: runtime.store.knowledge.gaps())
        if not rows:
            click.echo("No unanswered questions yet.")
        for row in rows:
            click.echo(f"{row['number']:>3}. ({row['count']}x) {row['question']}")
            click.echo(f"     likely: {row['likely_entry'] or '(none)'}; last asked {row['last_seen']}")
        return
    from knowledge.curation import accept_phrasing

    settings = load_settings_or_exit()

    async def work(runtime: "Runtime") -> tuple[int, str]:
        knowledge = runtime.store.knowledge
        row = await knowledge.gap(accept)
        if row is None:
            return 2, f"There is no gap number {accept}; `peerbot kb gaps` lists them."
        target = row["accepted_as"] or entry_id or row["likely_entry"]
        # One guarded mark first, then the phrasing written (idempotently):
        # a run cut off in between is completed by running it again, and one
        # that can't write (no folder, no such entry) takes its mark back.
        outcome = await knowledge.accept_gap(accept, target, runtime.engine.now())
        assert outcome is not None
        target, won = outcome
        try:
            path = accept_phrasing(settings.kb_dir, target, row["question"])
        except ValueError as exc:
            if won:
                await knowledge.reopen_gap(accept, target)
            return 2, f"peerbot: {exc}"
        if won:
            return 0, f"Added as a phrasing of {target} in {path}. Run `peerbot kb check` to confirm."
        return 0, f"Already accepted: gap {accept} is a phrasing of {target} in {path}. Nothing changed."

    code, said = with_runtime(work)
    click.echo(said, err=code != 0)
    if code:
        sys.exit(code)


@kb.command()
def stats() -> None:
    """How entries are rated ("Was this helpful?") and how many questions went unanswered."""

    async def read(runtime: "Runtime") -> tuple[dict[str, dict[str, int]], int]:
        return await runtime.store.knowledge.helpful_counts(), len(await runtime.store.knowledge.gaps())

    counts, gap_count = with_runtime(read)
    if not counts:
        click.echo("No ratings yet.")
    for entry_id, c in sorted(counts.items(), key=lambda kv: -(kv[1]["yes"] + kv[1]["no"])):
        click.echo(f"{entry_id:<40} helpful {c['yes']:>4}   not helpful {c['no']:>4}")
    click.echo(f"unanswered questions kept for curators: {gap_count}")
