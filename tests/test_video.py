"""Seeing the policy: every built-in task renders headless (MuJoCo's offscreen renderer through EGL), and
``evaluate video=true`` writes an MP4 whose name carries the outcome and the episode's dynamics."""

import gymnasium as gym
import imageio.v2 as imageio
import numpy as np
import pytest

from sim2real.sim import tasks
from sim2real.sim.video import dynamics_label
from tests.helpers import run_cli


@pytest.mark.parametrize("task", ["grasp", "navigate", "navigate_v1", "panda_lift", "hopper", "pusher"])
def test_ten_frames_of_each_builtin_task_are_not_blank_and_change(task):
    env = gym.make(tasks.env_id(task), render_mode="rgb_array")
    env.reset(seed=0)
    env.action_space.seed(0)
    frames = [np.asarray(env.render())]
    for _ in range(9):
        env.step(env.action_space.sample())
        frames.append(np.asarray(env.render()))
    env.close()
    assert frames[0].ndim == 3 and frames[0].shape[2] == 3 and frames[0].dtype == np.uint8
    assert all(f.std() > 5.0 for f in frames), "a blank frame"
    assert np.abs(frames[-1].astype(int) - frames[0].astype(int)).max() > 0, "the frames do not change over time"


def test_dynamics_label_names_what_differs_from_nominal():
    assert dynamics_label({"mass_scale": 1.0, "action_latency": 2, "friction_scale": 0.55}) == (
        "action_latency=2,friction_scale=0.55"
    )
    assert dynamics_label({"mass_scale": 1.0}) == "nominal"
    assert dynamics_label({"body_mass_scale": {"torso": 1.5, "foot": 1.0}}) == "body_mass_scale.torso=1.5"


def test_evaluate_writes_a_video_named_by_outcome_and_dynamics(tmp_path):
    r = run_cli("evaluate", "policy=navigate-dr", "dynamics=real", "episodes=2", "video=true", "video_episodes=1",
                f"hydra.run.dir={tmp_path / 'ev'}")  # fmt: skip
    assert r.returncode == 0, r.stderr
    (video,) = (tmp_path / "ev" / "videos").glob("*.mp4")
    assert video.name.startswith("navigate-real-ep0-success-") and "action_latency=2" in video.name
    reader = imageio.get_reader(video)
    frames = [f for f in reader]
    assert len(frames) > 10 and frames[len(frames) // 2].std() > 5.0


def test_a_compare_unit_records_its_rollout_and_report_html_embeds_it(tmp_path):
    """compare video=true: an evaluation unit writes one rollout of its policy on the target, and report.html
    carries it inline (the end-to-end compare test stays without videos: rendering is slow)."""
    import json

    from sim2real.learn.runs import resolve_policy
    from sim2real.transfer.html_report import write_html
    from sim2real.transfer.units import _run_unit_locked

    spec = {"id": "v0", "kind": "eval", "condition": "zero_shot", "task": "navigate", "seed": 0, "episodes": 1,
            "policy": str(resolve_policy("navigate-dr").path), "dynamics": {"action_latency": 1},
            "dynamics_name": "custom", "video": True}  # fmt: skip
    d = tmp_path / "units" / "v0"
    _run_unit_locked(spec, d)
    (name,) = json.loads((d / "result.json").read_text())["videos"]
    assert name.startswith("zero_shot-seed0-ep0-") and "action_latency=1" in name
    page = write_html(tmp_path / "report.html", "t", "# t", [], "", "x", sorted((d / "videos").glob("*.mp4")))
    assert page.read_text().count('src="data:video/mp4;base64,') == 1 and name in page.read_text()


def test_deploy_in_sim_records_the_first_episodes(tmp_path):
    """``deploy video=true``: the simulated robot renders the first N episodes of the control loop."""
    from sim2real.deploy.sim_robot import SimRobot

    robot = SimRobot("navigate", dynamics={"action_latency": 1}, seed=5, video=(tmp_path / "v", 1))
    while len(robot.episodes) < 2:
        robot.act(np.array([1.0, 0.3], dtype=np.float32))
    (video,) = (tmp_path / "v").glob("*.mp4")  # the first episode only
    assert video.name.startswith("navigate-ep0-") and "action_latency=1" in video.name
    assert imageio.get_reader(video).count_frames() == len(robot.episodes[0].actions) + 1


def test_compare_video_marks_seed_0_of_each_condition_and_keeps_unit_ids():
    from sim2real.learn.config import compose_config
    from sim2real.transfer.compare import expand, validate

    values = {"seeds": 2, "budgets": [256], "eval.interval": 256,
              "conditions": ["zero_shot", "nominal_zero_shot", "finetune", "scratch"]}  # fmt: skip
    plain_units = expand(cfg := compose_config("compare", {"task": "navigate"}, values), validate(cfg))
    cfg.video = True
    units = expand(cfg, validate(cfg))
    marked = sorted((u["condition"], u["seed"]) for u in units if u.get("video"))
    assert marked == [("finetune", 0), ("nominal_zero_shot", 0), ("scratch", 0), ("zero_shot", 0)]
    assert [u["id"] for u in units] == [u["id"] for u in plain_units]  # a video is not another unit
