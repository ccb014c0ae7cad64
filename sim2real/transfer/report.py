"""The comparison report: results.csv, summary.json, report.md, PNG plots and TensorBoard scalars."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from sim2real.io import write_json
from sim2real.transfer import stats
from sim2real.transfer.first_screen import curve_conditions, headline, is_finetune, provenance
from sim2real.transfer.first_screen import fmt as _fmt


def _curve(
    result: dict[str, Any], interval: int, until: int, key: str = "success_rate"
) -> tuple[list[int], list[float]]:
    """A curve's points snapped to multiples of the evaluation interval, up to ``until`` steps."""
    steps, vals = [], []
    for p in result["curve"]:
        s = int(round(p["step"] / interval) * interval)
        if s <= until and p.get(key) is not None and s not in steps:
            steps.append(s)
            vals.append(float(p[key]))
    return steps, vals


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
            steps, succ = _curve(res, interval, b)
            _, rets = _curve(res, interval, b, "mean_return")
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


def _stage_names(profiles: list[str]) -> list[str]:
    return ["pretrained", *(f"stage {i} ({p})" for i, p in enumerate(profiles, 1))]


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
            finals = [_curve(r["result"], interval, b)[1][-1] for r in rs]
            rets = [_curve(r["result"], interval, b, "mean_return")[1][-1] for r in rs]
            entry = {"success": _ci(finals), "return": _ci(rets)}
            reached = [stats.time_to_threshold(*_curve(r["result"], interval, b), threshold) for r in rs]
            entry["time_to_threshold"] = {"per_seed": reached, "reached": sum(t is not None for t in reached)}
            ret_curves = (
                [_curve(r["result"], interval, b, "sim_success_rate")[1] for r in rs] if is_finetune(cond) else []
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
            steps_f, v_f = _curve(f["result"], interval, b)
            steps_s, v_s = _curve(s["result"], interval, b)
            common = [x for x in steps_f if x in steps_s]
            vf = [v_f[steps_f.index(x)] for x in common]
            vs = [v_s[steps_s.index(x)] for x in common]
            per_seed.append(stats.transfer_metrics(common, vf, vs, threshold))
        final_ft = [_curve(f["result"], interval, b)[1][-1] for f in ft]
        final_sc = [_curve(s["result"], interval, b)[1][-1] for s in sc]
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
                for name, row in zip(_stage_names(q["profiles"]), q["matrix_iqm"], strict=True)
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


def plots(out: Path, grid: dict[str, Any], results: list[dict[str, Any]], summary: dict[str, Any]) -> list[Path]:
    label = summary.get("metric", {}).get("label", "success rate")
    import matplotlib

    matplotlib.use("Agg")
    paths = []
    curve_conds = curve_conditions({r["condition"] for r in results})
    conds = [c for c in summary["conditions"] if c not in ("sim", "logged")]
    if curve_conds:  # a sequence-only comparison has no learning curves and no budgets
        paths.append(_curves_plot(out, grid, results, summary, curve_conds, label))
    if conds:
        paths.append(_budgets_plot(out, grid, summary, conds, label))
    return paths + _more_plots(out, grid, summary, label)


def _curves_plot(
    out: Path,
    grid: dict[str, Any],
    results: list[dict[str, Any]],
    summary: dict[str, Any],
    conds: list[str],
    label: str,
) -> Path:
    import matplotlib.pyplot as plt

    budgets, interval = grid["budgets"], grid["interval"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, cond in enumerate(conds):
        rs = [r for r in results if r["condition"] == cond]
        curves = [_curve(r["result"], interval, budgets[-1]) for r in rs]
        steps = sorted(set.intersection(*(set(c[0]) for c in curves)))
        mat = np.array([[c[1][c[0].index(s)] for s in steps] for c in curves])
        est = [stats.iqm_ci(mat[:, j]) for j in range(len(steps))]
        marker = "osD^v<>ph"[k % 9]
        ax.plot(steps, [e[0] for e in est], marker=marker, lw=2, zorder=3, label=cond)  # above the references
        ax.fill_between(steps, [e[1] for e in est], [e[2] for e in est], alpha=0.2, zorder=2)
    for cond, style in (("zero_shot", "--"), ("nominal_zero_shot", ":"), ("calibrated", "-.")):
        if cond in summary["conditions"]:  # thin grey references under the curves: an equal curve stays visible
            ax.axhline(summary["conditions"][cond]["success"]["iqm"], ls=style, color="0.4", lw=1, zorder=1, label=cond)
    ax.set_xlabel("target environment steps")
    return _save(
        fig,
        ax,
        out / "learning_curves.png",
        f"{grid['task']} on {grid.get('dynamics_name')}: learning on the target, {grid['seeds']} seeds",
        label,
    )


def _budgets_plot(out: Path, grid: dict[str, Any], summary: dict[str, Any], conds: list[str], label: str) -> Path:
    import matplotlib.pyplot as plt

    budgets = grid["budgets"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    width = 0.8 / max(len(budgets), 1)
    for i, b in enumerate(budgets):
        vals, lo, hi = [], [], []
        for c in conds:
            e = summary["conditions"][c]
            e = e["success"] if "success" in e else e[str(b)]["success"]
            vals.append(e["iqm"])
            lo.append(e["iqm"] - e["ci_low"])
            hi.append(e["ci_high"] - e["iqm"])
        x = np.arange(len(conds)) + i * width
        ax.bar(x, vals, width, yerr=[lo, hi], capsize=3, label=f"{b} target steps")
    ax.set_xticks(np.arange(len(conds)) + width * (len(budgets) - 1) / 2, conds, rotation=20, fontsize=8)
    return _save(fig, ax, out / "budgets.png", f"{grid['task']}: {label} per condition and budget", label)


def _more_plots(out: Path, grid: dict[str, Any], summary: dict[str, Any], label: str) -> list[Path]:
    """The logged-data, trade-off and sequence plots, where the comparison has them."""
    import matplotlib.pyplot as plt

    paths = []
    if "logged" in summary["conditions"]:
        fig, ax = plt.subplots(figsize=(6, 4))
        per_n = summary["conditions"]["logged"]
        ns = [int(n) for n in per_n]
        est = [per_n[str(n)]["success"] for n in ns]
        ax.errorbar(
            ns,
            [e["iqm"] for e in est],
            yerr=[[e["iqm"] - e["ci_low"] for e in est], [e["ci_high"] - e["iqm"] for e in est]],
            marker="o",
            capsize=3,
            label="logged (offline)",
        )
        for cond, style in (("zero_shot", "--"), ("calibrated", "-.")):
            if cond in summary["conditions"]:
                ax.axhline(summary["conditions"][cond]["success"]["iqm"], ls=style, color="k", label=cond)
        ax.set_xlabel("logged target episodes")
        paths.append(_save(fig, ax, out / "logged.png", f"{grid['task']}: fine-tuned on logged episodes", label))
    seqs = summary.get("sequence") or {}
    if seqs:
        fig, axes = plt.subplots(1, len(seqs), figsize=(5.5 * len(seqs), 4.2), squeeze=False)
        for ax, (cond, q) in zip(axes[0], seqs.items(), strict=True):
            m = np.array([[row[c] for c in q["columns"]] for row in q["matrix_iqm"]])
            im = ax.imshow(
                m,
                cmap="viridis",
                vmin=0.0 if label == "success rate" else None,
                vmax=1.0 if label == "success rate" else None,
                aspect="auto",
            )
            for (j, k), v in np.ndenumerate(m):
                ax.text(k, j, f"{v:.2f}", ha="center", va="center", color="w" if v < m.max() * 0.6 else "k", fontsize=8)
            ax.set_xticks(range(len(q["columns"])), q["columns"], fontsize=8)
            ax.set_yticks(range(len(m)), _stage_names(q["profiles"]), fontsize=8)
            met = q["metrics"]
            ax.set_title(
                f"{cond}: ACC {met['ACC']['iqm']:.2f}, BWT {met['BWT']['iqm']:+.2f}, FWT {met['FWT']['iqm']:+.2f}",
                fontsize=9,
            )
            fig.colorbar(im, ax=ax, fraction=0.046)
        fig.suptitle(f"{grid['task']}: evaluated on (columns) after each stage (rows), IQM over seeds", fontsize=10)
        fig.tight_layout()
        fig.savefig(out / "sequence.png", dpi=120)
        plt.close(fig)
        paths.append(out / "sequence.png")
    points = tradeoff(summary)
    if len(points) > 1:
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        for p in points:
            ax.errorbar(
                p["retention"]["iqm"],
                p["target"]["iqm"],
                xerr=[
                    [p["retention"]["iqm"] - p["retention"]["ci_low"]],
                    [p["retention"]["ci_high"] - p["retention"]["iqm"]],
                ],
                yerr=[[p["target"]["iqm"] - p["target"]["ci_low"]], [p["target"]["ci_high"] - p["target"]["iqm"]]],
                marker="o",
                capsize=3,
                label=p["condition"],
            )
        ax.set_xlabel(f"retention: {label} back in the randomised sim (IQM, 95 % CI)")
        ax.set_xlim(-0.02, 1.05)
        paths.append(
            _save(
                fig,
                ax,
                out / "tradeoff.png",
                f"{grid['task']}: specialising vs keeping, at {grid['budgets'][-1]} steps",
                label,
            )
        )
    return paths


def tradeoff(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Target {label} against retention at the largest budget, per fine-tuning condition (plus zero-shot, whose
    retention is the pretrained policy's sim figure): the specialisation / generalisation trade-off."""
    b = str(summary["budgets"][-1])
    out = []
    conds = summary["conditions"]
    if "zero_shot" in conds and "sim" in conds:
        out.append(
            {"condition": "zero_shot", "target": conds["zero_shot"]["success"], "retention": conds["sim"]["success"]}
        )
    for c in curve_conditions(conds):
        e = conds[c].get(b, {})
        if "retention" in e:
            out.append({"condition": c, "target": e["success"], "retention": e["retention"]["finetuned_sim_success"]})
    return out


def _save(fig: Any, ax: Any, path: Path, title: str, label: str = "success rate") -> Path:
    """Shared axis labelling and saving of the report's success plots."""
    import matplotlib.pyplot as plt

    ax.set_ylabel(f"{label} on the target (IQM, 95 % CI)")
    ax.set_ylim(-0.02, 1.05)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


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
