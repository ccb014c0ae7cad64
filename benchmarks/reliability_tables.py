"""Print the reliability tables of docs/reliability.md from the test catalogs themselves (so the doc counts
what the tests check): the hostile-file catalog (tests/test_hostile_files.py) and the runtime's fault
injection (tests/test_runtime_faults.py). Outcomes are what those tests assert; run `make test` for them.

    .venv/bin/python benchmarks/reliability_tables.py > /tmp/tables.md
"""

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.test_hostile_files import CASES  # noqa: E402
from tests.test_runtime_faults import CASES as RUNTIME  # noqa: E402

EXIT = {0: "0 (run completed)", 3: "3 (driver failed)", 4: "4 (safe_stop failed)"}

print(f"### Hostile files: {len(CASES)} cases\n")
print("| kind | hostile version | outcome: one-line refusal naming |")
print("|---|---|---|")
for kind, what, _build, _load, expect in CASES:
    print(f"| {kind} | {what} | `{expect}` |")
print("\n" + ", ".join(f"{k}: {n}" for k, n in Counter(k for k, *_ in CASES).items()))
print(f"\n### Runtime faults: {len(RUNTIME)} driver cases + 4 deadlines + 2 log paths + a full disk + 3 signals\n")
print("| fault at step 7 | exit status | refused ticks | log |")
print("|---|---|---|---|")
for fault, (status, refused, complete) in RUNTIME.items():
    log = "every step" if complete else ("every step but the refused tick" if refused else "every step before it")
    print(f"| {fault} | {EXIT[status]} | {refused} | {log} |")
