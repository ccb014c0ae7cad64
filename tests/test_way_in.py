"""Every way in works in every command (issue 31): a user's stock-env task by a task YAML on ``--config-dir``,
the docs' own MJCF robot (``docs/examples/my_robot``) by an entry point, and a task registered in Python; and a
user's spec is checked when it is first built, not mid-training.

The full command list runs for the YAML way (the one that used to stop after ``finetune``) and the entry-point
way; the Python way runs the cheapest pair (train, evaluate) and compare's one-line refusal."""

import json
import shutil
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from sim2real.sim import tasks
from sim2real.sim.task_check import _CHECKED
from tests.helpers import install_entry_point, run_cli

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "my_robot"
TINY = ["steps=128", "eval.interval=0", "algo=ppo", "algo.n_steps=64", "algo.batch_size=64", "algo.n_epochs=1",
        "n_envs=2", "warm_start.demos=0"]  # fmt: skip
FT = ["steps=128", "eval.interval=0", "algo.n_steps=64", "algo.batch_size=64", "algo.n_epochs=1", "n_envs=2"]


def _ok(r, *want):
    assert r.returncode == 0, r.stderr[-2000:]
    for w in want:
        assert w in r.stdout, (w, r.stdout[-2000:])
    assert "Overriding environment" not in r.stderr  # an entry point loads once per process


def _yaml_way(root: Path) -> tuple[list[str], str]:
    """The issue's reproduction: configs/task/hopper.yaml copied, renamed, on --config-dir."""
    src = Path(tasks._packaged_dir()) / "hopper.yaml"
    (root / "cfg" / "task").mkdir(parents=True)
    text = src.read_text().replace("name: hopper", "name: my_hopper").replace("sim2real/Hopper-v5", "mine/Hopper-v5")
    (root / "cfg" / "task" / "my_hopper.yaml").write_text(text)
    return ["--config-dir", str(root / "cfg")], "my_hopper"


def _entry_point_way(root: Path, monkeypatch) -> tuple[list[str], str]:
    """The docs' template robot, installed as a package with a ``sim2real.tasks`` entry point."""
    site = root / "site"
    shutil.copytree(EXAMPLE, site)
    install_entry_point(site, "my-robot", "slider = my_robot:spec", monkeypatch)
    return [], "slider"


@pytest.mark.parametrize("way", ["yaml", "entry_point", "python"])
def test_every_way_in_works_in_every_command(way, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if way == "yaml":
        cd, name = _yaml_way(tmp_path)
    elif way == "entry_point":
        cd, name = _entry_point_way(tmp_path, monkeypatch)
    else:
        monkeypatch.syspath_prepend(str(EXAMPLE))
        import my_robot

        tasks.register(tasks.spec_from_dict({**my_robot.spec(), "name": "py_slider", "env_id": "user/PySlider-v0"}),
                       replace=True)  # fmt: skip
        cd, name = [], "py_slider"
    run = tmp_path / "run"
    _ok(run_cli("train", *cd, f"task={name}", *TINY, f"hydra.run.dir={run}"))
    assert json.loads((run / "run.json").read_text())["task_spec"]["name"] == name
    # evaluate needs no --config-dir: the run records its task's spec
    _ok(run_cli("evaluate", f"policy={run}", "dynamics=real", "episodes=2"), f"evaluate: {name}")
    if way == "python":
        r = run_cli("compare", f"task={name}", f"pretrained={run}", f"baseline={run}", "seeds=1", "budgets=[128]")
        assert r.returncode == 2 and "registered in Python" in r.stderr and len(r.stderr.strip().splitlines()) == 1
        return
    _ok(run_cli("evaluate", *cd, f"policy={run}", f"task={name}", "episodes=2"), f"evaluate: {name}")
    _ok(run_cli("finetune", *cd, f"init={run}", "dynamics=real", *FT, f"hydra.run.dir={tmp_path / 'ft'}"))
    jobs = 2 if way == "yaml" else 1  # a YAML task reaches joblib's workers by its folder
    r = run_cli("sweep", *cd, f"task={name}", f"policies=[{run}]", "param=mass_scale", "values=[1.0,1.3]", "seeds=1",
                "episodes=2", f"n_jobs={jobs}", f"out_dir={tmp_path / 'sw'}")  # fmt: skip
    _ok(r, f"sweep: {name}")
    _ok(run_cli("collect", *cd, f"policy={run}", "episodes=2", f"out={tmp_path / 'data' / 'col-v0'}"))
    _ok(run_cli("export", *cd, f"policy={run}", f"out={tmp_path / 'bundle'}", "parity_observations=20"))
    _ok(run_cli("deploy", f"bundle={tmp_path / 'bundle'}", "episodes=2", f"log={tmp_path / 'data' / 'dep-v0'}"),
        f"deploy: {name} on real")  # fmt: skip
    assert (tmp_path / "data" / "dep-v0").is_dir()  # a path, as collect out= (not data_dir/<id>)
    r = run_cli("calibrate", f"data={tmp_path / 'data' / 'col-v0'}", "budget=10", "bootstrap=0", "restarts=1",
                f"hydra.run.dir={tmp_path / 'cal'}")  # fmt: skip
    _ok(r)  # the stock Hopper (Gymnasium's observation layout) calibrates with the default replay hooks
    assert (tmp_path / "cal" / "dynamics.yaml").is_file()
    if way == "yaml":  # compare's workers know the YAML task (one seed: 'not enough seeds', no verdict)
        r = run_cli("compare", *cd, f"task={name}", f"pretrained={run}", f"baseline={run}", "seeds=1",
                    "budgets=[128]", "eval.interval=128", "eval.episodes=2", "n_envs=2", "conditions=[zero_shot]",
                    "launcher=basic", f"out={tmp_path / 'cmp'}")  # fmt: skip
        assert "unit(s) failed" not in r.stderr and "unknown" not in r.stderr, r.stderr[-2000:]


def test_help_honours_config_dir(tmp_path):
    cd, name = _yaml_way(tmp_path)
    r = run_cli("train", *cd, f"task={name}", "--help")
    assert r.returncode == 0 and "for task=my_hopper" in r.stdout, r.stderr


def test_a_recorded_spec_that_differs_from_the_registered_one_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cd, name = _yaml_way(tmp_path)
    _ok(run_cli("train", *cd, f"task={name}", *TINY, f"hydra.run.dir={tmp_path / 'run'}"))
    f = tmp_path / "cfg" / "task" / "my_hopper.yaml"
    f.write_text(f.read_text().replace("robot_bodies: [torso]", "robot_bodies: [torso, thigh]"))
    r = run_cli("evaluate", *cd, f"policy={tmp_path / 'run'}", "episodes=2")
    assert r.returncode == 2 and "was recorded with robot_bodies" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_recorded_import_path_is_never_followed(tmp_path, monkeypatch):
    """A run whose recorded task is built by code that is not registered here: refused, nothing imported."""
    monkeypatch.chdir(tmp_path)
    spec = {"name": "ghost", "env_id": "g/Ghost-v0", "entry_point": "ghost_marker_module:Env"}
    with pytest.raises(tasks.TaskError, match="never followed"):
        tasks.adopt("ghost", spec, "policy x")
    assert "ghost_marker_module" not in sys.modules and "ghost" not in tasks.names()


def _stock(name: str, **extra) -> tasks.TaskSpec:
    d = {"name": name, "env_id": f"t/{name}-v0", "stock": "Hopper-v5", "robot_bodies": ["torso"], **extra}
    return tasks.register(tasks.spec_from_dict(d), replace=True)


def test_success_true_without_is_success_fails_when_first_built():
    _stock("no_success_sig", success=True)
    _CHECKED.discard("no_success_sig")
    with pytest.raises(tasks.TaskError, match="no 'is_success'.*set success: false"):
        tasks.make("no_success_sig")


def test_a_layout_of_the_wrong_length_fails_when_first_built():
    _stock("short_layout", success=False, observation=[{"name": "z", "unit": "m"}])
    _CHECKED.discard("short_layout")
    with pytest.raises(tasks.TaskError, match="observation layout has 1 entries, the env's observation space 11"):
        tasks.make("short_layout")


def test_missing_robot_bodies_and_layouts_are_warned_once(capsys):
    tasks.register(tasks.spec_from_dict({"name": "bare_hopper", "env_id": "t/Bare-v0", "stock": "Hopper-v5",
                                         "success": False}), replace=True)  # fmt: skip
    _CHECKED.discard("bare_hopper")
    tasks.make("bare_hopper").close()
    tasks.make("bare_hopper").close()
    err = capsys.readouterr().err
    assert err.count("names no robot_bodies") == 1 and "floor" not in err.split("robot_bodies")[0]
    assert "has no observation layout: export will name its entries observation[0..10]" in err


def test_task_check_prints_layouts_bodies_and_hooks(tmp_path, monkeypatch):
    cd, name = _entry_point_way(tmp_path, monkeypatch)
    r = run_cli("task", "check", name)
    assert r.returncode == 0, r.stderr
    assert "[0] x (m)" in r.stdout and "bodies the dynamics layer scales (1): cart" in r.stdout
    assert "restore yes" in r.stdout and "replay_context yes" in r.stdout
    cd, name = _yaml_way(tmp_path / "y")
    r = run_cli("task", "check", name, *cd)
    # the stock Hopper has Gymnasium's observation layout: the default replay hooks (sim2real.sim.stock_replay)
    assert r.returncode == 0 and "restore yes" in r.stdout and "mine/Hopper-v5" in r.stdout, r.stderr
    assert run_cli("task", "check", "nope").returncode == 2


def test_an_env_without_calibration_hooks_builds_and_calibrate_names_them(tmp_path, monkeypatch):
    """``restore`` is no longer abstract: a Sim2RealEnv without hooks works in every command but calibrate."""
    site = tmp_path / "site"
    shutil.copytree(EXAMPLE, site)
    code = (site / "my_robot.py").read_text()
    code = code.split("    # -- optional: the calibration hooks")[0] + "\n\ndef spec():\n" + textwrap.indent(
        "return " + repr({"name": "bare_slider", "env_id": "user/BareSlider-v0", "entry_point": "bare_robot:SliderEnv",
                          "max_episode_steps": 40}), "    ")  # fmt: skip
    (site / "bare_robot.py").write_text(code.replace('task = "slider"', 'task = "bare_slider"') + "\n")
    monkeypatch.syspath_prepend(str(site))
    import bare_robot

    tasks.register(tasks.spec_from_dict(bare_robot.spec()), replace=True)
    tasks.make("bare_slider").close()
    from sim2real.ident.replay import CalibrationError, replay_env

    with pytest.raises(CalibrationError, match="lacks the calibration hooks restore, replay_compared"):
        replay_env("bare_slider")


def test_excite_spec_errors_name_the_key(tmp_path, monkeypatch):
    from sim2real.data.excite import ExcitationError, excitation_for

    monkeypatch.syspath_prepend(str(EXAMPLE))
    import my_robot

    for name, excite, match in (
        ("ex_nochan", {"ramp_s": 0.1}, "excite.channels must list 1 channel"),
        ("ex_ramp", {"channels": [{"signal": "chirp", "amplitude": 0.3}], "ramp_s": 5.0}, "excite.ramp_s=5 s needs"),
    ):
        tasks.register(tasks.spec_from_dict({**my_robot.spec(), "name": name, "env_id": f"user/{name}-v0",
                                             "kwargs": {"task": name}, "excite": excite}), replace=True)  # fmt: skip
        with pytest.raises(ExcitationError, match=match):
            excitation_for(tasks.make(name))


def test_a_refused_deploy_leaves_no_run_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from tests.helpers import tiny_train

    run = tiny_train(tmp_path / "run", "ppo")
    _ok(run_cli("export", f"policy={run}", f"out={tmp_path / 'b'}", "parity_observations=10"))
    r = run_cli("deploy", f"bundle={tmp_path / 'b'}", "rate_hz=1000")
    assert r.returncode == 2 and "rate_hz=1000" in r.stderr
    assert not list((tmp_path / "runs" / "deploy").rglob("*"))
    r = run_cli("compare", "task=navigate", "budgets=[300]", "eval.interval=256", f"out={tmp_path / 'c'}")
    assert r.returncode == 2 and not (tmp_path / "c").exists()


def test_an_entry_point_that_registers_itself_loads_once(tmp_path, monkeypatch):
    site = tmp_path / "site"
    shutil.copytree(EXAMPLE, site)
    (site / "self_reg.py").write_text(
        "from sim2real.sim import tasks\nimport my_robot\n"
        "SPEC = tasks.spec_from_dict({**my_robot.spec(), 'name': 'selfreg', 'env_id': 'user/SelfReg-v0'})\n"
        "tasks.register(SPEC, replace=True)\n"
    )
    install_entry_point(site, "self-reg", "selfreg = self_reg:SPEC", monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert "selfreg" in tasks.names()
    assert not [w for w in caught if "Overriding environment" in str(w.message)]
