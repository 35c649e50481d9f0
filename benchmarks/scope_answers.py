"""Scope answers: accuracy on question sets, and answer latency.

    python benchmarks/scope_answers.py [--scaled 5000]

Prints, from one run:
- verdict accuracy and crisis recall on ../shared/eval/scope-dev.jsonl (if
  present) and on benchmarks/data/scope-extra.jsonl;
- median and p99 time of one answer in-process with the bundled knowledge
  base, and with the base scaled to --scaled entries (synthetic entries
  made by recombining the real phrasings, so the vocabulary stays real).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from knowledge.answering import KnowledgeBase  # noqa: E402
from knowledge.loader import LoadReport  # noqa: E402

SETS = [HERE.parent.parent / "shared" / "eval" / "scope-dev.jsonl", HERE / "data" / "scope-extra.jsonl"]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def score(kb: KnowledgeBase, path: Path) -> str:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    right = sum(kb.answer(r["question"]).verdict == r["verdict"] for r in rows)
    crisis = [r for r in rows if r["verdict"] == "crisis"]
    caught = sum(kb.answer(r["question"]).verdict == "crisis" for r in crisis)
    return f"{path.name}: verdict accuracy {right}/{len(rows)} = {right / len(rows):.1%}; crisis recall {caught}/{len(crisis)}"


def timings(kb: KnowledgeBase, questions: list[str], rounds: int) -> list[float]:
    out = []
    for i in range(rounds):
        q = questions[i % len(questions)]
        start = time.perf_counter()
        kb.answer(q)
        out.append(time.perf_counter() - start)
    return out


def scaled(kb: KnowledgeBase, size: int) -> KnowledgeBase:
    rng = random.Random(7)
    real = list(kb.entries.values())
    entries = dict(kb.entries)
    while len(entries) < size:
        a, b = rng.sample(real, 2)
        phrasings = rng.sample(a.phrasings, 5) + rng.sample(b.phrasings, 5)
        copy = a.model_copy(update={"id": f"synthetic-{len(entries)}", "phrasings": phrasings, "related": []})
        entries[copy.id] = copy
    report = LoadReport(entries=entries, origin=dict.fromkeys(entries, Path("synthetic")))
    return KnowledgeBase(report, list(kb.offtopics.values()), kb.resources, kb.sources)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scaled", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3000)
    args = parser.parse_args()

    start = time.perf_counter()
    kb = KnowledgeBase.load()
    print(f"load bundled knowledge base ({len(kb.entries)} entries): {time.perf_counter() - start:.2f} s")
    for path in SETS:
        if path.is_file():
            print(score(kb, path))

    questions = [json.loads(line)["question"] for line in SETS[1].read_text().splitlines() if line.strip()]
    kb.answer(questions[0])  # warm caches
    small = timings(kb, questions, args.rounds)
    print(f"answer latency, {len(kb.entries)} entries, {args.rounds} answers: "
          f"median {statistics.median(small) * 1000:.2f} ms, p99 {percentile(small, 0.99) * 1000:.2f} ms")

    start = time.perf_counter()
    big = scaled(kb, args.scaled)
    print(f"build scaled knowledge base ({len(big.entries)} entries): {time.perf_counter() - start:.2f} s")
    big.answer(questions[0])
    large = timings(big, questions, args.rounds // 3)
    print(f"answer latency, {len(big.entries)} entries, {args.rounds // 3} answers: "
          f"median {statistics.median(large) * 1000:.2f} ms, p99 {percentile(large, 0.99) * 1000:.2f} ms "
          f"(ratio of medians to bundled: {statistics.median(large) / statistics.median(small):.1f}x)")


if __name__ == "__main__":
    main()
