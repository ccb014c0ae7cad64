"""Files from outside: no file the stack reads runs code, reaches outside its directory or allocates from a
declared size. Part one: an SB3 ``model.zip`` whose pickle creates a marker file, given to every entry point
that loads a policy (the marker must stay absent, the command must refuse in one line). Part two: the catalog
of hostile files (:data:`CASES`), one per kind x hostile version, each refused in one line naming the file."""

from __future__ import annotations

import base64
import json
import os
import pickle
import shutil
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import run_cli


class Payload:
    """Unpickling this creates ``marker``: the proof that a load ran code from the file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _hostile_zip(path: Path, marker: Path) -> None:
    """Replace the ``:serialized:`` lr_schedule in SB3's ``data`` member with a payload creating ``marker``."""
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    data = json.loads(members["data"])
    data["lr_schedule"][":serialized:"] = base64.b64encode(pickle.dumps(Payload(str(marker)))).decode()
    members["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    """A navigation run directory in SB3's format whose model.zip runs code when unpickled; and the marker."""
    from stable_baselines3 import PPO

    from sim2real.learn.vec import make_vec_env

    root = tmp_path_factory.mktemp("hostile")
    d, marker = root / "legacy", root / "MARKER"
    d.mkdir()
    PPO("MlpPolicy", make_vec_env("navigate", 1, 0), n_steps=64, batch_size=64, device="cpu").save(d / "model.zip")
    _hostile_zip(d / "model.zip", marker)
    shipped = Path(str(resources.files("sim2real.policies").joinpath("navigate-dr")))
    shutil.copyfile(shipped / "normalization.npz", d / "normalization.npz")
    meta = json.loads((shipped / "run.json").read_text())
    meta.pop("checkpoint")
    (d / "run.json").write_text(json.dumps(meta))
    return d, marker


def test_the_payload_is_live_under_sb3s_own_load(legacy, tmp_path):
    """The marker check means something: SB3's ``load`` (what every entry point called before) runs it."""
    from stable_baselines3 import PPO

    d, _ = legacy
    marker = tmp_path / "LIVE"
    shutil.copyfile(d / "model.zip", tmp_path / "model.zip")
    _hostile_zip(tmp_path / "model.zip", marker)
    PPO.load(tmp_path / "model.zip", device="cpu")
    assert marker.exists()


def _legacy_resume_run(d: Path, tmp: Path) -> Path:
    run = tmp / "resume-run"
    ck = run / "checkpoints" / "ckpt-0000000064"
    ck.mkdir(parents=True)
    for f in ("model.zip", "normalization.npz", "run.json"):
        shutil.copyfile(d / f, ck / f)
    (run / "checkpoints" / "latest").write_text("ckpt-0000000064\n")
    (run / "overrides.started.yaml").write_text("- task=navigate\n- steps=128\n- n_envs=1\n")
    return run


ENTRY_POINTS = {
    "evaluate": lambda L, t: ["evaluate", f"policy={L}", "episodes=2"],
    "finetune": lambda L, t: ["finetune", f"init={L}", "steps=64", f"out_dir={t}/ft"],
    "finetune_l2sp_anchor": lambda L, t: [
        "finetune",
        "init=navigate-dr",
        "finetune.l2sp=0.1",
        f"finetune.l2sp_anchor={L}",
        "steps=64",
        f"out_dir={t}/ft2",
    ],
    "export": lambda L, t: ["export", f"policy={L}", f"out={t}/bundle"],
    "compare": lambda L, t: ["compare", "task=navigate", f"pretrained={L}", "seeds=1", f"out={t}/cmp"],
    "sweep": lambda L, t: ["sweep", "task=navigate", f"policies=[{L}]", "seeds=1", "episodes=1", "values=[1.0]"],
    "collect": lambda L, t: ["collect", f"policy={L}", "episodes=1", f"out={t}/data/x-v0"],
    "train_resume": lambda L, t: ["train", f"resume={_legacy_resume_run(L, t)}"],
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_no_entry_point_unpickles_a_run(entry, legacy, tmp_path):
    d, marker = legacy
    before = set(os.listdir(d))
    r = run_cli(*ENTRY_POINTS[entry](d, tmp_path))
    assert not marker.exists(), f"{entry} ran the payload"
    assert r.returncode == 2, r.stderr[-400:]
    line = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(line) == 1 and "pickle" in line[0] and "sim2real convert" in line[0], r.stderr[-400:]
    assert set(os.listdir(d)) == before  # nothing of the user's changed or deleted


def test_keep_buffer_never_reads_a_planted_pickle(tmp_path):
    from tests.helpers import tiny_train

    run = tiny_train(tmp_path / "sac", "sac", steps=64)
    (run / "replay_buffer.npz").unlink()
    marker = tmp_path / "BUFFER_MARKER"
    (run / "replay_buffer.pkl").write_bytes(pickle.dumps(Payload(str(marker))))
    r = run_cli("finetune", f"init={run}", "finetune.keep_buffer=true", "steps=32", f"out_dir={tmp_path / 'ft'}")
    assert r.returncode == 2 and "has no replay_buffer.npz" in r.stderr, r.stderr[-300:]
    assert not marker.exists()


def test_a_local_directory_cannot_stand_in_for_a_shipped_name(legacy, tmp_path):
    d, marker = legacy
    shutil.copytree(d, tmp_path / "navigate-dr")  # the working directory (conftest: tmp_path)
    for argv in (["evaluate", "policy=navigate-dr", "episodes=1"], ["compare", "task=navigate", "seeds=1"]):
        r = run_cli(*argv)
        assert r.returncode == 2 and "both a shipped policy and a path here" in r.stderr, r.stderr[-300:]
    r = run_cli("evaluate", "policy=./navigate-dr", "episodes=1")  # the explicit path: the legacy refusal
    assert r.returncode == 2 and "sim2real convert" in r.stderr
    assert not marker.exists()


def test_demo_with_a_shadowing_directory_runs_no_code(legacy, tmp_path):
    from sim2real.commands.cli import demo

    d, marker = legacy
    shutil.copytree(d, tmp_path / "navigate-dr")
    assert demo() == 2
    assert not marker.exists()


def test_convert_unpickles_only_with_trust_and_the_result_loads_safely(legacy, tmp_path):
    from stable_baselines3 import PPO

    from sim2real.learn.runs import load_model, resolve_policy

    d, marker = legacy
    r = run_cli("convert", f"policy={d}", f"out={tmp_path / 'c'}")
    assert r.returncode == 2 and "--trust" in r.stderr and not marker.exists() and not (tmp_path / "c").exists()
    clean = tmp_path / "clean"  # a trusted legacy run (no payload)
    clean.mkdir()
    PPO("MlpPolicy", __import__("sim2real.learn.vec").learn.vec.make_vec_env("navigate", 1, 0), device="cpu").save(
        clean / "model.zip"
    )
    for f in ("normalization.npz", "run.json"):
        shutil.copyfile(d / f, clean / f)
    r = run_cli("convert", f"policy={clean}", f"out={tmp_path / 'c'}", "--trust")
    assert r.returncode == 0, r.stderr
    model = load_model(resolve_policy(tmp_path / "c"))
    old = PPO.load(clean / "model.zip", device="cpu")
    obs = np.random.default_rng(0).normal(size=(50, 32)).astype(np.float32)
    assert np.abs(model.predict(obs, deterministic=True)[0] - old.predict(obs, deterministic=True)[0]).max() <= 1e-6
    r = run_cli("convert", f"policy={clean}", f"out={tmp_path / 'c'}", "--trust")
    assert r.returncode == 2 and "overwrites nothing" in r.stderr


def test_a_modified_weight_file_is_refused_unless_allowed(tmp_path, monkeypatch):
    from sim2real.learn.runs import resolve_policy

    shipped = Path(str(resources.files("sim2real.policies").joinpath("navigate-dr")))
    d = tmp_path / "p"
    shutil.copytree(shipped, d)
    raw = bytearray((d / "policy.safetensors").read_bytes())
    raw[-1] ^= 1  # one bit of one weight
    (d / "policy.safetensors").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="does not match its SHA-256 in run.json.*SIM2REAL_ALLOW_MODIFIED=1"):
        resolve_policy(d)
    monkeypatch.setenv("SIM2REAL_ALLOW_MODIFIED", "1")
    resolve_policy(d)


def test_resume_gives_the_same_next_update(tmp_path):
    """A checkpoint written and read back in this format gives the same next gradient update as the model that
    wrote it (optimiser moments, counters, SAC's entropy coefficient and replay buffer), to 1e-6."""
    import copy

    import torch as th
    from stable_baselines3.common.logger import Logger

    from sim2real.learn.checkpoint import BUFFER_FILE, load_replay_buffer
    from sim2real.learn.runs import load_model, resolve_policy, save_policy
    from sim2real.learn.vec import make_vec_env, normalize
    from tests.helpers import tiny_train

    for algo in ("ppo", "sac"):
        run = tiny_train(tmp_path / algo, algo, steps=128)
        norm = normalize(make_vec_env("navigate", 1 if algo == "sac" else 2, 0), 0.99)
        a = load_model(resolve_policy(run), env=norm, training=True)
        if algo == "sac":
            load_replay_buffer(run / BUFFER_FILE, a)
        a.set_logger(Logger(None, []))
        a.learn(64, reset_num_timesteps=False)  # moves the optimisers past their first steps
        save_policy(
            tmp_path / f"{algo}-again",
            a,
            norm,
            {"task": "navigate", "algo": algo, "obs_dim": 32, "action_dim": 2},
            replay_buffer=True,
        )
        b = load_model(resolve_policy(tmp_path / f"{algo}-again"), env=norm, training=True)
        b.set_logger(Logger(None, []))
        if algo == "sac":
            load_replay_buffer(tmp_path / f"{algo}-again" / BUFFER_FILE, b)
        else:
            b.rollout_buffer = copy.deepcopy(a.rollout_buffer)  # the last rollout (already flattened by train)
        for m in (a, b):
            th.manual_seed(0)
            np.random.seed(0)
            if algo == "sac":
                m.train(gradient_steps=2, batch_size=16)
            else:
                m.train()
        pa, pb = a.policy.state_dict(), b.policy.state_dict()
        assert max(float((pa[k] - pb[k]).abs().max()) for k in pa) <= 1e-6, algo
        if algo == "sac":
            assert abs(float(a.log_ent_coef) - float(b.log_ent_coef)) <= 1e-6
        assert a.num_timesteps == b.num_timesteps and a._n_updates == b._n_updates
