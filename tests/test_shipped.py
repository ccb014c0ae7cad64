"""The shipped policies: present, small, documented, and usable by name."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim2real.learn.runs import resolve_policy, shipped_policies

NAMES = [
    "grasp-dr",
    "grasp-nominal",
    "navigate-dr",
    "navigate-nominal",
    "panda_lift-dr",
    "panda_lift-nominal",
    "panda_lift-wide",
    "panda_lift-adr",
    "navigate-adr",
]
ADR = [n for n in NAMES if n.endswith("-adr")]  # shipped after the zip era, chosen by sim2real.learn.ship


def test_all_are_shipped():
    assert set(NAMES) <= set(shipped_policies())


@pytest.mark.parametrize("name", NAMES)
def test_shipped_policy_is_small_and_documented(name):
    src = resolve_policy(name)
    assert src.task == name.rsplit("-", 1)[0]
    assert src.model_path.stat().st_size < 700_000
    ev = src.meta["shipped_evaluation"]
    assert {"nominal", "default_randomization", "real"} <= set(ev)
    assert src.meta["commit"] and src.meta["config"]
    expected = {"nominal": "none", "wide": "wide", "adr": "adr"}.get(name.rsplit("-", 1)[1], "default")
    assert src.meta["randomization"]["name"] == expected


def test_evaluate_shipped_policy_by_name(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "sim2real.commands.cli",
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


def test_ship_selects_by_the_stated_rule_on_development_episodes_only(tmp_path, monkeypatch):
    """The shipped seed is the best on development episodes of its training distribution; no target profile
    and no test episode is evaluated before the choice."""
    from sim2real.learn import ship
    from sim2real.learn.evaluate import Episode
    from tests.helpers import tiny_train

    runs = [tiny_train(tmp_path / f"s{i}", "ppo") for i in range(3)]
    rate = {runs[0].name: 0.5, runs[1].name: 0.9, runs[2].name: 0.9}
    ret = {runs[0].name: 9.0, runs[1].name: 1.0, runs[2].name: 2.0}
    calls = []

    def fake(policy, task, episodes, seed, rand, dyn, seed_range="test", **kw):
        calls.append((seed_range, dyn))
        name = fake.current
        return [Episode(k < rate[name] * episodes, ret[name], 10, k, False, {}) for k in range(episodes)]

    def spy_resolve(run):
        fake.current = __import__("pathlib").Path(run).name
        return real_resolve(run)

    real_resolve = ship.resolve_policy
    monkeypatch.setattr(ship, "run_episodes", fake)
    monkeypatch.setattr(ship, "resolve_policy", spy_resolve)
    chosen, record = ship.select(runs, 10)
    assert chosen.name == "s2" and record["chosen"] == "s2"  # ties on success: the higher return wins
    assert [c["development_success_rate"] for c in record["candidates"]] == [0.5, 0.9, 0.9]
    assert calls and all(r == "development" for r, _ in calls)
    assert all(not isinstance(d, str) and (d is None or d.get("mass_scale", 1.0) == 1.0) for _, d in calls)


@pytest.mark.parametrize("name", [n for n in NAMES if n not in ADR])
def test_resaved_policy_acts_as_the_sb3_zip_did(name):
    """The shipped policies were re-saved from SB3's model.zip into policy.safetensors; their actions on 16
    recorded observations (tests/data/shipped_actions.json, computed from the zip before it was removed) agree
    to 1e-6."""
    import numpy as np

    from sim2real.learn.evaluate import stored_policy

    rec = json.loads((Path(__file__).parent / "data" / "shipped_actions.json").read_text())[name]
    actions = stored_policy(resolve_policy(name))(np.asarray(rec["observations"], dtype=np.float32))
    assert np.abs(actions - np.asarray(rec["actions"])).max() <= 1e-6


@pytest.mark.parametrize("name", ADR)
def test_shipped_adr_policy_was_chosen_on_development_profiles_and_has_its_bundle(name):
    from sim2real.deploy import Bundle

    src = resolve_policy(name)
    sel = src.meta["selection"]
    assert sel["dev_profiles"] == ["dev_a", "dev_b"] and "no named target" in sel["rule"]
    scored = {k for c in sel["candidates"] for k in c["development_scores"]}
    assert scored == {"training", "dev_a", "dev_b"}  # never a named target
    best = max(sel["candidates"], key=lambda c: (c["development_success_rate"], c["development_mean_return"]))
    assert sel["chosen"] == best["run"] == Path(src.meta["source_run"]).name
    bundle = Bundle.load(src.path / "bundle")
    memory = (
        {"kind": "recurrent"}
        if src.meta["algo"] == "recurrent_ppo"
        else ({"kind": "history", "k": src.meta["history"]} if src.meta.get("history", 1) > 1 else {"kind": "none"})
    )
    assert bundle.memory == {**bundle.memory, **memory}
    assert bundle.meta["episode_parity"]["max_abs_diff"] <= 1e-5
