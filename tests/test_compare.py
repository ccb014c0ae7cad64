"""A tiny end-to-end compare, resuming it, bad grids, the submitit path."""

import csv
import json
import subprocess

import pytest
from hydra import compose, initialize_config_module

from sim2real.learn.config import build_spec
from sim2real.learn.train import train
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def policies(tmp_path_factory):
    out = {}
    for name, dr in (("dr", "default"), ("nominal", "none")):
        d = tmp_path_factory.mktemp(name)
        with initialize_config_module(config_module="sim2real.configs", version_base="1.3"):
            cfg = compose(
                "train",
                overrides=[
                    "task=navigate",
                    f"dr={dr}",
                    "steps=256",
                    "eval.interval=0",
                    "n_envs=2",
                    "algo.n_steps=64",
                    "algo.batch_size=64",
                    "algo.n_epochs=1",
                    "warm_start.demos=0",
                    f"out_dir={d}",
                ],
            )
        train(build_spec(cfg))
        out[name] = d
    return out


def run_compare(policies, out, *extra):
    """compare on the tiny navigation policies, in-process (the entry function: no second import of everything)."""
    args = [
        "compare",
        "task=navigate",
        "seeds=2",
        "budgets=[256,512]",
        "eval.interval=256",
        "eval.episodes=2",
        "n_envs=2",
        f"pretrained={policies['dr']}",
        f"baseline={policies['nominal']}",
        f"out={out}",
        "launcher=basic",  # the units one after another in one worker process (cheaper than joblib's two here)
        *extra,
    ]
    return run_cli(*args)


def test_tiny_compare_writes_every_report_file_and_resumes(policies, tmp_path):
    out = tmp_path / "cmp"
    conds = "conditions=[zero_shot,nominal_zero_shot,finetune,finetune_reset,scratch]"
    r = run_compare(policies, out, conds)
    assert r.returncode == 0, r.stderr[-3000:]
    for name in ("results.csv", "summary.json", "report.md", "learning_curves.png", "budgets.png"):
        assert (out / name).is_file(), name
    assert list((out / "tb").glob("events.out.tfevents.*"))
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert set(rows[0]) == {"condition", "seed", "budget", "step", "success_rate", "mean_return"}
    want = {"sim", "zero_shot", "nominal_zero_shot", "finetune", "finetune_reset", "scratch"}
    assert {r["condition"] for r in rows} == want
    assert {r["budget"] for r in rows if r["condition"] == "finetune"} == {"256", "512"}
    s = json.loads((out / "summary.json").read_text())
    assert {"iqm", "ci_low", "ci_high"} <= set(s["conditions"]["zero_shot"]["success"])
    t = s["transfer"]["finetune"]["512"]
    assert {
        "jumpstart",
        "at_budget",
        "auc_finetuned",
        "transfer_ratio",
        "probability_of_improvement",
        "verdict_vs_scratch",
        "verdict_vs_zero_shot",
        "time_to_threshold_finetuned",
    } <= set(t)
    assert "retention" in s["conditions"]["finetune"]["512"] and "sim_to_target_gap" in s
    assert "verdict_vs_scratch" in s["transfer"]["finetune_reset"]["512"]
    reset = [json.loads(p.read_text()) for p in (out / "units").glob("*/run.json")]
    assert sorted(m["finetune"]["reset_head"] for m in reset if "finetune" in m) == [False, False, True, True]
    # resuming and extending in one rerun: seed 0's zero-shot result is deleted and a third seed added (zero-shot
    # only: 3 x (sim, zero_shot) units); only the deleted unit and the new seed's two run
    zs = [
        p
        for p in (out / "units").glob("*/result.json")
        if json.loads(p.read_text())["unit"]["condition"] == "zero_shot"
    ]
    next(p for p in zs if json.loads(p.read_text())["unit"]["seed"] == 0).unlink()
    r = run_compare(policies, out, "conditions=[zero_shot]", "seeds=3")
    assert r.returncode == 0 and "6 units, 3 already done, 3 to run" in r.stdout, r.stdout[-2000:]


@pytest.mark.parametrize(
    "extra,match",
    [
        (["budgets=[]"], "give at least one target-step budget"),
        (["seeds=0"], "seeds=0"),
        (["conditions=[zero_shot,teleport]"], "unknown ['teleport']"),
        (["budgets=[300]"], "divides every budget"),
        (["pretrained=/nope"], "no such run directory"),
        (["pretrained=[navigate-dr,navigate-dr,navigate-dr]"], "3 runs for seeds=2; give one run per seed"),
        (["pretrained=train", "pretrain.overrides=[steps]"], "pretrain.overrides=['steps']"),
        (["pretrained=train", 'pretrain.overrides=["seed=3"]'], "pretrain.overrides: seed=3 is set by compare"),
        (["pretrained=train", "baseline_runs=0"], "baseline_runs=0"),
        (["calibrated=train", "conditions=[calibrated]"], "calibrated=train"),
        (["baseline=[grasp-dr]"], "baseline='grasp-dr' is a grasp policy"),
        (["hydra.run.dir=elsewhere"], "compare writes its units, results and report to out=<dir>"),
        (["conditions=[finetune_l2sp]", "l2sp=[]"], "l2sp=[]: give the L2-SP strengths"),
        (["finetune.head_lr=2"], "finetune.head_lr=2"),
        (["conditions=[sequence]", "sequence.profiles=[real,moon]"], "sequence.profiles=['real', 'moon']"),
        (["conditions=[sequence_l2sp]", "sequence.l2sp=0"], "sequence.l2sp=0"),
        (["conditions=[finetune_fallback]", "fallback.decide_at=256"], "every budget at least 2 * decide_at"),
        (["conditions=[finetune_fallback]", "budgets=[1024]", "fallback.decide_at=300"], "multiple of eval.interval"),
    ],
)
def test_bad_grids_fail_fast(policies, tmp_path, extra, match):
    r = run_compare(policies, tmp_path / "bad", *extra)
    assert r.returncode == 2 and match in r.stderr and r.stderr.count("\n") == 1


def test_submitit_local_launcher_path(policies, tmp_path):
    out = tmp_path / "sub"
    r = run_compare(policies, out, "seeds=1", "budgets=[256]", "conditions=[zero_shot]", "launcher=submitit_local")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "report.md").is_file()
    assert list((out / "multirun").rglob(".submitit")), "the units did not go through submitit"


def test_sweep_writes_curves(policies, tmp_path):
    dr, nominal = str(policies["dr"]), str(policies["nominal"])
    r = run_cli(
        "sweep",
        "task=navigate",
        f"policies=[[{dr},{nominal}],{nominal}]",  # a group of pretraining runs (seed i -> run i), one run
        "param=friction_scale",
        "values=[0.5,1.0]",
        "seeds=2",
        "episodes=2",
        "n_jobs=1",
        f"hydra.run.dir={tmp_path / 'sw'}",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    s = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    group = f"{dr} (+1 runs)"
    assert set(s["curves"]) == {group, nominal} and all(len(c) == 2 for c in s["curves"].values())
    assert "covers pretraining variance" in s["seed_design"][group]
    assert "batches of episodes" in s["seed_design"][nominal]
    assert (tmp_path / "sw" / "sweep.png").is_file()
    page = (tmp_path / "sw" / "report.html").read_text()  # self-contained: table, inline plot, command
    assert "<table>" in page and "data:image/png;base64," in page and "sim2real sweep task=navigate" in page
    rows = list(csv.DictReader(open(tmp_path / "sw" / "sweep.csv")))
    assert len(rows) == 2 * 2 * 2
    assert {(r["seed"], r["run"]) for r in rows if r["policy"] == group} == {("0", dr), ("1", nominal)}
    assert {r["run"] for r in rows if r["policy"] == nominal} == {nominal}


def test_sweep_bad_param(policies, tmp_path):
    r = run_cli("sweep", "param=gravity", f"policies=[{policies['dr']}]")
    assert r.returncode == 2 and "param='gravity' is not a dynamics parameter" in r.stderr


@pytest.fixture(scope="module")
def nav_dataset(tmp_path_factory):
    from sim2real.envs.scripted import scripted_policy

    from sim2real.data.collect import rollout
    from sim2real.data.datasets import write

    logs = rollout(scripted_policy, "navigate", 2, 0, None, "real", action_noise=0.1)
    return write(tmp_path_factory.mktemp("logs") / "nav-real-v0", "navigate", logs, {"source": "test"})


def test_calibrated_and_logged_conditions(policies, nav_dataset, tmp_path):
    out = tmp_path / "cmp"
    r = run_compare(
        policies,
        out,
        "seeds=1",
        "budgets=[256]",
        "conditions=[zero_shot,calibrated,logged]",
        f"calibrated={policies['nominal']}",
        f"data={nav_dataset}",
        "logged_episodes=[1,2]",
        "offline.epochs=1",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((out / "summary.json").read_text())
    assert "success" in s["conditions"]["calibrated"]
    assert set(s["conditions"]["logged"]) == {"1", "2"}
    assert s["conditions"]["logged"]["2"]["budget_unit"] == "logged episodes"
    page = (out / "report.md").read_text()
    assert "| logged | 2 logged episodes |" in page
    assert (out / "logged.png").is_file()
    # the first screen: no target-step verdict to give, each condition's figure and the plot that exists
    first = page[: page.index("## Details")]
    assert "No fine-tuning on the target" in first and "Verdict at" not in first
    assert "| zero-shot | calibrated-sim | offline, 1 logged episodes | offline, 2 logged episodes |" in first
    assert "![logged](logged.png)" in first and "learning_curves.png" not in first


@pytest.mark.parametrize(
    "extra,match",
    [
        (["conditions=[calibrated]"], "add calibrated=<run"),
        (["conditions=[logged]"], "add data=<logged target dataset>"),
        (["conditions=[logged]", "logged_episodes=[50]"], "between 1 and 2"),
    ],
)
def test_bad_logged_grids_fail_fast(policies, nav_dataset, tmp_path, extra, match):
    data = [] if extra == ["conditions=[logged]"] else [f"data={nav_dataset}"]
    r = run_compare(policies, tmp_path / "bad", *extra, *data)
    assert r.returncode == 2 and match in r.stderr and r.stderr.count("\n") == 1, r.stderr


def _grid(policies, *extra):
    from sim2real.transfer.compare import expand, validate

    with initialize_config_module(config_module="sim2real.configs", version_base="1.3"):
        cfg = compose("compare", overrides=["task=navigate", "seeds=2", "budgets=[256]", "eval.interval=256", *extra])
    grid = validate(cfg)
    return grid, expand(cfg, grid)


def test_paired_seeds_start_every_condition_of_seed_i_from_pretraining_run_i(policies):
    """pretrained=[run0, run1]: seed i's zero-shot, in-sim, fine-tuning and logged units all use run i."""
    a, b = str(policies["dr"]), str(policies["nominal"])
    grid, units = _grid(policies, f"pretrained=[{a},{b}]", f"baseline={b}")
    uses = {(u["condition"], u["seed"]): u.get("policy") or u.get("init") for u in units}
    for cond in ("sim", "zero_shot", "finetune"):
        assert uses[(cond, 0)] == a and uses[(cond, 1)] == b, cond
    assert uses[("scratch", 0)] is None and uses[("nominal_zero_shot", 1)] == b
    # one shared run: every seed uses it (and the report says the CIs leave pretraining variance out)
    from sim2real.transfer.compare import pretraining_protocol

    grid1, units1 = _grid(policies, f"pretrained={a}", f"baseline={b}")
    assert {u.get("init") for u in units1 if u["condition"] == "finetune"} == {a}
    assert pretraining_protocol(grid, [], None)["paired"] is True
    assert "leave out pretraining variance" in pretraining_protocol(grid1, [], None)["design"]


def test_paired_compare_end_to_end_and_its_html_report_in_headless_chromium(tmp_path):
    """compare's report.html is self-contained: in a headless browser its tables and inline plots are there."""
    import shutil

    out = tmp_path / "cmp"
    # one end-to-end path for the slow features: compare pretrains 2 paired runs and a baseline itself,
    # fine-tunes with L2-SP, runs a sequence of targets, and writes report.html
    args = [
        "compare",
        "task=navigate",
        "pretrained=train",
        "baseline=train",
        "seeds=2",
        "budgets=[256]",
        "eval.interval=256",
        "eval.episodes=2",
        "n_envs=2",
        "conditions=[zero_shot,nominal_zero_shot,finetune,finetune_l2sp,sequence]",
        "l2sp=[0.5]",
        "sequence.profiles=[real,heavy]",
        "sequence.steps=128",
        'pretrain.overrides=["steps=256","warm_start.demos=0","eval.interval=0","algo.n_steps=64","n_envs=2"]',
        f"out={out}",
        "launcher=basic",
    ]
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "compare (pretraining): 3 units, 0 already done, 3 to run" in r.stdout
    s = json.loads((out / "summary.json").read_text())
    assert s["pretraining"]["paired"] and s["pretraining"]["pretrained_runs"] == 2
    assert s["pretraining"]["baseline_runs"] == 1 and len(s["pretraining"]["wall_time_s"]) == 3
    assert len(set(s["pretrained"])) == 2 and set(s["policy_digests"]) == {*s["pretrained"], *s["baseline"]}
    assert "Seeds: paired seeds" in (out / "report.md").read_text()
    md = (out / "report.md").read_text()  # the specialisation / retention trade-off, L2-SP included
    assert "## Specialising vs keeping" in md and "| finetune_l2sp@0.5 |" in md and (out / "tradeoff.png").is_file()
    seq = json.loads((out / "summary.json").read_text())["sequence"]["sequence"]  # lifelong: real -> heavy
    assert (
        len(seq["matrix_iqm"]) == 3 and seq["columns"] == ["real", "heavy", "sim"] and (out / "sequence.png").is_file()
    )
    assert "| stage 2 (heavy) |" in md and set(seq["metrics"]) == {"ACC", "BWT", "FWT"}
    page = (out / "report.html").read_text()
    assert "http://" not in page and "https://" not in page  # nothing fetched at view time
    assert page.index("Verdict at 256 target steps") < page.index("learning curves") < page.index("Details")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "headless Chromium is missing: `apt-get install chromium` (.ci/run installs it)"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}"]
    url = (out / "report.html").as_uri()
    dom = subprocess.run([browser, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    assert dom.count("<table>") >= 2 and "<td>zero_shot</td>" in dom and dom.count('src="data:image/png;base64,') >= 4
    assert "zero_shot" in dom and 'id="command"' in dom and "sim2real compare" in dom
    r = run_cli(*args)  # every unit, pretraining included, is found again by its id
    assert r.returncode == 0 and "compare (pretraining): 3 units, 3 already done, 0 to run" in r.stdout


def _fallback_spec(policies):
    return {
        "id": "fallback-test",
        "kind": "fallback",
        "condition": "finetune_fallback",
        "task": "navigate",
        "dynamics": {"actuator_gain_scale": 0.7},
        "dynamics_name": "custom",
        "episodes": 2,
        "seed": 0,
        "init": str(policies["dr"]),
        "scope": "all",
        "steps": 1536,
        "interval": 512,
        "lr": 1e-4,
        "update_norm": True,
        "n_envs": 2,
        "scratch_lr": 3e-4,
        "decide_at": 512,  # one rollout of navigation's PPO (256 steps x 2 envs)
        "decide_episodes": 2,
    }


@pytest.mark.parametrize(
    "scores,winner",
    [
        ({"finetune": (0.2, 5.0), "scratch": (0.6, 1.0)}, "scratch"),  # success first
        ({"finetune": (0.5, 1.0), "scratch": (0.5, 3.0)}, "scratch"),  # then return
        ({"finetune": (0.5, 2.0), "scratch": (0.5, 2.0)}, "finetune"),  # a tie keeps fine-tuning
        ({"finetune": (0.7, 0.0), "scratch": (0.1, 9.0)}, "finetune"),
    ],
)
def test_fallback_continues_the_branch_better_on_development_episodes(policies, tmp_path, monkeypatch, scores, winner):
    """Known answers for the choice; the continued branch's curve counts both branches' steps."""
    from sim2real.transfer import units

    trained = []
    monkeypatch.setattr(units, "_train_curve", lambda spec, d, init, steps, resume: trained.append((d.name, steps)))
    seen = []

    def fake_eval(run, task, episodes, seed, rand, dyn, names, seed_range):
        seen.append(seed_range)
        (run / "run.json").write_text(json.dumps({"timesteps": {"finetune": 512, "scratch": 640}[run.name]}))
        succ, ret = scores[run.name]
        return {"success_rate": succ, "mean_return": ret, "episodes": episodes}

    monkeypatch.setattr(units, "evaluate_policy", fake_eval)
    monkeypatch.setattr(units, "steps_done", lambda run, steps: run.mkdir(exist_ok=True) or True)
    own = (512, 1024)  # the winner's evaluations, at its own steps
    monkeypatch.setattr(units, "_curve_rows", lambda d, offset=0: [{"step": t + offset} for t in own])
    d = tmp_path / "u"
    d.mkdir()
    result = units._run_fallback(_fallback_spec(policies), d)
    assert result["decision"]["winner"] == winner and seen == ["development", "development"]
    spent = {"finetune": 640, "scratch": 512}[winner]  # the losing branch's steps count too (a rollout's rounding)
    assert trained == [(winner, 1536 - spent)]
    assert [p["step"] for p in result["curve"]] == [512 + spent, 1024 + spent]
    # a resumed unit keeps its decision, whatever a new evaluation would say
    monkeypatch.setattr(units, "evaluate_policy", lambda *a, **k: pytest.fail("decided again"))
    assert units._run_fallback(_fallback_spec(policies), d)["decision"]["winner"] == winner


def test_fallback_unit_runs_both_branches_and_continues_one(policies, tmp_path):
    from sim2real.transfer.units import _run_fallback

    d = tmp_path / "u"
    d.mkdir()
    with initialize_config_module(config_module="sim2real.configs", version_base="1.3"):  # as in a unit's job
        result = _run_fallback(_fallback_spec(policies), d)
    w = result["decision"]["winner"]
    assert json.loads((d / "decision.json").read_text())["winner"] == w
    loser = {"finetune": "scratch", "scratch": "finetune"}[w]
    assert json.loads((d / loser / "run.json").read_text())["timesteps"] == 512
    assert json.loads((d / w / "run.json").read_text())["timesteps"] == 1024  # 512 + 1024 = the budget, 1536
    assert [p["step"] for p in result["curve"]] == [1024, 1536]


def test_the_first_screen_of_a_comparison_without_learning_curves():
    """A sequence-only comparison opens with its ACC and BWT and its heat maps; a logged one with each condition;
    neither with a fine-tuning verdict or a learning-curve plot it does not have."""
    from sim2real.transfer.first_screen import headline

    ci = {"iqm": 0.9, "ci_low": 0.8, "ci_high": 1.0}
    base = {
        "dynamics_name": "real",
        "seeds": 3,
        "budgets": [10000],
        "dynamics": {},
        "conditions": {"sim": {"success": ci}},
    }
    seq = {
        **base,
        "sequence": {"sequence": {"metrics": {"ACC": ci, "BWT": {"iqm": -0.02, "ci_low": -0.03, "ci_high": 0.0}}}},
    }
    page = "\n".join(headline(seq, "success rate"))
    assert "**Fine-tuning over a sequence of targets**" in page and "Verdict" not in page
    assert "sequence: ACC 90% [80%, 100%]; sequence: BWT -2% [-3%, 0%]" in page
    assert "![sequence](sequence.png)" in page and "learning_curves" not in page
    logged = {
        **base,
        "conditions": {"zero_shot": {"success": ci}, "logged": {"20": {"success": ci}, "5": {"success": ci}}},
    }
    page = "\n".join(headline(logged, "success rate"))
    assert "zero-shot 90% [80%, 100%]; offline, 5 logged episodes" in page and "![logged](logged.png)" in page
    curves = {**base, "conditions": {"zero_shot": {"success": ci}, "finetune": {"10000": {"success": ci}}}}
    assert "![learning curves](learning_curves.png)" in "\n".join(headline(curves, "success rate"))
