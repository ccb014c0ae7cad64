"""The comparison's condition names, in one place: what ``sim2real compare`` runs (:mod:`sim2real.transfer.compare`)
and what its report reads back (:mod:`sim2real.transfer.report`, :mod:`sim2real.transfer.first_screen`)."""

from __future__ import annotations

from typing import Any

CURVE_CONDITIONS = {  # trained on the target for budgets of steps: condition -> fine-tuning scope (None: scratch)
    "finetune": "all",
    "finetune_last": "last",
    "finetune_features": "features",
    "finetune_reset": "all",
    "finetune_fallback": "all",
    "scratch": None,
}
EVAL_CONDITIONS = ("zero_shot", "nominal_zero_shot", "calibrated")
L2SP = "finetune_l2sp"  # fine-tuning (scope all) with an L2-SP pull toward the pretrained weights, per strength
SEQUENCES = ("sequence", "sequence_l2sp")  # lifelong: fine-tune through a sequence of target profiles
CONDITIONS = (*EVAL_CONDITIONS, *CURVE_CONDITIONS, L2SP, *SEQUENCES, "logged")
# the scopes and the mitigations; a result names L2-SP at one strength as finetune_l2sp@<strength>
FINETUNES = tuple(c for c, scope in CURVE_CONDITIONS.items() if scope is not None)


def is_finetune(condition: str) -> bool:
    """A fine-tuning condition: a scope, or L2-SP at one strength (``finetune_l2sp@0.1``)."""
    return condition in FINETUNES or condition.startswith(f"{L2SP}@")


def curve_conditions(conditions: Any) -> list[str]:
    """The learning-curve conditions among ``conditions``: fine-tuning ones in a fixed order, then scratch."""
    present = set(conditions)
    l2sp = sorted((c for c in present if c.startswith(f"{L2SP}@")), key=lambda c: float(c.split("@")[1]))
    return [c for c in (*FINETUNES, *l2sp, "scratch") if c in present]
