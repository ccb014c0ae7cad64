"""The bad-input catalog: every case runs the CLI's entry function in-process and asserts the exit code, a
single ``error:`` line that names what is wrong, no traceback, and that nothing the user had was deleted,
changed or half-written."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from sim2real.envs.scripted import scripted_policy

from sim2real.data.collect import rollout
from sim2real.data.datasets import write
from tests.helpers import run_cli as cli
from tests.helpers import tiny_train

OBS_DIM = gym.make("sim2real/Navigate-v0").observation_space.shape[0]


def run_cli(*argv):
    r = cli(*argv)
    return r.returncode, r.stdout, r.stderr


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with the SHA-256 of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def resign(bundle: Path) -> None:
    """Recompute a bundle's manifest after editing policy.json (a well-formed but wrong bundle)."""
    files = {n: hashlib.sha256((bundle / n).read_bytes()).hexdigest() for n in ("policy.onnx", "policy.json")}
    (bundle / "manifest.json").write_text(json.dumps({"algorithm": "sha256", "files": files}))


def edit_bundle(src: Path, dst: Path, edit) -> Path:
    shutil.copytree(src, dst)
    meta = json.loads((dst / "policy.json").read_text())
    edit(meta)
    (dst / "policy.json").write_text(json.dumps(meta, allow_nan=True))
    resign(dst)
    return dst


def edit_norm(src: Path, dst: Path, **changes) -> Path:
    shutil.copytree(src, dst)
    with np.load(dst / "normalization.npz") as f:
        arrays = {k: f[k] for k in f.files}
    arrays.update(changes)
    np.savez(dst / "normalization.npz", **arrays)
    meta = json.loads((dst / "run.json").read_text())  # re-recorded, so the statistics' own checks are reached
    meta["checkpoint"]["files"]["normalization.npz"] = hashlib.sha256(
        (dst / "normalization.npz").read_bytes()
    ).hexdigest()
    (dst / "run.json").write_text(json.dumps(meta))
    return dst


def write_npz(path: Path, **changes) -> Path:
    """A valid two-episode navigation log in the import layout, with ``changes`` applied."""
    rng = np.random.default_rng(0)
    lengths = np.array([3, 2])
    arrays = {
        "observations": rng.normal(size=(7, OBS_DIM)).astype(np.float32),
        "actions": rng.uniform(-1, 1, size=(5, 2)).astype(np.float32),
        "rewards": np.zeros(5),
        "terminations": np.array([False, False, True, False, True]),
        "truncations": np.zeros(5, dtype=bool),
        "episode_lengths": lengths,
        "success": np.array([True, False]),
    }
    arrays.update(changes)
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """What a user has on disk: a finished run, its bundle and a dataset (never to be touched by a bad input)."""
    root = tmp_path_factory.mktemp("world")
    run = tiny_train(root / "run", "ppo", steps=128)
    # the exporter runs in its own process: torch.onnx's dynamo tracing closes pytest's captured stderr when
    # rliable (tests/test_stats.py) was imported first
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "sim2real.commands.cli",
            "export",
            f"policy={run}",
            f"out={root / 'bundle'}",
            "parity_observations=50",
            f"hydra.run.dir={root / 'export-log'}",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert r.returncode == 0, r.stderr
    logs = rollout(scripted_policy, "navigate", 2, 0, None, "real", 0.0)
    write(root / "data" / "nav-v0", "navigate", logs, {"source": "test"})
    still = rollout(lambda env: lambda obs: np.zeros(7, np.float32), "pusher", 1, 0, None, None, 0.0)
    write(root / "data" / "push-v0", "pusher", still, {"source": "test"})
    (root / "data" / "notes-v0").mkdir()
    (root / "data" / "notes-v0" / "keep.txt").write_text("mine")
    (root / "file.txt").write_text("mine")
    (root / "stray").mkdir()
    (root / "stray" / "keep.txt").write_text("mine")
    from sim2real_runtime.excite import ChannelSignal, build

    routine = build("navigate", 10.0, 32, np.zeros(2), [ChannelSignal("chirp"), ChannelSignal("hold")], 50, 5, 0.5)
    routine.save(root / "excite")
    body = (root / "excite" / "excite.json").read_text()
    (root / "excite" / "excite.json").write_text(body.replace('"rate_limit": 0.5', '"rate_limit": 2.0'))  # tampered
    return root


@pytest.fixture
def ws(world, tmp_path, monkeypatch):
    """A working directory per case; Hydra's run directories land here, not in the repository."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    return tmp_path


def _cases(w: Path, t: Path) -> dict[str, tuple[list, str]]:
    """name -> (argv, text the error line must contain). ``w``: the user's files; ``t``: per-case scratch."""
    run, bundle, data = w / "run", w / "bundle", w / "data" / "nav-v0"
    tr = ["train", "task=navigate", "steps=64", "eval.interval=0", "algo.n_steps=32", "n_envs=2"]
    ft = ["finetune", f"init={run}", "steps=64"]
    ev = ["evaluate", f"policy={run}", "episodes=1"]
    dp = ["deploy", f"bundle={bundle}", "episodes=1"]
    co = ["collect", "policy=scripted", "task=navigate", "episodes=1"]
    cmp = ["compare", "task=navigate", f"pretrained={run}", f"baseline={run}", f"out={t / 'cmp'}"]
    return {
        # train: config groups and keys
        "task-unknown": (["train", "task=bogus"], "task=bogus"),
        "dr-unknown": (["train", "dr=bogus"], "dr=bogus"),
        "task-gym-id": (["train", "task=Hopper-v5"], "task=hopper"),
        "task-env-id-override": ([*tr, "task.env_id=Hopper-v5"], "task.env_id"),
        "preset-of-another-task": ([*tr, "dr=torso"], "no randomisation preset 'torso'"),
        "body-unknown": (["train", "task=hopper", "steps=64", "dynamics.body_mass_scale.wing=1.2"], "wing"),
        "payload-not-applicable": ([*tr, "dynamics.payload_mass=2"], "payload_mass"),
        "train-out-read-only": (
            [*tr, "out_dir=/proc/sim2real-out"],
            "out_dir=/proc/sim2real-out: /proc is not writable",
        ),
        "evaluate-out-read-only": ([*ev, "hydra.run.dir=/proc/sim2real-ev"], "/proc is not writable"),
        "export-out-read-only": (["export", f"policy={run}", "out=/proc/sim2real-b"], "out=/proc/sim2real-b"),
        "dynamics-bool": ([*tr, "dynamics.mass_scale=true"], "dynamics.mass_scale: expected a number, got True"),
        "dr-range-bool": ([*tr, "dr.mass_scale=[true,2]"], "mass_scale: expected a number, got True"),
        "algo-unknown": (["train", "algo=td3"], "algo=td3"),
        "key-unknown": ([*tr, "foo=1"], "foo"),
        "gamma-1.5": ([*tr, "algo.gamma=1.5"], "algo.gamma"),
        "gamma-10": ([*tr, "algo.gamma=10"], "algo.gamma"),
        "n_steps-0": ([*tr, "algo.n_steps=0"], "algo.n_steps"),
        "lr-word": ([*tr, "algo.learning_rate=fast"], "algo.learning_rate"),
        "lr-negative": ([*tr, "algo.learning_rate=-0.1"], "algo.learning_rate"),
        "batch-0": ([*tr, "algo.batch_size=0"], "algo.batch_size"),
        "ent_coef-negative": ([*tr, "algo.ent_coef=-1"], "algo.ent_coef"),
        "clip-0": ([*tr, "algo.clip_range=0"], "algo.clip_range"),
        "activation": ([*tr, "algo.policy.activation=sigmoid"], "algo.policy.activation"),
        "schedule": ([*tr, "algo.lr_schedule=cosine"], "algo.lr_schedule"),
        "seed-word": ([*tr, "seed=abc"], "seed"),
        "seed-negative": ([*tr, "seed=-1"], "seed"),
        "steps-0": ([*tr, "steps=0"], "steps"),
        "n_envs-0": ([*tr, "n_envs=0"], "n_envs"),
        "threads-0": ([*tr, "threads=0"], "threads"),
        "eval-episodes-0": ([*tr, "eval.episodes=0"], "eval.episodes"),
        "checkpoint-negative": ([*tr, "checkpoint_interval=-5"], "checkpoint_interval"),
        "n_envs-fraction": ([*tr, "n_envs=1.5"], "n_envs"),  # typed by the schema while composing
        "warm-start-demos-negative": ([*tr, "warm_start.demos=-1"], "warm_start.demos=-1: must be >= 0"),
        "warm-start-lr-word": ([*tr, "warm_start.lr=fast"], "warm_start.lr"),
        "seed-range-unknown": ([*tr, "eval.seed_range=validation"], "eval.seed_range"),
        "progress-list": ([*tr, "progress=[1]"], "progress"),
        "eval-target-unknown": ([*tr, "eval.targets=[bogus]"], "bogus"),
        "dr-range-reversed": ([*tr, "dr.mass_scale=[2,1]"], "mass_scale"),
        "dr-range-three": ([*tr, "dr.mass_scale=[0.5,1,2]"], "mass_scale"),
        "latency-fraction": ([*tr, "dynamics.action_latency=1.5"], "action_latency"),
        "mass-negative": ([*tr, "dynamics.mass_scale=-1"], "mass_scale"),
        "friction-word": ([*tr, "dynamics.friction_scale=abc"], "friction_scale"),
        "dr-file-three": ([*tr, f"dr={t / 'three.yaml'}"], "mass_scale"),
        "dr-file-unknown-name": ([*tr, f"dr={t / 'unknown.yaml'}"], "bogus_scale"),
        "dr-file-missing": ([*tr, f"dr={t / 'missing.yaml'}"], "missing.yaml"),
        "resume-nothing": ([*tr, f"resume={t / 'nothing'}"], "resume"),
        "resume-true-no-dir": ([*tr, "resume=true"], "resume=true"),
        "fresh-in-run-dir": ([*tr, f"hydra.run.dir={run}"], "already holds a run"),
        # finetune
        "finetune-no-init": (["finetune"], "init"),
        "finetune-init-missing": (["finetune", f"init={t / 'nope'}"], "nope"),
        "finetune-lr-0": ([*ft, "finetune.lr=0"], "finetune.lr"),
        "finetune-scope": ([*ft, "finetune.scope=head"], "finetune.scope"),
        "finetune-l2sp-negative": ([*ft, "finetune.l2sp=-1"], "finetune.l2sp=-1.0: must be >= 0"),
        "finetune-head-lr-1": ([*ft, "finetune.head_lr=1"], "finetune.head_lr"),
        "finetune-keep-buffer-ppo": ([*ft, "finetune.keep_buffer=true"], "keep_buffer"),
        "finetune-task-mismatch": ([*ft, "task=grasp"], "grasp"),
        "finetune-mixed-ppo": ([*ft, f"data={data}", "mode=mixed"], "mode=mixed"),
        "finetune-data-missing": ([*ft, f"data={t / 'none-v0'}"], "none-v0"),
        "finetune-mode": ([*ft, f"data={data}", "mode=online"], "mode='online'"),
        "finetune-data-truncated": ([*ft, f"data={t / 'trunc-v0'}"], "trunc-v0"),
        "finetune-offline-episodes": ([*ft, f"data={data}", "offline.episodes=99"], "offline.episodes"),
        # evaluate and stored policies
        "evaluate-no-policy": (["evaluate"], "policy"),
        "evaluate-episodes-0": ([*ev[:2], "episodes=0"], "episodes"),
        "evaluate-seed-word": ([*ev, "seed=abc"], "seed"),
        "evaluate-policy-missing": (["evaluate", "policy=nope-dr"], "nope-dr"),
        "evaluate-task-mismatch": ([*ev, "task=grasp"], "grasp"),
        "norm-corrupt": (["evaluate", f"policy={t / 'corrupt'}", "episodes=1"], "normalization.npz"),
        "norm-not-zip": (["evaluate", f"policy={t / 'notzip'}", "episodes=1"], "normalization.npz"),
        "norm-nan": (["evaluate", f"policy={t / 'nan'}", "episodes=1"], "obs_var"),
        "norm-negative-var": (["evaluate", f"policy={t / 'negvar'}", "episodes=1"], "obs_var"),
        "norm-wrong-width": (["evaluate", f"policy={t / 'width'}", "episodes=1"], "normalization.npz"),
        "norm-inf-ret": (["evaluate", f"policy={t / 'infret'}", "episodes=1"], "ret_var"),
        # export
        "export-no-policy": (["export"], "policy is required"),
        "export-no-out": (["export", f"policy={run}"], "out"),
        "export-over-run": (["export", f"policy={run}", f"out={run}"], "out="),
        "export-over-file": (["export", f"policy={run}", f"out={w / 'file.txt'}"], "out="),
        "export-over-dir": (["export", f"policy={run}", f"out={w / 'stray'}"], "out="),
        "export-parity-0": (["export", f"policy={run}", f"out={t / 'b'}", "parity_observations=0"], "parity"),
        # deploy and bundles
        "deploy-no-bundle": (["deploy"], "bundle"),
        "deploy-bundle-missing": (["deploy", f"bundle={t / 'nob'}"], "nob"),
        "bundle-nan-safe": (["deploy", f"bundle={t / 'nansafe'}"], "safe_action"),
        "bundle-inf-bound": (["deploy", f"bundle={t / 'infbound'}"], "bounds"),
        "bundle-format": (["deploy", f"bundle={t / 'format'}"], "format"),
        "bundle-tampered": (["deploy", f"bundle={t / 'tampered'}"], "SHA-256"),
        "bundle-obs-width": (["deploy", f"bundle={t / 'obswidth'}"], "observations"),
        "bundle-task-mismatch": (["deploy", f"bundle={bundle}", "task=grasp"], "grasp"),
        "bundle-obs-names": (["deploy", f"bundle={t / 'obsnames'}"], "observation 0"),
        "bundle-rate-zero": (["deploy", f"bundle={t / 'rate0'}"], "control_rate_hz=0"),
        "bundle-obs-bounds": (["deploy", f"bundle={t / 'obsbounds'}"], "observation 6 (range_0) bounds"),
        "bundle-prev-index": (["deploy", f"bundle={t / 'previdx'}"], "previous_action.indices"),
        "deploy-rate-1000": ([*dp, "rate_hz=1000"], "rate_hz"),
        "deploy-rate-0": ([*dp, "rate_hz=0"], "rate_hz"),
        "deploy-realtime-maybe": ([*dp, "realtime=maybe"], "realtime"),
        "deploy-episodes-0": ([*dp[:2], "episodes=0"], "episodes"),
        "deploy-log-exists": ([*dp, f"log={w / 'data' / 'nav-v0'}"], "already exists"),
        "deploy-log-not-dataset": ([*dp, f"log={w / 'data' / 'notes-v0'}"], "not a dataset"),
        "deploy-log-bad-name": ([*dp, f"log={t / 'badname'}"], "badname"),
        # collect
        "collect-no-policy": (["collect"], "policy is required"),
        "collect-exists": ([*co, f"out={data}"], "already exists"),
        "collect-not-dataset": ([*co, f"out={w / 'data' / 'notes-v0'}"], "not a dataset"),
        "collect-noise": ([*co, "action_noise=2", f"out={t / 'c-v0'}"], "action_noise"),
        "collect-bad-name": ([*co, f"out={t / 'c'}"], "Minari id"),
        "collect-episodes-0": (
            ["collect", "policy=scripted", "task=navigate", "episodes=0", f"out={t / 'c-v0'}"],
            "episodes",
        ),
        "collect-overwrite-word": ([*co, "overwrite=maybe", f"out={t / 'c-v0'}"], "overwrite"),
        "excite-band": (
            ["collect", "policy=excite", "task=navigate", "episodes=1", "excite.band_hz=[3,1]", f"out={t / 'c-v0'}"],
            "band_hz",
        ),
        "excite-amplitude": (
            ["collect", "policy=excite", "task=navigate", "episodes=1", "excite.amplitude=2", f"out={t / 'c-v0'}"],
            "excite.amplitude",
        ),
        "excite-signal": (
            ["collect", "policy=excite", "task=navigate", "episodes=1", "excite.signal=sine", f"out={t / 'c-v0'}"],
            "excite.signal",
        ),
        "excite-tampered": (["collect", f"policy={w / 'excite'}", "episodes=1", f"out={t / 'c-v0'}"], "SHA-256"),
        "design-candidate": (["design", "task=navigate", "candidates=[random]"], "candidates"),
        "design-amplitude": (["design", "task=navigate", "candidates=[excite@1.5]"], "amplitude in (0, 1]"),
        "design-signal": (["design", "task=navigate", "candidates=[excite:sine@0.3]"], "excite:<signal>@"),
        # data import / info
        "import-success-strings": (["data", "import", t / "yes.npz", "task=navigate", f"out={t / 'i-v0'}"], "success"),
        "import-mid-termination": (
            ["data", "import", t / "mid.npz", "task=navigate", f"out={t / 'i-v0'}"],
            "episode 0",
        ),
        "import-not-zip": (["data", "import", t / "text.npz", "task=navigate", f"out={t / 'i-v0'}"], "text.npz"),
        "import-exists": (["data", "import", t / "good.npz", "task=navigate", f"out={data}"], "already exists"),
        "import-not-dataset": (
            ["data", "import", t / "good.npz", "task=navigate", f"out={w / 'data' / 'notes-v0'}"],
            "not a dataset",
        ),
        "import-task": (["data", "import", t / "good.npz", "task=bogus", f"out={t / 'i-v0'}"], "task='bogus'"),
        "import-missing-arrays": (
            ["data", "import", t / "partial.npz", "task=navigate", f"out={t / 'i-v0'}"],
            "missing arrays",
        ),
        "import-overwrite-word": (
            ["data", "import", t / "good.npz", "task=navigate", f"out={t / 'i-v0'}", "overwrite=maybe"],
            "overwrite",
        ),
        "import-flags-float": (
            ["data", "import", t / "flags.npz", "task=navigate", f"out={t / 'i-v0'}"],
            "terminations",
        ),
        "info-truncated": (["data", "info", t / "trunc-v0"], "trunc-v0"),
        "info-missing": (["data", "info", t / "none-v0"], "none-v0"),
        "data-verb": (["data", "bogus"], "bogus"),
        # calibrate
        "calibrate-truncated": (["calibrate", f"data={t / 'trunc-v0'}", "task=navigate"], "trunc-v0"),
        "calibrate-missing": (["calibrate", f"data={t / 'none-v0'}", "task=navigate"], "no such dataset"),
        "calibrate-no-data": (["calibrate"], "data is required"),
        "calibrate-no-replay-hooks": (["calibrate", f"data={w / 'data' / 'push-v0'}"], "lacks the calibration hooks"),
        "calibrate-budget-0": (["calibrate", f"data={data}", "budget=0"], "budget"),
        "calibrate-bootstrap-1": (["calibrate", f"data={data}", "bootstrap=1"], "bootstrap=1"),
        "calibrate-params": (["calibrate", f"data={data}", "params=[bogus]"], "bogus"),
        "calibrate-newton-rounds-0": (["calibrate", f"data={data}", "newton_rounds=0"], "newton_rounds"),
        "calibrate-restarts-0": (["calibrate", f"data={data}", "restarts=0"], "restarts"),
        "calibrate-restarts-no-start": (["calibrate", f"data={data}", "restarts=2", "start_budget=0"], "budget=0"),
        "calibrate-sigma-hop": (["calibrate", f"data={data}", "sigma_hop=-1"], "sigma_hop=-1"),
        "calibrate-identified-rel-std": (["calibrate", f"data={data}", "identified_rel_std=0"], "identified_rel_std"),
        # compare: grid-wide settings before any unit runs
        "compare-episodes-0": ([*cmp, "eval.episodes=0"], "eval.episodes"),
        "compare-lr-0": ([*cmp, "finetune.lr=0"], "finetune.lr"),
        "compare-seeds-0": ([*cmp, "seeds=0"], "seeds"),
        "compare-budgets-empty": ([*cmp, "budgets=[]"], "budgets"),
        "compare-interval": ([*cmp, "budgets=[5000]", "eval.interval=3000"], "eval.interval"),
        "compare-condition": ([*cmp, "conditions=[bogus]"], "bogus"),
        "compare-pretrained": ([*cmp, f"pretrained={t / 'nope'}"], "nope"),
        "compare-threshold": ([*cmp, "threshold=2"], "threshold"),
        # the command line itself
        "subcommand": (["bogus"], "bogus"),
    }


CASES = sorted(_cases(Path("w"), Path("t")))


def _prepare(name: str, w: Path, t: Path) -> None:
    """Make the broken file a case needs, in the scratch directory ``t``."""
    run, bundle, data = w / "run", w / "bundle", w / "data" / "nav-v0"
    if name.startswith("dr-file"):
        (t / "three.yaml").write_text("mass_scale: [0.5, 1.0, 2.0]\n")
        (t / "unknown.yaml").write_text("bogus_scale: [0.5, 1.0]\n")
    elif name == "norm-corrupt":
        shutil.copytree(run, t / "corrupt")
        raw = (t / "corrupt" / "normalization.npz").read_bytes()
        (t / "corrupt" / "normalization.npz").write_bytes(raw[: len(raw) // 2])
    elif name == "norm-not-zip":
        shutil.copytree(run, t / "notzip")
        (t / "notzip" / "normalization.npz").write_text("not an archive")
    elif name == "norm-nan":
        edit_norm(run, t / "nan", obs_var=np.full(OBS_DIM, np.nan))
    elif name == "norm-negative-var":
        edit_norm(run, t / "negvar", obs_var=-np.ones(OBS_DIM))
    elif name == "norm-inf-ret":
        edit_norm(run, t / "infret", ret_var=np.array(np.inf))
    elif name == "norm-wrong-width":
        edit_norm(run, t / "width", obs_mean=np.zeros(9), obs_var=np.ones(9))
    elif name == "bundle-nan-safe":
        edit_bundle(bundle, t / "nansafe", lambda m: m.update(safe_action=["nan"] * 2))  # (NaN: JSON refused)
    elif name == "bundle-inf-bound":
        edit_bundle(bundle, t / "infbound", lambda m: m["action"][0].update(high="inf"))
    elif name == "bundle-format":
        edit_bundle(bundle, t / "format", lambda m: m.update(format=99))
    elif name == "bundle-tampered":
        shutil.copytree(bundle, t / "tampered")
        meta = json.loads((t / "tampered" / "policy.json").read_text())
        meta["control_rate_hz"] = 100.0
        (t / "tampered" / "policy.json").write_text(json.dumps(meta))
    elif name == "bundle-obs-width":
        edit_bundle(bundle, t / "obswidth", lambda m: m["observation"].pop())
    elif name == "bundle-rate-zero":
        edit_bundle(bundle, t / "rate0", lambda m: m.update(control_rate_hz=0))
    elif name == "bundle-obs-bounds":
        edit_bundle(bundle, t / "obsbounds", lambda m: m["observation"][6].update(low=3.0, high=2.0))
    elif name == "bundle-prev-index":
        edit_bundle(bundle, t / "previdx", lambda m: m["previous_action"].update(indices=[30, 99]))
    elif name == "bundle-obs-names":
        edit_bundle(bundle, t / "obsnames", lambda m: m["observation"][0].update(name="renamed"))
    elif name.startswith("import") or name.startswith("info") or name.endswith("truncated"):
        write_npz(t / "good.npz")
        write_npz(t / "yes.npz", success=np.array(["yes", "maybe"]))
        write_npz(t / "mid.npz", terminations=np.array([True, False, True, False, True]))
        write_npz(t / "flags.npz", terminations=np.array([0.0, 0.5, 1.0, 0.0, 1.0]))
        np.savez(t / "partial.npz", observations=np.zeros((3, OBS_DIM)))
        (t / "text.npz").write_text("observations,actions\n")
        shutil.copytree(data, t / "trunc-v0")
        h5 = t / "trunc-v0" / "data" / "main_data.hdf5"
        h5.write_bytes(h5.read_bytes()[:2000])


@pytest.mark.parametrize("name", CASES)
def test_bad_input(name, world, ws):
    t = ws / "scratch"
    t.mkdir()
    _prepare(name, world, t)
    argv, needle = _cases(world, t)[name]
    before = snapshot(world)
    rc, out, err = run_cli(*argv)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert rc == 2, (rc, out, err)
    assert len(errors) == 1 and "Traceback" not in err, err
    assert needle in errors[0], errors[0]
    assert snapshot(world) == before, "a bad input changed the user's files"


def test_catalog_size():
    assert len(CASES) >= 60
