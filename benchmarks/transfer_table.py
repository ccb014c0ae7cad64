"""The README's transfer table from comparison summaries (``summary.json`` of ``sim2real compare``), one column
per summary: success (or normalised return) as IQM [95 % CI] over seeds, the differences and verdicts.

    .venv/bin/python benchmarks/transfer_table.py docs/navigate-real-paired-summary.json \\
        docs/grasp-real-paired-summary.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def pct(e: dict | None) -> str:
    if not e or e.get("iqm") is None:
        return "-"
    return f"{100 * e['iqm']:.0f} % [{100 * e['ci_low']:.0f}, {100 * e['ci_high']:.0f}]"


def diff(e: dict | None) -> str:
    if not e or e.get("mean") is None:
        return "-"
    return f"{100 * e['mean']:+.0f} [{100 * e['ci_low']:+.0f}, {100 * e['ci_high']:+.0f}]"


def rows(s: dict) -> dict[str, str]:
    c, t, b = s["conditions"], s.get("transfer", {}), [str(x) for x in s["budgets"]]
    out = {
        "seeds (pretraining x fine-tuning)": f"{s['pretraining']['pretrained_runs']} paired"
        if (s.get("pretraining") or {}).get("paired")
        else f"1 x {s['seeds']}",
        "randomised-sim policy in its own sim": pct(c.get("sim", {}).get("success")),
        "**zero-shot on the target**": pct(c.get("zero_shot", {}).get("success")),
        "nominal-sim policy zero-shot": pct(c.get("nominal_zero_shot", {}).get("success")),
    }
    for cond in ("finetune", "finetune_last", "finetune_features", "scratch"):
        for budget in b if cond in c else []:
            out[f"{cond}, {int(budget) // 1000} k target steps"] = pct(c[cond][budget]["success"])
    ft = t.get("finetune", {})
    for budget in b if ft else []:
        e = ft[budget]
        k = int(budget) // 1000
        out[f"fine-tuned - scratch at {k} k (mean, 95 % CI; verdict)"] = (
            f"{diff(e['finetuned_minus_scratch'])} points; {e['verdict_vs_scratch']}"
        )
        if "finetuned_minus_zero_shot" in e:
            out[f"fine-tuned - zero-shot at {k} k (verdict)"] = (
                f"{diff(e['finetuned_minus_zero_shot'])} points; {e['verdict_vs_zero_shot']}"
            )
    if "sim_to_target_gap" in s:
        out["sim-to-target gap"] = f"{diff(s['sim_to_target_gap'])} points"
    if "finetune" in c:
        r = c["finetune"][b[-1]].get("retention")
        if r:
            out[f"retention in the randomised sim after {int(b[-1]) // 1000} k"] = (
                f"{pct(r['finetuned_sim_success'])} (pretrained {pct(r['pretrained_sim_success'])})"
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summaries", type=Path, nargs="+")
    args = parser.parse_args()
    summaries = [json.loads(p.read_text()) for p in args.summaries]
    tables = [rows(s) for s in summaries]
    keys = list(dict.fromkeys(k for t in tables for k in t))
    print("| | " + " | ".join(f"{s['task']} on `{s['dynamics_name']}`" for s in summaries) + " |")
    print("|---|" + "---|" * len(summaries))
    for k in keys:
        print(f"| {k} | " + " | ".join(t.get(k, "-") for t in tables) + " |")


if __name__ == "__main__":
    main()
