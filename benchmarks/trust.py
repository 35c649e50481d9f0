"""Trust under faults and attack, as figures: every promise of issue 11 in one run.

    python benchmarks/trust.py [--quick]

Runs, each in its own process so one can't disturb another's database or
event loop, and prints what each one prints:
- double_presses.py: every repeatable action pressed twice at once through
  the Slack and Teams endpoints, and kill -9 trials of a concern's post
  (duplicates: stored rows and posts beyond one);
- ordering_attack.py: five known people answer in a known order, the file
  is copied mid-round, and every ordering in it is read as answer order
  (correct links per trial; chance is 1 of 5);
- hostile_input.py: generated bodies through Slack, Teams and the terminal
  (5xx and tracebacks), and forged tokens with the key endpoint black-holed
  (refusal time, and /healthz meanwhile);
- concurrent_sends.py: concern Sends at once and chat processes started at
  once on one file (lock errors, stored, posted).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUICK = {
    "double_presses.py": ["--trials", "3", "--kills", "5"],
    "ordering_attack.py": ["--trials", "10"],
    "hostile_input.py": ["--slack", "300", "--teams", "150", "--tokens", "60", "--terminal", "100", "--forged", "10"],
    "concurrent_sends.py": ["--sends", "16", "--processes", "5"],
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer trials, for a first look")
    args = parser.parse_args()
    failed = 0
    for script in QUICK:
        extra = QUICK[script] if args.quick else []
        print(f"== {script} {' '.join(extra)}".rstrip(), flush=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, str(HERE / script), *extra], cwd=HERE.parent)
        print(f"   ({time.perf_counter() - start:.0f} s)\n", flush=True)
        failed += done.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
