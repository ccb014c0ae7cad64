"""The shipped policies: present, small, documented, and usable by name."""

import json
import os
import subprocess
import sys

import pytest

from sim2real.runs import resolve_policy, shipped_policies

NAMES = ["grasp-dr", "grasp-nominal", "navigate-dr", "navigate-nominal"]


def test_all_four_are_shipped():
    assert set(NAMES) <= set(shipped_policies())


@pytest.mark.parametrize("name", NAMES)
def test_shipped_policy_is_small_and_documented(name):
    src = resolve_policy(name)
    assert src.task == name.split("-")[0]
    assert src.model_path.stat().st_size < 700_000
    ev = src.meta["shipped_evaluation"]
    assert {"nominal", "default_randomization", "real"} <= set(ev)
    assert src.meta["commit"] and src.meta["config"]
    expected = "none" if name.endswith("nominal") else "default"
    assert src.meta["randomization"]["name"] == expected


def test_evaluate_shipped_policy_by_name(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "sim2real.cli",
            "evaluate",
            "policy=navigate-dr",
            "dynamics=real",
            "episodes=3",
            f"hydra.run.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert r.returncode == 0, r.stderr
    ev = json.loads((tmp_path / "evaluation.json").read_text())
    assert ev["task"] == "navigate" and ev["episodes"] == 3
