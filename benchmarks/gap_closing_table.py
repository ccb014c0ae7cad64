"""Issue 28's ablation table from the runs (benchmarks/gap_closing_runs.sh) and their test evaluation
(benchmarks/gap_closing_eval.sh, sweeps): zero-shot success per variant on each named target and under added latency,
rliable IQM with a 95 % bootstrap CI over the pretraining seeds (100 test episodes each), and training minutes.

    python benchmarks/gap_closing_table.py OUT TASK [--variants dr adr ...] [--docs docs/benchmarks] [--keep]

``--keep``: the seeds with no runs under OUT keep the rows already checked in, and a variant with no runs there keeps
its table line (a session's machine may be fresh, so a table grows a variant or a seed at a time).

Writes ``gap_closing_<task>.md`` (the table) and ``gap_closing_<task>.csv`` (one row per variant, seed and
column: the raw numbers; the ``training min`` column holds a seed's training wall-clock in minutes).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from sim2real.transfer.stats import iqm_ci

VARIANTS = {
    "dr": "default DR",
    "adr": "ADR",
    "adr_history": "ADR + history (K=4)",
    "adr_recurrent": "ADR + recurrent (LSTM)",
    "adr_privileged": "ADR + privileged critic",
}
TARGETS = ("nominal", "real", "heavy", "slippery")
LATENCIES = (3, 4)


def _seed_of(path: str) -> int:
    return int(Path(path).name.rsplit("_s", 1)[1])


def collect(out: Path, task: str, variants: list[str]) -> list[dict]:
    """One row per (variant, seed, column) with that seed's success rate over its test episodes."""
    rows = []
    for v in variants:
        for target in TARGETS:
            # one sweep of every seed (the first layout) or one per seed (s<seed>/), whichever is there
            files = [out / "eval" / task / v / f"sweep-{target}" / "sweep.csv"]
            files += sorted((out / "eval" / task / v).glob(f"s*/sweep-{target}/sweep.csv"))
            for r in (r for f in files if f.is_file() for r in csv.DictReader(f.open())):
                value = int(float(r["value"]))
                col = target if target != "nominal" or value == 0 else f"latency {value}"
                row = dict(variant=v, seed=_seed_of(r["run"]), column=col, success=float(r["success_rate"]))
                if any(x["variant"] == v and x["seed"] == row["seed"] and x["column"] == col for x in rows):
                    raise SystemExit(f"error: {v} seed {row['seed']} {col} is in two sweeps; keep one layout")
                rows.append(row)
    return rows


def seed_minutes(out: Path, task: str, v: str) -> dict[int, float]:
    """Training wall-clock, min, of each seed of ``v`` with a finished run under ``out``."""
    runs = sorted((out / task).glob(f"{v}_s*/run.json"))
    return {
        _seed_of(str(p.parent)): json.loads(p.read_text())["wall_time_s"] / 60.0
        for p in runs
        if p.parent.name.rsplit("_s", 1)[0] == v
    }


MINUTES = "training min"  # the CSV's column of a seed's training wall-clock (no test episodes behind it)


def kept(docs: Path, task: str) -> tuple[list[dict], dict[str, str]]:
    """The checked-in raw rows and table lines (by variant label) of ``task``: what earlier sessions measured."""
    rows, lines = [], {}
    csv_path, md_path = docs / f"gap_closing_{task}.csv", docs / f"gap_closing_{task}.md"
    if csv_path.is_file():
        rows = [{**r, "seed": int(r["seed"]), "success": float(r["success"])} for r in csv.DictReader(csv_path.open())]
    if md_path.is_file():
        for line in md_path.read_text().splitlines():
            label = line.split("|")[1].strip() if line.startswith("| ") else ""
            if label in VARIANTS.values():
                lines[label] = line
    return rows, lines


def table(task: str, variants: list[str], rows: list[dict], old: dict[str, str] | None = None) -> str:
    """The markdown table; a variant in ``old`` (label -> line: those with no runs here) keeps its line.
    Training minutes come from the rows' ``training min`` column (runs here, and kept seeds that recorded one)."""
    cols = [*TARGETS, *(f"latency {k}" for k in LATENCIES)]
    head = f"| variant ({task}) | " + " | ".join(cols) + " | training min |"
    lines = [head, "|" + "---|" * (len(cols) + 2)]
    for v in variants:
        if old and VARIANTS.get(v, v) in old:  # ``old`` holds only variants with no runs under ``out``
            lines.append(old[VARIANTS.get(v, v)])
            continue
        cells = []
        for c in cols:
            x = [r["success"] for r in rows if r["variant"] == v and r["column"] == c]
            if not x:
                cells.append("–")
                continue
            m, lo, hi = iqm_ci(x)
            cells.append(f"{m:.0%} [{lo:.0%}, {hi:.0%}] (n={len(x)})")
        mins = [r["success"] for r in rows if r["variant"] == v and r["column"] == MINUTES]
        seeds = {r["seed"] for r in rows if r["variant"] == v and r["column"] != MINUTES}
        t = f"{np.mean(mins):.1f} ({min(mins):.1f}-{max(mins):.1f})" if mins else "–"
        if mins and len(mins) < len(seeds):
            t += f"; {len(seeds) - len(mins)} earlier seed(s) unrecorded"
        lines.append(f"| {VARIANTS.get(v, v)} | " + " | ".join(cells) + f" | {t} |")
    return "\n".join(lines)


def shipped(rows: list[dict], variant: str, seed: int, episodes: int) -> str:
    """One policy's test rows (a shipped seed): success with a 95 % Wilson interval over its ``episodes``."""
    from scipy.stats import binomtest

    out = [f"{variant} seed {seed}, {episodes} test episodes a column, 95 % Wilson intervals:"]
    for r in rows:
        if r["variant"] == variant and r["seed"] == seed and r["column"] != MINUTES:
            k = round(r["success"] * episodes)
            ci = binomtest(k, episodes).proportion_ci(0.95, method="wilson")
            out.append(f"  {r['column']}: {k / episodes:.0%} [{ci.low:.0%}, {ci.high:.0%}]")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("task")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--docs", type=Path, default=Path("docs/benchmarks"))
    ap.add_argument(
        "--keep",
        action="store_true",
        help="seeds with no runs under OUT keep their checked-in rows, a variant with none its table line (measured"
        " in an earlier session on a machine that is gone)",
    )
    ap.add_argument(
        "--shipped",
        nargs=2,
        metavar=("VARIANT", "SEED"),
        help="print that one seed's test rows with 95 %% Wilson intervals over its episodes, write nothing",
    )
    ap.add_argument("--episodes", type=int, default=100, help="test episodes behind each row (for --shipped)")
    a = ap.parse_args()
    rows = collect(a.out, a.task, a.variants)
    rows += [
        dict(variant=v, seed=seed, column=MINUTES, success=m)
        for v in a.variants
        for seed, m in seed_minutes(a.out, a.task, v).items()
    ]
    old: dict[str, str] = {}
    if a.keep:
        old_rows, old = kept(a.docs, a.task)
        fresh = {(r["variant"], r["seed"]) for r in rows}
        rows = [r for r in old_rows if r["variant"] in a.variants and (r["variant"], r["seed"]) not in fresh] + rows
        here = {v for v, _ in fresh}
        old = {label: line for label, line in old.items() if label not in {VARIANTS.get(v, v) for v in here}}
    if a.shipped:
        print(shipped(rows, a.shipped[0], int(a.shipped[1]), a.episodes))
        return
    text = table(a.task, a.variants, rows, old)
    a.docs.mkdir(parents=True, exist_ok=True)
    (a.docs / f"gap_closing_{a.task}.md").write_text(
        f"Zero-shot success, IQM [95 % CI] over pretraining seeds (n), each seed on 100 test episodes; latency k: "
        f"k steps of added action latency on the nominal robot. Produced by benchmarks/gap_closing_eval.sh and "
        f"benchmarks/gap_closing_table.py; raw rows in gap_closing_{a.task}.csv.\n\n{text}\n"
    )
    with (a.docs / f"gap_closing_{a.task}.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["variant", "seed", "column", "success"])
        w.writeheader()
        w.writerows(rows)
    print(text)


if __name__ == "__main__":
    main()
