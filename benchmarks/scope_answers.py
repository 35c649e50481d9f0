"""Scope answers: accuracy on question sets against a plain baseline, and answer latency.

    python benchmarks/scope_answers.py [--scaled 5000] [--set FILE ...] [--sealed]

Prints, from one run, for every question set:
- verdict accuracy overall and per verdict, crisis recall, and false crisis
  alarms (a crisis reply to a question that isn't one);
- the same accuracy for a baseline: plain BM25 over the same knowledge base,
  each entry's phrasings (and each off-topic route's, and the distress
  examples as one "crisis" document) pooled into one document, the top
  document's verdict taken as the answer. No synonyms, no typo correction,
  no verdict model: what the extra machinery has to beat.
Then the median and p99 time of one answer in-process with the bundled
knowledge base, and with the base scaled to --scaled entries (synthetic
entries made by recombining the real phrasings, so the vocabulary stays real).

The sets: ../shared/eval/scope-dev.jsonl (tuned on), benchmarks/data/scope-extra.jsonl
(written apart from the entries, but seen while tuning), scope-fresh.jsonl and
scope-fresh-c.jsonl (written blind from the seeds by helpers who never read the
knowledge base; each was measured untouched once, then tuned on), and any --set given.
A sealed set is measured only with --sealed, once, at the end of a piece of
work: a figure on a set you tuned on says little.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import bm25s  # noqa: E402
import Stemmer  # noqa: E402
import yaml  # noqa: E402

from knowledge.answering import KnowledgeBase  # noqa: E402
from knowledge.loader import LoadReport  # noqa: E402

VERDICTS = ("in_scope", "out_of_scope", "depends", "unknown", "crisis")
TUNED_SETS = [HERE.parent.parent / "shared" / "eval" / "scope-dev.jsonl", HERE / "data" / "scope-extra.jsonl"]
FRESH_SETS = [HERE / "data" / "scope-fresh.jsonl", HERE / "data" / "scope-fresh-c.jsonl"]
SEALED_SETS = [HERE / "data" / "scope-sealed.jsonl", HERE / "data" / "scope-sealed-b.jsonl"]
# Messages written from the 988 Lifeline's warning signs by someone who never
# saw the distress patterns: 70 from a person in crisis (most said
# indirectly), 70 near misses (venting idioms, someone else's crisis, the past).
CRISIS_SET = HERE / "data" / "crisis-fresh.jsonl"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def read_set(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class PooledBM25:
    """The baseline: one BM25 document per entry (its title and phrasings
    pooled), per off-topic route, and one for the distress examples."""

    def __init__(self, kb: KnowledgeBase):
        self.stemmer = Stemmer.Stemmer("english")
        docs: list[str] = []
        self.verdicts: list[str] = []
        for entry in kb.entries.values():
            docs.append(" ".join([entry.title, *entry.phrasings]))
            self.verdicts.append(entry.verdict.value if entry.verdict.value != "info" else "unknown")
        for route in kb.offtopics.values():
            docs.append(" ".join([route.title, *route.phrasings]))
            self.verdicts.append("unknown")
        examples = yaml.safe_load((HERE.parent / "knowledge" / "distress_examples.yaml").read_text(encoding="utf-8"))
        docs.append(" ".join(examples["distress"]))
        self.verdicts.append("crisis")
        self.index = bm25s.BM25()
        self.index.index(bm25s.tokenize(docs, stopwords="en", stemmer=self.stemmer, show_progress=False), show_progress=False)

    def verdict(self, question: str) -> str:
        tokens = bm25s.tokenize([question], stopwords="en", stemmer=self.stemmer, show_progress=False)
        docs, scores = self.index.retrieve(tokens, k=1, show_progress=False)
        return self.verdicts[int(docs[0][0])] if float(scores[0][0]) > 0 else "unknown"


def score(rows: list[dict], predict) -> dict:
    predicted = [predict(r["question"]) for r in rows]
    asked = Counter(r["verdict"] for r in rows)
    right = Counter(r["verdict"] for r, p in zip(rows, predicted) if r["verdict"] == p)
    false_alarms = sum(1 for r, p in zip(rows, predicted) if p == "crisis" and r["verdict"] != "crisis")
    return {
        "n": len(rows),
        "accuracy": sum(right.values()) / len(rows),
        "per_verdict": {v: (right[v], asked[v]) for v in VERDICTS if asked[v]},
        "false_alarms": false_alarms,
        "not_crisis": len(rows) - asked["crisis"],
    }


def report(name: str, bot: dict, baseline: dict) -> None:
    per = ", ".join(f"{v} {r}/{n} = {r / n:.0%}" for v, (r, n) in bot["per_verdict"].items() if v != "crisis")
    crisis = bot["per_verdict"].get("crisis", (0, 0))
    print(f"{name} ({bot['n']} questions)")
    print(f"  bot:      verdict accuracy {bot['accuracy']:.1%}; {per}")
    print(f"            crisis recall {crisis[0]}/{crisis[1]}; false crisis alarms {bot['false_alarms']}/{bot['not_crisis']}")
    print(f"  baseline: verdict accuracy {baseline['accuracy']:.1%} (pooled BM25); "
          f"the bot is {100 * (bot['accuracy'] - baseline['accuracy']):+.1f} points ahead")


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
    parser.add_argument("--set", dest="sets", type=Path, action="append", default=[], help="another JSONL set to score")
    parser.add_argument("--sealed", action="store_true", help="also score the sealed set (once, at the end of a piece of work)")
    parser.add_argument("--no-latency", action="store_true", help="accuracy only")
    args = parser.parse_args()

    start = time.perf_counter()
    kb = KnowledgeBase.load()
    print(f"load bundled knowledge base ({len(kb.entries)} entries): {time.perf_counter() - start:.2f} s")
    baseline = PooledBM25(kb)
    sets = TUNED_SETS + FRESH_SETS + args.sets + (SEALED_SETS if args.sealed else [])
    for path in sets:
        if path.is_file():
            rows = read_set(path)
            report(path.name, score(rows, lambda q: kb.answer(q).verdict), score(rows, baseline.verdict))
    if CRISIS_SET.is_file():
        rows = read_set(CRISIS_SET)
        found = [kb.answer(r["text"]).verdict == "crisis" for r in rows]
        crises = sum(r["crisis"] for r in rows)
        caught = sum(f for f, r in zip(found, rows) if r["crisis"])
        alarms = sum(f for f, r in zip(found, rows) if not r["crisis"])
        print(f"{CRISIS_SET.name} ({len(rows)} messages): crisis recall {caught}/{crises}; "
              f"false crisis alarms {alarms}/{len(rows) - crises}")
    if args.no_latency:
        return

    questions = [r["question"] for r in read_set(TUNED_SETS[1])]
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
