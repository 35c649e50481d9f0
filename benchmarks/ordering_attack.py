"""The ordering attack on anonymous check-ins, as figures.

Runs the attacker of tests/test_anonymity_attack.py: five known people
answer a check-in in a known, shuffled order (each sent the form just
before answering), a copy of the database file and its log is taken
mid-round, and every ordering the file offers is read as answer order.
Prints, per attack, the correct links per trial: chance is 1 of 5.

    python benchmarks/ordering_attack.py [--trials 30]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.test_anonymity_attack import ATTACKS, PEOPLE, correct_links, one_trial  # noqa: E402


async def main(trials: int) -> None:
    rng = random.Random()
    scores = {name: [0, 0] for name in ATTACKS}
    with tempfile.TemporaryDirectory() as folder:
        for trial in range(trials):
            truth = list(range(PEOPLE))
            rng.shuffle(truth)
            copy, _ = await one_trial(Path(folder) / f"trial-{trial}", truth)
            for name, attack in ATTACKS.items():
                guess = attack(copy)
                scores[name][0] += correct_links(guess, truth)
                scores[name][1] += correct_links(guess[::-1], truth)
    print(f"ordering attack: {trials} trials of {PEOPLE} people; correct links per trial, of {PEOPLE} (chance is 1)")
    print(f"  {'attack':15s} {'in order':>9s} {'reversed':>9s}")
    for name, (direct, reverse) in scores.items():
        print(f"  {name:15s} {direct / trials:9.2f} {reverse / trials:9.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    asyncio.run(main(parser.parse_args().trials))
