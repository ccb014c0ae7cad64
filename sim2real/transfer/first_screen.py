"""The first screen of a comparison report, what a person reads first: whether the report may be published, the
verdict in one sentence, the headline numbers, the learning curves, and the target's dynamics beside the ranges
the policy was trained on."""

from __future__ import annotations

from typing import Any

from sim2real.transfer.conditions import curve_conditions


def fmt(d: dict[str, float] | None, pct: bool = True) -> str:
    """``64% [59%, 67%]``: an IQM (or mean) with its CI; a fraction as a percentage unless ``pct`` is False."""
    if not d:
        return "-"
    p = d.get("iqm", d.get("mean"))
    if p is None:
        return "undefined (scratch AUC <= 0)"
    f = (lambda x: f"{100 * x:.0f}%") if pct else (lambda x: f"{x:.2f}")
    return f"{f(p)} [{f(d['ci_low'])}, {f(d['ci_high'])}]"


def provenance(summary: dict[str, Any]) -> str | None:
    """Why a report may not be published (None: every unit and pretraining run it records ran under one commit
    of a clean working tree). The report says so at the top in bold; the docs build withholds it."""
    commits = set(summary.get("commits") or []) | set((summary.get("pretraining") or {}).get("commits") or [])
    if not commits:
        return "it records no commit for its units"
    dirty = sorted(c for c in commits if c.endswith("-dirty"))
    if len(commits) > 1:
        return f"its units ran under {len(commits)} commits" + (f", {len(dirty)} from a dirty tree" if dirty else "")
    if dirty:
        return "its units ran from a dirty working tree"
    return None


def headline(s: dict[str, Any], label: str) -> list[str]:
    """The first screen: the verdict in one sentence, the headline numbers, the learning curves, and the target's
    dynamics beside the ranges the policy was trained on (a value outside them is marked)."""
    c, top = s["conditions"], str(s["budgets"][-1]) if s.get("budgets") else ""
    if not curve_conditions(c):  # nothing trained on the target for budgets of steps
        return _no_curves(s, label) + _dynamics(s)
    ft = (s.get("transfer") or {}).get("finetune", {}).get(top, {})
    lines = []
    if not ft and top:  # no scratch condition: the verdicts against it were not computed
        lines += [
            f"**Verdict at {top} target steps:** none computed (a verdict needs the scratch condition); "
            f"fine-tuned {fmt((c.get('finetune') or {}).get(top, {}).get('success'))} against zero-shot "
            f"{fmt((c.get('zero_shot') or {}).get('success'))}.",
            "",
        ]
    if ft:
        lines += [
            f"**Verdict at {top} target steps:** fine-tuning vs scratch: **{ft.get('verdict_vs_scratch')}** "
            f"(difference {fmt(ft.get('finetuned_minus_scratch'))}); fine-tuning vs zero-shot: "
            f"**{ft.get('verdict_vs_zero_shot')}** (difference {fmt(ft.get('finetuned_minus_zero_shot'))}).",
            "",
        ]
    cells = [
        ("zero-shot", (c.get("zero_shot") or {}).get("success")),
        (f"fine-tuned, {top} steps", (c.get("finetune") or {}).get(top, {}).get("success")),
        (f"scratch, {top} steps", (c.get("scratch") or {}).get(top, {}).get("success")),
    ]
    return lines + _numbers(cells, label, s["seeds"], "learning curves", "learning_curves.png") + _dynamics(s)


def _numbers(cells: list[tuple[str, Any]], label: str, seeds: int, alt: str, plot: str) -> list[str]:
    """The headline numbers as a one-row table (name, IQM with CI), their caption, and the plot below them."""
    return [
        "| " + " | ".join(n for n, _ in cells) + " |",
        "|" + "---|" * len(cells),
        "| " + " | ".join(fmt(v) for _, v in cells) + " |",
        "",
        f"({label}, IQM [95 % CI] over {seeds} seeds)",
        "",
        f"![{alt}]({plot})",
        "",
    ]


def _no_curves(s: dict[str, Any], label: str) -> list[str]:
    """The headline of a comparison without learning curves on one target (zero-shot, calibrated-sim, offline
    fine-tuning on logged episodes, or fine-tuning over a sequence of targets): each condition's figure, and the
    plot that shows them."""
    c, seq = s["conditions"], s.get("sequence") or {}
    cells = [(n, (c.get(k) or {}).get("success")) for k, n in (("zero_shot", "zero-shot"),
             ("nominal_zero_shot", "nominal-sim zero-shot"), ("calibrated", "calibrated-sim")) if k in c]  # fmt: skip
    logged = c.get("logged") or {}
    cells += [(f"offline, {n} logged episodes", logged[n].get("success")) for n in sorted(logged, key=int)]
    for cond, q in seq.items():  # ACC: the final success averaged over the profiles; BWT < 0: forgetting
        cells += [(f"{cond}: {m}", (q.get("metrics") or {}).get(m)) for m in ("ACC", "BWT")]
    cells = cells or [("randomised sim", (c.get("sim") or {}).get("success"))]
    said = "; ".join(f"{n} {fmt(v)}" for n, v in cells)
    plot = "logged.png" if logged else "sequence.png" if seq else "budgets.png"
    what = "Fine-tuning over a sequence of targets" if seq else "No fine-tuning on the target in this comparison"
    return [
        f"**{what}** ({label} on `{s.get('dynamics_name')}`): {said}.",
        "",
        *_numbers(cells, label, s["seeds"], plot[:-4], plot),
    ]


def _dynamics(s: dict[str, Any]) -> list[str]:
    """The target's dynamics beside the ranges the policy was trained on (a value outside them is marked), then
    the start of the details."""
    from sim2real.sim.dynamics import PARAMS

    lines = ["| parameter | target | trained on | |", "|---|---|---|---|"]
    ranges = s.get("training_ranges") or {}
    for name, value in (s.get("dynamics") or {}).items():
        if not isinstance(value, (int, float)):
            continue
        r, spec = ranges.get(name), PARAMS.get(name)
        if isinstance(r, (list, tuple)) and len(r) == 2:
            lo, hi, seen = float(r[0]), float(r[1]), f"[{float(r[0]):g}, {float(r[1]):g}]"
        elif spec is not None:
            lo = hi = float(spec.nominal)
            seen = f"{spec.nominal:g} (nominal, not randomised)"
        else:
            lo = hi = None
            seen = "-"
        outside = bool(ranges) and lo is not None and not (lo - 1e-9 <= float(value) <= hi + 1e-9)
        what = f" ({spec.doc.replace('|', '')})" if spec else ""  # a pipe would split the table cell
        lines.append(f"| `{name}`{what} | {value:g} | {seen} | {'**outside**' if outside else ''} |")
    if not ranges:
        lines += ["", '(The pretrained runs\' randomisation ranges were not found: "trained on" shows nominal.)']
    return [*lines, "", "## Details", "", f"Target dynamics, every value: {s.get('dynamics')}.", ""]
