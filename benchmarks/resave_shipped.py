"""How the shipped policies were re-saved from SB3's model.zip (commit de29338) into the pickle-free format.

For each policy: the zip is taken from git history, converted with ``sim2real convert``'s code (the only
unpickling path, trusted: these are the project's own files), its actions on 1,000 observations are compared
with the zip's (max |difference| must be <= 1e-6; it was 0.0 for all seven), and 16 of those observations
and the zip's actions are written to tests/data/shipped_actions.json, which test_shipped.py checks.

    .venv/bin/python benchmarks/resave_shipped.py          # prints the differences; rewrites nothing by default
    .venv/bin/python benchmarks/resave_shipped.py --write  # re-saves policies/ and the fixture
"""

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch as th
from stable_baselines3 import PPO, SAC

from sim2real.deploy.export import sample_observations
from sim2real.learn.checkpoint import convert_legacy, load_policy_model
from sim2real.learn.evaluate import normalized_policy
from sim2real.learn.vec import read_normalization

SOURCE = "de29338"  # the last commit with SB3 zips under policies/
ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true")
    args = p.parse_args()
    th.set_num_threads(1)
    fixture = {}
    for d in sorted(q for q in (ROOT / "policies").iterdir() if (q / "run.json").is_file()):
        tmp = Path(tempfile.mkdtemp())
        src = tmp / "src"
        src.mkdir()
        for name in ("model.zip", "normalization.npz", "run.json"):
            blob = subprocess.check_output(["git", "show", f"{SOURCE}:policies/{d.name}/{name}"], cwd=ROOT)
            (src / name).write_bytes(blob)
        meta = json.loads((src / "run.json").read_text())
        old = {"ppo": PPO, "sac": SAC}[meta["algo"]].load(src / "model.zip", device="cpu")
        n = read_normalization(src / "normalization.npz", meta["obs_dim"])
        obs = sample_observations(meta["task"], 1000, seed=0)
        stats = (n["obs_mean"], n["obs_var"], float(n["clip_obs"]), float(n["epsilon"]))
        a_old = normalized_policy(old, *stats)(obs)
        convert_legacy(src, tmp / "out", trust=True)
        new_meta = json.loads((tmp / "out" / "run.json").read_text())
        a_new = normalized_policy(load_policy_model(tmp / "out", new_meta), *stats)(obs)
        diff = float(np.abs(a_old - a_new).max())
        print(f"{d.name}: max |zip - safetensors| over 1000 observations = {diff:.1e}")
        assert diff <= 1e-6
        fixture[d.name] = {"observations": obs[:16].tolist(), "actions": a_old[:16].tolist()}
        if args.write:
            new_meta.pop("converted_from", None)
            new_meta["resaved_from"] = f"model.zip (SB3 2.9.2, commit {SOURCE}) by benchmarks/resave_shipped.py"
            for name in ("policy.safetensors", "optimizer.safetensors"):
                shutil.copyfile(tmp / "out" / name, d / name)
            (d / "run.json").write_text(json.dumps(new_meta, indent=2) + "\n")
            (d / "model.zip").unlink(missing_ok=True)
    if args.write:
        (ROOT / "tests" / "data" / "shipped_actions.json").write_text(json.dumps(fixture) + "\n")


if __name__ == "__main__":
    main()
