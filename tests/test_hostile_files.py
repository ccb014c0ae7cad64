"""The hostile-file catalog: every kind of file the stack reads from elsewhere (a run directory, a bundle, a
dataset and its imports, an excitation routine, a task YAML), each in hostile versions (a pickle payload, a
path out of its directory, wrong dtypes and shapes, NaN and inf, huge declared sizes, truncation, a duplicate
JSON key). Each case must end the same way: a one-line refusal naming the file, no code run, nothing written
outside the command's own output, nothing of the user's changed, and no allocation from a declared size.

The README's reliability section counts :data:`CASES`."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import shutil
import struct
import zipfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

MARKER = "HOSTILE_MARKER"


class Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _shipped(name: str = "navigate-dr") -> Path:
    return Path(str(resources.files("sim2real.policies").joinpath(name)))


def _rehash(d: Path) -> None:
    """What an attacker does after editing a file: put its new SHA-256 into run.json."""
    meta = json.loads((d / "run.json").read_text())
    for name in meta["checkpoint"]["files"]:
        meta["checkpoint"]["files"][name] = _sha(d / name)
    (d / "run.json").write_text(json.dumps(meta))


def _npy_header_only(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    """An .npy member that declares ``shape`` but holds 16 bytes of data."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + b"\0" * 16


def _npz(path: Path, arrays: dict[str, np.ndarray], raw: dict[str, bytes] | None = None) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for k, v in arrays.items():
            v, buf = np.asarray(v), io.BytesIO()
            if v.dtype.hasobject:  # the hostile member: an object header and a pickle stream, built by hand
                np.lib.format.write_array_header_1_0(buf, {"descr": "|O", "fortran_order": False, "shape": v.shape})
                buf.write(pickle.dumps(v, protocol=3))
            else:
                np.lib.format.write_array(buf, v, allow_pickle=False)
            z.writestr(f"{k}.npy", buf.getvalue())
        for k, b in (raw or {}).items():
            z.writestr(f"{k}.npy", b)


def _object_array(marker: Path) -> np.ndarray:
    a = np.empty(1, dtype=object)
    a[0] = Payload(str(marker))
    return a


# ---------------------------------------------------------------- loaders


def load_run(d: Path) -> None:
    """What evaluate, export and compare do with a policy: the model and its normaliser."""
    from sim2real.learn.evaluate import stored_policy
    from sim2real.learn.runs import resolve_policy

    stored_policy(resolve_policy(d))


def load_bundle(d: Path) -> None:
    from sim2real_runtime import Bundle

    Bundle.load(d)


def load_excite(d: Path) -> None:
    from sim2real_runtime import Excitation

    Excitation.load(d)


def import_log(f: Path) -> None:
    from sim2real.data.datasets import import_npz

    import_npz(f, "navigate", f.parent / "out" / "imp-v0")


def read_dataset(d: Path) -> None:
    from sim2real.data.datasets import read

    read(d)


def load_buffer(d: Path) -> None:
    from sim2real.learn.checkpoint import load_replay_buffer
    from sim2real.learn.runs import load_model, resolve_policy

    load_replay_buffer(d / "replay_buffer.npz", load_model(resolve_policy(d)))


# ---------------------------------------------------------------- base artefacts (built once per module)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A clean run directory, SAC run with a buffer, bundle, excitation routine, import log and dataset."""
    from sim2real_runtime.episodes import EpisodeLog

    from sim2real.data.datasets import write
    from sim2real.deploy.export import export
    from sim2real.sim import tasks
    from tests.helpers import tiny_train

    root = tmp_path_factory.mktemp("base")
    shutil.copytree(_shipped(), root / "run")
    tiny_train(root / "sac", "sac", steps=64)
    export("navigate-dr", root / "bundle", n_parity=10)
    from sim2real.data.excite import excitation_for

    excitation_for(tasks.make("navigate")).save(root / "excite")
    rng = np.random.default_rng(0)
    obs_dim, n = 32, 5
    arrays = {
        "observations": rng.normal(size=(n + 1, obs_dim)),
        "actions": rng.uniform(-1, 1, size=(n, 2)),
        "rewards": rng.normal(size=n),
        "terminations": np.zeros(n, bool),
        "truncations": np.r_[np.zeros(n - 1, bool), True],
        "episode_lengths": np.array([n]),
    }
    np.savez(root / "log.npz", **arrays)
    env = tasks.make("navigate")
    o, _ = env.reset(seed=0)
    obs, acts = [o], []
    for _ in range(5):
        a = env.action_space.sample()
        o, *_ = env.step(a)
        obs.append(o)
        acts.append(a)
    ep = EpisodeLog(0, obs, acts, [0.0] * 5, [False] * 5, [False] * 4 + [True], False)
    write(root / "ds" / "nav-v0", "navigate", [ep], {"source": "test"})
    return root, arrays


def _copy(base_dir: Path, name: str, tmp: Path) -> Path:
    src = base_dir / name
    dst = tmp / name
    (shutil.copytree if src.is_dir() else shutil.copyfile)(src, dst)
    return dst


# ---------------------------------------------------------------- the cases: (kind, what, build, load, expect)
# build(tmp, base_root, arrays, marker) -> the path the loader takes


def _edit_run_json(fn: Callable[[dict], None], rehash: bool = False) -> Callable:
    def build(t, b, a, m):
        d = _copy(b, "run", t)
        meta = json.loads((d / "run.json").read_text())
        fn(meta)
        (d / "run.json").write_text(json.dumps(meta))
        return d

    return build


def _edit_file(name: str, fn: Callable[[Path, Path], None], kind: str = "run", rehash: bool = True) -> Callable:
    def build(t, b, a, m):
        d = _copy(b, kind, t)
        fn(d / name, m)
        if rehash and kind in ("run", "sac"):
            _rehash(d)
        return d

    return build


def _safetensors_huge_header(p: Path, m: Path) -> None:
    p.write_bytes(struct.pack("<Q", 2**40) + b"{}")


def _safetensors_tensor(p: Path, change: Callable) -> None:
    from safetensors.torch import load_file, save_file

    t = load_file(str(p))
    key = sorted(t)[0]
    t[key] = change(t[key])
    save_file(t, str(p))


def _norm(p: Path, **changes: object) -> None:
    with np.load(p) as f:
        arrays = {k: f[k] for k in f.files}
    arrays.update(changes)
    _npz(p, arrays)


def _bundle_manifest(fn: Callable[[dict, Path], None]) -> Callable:
    def build(t, b, a, m):
        d = _copy(b, "bundle", t)
        man = json.loads((d / "manifest.json").read_text())
        fn(man, d)
        (d / "manifest.json").write_text(json.dumps(man))
        return d

    return build


def _bundle_file(name: str, fn: Callable[[Path], None], relist: bool = True) -> Callable:
    def build(t, b, a, m):
        d = _copy(b, "bundle", t)
        fn(d / name)
        if relist:
            man = json.loads((d / "manifest.json").read_text())
            man["files"][name] = _sha(d / name)
            (d / "manifest.json").write_text(json.dumps(man))
        return d

    return build


def _policy_json(fn: Callable[[dict], None]) -> Callable:
    def edit(p: Path) -> None:
        meta = json.loads(p.read_text())
        fn(meta)
        p.write_text(json.dumps(meta))

    return _bundle_file("policy.json", edit)


def _log(fn: Callable[[dict, Path], dict | None], raw: Callable[[Path], dict] | None = None) -> Callable:
    def build(t, b, a, m):
        arrays = {k: v.copy() for k, v in a.items()}
        arrays = fn(arrays, m) or arrays
        _npz(t / "log.npz", arrays, raw(m) if raw else None)
        return t / "log.npz"

    return build


def _excite(fn: Callable[[bytes], bytes], rehash: bool = True) -> Callable:
    def build(t, b, a, m):
        d = _copy(b, "excite", t)
        body = fn((d / "excite.json").read_bytes())
        (d / "excite.json").write_bytes(body)
        if rehash:
            (d / "manifest.json").write_text(json.dumps({"files": {"excite.json": hashlib.sha256(body).hexdigest()}}))
        return d

    return build


def _sparse(p: Path, size: int) -> None:
    p.unlink()
    with open(p, "wb") as f:
        f.truncate(size)


def _symlink_out(p: Path, m: Path) -> None:
    outside = p.parent.parent / "outside.bin"
    shutil.copyfile(p, outside)
    p.unlink()
    p.symlink_to(outside)


def _legacy(t, b, a, m):
    from stable_baselines3 import PPO

    from sim2real.learn.vec import make_vec_env

    d = _copy(b, "run", t)
    for f in ("policy.safetensors",):
        (d / f).unlink()
    PPO("MlpPolicy", make_vec_env("navigate", 1, 0), n_steps=64, batch_size=64, device="cpu").save(d / "model.zip")
    with zipfile.ZipFile(d / "model.zip") as z:
        members = {n: z.read(n) for n in z.namelist()}
    data = json.loads(members["data"])
    import base64

    data["lr_schedule"][":serialized:"] = base64.b64encode(pickle.dumps(Payload(str(m)))).decode()
    members["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(d / "model.zip", "w") as z:
        for n, v in members.items():
            z.writestr(n, v)
    return d


def _dup_key(text: bytes, key: str) -> bytes:
    s = text.decode()
    i = s.index("{") + 1
    return (s[:i] + f'"{key}": 0, ' + s[i:]).encode()


def _dataset_meta(fn: Callable[[Path], None]) -> Callable:
    def build(t, b, a, m):
        d = _copy(b, "ds", t) / "nav-v0"
        fn(d / "data" / "metadata.json")
        return d

    return build


def _yaml_task(body: str) -> Callable:
    def build(t, b, a, m):
        (t / "cfg" / "task").mkdir(parents=True)
        (t / "cfg" / "task" / "evil.yaml").write_text(body.replace("MARKER_PATH", str(m)))
        return t / "cfg"

    return build


def run_yaml_task(cfg_dir: Path) -> None:
    from tests.helpers import run_cli

    r = run_cli("evaluate", "--config-dir", cfg_dir, "policy=navigate-dr", "task=evil", "episodes=1")
    if r.returncode != 2:
        return
    err = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    raise ValueError(err[-1] if err else r.stderr.strip().splitlines()[-1])


S = "policy.safetensors"
N = "normalization.npz"
CASES: list[tuple[str, str, Callable, Callable, str]] = [
    # a run directory
    ("run", "model.zip pickle payload", _legacy, load_run, "pickle"),
    ("run", "policy.safetensors garbage", _edit_file(S, lambda p, m: p.write_bytes(b"\x00" * 64)), load_run, S),
    (
        "run",
        "policy.safetensors truncated",
        _edit_file(S, lambda p, m: p.write_bytes(p.read_bytes()[:300])),
        load_run,
        S,
    ),
    ("run", "policy.safetensors header of 2^40 bytes", _edit_file(S, _safetensors_huge_header), load_run, S),
    (
        "run",
        "policy.safetensors NaN weight",
        _edit_file(S, lambda p, m: _safetensors_tensor(p, lambda x: x * np.nan)),
        load_run,
        "NaN",
    ),
    (
        "run",
        "policy.safetensors wrong shape",
        _edit_file(S, lambda p, m: _safetensors_tensor(p, lambda x: x[:1])),
        load_run,
        "the policy needs",
    ),
    (
        "run",
        "policy.safetensors wrong dtype",
        _edit_file(S, lambda p, m: _safetensors_tensor(p, lambda x: x.double())),
        load_run,
        "the policy needs",
    ),
    ("run", "policy.safetensors symlink out", _edit_file(S, _symlink_out), load_run, "symbolic link"),
    (
        "run",
        "policy.safetensors changed, hash not",
        _edit_file(S, lambda p, m: _safetensors_tensor(p, lambda x: x + 1), rehash=False),
        load_run,
        "SHA-256",
    ),
    (
        "run",
        "normalization.npz pickle payload",
        _edit_file(N, lambda p, m: _norm(p, obs_mean=_object_array(m))),
        load_run,
        N,
    ),
    (
        "run",
        "normalization.npz declares 1e12 values",
        _edit_file(N, lambda p, m: _npz(p, {}, {"obs_mean": _npy_header_only((10**12,))})),
        load_run,
        N,
    ),
    (
        "run",
        "normalization.npz NaN mean",
        _edit_file(N, lambda p, m: _norm(p, obs_mean=np.full(32, np.nan))),
        load_run,
        N,
    ),
    (
        "run",
        "normalization.npz truncated",
        _edit_file(N, lambda p, m: p.write_bytes(p.read_bytes()[:100])),
        load_run,
        N,
    ),
    (
        "run",
        "normalization.npz wrong shape",
        _edit_file(N, lambda p, m: _norm(p, obs_mean=np.zeros(5), obs_var=np.ones(5))),
        load_run,
        N,
    ),
    ("run", "normalization.npz complex", _edit_file(N, lambda p, m: _norm(p, obs_var=np.ones(32) * 1j)), load_run, N),
    (
        "run",
        "run.json duplicate key",
        _edit_file("run.json", lambda p, m: p.write_bytes(_dup_key(p.read_bytes(), "algo")), rehash=False),
        load_run,
        "duplicate key",
    ),
    (
        "run",
        "run.json NaN",
        _edit_file(
            "run.json",
            lambda p, m: p.write_text(p.read_text().replace('"obs_dim": 32', '"obs_dim": NaN')),
            rehash=False,
        ),
        load_run,
        "run.json",
    ),
    (
        "run",
        "run.json truncated",
        _edit_file("run.json", lambda p, m: p.write_text(p.read_text()[:50]), rehash=False),
        load_run,
        "run.json",
    ),
    (
        "run",
        "run.json of 65 MiB",
        _edit_file("run.json", lambda p, m: _sparse(p, 65 * 2**20), rehash=False),
        load_run,
        "run.json",
    ),
    (
        "run",
        "hyperparameter tensorboard_log=/etc",
        _edit_run_json(lambda j: j["checkpoint"]["hyperparameters"].update(tensorboard_log="/etc")),
        load_run,
        "tensorboard_log",
    ),
    (
        "run",
        "policy_kwargs activation_fn=os.system",
        _edit_run_json(lambda j: j["checkpoint"]["policy_kwargs"].update(activation_fn="os.system")),
        load_run,
        "activation_fn",
    ),
    (
        "run",
        "policy_kwargs net_arch of 1e9 units",
        _edit_run_json(lambda j: j["checkpoint"]["policy_kwargs"].update(net_arch=[10**9])),
        load_run,
        "net_arch",
    ),
    ("run", "obs_dim 1e12", _edit_run_json(lambda j: j.update(obs_dim=10**12)), load_run, "obs_dim"),
    (
        "run",
        "schedule of an unknown kind",
        _edit_run_json(lambda j: j["checkpoint"]["schedules"].update(learning_rate={"kind": "pickle", "value": 1})),
        load_run,
        "schedule",
    ),
    (
        "run",
        "files entry ../../x",
        _edit_run_json(lambda j: j["checkpoint"]["files"].update({S: "0" * 64})),
        load_run,
        "SHA-256",
    ),
    (
        "run",
        "checkpoints/latest -> ../../etc",
        lambda t, b, a, m: (
            (t / "r" / "checkpoints").mkdir(parents=True),
            (t / "r" / "checkpoints" / "latest").write_text("../../etc\n"),
            t / "r",
        )[-1],
        load_run,
        "latest",
    ),
    (
        "run",
        "replay_buffer.npz pickle payload",
        _edit_file("replay_buffer.npz", lambda p, m: _norm(p, rewards=_object_array(m)), kind="sac"),
        load_buffer,
        "replay_buffer.npz",
    ),
    (
        "run",
        "replay_buffer.npz wrong shape",
        _edit_file("replay_buffer.npz", lambda p, m: _norm(p, actions=np.zeros((3, 1, 2), np.float32)), kind="sac"),
        load_buffer,
        "replay_buffer.npz",
    ),
    (
        "run",
        "replay_buffer.npz declares 1e12 rows",
        _edit_file(
            "replay_buffer.npz",
            lambda p, m: _npz(p, {}, {"observations": _npy_header_only((10**12, 1, 32), "<f4")}),
            kind="sac",
        ),
        load_buffer,
        "replay_buffer.npz",
    ),
    (
        "run",
        "replay_buffer.npz NaN reward",
        _edit_file(
            "replay_buffer.npz", lambda p, m: _norm(p, rewards=np.full_like(np.load(p)["rewards"], np.nan)), kind="sac"
        ),
        load_buffer,
        "NaN",
    ),
    # a bundle
    (
        "bundle",
        "manifest entry ../secret.txt",
        _bundle_manifest(
            lambda man, d: (
                (d.parent / "secret.txt").write_text("s"),
                man["files"].update({"../secret.txt": _sha(d.parent / "secret.txt")}),
            )
        ),
        load_bundle,
        "reaches outside",
    ),
    (
        "bundle",
        "manifest entry /etc/hostname",
        _bundle_manifest(
            lambda man, d: man["files"].update(
                {"/etc/hostname": _sha(Path("/etc/hostname")) if Path("/etc/hostname").is_file() else "0" * 64}
            )
        ),
        load_bundle,
        "reaches outside",
    ),
    (
        "bundle",
        "policy.onnx symlink out",
        _bundle_file("policy.onnx", lambda p: _symlink_out(p, p), relist=False),
        load_bundle,
        "symbolic link",
    ),
    (
        "bundle",
        "manifest files as a list",
        _bundle_manifest(lambda man, d: man.update(files=list(man["files"]))),
        load_bundle,
        "manifest.json",
    ),
    (
        "bundle",
        "manifest duplicate key",
        _bundle_file("manifest.json", lambda p: p.write_bytes(_dup_key(p.read_bytes(), "files")), relist=False),
        load_bundle,
        "duplicate key",
    ),
    (
        "bundle",
        "garbage policy.onnx",
        _bundle_file("policy.onnx", lambda p: p.write_bytes(b"not onnx" * 10)),
        load_bundle,
        "policy.onnx",
    ),
    (
        "bundle",
        "truncated policy.onnx",
        _bundle_file("policy.onnx", lambda p: p.write_bytes(p.read_bytes()[:200])),
        load_bundle,
        "policy.onnx",
    ),
    (
        "bundle",
        "policy.onnx of 600 MiB",
        _bundle_file("policy.onnx", lambda p: _sparse(p, 600 * 2**20)),
        load_bundle,
        "policy.onnx",
    ),
    (
        "bundle",
        "unlisted external-data file",
        _bundle_file("weights.bin", lambda p: p.write_bytes(b"\0" * 64), relist=False),
        load_bundle,
        "weights.bin",
    ),
    (
        "bundle",
        "policy.json NaN rate",
        _bundle_file(
            "policy.json",
            lambda p: p.write_text(p.read_text().replace('"control_rate_hz": ', '"control_rate_hz": NaN, "x": ')),
        ),
        load_bundle,
        "policy.json",
    ),
    (
        "bundle",
        "policy.json safe_action outside bounds",
        _policy_json(lambda j: j.update(safe_action=[5, -7])),
        load_bundle,
        "safe_action",
    ),
    (
        "bundle",
        "policy.json string action bounds",
        _policy_json(lambda j: j["action"][0].update(low="x")),
        load_bundle,
        "policy.json",
    ),
    # logged data: .npz import and Minari datasets
    (
        "dataset",
        "import: pickle payload",
        _log(lambda a, m: a.update(observations=_object_array(m))),
        import_log,
        "log.npz",
    ),
    (
        "dataset",
        "import: 1e12 declared rows",
        _log(
            lambda a, m: {k: v for k, v in a.items() if k != "observations"},
            lambda m: {"observations": _npy_header_only((10**12, 32))},
        ),
        import_log,
        "log.npz",
    ),
    (
        "dataset",
        "import: NaN observation",
        _log(lambda a, m: a["observations"].__setitem__((0, 0), np.nan)),
        import_log,
        "log.npz",
    ),
    (
        "dataset",
        "import: 1e300 becomes inf in float32",
        _log(lambda a, m: a["observations"].__setitem__((0, 0), 1e300)),
        import_log,
        "log.npz",
    ),
    (
        "dataset",
        "import: complex observations",
        _log(lambda a, m: a.update(observations=a["observations"] + 0j)),
        import_log,
        "log.npz",
    ),
    (
        "dataset",
        "import: string rewards",
        _log(lambda a, m: a.update(rewards=np.array(["1"] * 5))),
        import_log,
        "log.npz",
    ),
    (
        "dataset",
        "import: wrong action width",
        _log(lambda a, m: a.update(actions=np.zeros((5, 3)))),
        import_log,
        "log.npz",
    ),
    (
        "dataset",
        "import: truncated archive",
        lambda t, b, a, m: ((t / "log.npz").write_bytes((b / "log.npz").read_bytes()[:200]), t / "log.npz")[-1],
        import_log,
        "log.npz",
    ),
    (
        "dataset",
        "metadata.json duplicate key",
        _dataset_meta(lambda p: p.write_bytes(_dup_key(p.read_bytes(), "dataset_id"))),
        read_dataset,
        "metadata.json",
    ),
    (
        "dataset",
        "metadata.json truncated",
        _dataset_meta(lambda p: p.write_text(p.read_text()[:20])),
        read_dataset,
        "metadata.json",
    ),
    # an excitation routine
    ("excite", "excite.json duplicate key", _excite(lambda b: _dup_key(b, "format")), load_excite, "duplicate key"),
    (
        "excite",
        "excite.json NaN",
        _excite(lambda b: b.replace(b'"control_rate_hz": ', b'"control_rate_hz": NaN, "y": ')),
        load_excite,
        "excite.json",
    ),
    ("excite", "excite.json truncated", _excite(lambda b: b[:40]), load_excite, "excite.json"),
    (
        "excite",
        "excite.json changed, hash not",
        _excite(lambda b: b.replace(b"1", b"2", 1), rehash=False),
        load_excite,
        "SHA-256",
    ),
    ("excite", "excite.json of 65 MiB", _excite(lambda b: b + b" " * (65 * 2**20)), load_excite, "excite.json"),
    # a task YAML on --config-dir
    (
        "task yaml",
        "python object tag",
        _yaml_task("name: evil\nenv_id: !!python/object/apply:builtins.open [MARKER_PATH, w]\n"),
        run_yaml_task,
        "evil",
    ),
    (
        "task yaml",
        "duplicate key",
        _yaml_task("name: evil\nname: other\nenv_id: sim2real/Navigate-v0\n"),
        run_yaml_task,
        "evil",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{k}: {w}" for k, w, *_ in CASES])
def test_hostile_file_is_refused_in_one_line(case, base, tmp_path):
    kind, what, build, load, expect = case
    b, arrays = base
    marker = tmp_path.parent / f"{MARKER}-{tmp_path.name}"
    target = build(tmp_path, b, arrays, marker)
    before = {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if not p.is_symlink()}
    with pytest.raises((ValueError, FileNotFoundError)) as e:
        load(target)
    msg = str(e.value)
    assert "\n" not in msg.strip(), msg
    assert expect in msg, msg
    assert not marker.exists(), "code ran from the file"
    after = {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in tmp_path.rglob("*") if not p.is_symlink()}
    assert {p: v for p, v in after.items() if p in before} == before  # nothing of the user's changed or deleted
    assert not set(after) - set(before) or all(
        "out" in p.parts or "outputs" in p.parts for p in set(after) - set(before)
    )


def test_the_catalog_is_large_enough():
    assert len(CASES) >= 40
    assert {k for k, *_ in CASES} == {"run", "bundle", "dataset", "excite", "task yaml"}
