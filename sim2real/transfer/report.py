"""The comparison report: results.csv, summary.json, report.md and TensorBoard scalars (the PNG plots:
:mod:`sim2real.transfer.report_plots`)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from sim2real.io import write_json
from sim2real.transfer import stats
from sim2real.transfer.conditions import curve_conditions, is_finetune
from sim2real.transfer.curves import snap_curve, stage_names, tradeoff
from sim2real.transfer.first_screen import fmt as _fmt
from sim2real.transfer.first_screen import headline, provenance


def _rows(results: list[dict[str, Any]], budgets: list[int], interval: int) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        u, res = r, r["result"]
        if u["kind"] == "sequence":
            continue  # its accuracy matrix is in summary.json (sequence) and sequence.png
        if u["kind"] in ("eval", "logged"):
            rows.append(
                {
                    "condition": u["condition"],
                    "seed": u["seed"],
                    "budget": u.get("logged_episodes", 0),  # logged: episodes of logged data
                    "step": 0,
                    "success_rate": res["success_rate"],
                    "mean_return": res["mean_return"],
                }
            )
            continue
        for b in budgets:
            steps, succ = snap_curve(res, interval, b)
            _, rets = snap_curve(res, interval, b, "mean_return")
            for s, v, ret in zip(steps, succ, rets, strict=True):
                rows.append(
                    {
                        "condition": u["condition"],
                        "seed": u["seed"],
                        "budget": b,
                        "step": s,
                        "success_rate": v,
                        "mean_return": ret,
                    }
                )
    return rows


def _ci(values: list[float]) -> dict[str, float]:
    point, lo, hi = stats.iqm_ci(values)
    return {"iqm": point, "ci_low": lo, "ci_high": hi, "n_seeds": len(values)}


def _sequence(units: list[dict[str, Any]]) -> dict[str, Any]:
    """A sequence condition over seeds: the accuracy matrix (IQM per cell), ACC / BWT / FWT with CIs."""
    res = [u["result"] for u in sorted(units, key=lambda u: u["seed"])]
    cols = res[0]["columns"]
    rows = [{c: _ci([r["rows"][j][c] for r in res])["iqm"] for c in cols} for j in range(len(res[0]["rows"]))]
    return {
        "profiles": units[0]["profiles"],
        "steps_per_stage": units[0]["steps"],
        "l2sp": units[0]["l2sp"],
        "columns": cols,
        "matrix_iqm": rows,  # row 0: pretrained, row i: after stage i
        "metrics": {k: _ci([r["metrics"][k] for r in res]) for k in ("ACC", "BWT", "FWT")},
        "per_seed": [{"seed": u["seed"], **u["result"]["metrics"]} for u in sorted(units, key=lambda u: u["seed"])],
    }


def _metric_pairs(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> dict[str, tuple[list[float], list[float]]]:
    """Per-seed ACC / BWT / FWT of two sequence conditions, for their differences."""
    return {
        k: ([u["result"]["metrics"][k] for u in a], [u["result"]["metrics"][k] for u in b])
        for k in ("ACC", "BWT", "FWT")
    }


def _training_ranges(grid: dict[str, Any]) -> dict[str, Any] | None:
    """The randomisation ranges the (first) pretrained policy saw, from its run.json (None: unknown)."""
    from sim2real.io import read_json

    runs = grid.get("pretrained")
    first = runs[0] if isinstance(runs, list) and runs else None
    try:
        meta = read_json(Path(first) / "run.json") if first else None
    except (OSError, ValueError):
        return None
    return ((meta or {}).get("randomization") or {}).get("ranges") if isinstance(meta, dict) else None


def summarize(grid: dict[str, Any], results: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    budgets, interval = grid["budgets"], grid["interval"]
    by_cond: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_cond.setdefault(r["condition"], []).append(r)
    out: dict[str, Any] = {
        "task": grid["task"],
        "dynamics_name": grid.get("dynamics_name"),
        "dynamics": grid["dynamics"],
        "training_ranges": _training_ranges(grid),
        "seeds": grid["seeds"],
        "budgets": budgets,
        "threshold": threshold,
        "episodes_per_evaluation": grid.get("episodes"),
        "evaluation_interval": interval,
        "episode_seeds": grid.get("episode_seeds"),
        "pretrained": grid.get("pretrained"),
        "baseline": grid.get("baseline"),
        "pretraining": grid.get("pretraining"),
        "policy_digests": grid.get("digests", {}),
        "commits": sorted({str(r["result"].get("commit")) for r in results if r["result"].get("commit")}),
        "conditions": {},
        "transfer": {},
    }
    sim = [r["result"]["success_rate"] for r in by_cond.get("sim", [])]
    for cond in [c for c in ("sim", "zero_shot", "nominal_zero_shot", "calibrated") if c in by_cond]:
        rs = by_cond[cond]
        out["conditions"][cond] = {
            "success": _ci([r["result"]["success_rate"] for r in rs]),
            "return": _ci([r["result"]["mean_return"] for r in rs]),
        }
    for cond in curve_conditions(by_cond):
        rs = sorted(by_cond[cond], key=lambda r: r["seed"])
        per_budget = {}
        for b in budgets:
            finals = [snap_curve(r["result"], interval, b)[1][-1] for r in rs]
            rets = [snap_curve(r["result"], interval, b, "mean_return")[1][-1] for r in rs]
            entry = {"success": _ci(finals), "return": _ci(rets)}
            reached = [stats.time_to_threshold(*snap_curve(r["result"], interval, b), threshold) for r in rs]
            entry["time_to_threshold"] = {"per_seed": reached, "reached": sum(t is not None for t in reached)}
            ret_curves = (
                [snap_curve(r["result"], interval, b, "sim_success_rate")[1] for r in rs] if is_finetune(cond) else []
            )
            if ret_curves and all(ret_curves):  # a fallback that chose scratch has no sim evaluations
                ret_sim = [c[-1] for c in ret_curves]
                entry["retention"] = {"finetuned_sim_success": _ci(ret_sim), "pretrained_sim_success": _ci(sim)}
            if cond == "finetune_fallback":
                entry["fallback_chose"] = [r["result"]["decision"]["winner"] for r in rs]
            per_budget[str(b)] = entry
        out["conditions"][cond] = per_budget
    if "logged" in by_cond:  # budgets are logged episodes
        per_n: dict[str, Any] = {}
        for n in sorted({r["logged_episodes"] for r in by_cond["logged"]}):
            rs = [r for r in by_cond["logged"] if r["logged_episodes"] == n]
            per_n[str(n)] = {
                "success": _ci([r["result"]["success_rate"] for r in rs]),
                "return": _ci([r["result"]["mean_return"] for r in rs]),
                "budget_unit": "logged episodes",
            }
        out["conditions"]["logged"] = per_n
    for cond in [c for c in ("sequence", "sequence_l2sp") if c in by_cond]:
        out.setdefault("sequence", {})[cond] = _sequence(by_cond[cond])
    if {"sequence", "sequence_l2sp"} <= set(by_cond):  # does the regulariser keep more, at what cost
        out["sequence_l2sp_minus_sequence"] = {
            k: dict(zip(("mean", "ci_low", "ci_high"), stats.difference_ci(*pair), strict=True))
            for k, pair in _metric_pairs(by_cond["sequence_l2sp"], by_cond["sequence"]).items()
        }
    if sim and "zero_shot" in by_cond:
        zs = [r["result"]["success_rate"] for r in by_cond["zero_shot"]]
        out["sim_to_target_gap"] = dict(zip(("mean", "ci_low", "ci_high"), stats.difference_ci(sim, zs), strict=True))
    if "scratch" in by_cond:
        sc = sorted(by_cond["scratch"], key=lambda r: r["seed"])
        for cond in [c for c in curve_conditions(by_cond) if is_finetune(c)]:
            ft = sorted(by_cond[cond], key=lambda r: r["seed"])
            zs = [r["result"]["success_rate"] for r in sorted(by_cond.get("zero_shot", []), key=lambda r: r["seed"])]
            out["transfer"][cond] = _transfer(ft, sc, budgets, interval, threshold, zs or None)
    return out


def _transfer(
    ft: list[dict],
    sc: list[dict],
    budgets: list[int],
    interval: int,
    threshold: float,
    zero_shot: list[float] | None = None,
) -> dict[str, Any]:
    """Taylor & Stone metrics of fine-tuned against scratch per budget, and the three-way verdicts on the
    difference at the budget: against scratch, and against ``zero_shot`` (per-seed zero-shot scores) if given."""
    res: dict[str, Any] = {}
    for b in budgets:
        per_seed = []
        for f, s in zip(ft, sc, strict=True):
            steps_f, v_f = snap_curve(f["result"], interval, b)
            steps_s, v_s = snap_curve(s["result"], interval, b)
            common = [x for x in steps_f if x in steps_s]
            vf = [v_f[steps_f.index(x)] for x in common]
            vs = [v_s[steps_s.index(x)] for x in common]
            per_seed.append(stats.transfer_metrics(common, vf, vs, threshold))
        final_ft = [snap_curve(f["result"], interval, b)[1][-1] for f in ft]
        final_sc = [snap_curve(s["result"], interval, b)[1][-1] for s in sc]
        diff = stats.difference_ci(final_ft, final_sc)
        ratio = stats.transfer_ratio_ci([m["auc_finetuned"] for m in per_seed], [m["auc_scratch"] for m in per_seed])
        entry = {k: _ci([m[k] for m in per_seed]) for k in ("jumpstart", "at_budget", "auc_finetuned", "auc_scratch")}
        entry["transfer_ratio"] = dict(zip(("mean", "ci_low", "ci_high"), ratio, strict=True))
        for k in ("time_to_threshold_finetuned", "time_to_threshold_scratch"):
            vals = [m[k] for m in per_seed]
            entry[k] = {"per_seed": vals, "reached": sum(v is not None for v in vals)}
        entry["finetuned_minus_scratch"] = dict(zip(("mean", "ci_low", "ci_high"), diff, strict=True))
        entry["probability_of_improvement"] = stats.probability_of_improvement(final_ft, final_sc)
        entry["verdict_vs_scratch"] = stats.verdict(diff[1], diff[2], len(final_ft))
        if zero_shot:  # the harm that matters when the pretrained policy is already good
            diff_zs = stats.difference_ci(final_ft, zero_shot)
            entry["finetuned_minus_zero_shot"] = dict(zip(("mean", "ci_low", "ci_high"), diff_zs, strict=True))
            entry["verdict_vs_zero_shot"] = stats.verdict(diff_zs[1], diff_zs[2], len(final_ft))
        res[str(b)] = entry
    return res


def markdown(summary: dict[str, Any]) -> str:
    s = summary
    label = s.get("metric", {}).get("label", "success rate")
    mixed = provenance(s)
    lines = [
        f"# Transfer report: {s['task']} on `{s['dynamics_name']}`",
        "",
        *(
            [f"**Not publishable: {mixed}. Rerun it whole at one clean commit (benchmarks/transfer.sh).**", ""]
            if mixed
            else []
        ),
        *headline(s, label),
        f"Episodes per evaluation: {s.get('episodes_per_evaluation')} ({s.get('episode_seeds')}), evaluated every "
        f"{s.get('evaluation_interval')} target steps. Pretrained: `{s.get('pretrained')}`; baseline: "
        f"`{s.get('baseline')}`; policy SHA-256 (model + normaliser): "
        + ", ".join(f"`{k}` {v[:12]}" for k, v in (s.get("policy_digests") or {}).items())
        + f". Code: {', '.join(s.get('commits') or ['unknown'])}"
        + (" (**units ran under different commits**)" if len(s.get("commits") or []) > 1 else "")
        + (
            f"; pretraining runs: {', '.join(s['pretraining']['commits'])}"
            if (s.get("pretraining") or {}).get("commits")
            else ""
        )
        + ".",
        "",
        f"{s['seeds']} seeds; {label} and return as IQM [95 % stratified-bootstrap CI] over seeds.",
        "",
        *(
            [
                f"Seeds: {s['pretraining']['design']}; nominal-sim baseline: {s['pretraining']['baseline_runs']} run(s)"
                + (", pretrained by this compare." if s["pretraining"]["trained_by_compare"] else "."),
                "",
            ]
            if s.get("pretraining")
            else []
        ),
        *(
            [
                f"**Small sample**: with {s['seeds']} < {stats.SMALL_SAMPLE} seeds a percentile-bootstrap CI is about "
                "the range of the seeds; read the intervals as such.",
                "",
            ]
            if s["seeds"] < stats.SMALL_SAMPLE
            else []
        ),
        *(
            [f"The {label} is {s['metric']['definition']}; it carries the comparison (the column `success`).", ""]
            if label != "success rate"
            else [""]
        ),
        f"| condition | budget (target steps) | {label} | return |",
        "|---|---|---|---|",
    ]
    for cond, v in s["conditions"].items():
        if "success" in v:
            lines.append(f"| {cond} | 0 | {_fmt(v['success'])} | {_fmt(v['return'], False)} |")
        else:
            for b, e in v.items():
                unit = " logged episodes" if e.get("budget_unit") else ""
                lines.append(f"| {cond} | {b}{unit} | {_fmt(e['success'])} | {_fmt(e['return'], False)} |")
    if "sim_to_target_gap" in s:
        lines += [
            "",
            f"Sim-to-target gap (randomised-sim {label} minus zero-shot target {label}): "
            f"{_fmt(s['sim_to_target_gap'])}.",
        ]
    for cond in curve_conditions(s["conditions"]):  # with or without scratch
        b = str(s["budgets"][-1])
        e = s["conditions"][cond][b]
        t = e["time_to_threshold"]
        lines.append(
            f"\n{cond} at {b} target steps: time to {100 * s['threshold']:.0f}% {label} reached in "
            f"{t['reached']}/{s['seeds']} seeds ({t['per_seed']})"
            + (
                f"; retention ({label} back in the randomised sim) {_fmt(e['retention']['finetuned_sim_success'])} "
                f"vs pretrained {_fmt(e['retention']['pretrained_sim_success'])}."
                if "retention" in e
                else "."
            )
            + (
                f" The fallback chose, per seed: {', '.join(e['fallback_chose'])} (development episodes of the "
                "target after the first decision steps of each branch; the curve counts both branches' steps)."
                if "fallback_chose" in e
                else ""
            )
        )
    for cond, q in (s.get("sequence") or {}).items():
        lines += [
            "",
            f"## {cond}: lifelong fine-tuning through {' -> '.join(q['profiles'])}",
            "",
            f"{q['steps_per_stage']} target steps per stage"
            + (f", L2-SP {q['l2sp']:g} toward the pretrained weights" if q["l2sp"] else "")
            + f". Accuracy matrix ({label}, IQM over seeds): row 0 is the pretrained policy, row i after stage i. "
            "ACC (final average), BWT (backward transfer: negative = forgetting) and FWT (forward transfer over a "
            "uniformly random policy) as in Lopez-Paz & Ranzato (2017), IQM [95 % CI] over seeds.",
            "",
            "| after | " + " | ".join(q["columns"]) + " |",
            "|---|" + "---|" * len(q["columns"]),
            *[
                f"| {name} | " + " | ".join(f"{row[c]:.2f}" for c in q["columns"]) + " |"
                for name, row in zip(stage_names(q["profiles"]), q["matrix_iqm"], strict=True)
            ],
            "",
            f"ACC {_fmt(q['metrics']['ACC'])}, BWT {_fmt(q['metrics']['BWT'], False)}, "
            f"FWT {_fmt(q['metrics']['FWT'], False)}.",
        ]
    if "sequence_l2sp_minus_sequence" in s:
        dd = s["sequence_l2sp_minus_sequence"]
        lines += [
            "",
            "sequence_l2sp minus sequence, mean [95 % bootstrap CI] over seeds (verdict on the CI): "
            + ", ".join(f"{k} {_fmt(dd[k], False)} ({stats.verdict(dd[k]['ci_low'], dd[k]['ci_high'])})" for k in dd)
            + ".",
        ]
    points = tradeoff(s)
    if any(p["condition"].startswith("finetune_l2sp@") for p in points):
        lines += [
            "",
            f"## Specialising vs keeping (at {s['budgets'][-1]} target steps)",
            "",
            f"Target {label} against retention ({label} back in the randomised sim), IQM [95 % CI] over seeds; "
            "finetune_l2sp@<strength> pulls the weights toward the pretrained ones with that L2-SP strength.",
            "",
            f"| condition | target {label} | retention |",
            "|---|---|---|",
            *[f"| {p['condition']} | {_fmt(p['target'])} | {_fmt(p['retention'])} |" for p in points],
        ]
    for cond, per_b in s["transfer"].items():
        lines += [
            "",
            f"## {cond} against scratch (Taylor & Stone 2009)",
            "",
            f"Jumpstart, at budget (the difference at the budget, not an asymptote), AUC: IQM [95 % stratified "
            f"bootstrap CI] over seeds of per-seed {label} curves; transfer ratio (AUC_ft - AUC_scratch) / AUC_scratch "
            "and the differences: mean [95 % bootstrap CI]; P(ft > scratch): rliable's probability of improvement. "
            "Verdicts: negative / not detected / positive by whether the difference CI lies below, holds or lies "
            "above 0; not enough seeds with fewer than 2 (a one-seed interval has no width).",
            "",
            "| budget | jumpstart | at budget | AUC ft | AUC scratch | transfer ratio | ft - scratch | P(ft > scratch) "
            "| vs scratch | ft - zero-shot | vs zero-shot |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for b, e in per_b.items():
            lines.append(
                f"| {b} | {_fmt(e['jumpstart'])} | {_fmt(e['at_budget'])} | {_fmt(e['auc_finetuned'])} | "
                f"{_fmt(e['auc_scratch'])} | {_fmt(e['transfer_ratio'], False)} | "
                f"{_fmt(e['finetuned_minus_scratch'])} | {e['probability_of_improvement']:.2f} | "
                f"{e['verdict_vs_scratch']} | {_fmt(e.get('finetuned_minus_zero_shot'))} | "
                f"{e.get('verdict_vs_zero_shot', 'n/a (no zero_shot condition)')} |"
            )
    return "\n".join(lines) + "\n"


def tensorboard(out: Path, summary: dict[str, Any]) -> None:
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(out / "tb"))
    for cond, v in summary["conditions"].items():
        if "success" in v:
            w.add_scalar(f"compare/{cond}/success_iqm", v["success"]["iqm"], 0)
        else:
            for b, e in v.items():
                w.add_scalar(f"compare/{cond}/success_iqm", e["success"]["iqm"], int(b))
                w.add_scalar(f"compare/{cond}/return_iqm", e["return"]["iqm"], int(b))
    for cond, per_b in summary["transfer"].items():
        for b, e in per_b.items():
            for k in ("jumpstart", "at_budget", "auc_finetuned", "auc_scratch"):
                w.add_scalar(f"transfer/{cond}/{k}", e[k]["iqm"], int(b))
            if e["transfer_ratio"]["mean"] is not None:
                w.add_scalar(f"transfer/{cond}/transfer_ratio", e["transfer_ratio"]["mean"], int(b))
            w.add_scalar(f"transfer/{cond}/probability_of_improvement", e["probability_of_improvement"], int(b))
    w.close()


def write_report(
    out: Path,
    grid: dict[str, Any],
    results: list[dict[str, Any]],
    threshold: float,
    metric: dict[str, Any] | None = None,
    settings_yaml: str = "",
    command: str | None = None,
) -> dict[str, Any]:
    """Write results.csv, summary.json, report.md, report.html (self-contained: plots inline, the settings and
    ``command``), the plots and TensorBoard scalars. ``metric`` says what the ``success`` figures are (the
    success rate, or a normalised return for tasks without a success signal)."""
    from sim2real.transfer.html_report import write_html
    from sim2real.transfer.report_plots import plots

    rows = _rows(results, grid["budgets"], grid["interval"])
    column = "success_rate" if (metric or {}).get("name", "success") == "success" else "normalised_return"
    if column != "success_rate":  # a task without a success signal: the column says what it holds
        rows = [{(column if k == "success_rate" else k): v for k, v in r.items()} for r in rows]
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["condition", "seed", "budget", "step", column, "mean_return"])
        writer.writeheader()
        writer.writerows(rows)
    summary = summarize(grid, results, threshold)
    summary["metric"] = metric or {"name": "success", "label": "success rate"}
    summary["command"] = command
    write_json(out / "summary.json", summary)
    text = markdown(summary)
    (out / "report.md").write_text(text)
    images = plots(out, grid, results, summary)
    videos = [v for r in results for v in sorted((out / "units" / str(r.get("id")) / "videos").glob("*.mp4"))]
    write_html(out / "report.html", f"sim2real compare: {grid['task']}", text, images, settings_yaml, command, videos)
    tensorboard(out, summary)
    print(
        f"compare: report in {out} (report.html, report.md, summary.json, results.csv, "
        f"{', '.join(p.name for p in images)}, tb/)"
    )
    return summary
