"""The task registry: unknown names, the three ways in (Python, a task YAML on Hydra's search path, an
entry point), stock Gymnasium envs through DynamicsWrapper, and a user's own MJCF robot through
train -> evaluate -> export -> deploy."""

import json
import textwrap

import gymnasium as gym
import numpy as np
import pytest
import sim2real.envs  # noqa: F401
from gymnasium.utils.env_checker import check_env

from sim2real.sim import tasks
from sim2real.sim.dynamics import DynamicsError
from sim2real.sim.wrappers import DynamicsWrapper
from tests.helpers import install_entry_point
from tests.helpers import run_cli as cli

TINY = [
    "steps=256",
    "n_envs=2",
    "algo.n_steps=64",
    "algo.batch_size=64",
    "algo.n_epochs=1",
    "eval.interval=0",
    "warm_start.demos=0",
]


def run_cli(*argv):
    r = cli(*argv)
    return r.returncode, r.stdout, r.stderr


def test_unknown_task_lists_the_registered_ones_and_how_to_add_one():
    with pytest.raises(tasks.TaskError) as e:
        tasks.get("bogus")
    msg = str(e.value)
    assert "grasp" in msg and "hopper" in msg and "register" in msg and "entry point" in msg


def test_builtin_tasks_come_from_the_registry():
    assert {"grasp", "navigate", "hopper", "pusher"} <= set(tasks.names())
    assert tasks.env_id("grasp") == "sim2real/Grasp-v0" and tasks.get("hopper").success is False
    assert tasks.get("grasp").targets["real"]["object_size_scale"] == 0.88


def test_env_id_override_is_refused_not_ignored(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, _, err = run_cli("train", "task.env_id=Hopper-v5", "steps=10")
    assert rc == 2 and "task.env_id" in err and "register a task of your own" in err


def test_wrapper_passes_gymnasiums_checker_and_is_recreatable_from_its_spec():
    env = DynamicsWrapper(
        gym.make("Hopper-v5"), randomization={"mass_scale": [0.8, 1.2]}, dynamics={"action_latency": 1}
    )
    check_env(env, skip_render_check=True)  # rendering needs a display here
    again = gym.make(env.spec)
    _, info = again.reset(seed=0)
    assert info["dynamics"]["action_latency"] == 1 and 0.8 <= info["dynamics"]["mass_scale"] <= 1.2


def test_pusher_object_and_goal_are_not_robot_bodies():
    env = tasks.make("pusher", dynamics={"mass_scale": 2.0})
    env.reset(seed=0)
    m = env.unwrapped.model
    nominal = gym.make("Pusher-v5").unwrapped.model
    for body in ("object", "goal"):
        assert m.body(body).mass == pytest.approx(nominal.body(body).mass)
    assert m.body("r_upper_arm_link").mass == pytest.approx(2.0 * nominal.body("r_upper_arm_link").mass)


def test_body_mass_scale_and_payload_act_on_one_body():
    env = tasks.make("hopper", dynamics={"body_mass_scale": {"torso": 1.6}, "payload_mass": 2.0})
    env.reset(seed=0)
    m, nominal = env.unwrapped.model, gym.make("Hopper-v5").unwrapped.model
    assert m.body("torso").mass == pytest.approx(1.6 * nominal.body("torso").mass + 2.0)
    assert m.body("thigh").mass == pytest.approx(nominal.body("thigh").mass)
    with pytest.raises(DynamicsError, match="body_mass_scale.wing"):
        tasks.make("hopper", dynamics={"body_mass_scale.wing": 1.2})


def _foot_contact_friction(friction_scale: float) -> float:
    env = tasks.make("hopper", dynamics={"friction_scale": friction_scale})
    env.reset(seed=0)
    u = env.unwrapped
    for _ in range(60):  # let the hopper land
        env.step(np.zeros(3))
        foot = [
            c
            for c in u.data.contact[: u.data.ncon]
            if u.model.geom(c.geom2).name == "foot_geom" or u.model.geom(c.geom1).name == "foot_geom"
        ]
        if foot:
            return float(foot[0].friction[0])
    raise AssertionError("the foot never touched the floor")


def test_friction_scale_changes_the_contact_even_below_the_floors_friction():
    # stock Hopper: foot 2.0, floor 1.0; MuJoCo takes the larger, so scaling the foot to 0.6 alone does nothing
    assert _foot_contact_friction(1.0) == pytest.approx(2.0)
    assert _foot_contact_friction(0.3) == pytest.approx(0.6)


def test_stock_task_guards_blow_ups_and_nan_actions():
    env = tasks.make("hopper")
    env.reset(seed=0)
    obs, r, term, _, info = env.step(np.array([np.nan, 0.0, 0.0]))
    assert np.isfinite(obs).all()
    env.unwrapped.data.qvel[:] = 1e9
    obs, r, term, _, info = env.step(np.zeros(3))
    assert term and info["physics_unstable"] and r == 0.0 and np.isfinite(obs).all()
    assert tasks.core(env).unstable_episodes == 1


def test_user_task_yaml_on_hydra_search_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "conf" / "task").mkdir(parents=True)
    (tmp_path / "conf" / "task" / "myhopper.yaml").write_text(
        textwrap.dedent("""
        name: myhopper
        env_id: sim2real/MyHopper-v0
        stock: Hopper-v5
        success: false
        robot_bodies: [torso]
        bodies: [torso]
        randomization: {default: {mass_scale: [0.9, 1.1]}}
        targets: {real: {friction_scale: 0.5}}
    """)
    )
    rc, out, err = run_cli(
        "train", "--config-dir", tmp_path / "conf", "task=myhopper", *TINY, f"hydra.run.dir={tmp_path / 'run'}"
    )
    assert rc == 0, err
    assert json.loads((tmp_path / "run" / "run.json").read_text())["task"] == "myhopper"


def _results(offset: float) -> list[dict]:
    """Constructed unit results of a task without a success signal, every return shifted by ``offset``."""

    def unit(cond, ret):
        return {"condition": cond, "result": {"mean_return": ret + offset, "success_rate": None}}

    curve = {
        "condition": "finetune",
        "result": {
            "curve": [
                {"step": 0, "mean_return": 20.0 + offset, "sim_mean_return": 110.0 + offset, "success_rate": None},
                {"step": 10, "mean_return": 60.0 + offset, "sim_mean_return": 100.0 + offset, "success_rate": None},
            ]
        },
    }
    return [
        unit("random", 10.0),
        unit("random", 30.0),
        unit("sim", 100.0),
        unit("sim", 120.0),
        unit("zero_shot", 65.0),
        curve,
    ]


@pytest.mark.parametrize("offset", [0.0, 5.0, -1000.0])
def test_normalised_return_has_known_values_and_ignores_a_reward_offset(offset):
    from sim2real.transfer.compare import score

    results = _results(offset)
    metric = score(results, "hopper")
    assert metric["name"] == "normalised return"
    assert metric["return_random_policy_on_target"] == pytest.approx(20.0 + offset)  # the mean of 10 and 30
    by = {r["condition"]: r["result"] for r in results}
    assert by["zero_shot"]["success_rate"] == pytest.approx(0.5)  # (65 - 20) / (110 - 20)
    assert [p["success_rate"] for p in by["finetune"]["curve"]] == pytest.approx([0.0, 40 / 90])
    assert by["finetune"]["curve"][0]["sim_success_rate"] == pytest.approx(1.0)


def test_normalised_return_refuses_a_policy_no_better_than_random():
    from sim2real.learn.config import ConfigError
    from sim2real.transfer.compare import score

    results = [
        {"condition": "random", "result": {"mean_return": 50.0}},
        {"condition": "sim", "result": {"mean_return": 40.0}},
    ]
    with pytest.raises(ConfigError, match="not above a random"):
        score(results, "hopper")


def test_success_tasks_keep_their_success_rate():
    from sim2real.transfer.compare import score

    results = [{"condition": "zero_shot", "result": {"mean_return": 5.0, "success_rate": 0.9}}]
    assert score(results, "navigate")["name"] == "success" and results[0]["result"]["success_rate"] == 0.9


def test_a_task_yaml_extends_another_the_same_way_in_hydra_and_in_the_registry():
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    with initialize_config_module(config_module="sim2real.configs", version_base="1.3"):
        cfg = compose("design", overrides=["task=navigate_v1", "dynamics=real"])
    node = {k: v for k, v in OmegaConf.to_container(cfg.task, resolve=True).items() if v is not None}
    registry = tasks.to_config(tasks.get("navigate_v1"))
    assert node == {k: registry[k] for k in node} and {"targets", "excite", "kwargs"} <= set(node)  # the same
    assert cfg.dynamics.friction_scale == 0.45 and cfg.dynamics.mass_scale == 1.6  # the base's profile, inherited
    assert tasks.ensure(cfg.task).name == "navigate_v1"


@pytest.mark.parametrize(
    "doc,match",
    [
        ({"defaults": ["nope", "_self_"], "name": "x", "env_id": "x/X-v0"}, "must name one registered task"),
        ({"defaults": ["navigate", "grasp"], "name": "x", "env_id": "x/X-v0"}, "must name one registered task"),
        ({"defaults": ["navigate", "_self_"], "name": "x"}, "an env_id of its own"),
        ({"defaults": ["navigate", "_self_"], "name": "navigate", "env_id": "x/X-v0"}, "a name and an env_id"),
    ],
)
def test_a_bad_extension_is_one_line(doc, match):
    tasks.names()
    with pytest.raises(tasks.TaskError, match=match) as e:
        tasks.spec_from_dict(doc)
    assert "\n" not in str(e.value)


def test_a_broken_plugin_is_one_line_and_breaks_no_other_command(tmp_path, monkeypatch):
    install_entry_point(tmp_path / "site", "broken-robot", "broken = no_such_module_here:spec", monkeypatch)
    monkeypatch.setattr(tasks, "_BROKEN", {})
    try:
        assert "navigate" in tasks.names() and "broken" not in tasks.names()
        rc, out, _ = run_cli("--help")
        assert rc == 0
        rc, _, err = run_cli("train", "task=broken", "steps=8")
        line = [x for x in err.splitlines() if x.startswith("error:")]
        assert rc == 2 and len(line) == 1 and "failed to load" in line[0] and "no_such_module_here" in line[0], err
    finally:
        tasks._load_builtin_and_plugins.cache_clear()
