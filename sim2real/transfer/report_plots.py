"""The comparison report's PNG plots: learning curves, budgets, logged episodes, the sequence's accuracy matrices
and the specialising / keeping trade-off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sim2real.transfer import stats
from sim2real.transfer.conditions import curve_conditions
from sim2real.transfer.curves import snap_curve, stage_names, tradeoff


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
        curves = [snap_curve(r["result"], interval, budgets[-1]) for r in rs]
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
            ax.set_yticks(range(len(m)), stage_names(q["profiles"]), fontsize=8)
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
