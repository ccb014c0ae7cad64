"""Learning-curve points and names shared by the comparison report's text (:mod:`sim2real.transfer.report`) and
its plots (:mod:`sim2real.transfer.report_plots`)."""

from __future__ import annotations

from typing import Any

from sim2real.transfer.conditions import curve_conditions


def snap_curve(
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


def stage_names(profiles: list[str]) -> list[str]:
    """Row names of a sequence's accuracy matrix: the pretrained policy, then each stage and its profile."""
    return ["pretrained", *(f"stage {i} ({p})" for i, p in enumerate(profiles, 1))]


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
