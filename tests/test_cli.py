"""The command line explains itself: the subcommand list, each subcommand's help, shell completion."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sim2real.commands.cli import PUBLIC
from tests.helpers import run_cli


def test_help_lists_every_subcommand_with_an_example():
    r = run_cli("--help")
    assert r.returncode == 0
    for name in [*PUBLIC, "data", "task", "convert", "demo"]:
        assert f"\n  {name:<10} " in r.stdout, name
    assert r.stdout.count("e.g. sim2real ") == len(PUBLIC) + 4 and "unit" not in r.stdout.split()


def test_subcommand_help_has_its_own_header_and_hides_internal_groups():
    r = run_cli("train", "--help")
    assert r.returncode == 0 and r.stdout.startswith("sim2real train: pretrain a policy")
    assert "powered by Hydra" not in r.stdout and "tuning" not in r.stdout
    assert "  task: grasp, hopper, navigate, navigate_v1, panda_lift, pusher" in r.stdout
    assert "  algo: ppo, recurrent_ppo, sac" in r.stdout
    assert "for task=navigate, its tuned values included" in r.stdout and "steps: 600000" in r.stdout
    r = run_cli("compare", "--help", "task=grasp")
    assert r.returncode == 0 and "pretrained: ${task.name}-dr" in r.stdout and "dynamics: " in r.stdout


def test_completion_routes_through_the_subcommand(monkeypatch, capsys):
    from sim2real.commands.cli import main

    for line, expect in [
        ("sim2real tr", "train"),
        ("sim2real train task=na", "task=navigate"),
        ("sim2real compare dynamics=sl", "dynamics=slippery"),
    ]:
        monkeypatch.setenv("COMP_LINE", line)
        monkeypatch.setenv("COMP_POINT", str(len(line)))
        assert main(["-sc", "query=bash"]) == 0
        assert expect in capsys.readouterr().out.split(), line


def test_installed_bash_completion_completes_a_subcommand_option(tmp_path):
    exe = Path(sys.executable).parent / "sim2real"
    script = subprocess.run([exe, "-sc", "install=bash"], capture_output=True, text=True, check=True).stdout
    assert "complete -o nospace -o default -F hydra_bash_completion sim2real" in script
    (tmp_path / "c.sh").write_text(
        script + '\nCOMP_LINE="sim2real train algo=s"; COMP_POINT=${#COMP_LINE}; COMP_CWORD=2\n'
        'hydra_bash_completion; echo "REPLY ${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{exe.parent}:{os.environ['PATH']}"}
    r = subprocess.run([shutil.which("bash"), str(tmp_path / "c.sh")], capture_output=True, text=True, env=env)
    assert "REPLY algo=sac" in r.stdout, r.stdout + r.stderr


def test_compare_progress_shows_on_a_terminal_only(monkeypatch, tmp_path):
    """Units done out of the total, with an ETA, on a terminal; nothing in a log file or a pipe."""
    import io
    import time

    from sim2real.transfer.launch import _progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    (tmp_path / "units" / "a").mkdir(parents=True)
    (tmp_path / "units" / "a" / "result.json").write_text("{}")
    for stream, shown in ((Terminal(), True), (io.StringIO(), False)):
        monkeypatch.setattr(sys, "stderr", stream)
        with _progress([{"id": "a"}, {"id": "b"}], tmp_path, "training", every_s=0.01):
            time.sleep(0.2)
        assert ("compare (training)" in stream.getvalue() and "1/2" in stream.getvalue()) == shown


def test_every_command_config_is_typed_by_its_schema_and_adds_no_keys():
    """Each configs/<command>.yaml lists <command>_schema first; the schema types its keys and adds none."""
    from importlib import resources

    import yaml
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    from sim2real.learn.schemas import SCHEMAS

    required = {
        "finetune": ["init=x"],
        "evaluate": ["policy=x"],
        "export": ["policy=x", "out=y"],
        "deploy": ["bundle=x"],
        "collect": ["policy=x", "out=y"],
        "calibrate": ["data=x"],
        "unit": ["unit=x"],
    }

    def keys(d, prefix=""):
        out = set()
        for k, v in d.items():
            if k not in ("task", "dr", "dynamics", "algo", "hydra", "defaults"):
                out.add(prefix + k)
                out |= keys(v, f"{prefix}{k}.") if isinstance(v, dict) else set()
        return out

    with initialize_config_module(config_module="sim2real.configs", version_base="1.3"):
        for name in SCHEMAS:
            text = resources.files("sim2real.configs").joinpath(f"{name}.yaml").read_text()
            assert yaml.safe_load(text)["defaults"][0] == f"{name}_schema", name
            overrides = [
                *(["task=navigate"] if name not in ("unit", "compare", "sweep") else []),
                *required.get(name, []),
            ]
            cfg = compose(name, overrides=overrides)
            assert OmegaConf.get_type(cfg) is SCHEMAS[name], name
            assert keys(OmegaConf.to_container(cfg, resolve=False)) == keys(yaml.safe_load(text)), name


@pytest.mark.parametrize("name", [c for c in PUBLIC if c != "data"])
def test_every_subcommand_has_help(name):
    r = run_cli(name, "--help")
    assert r.returncode in (0, None) and r.stdout.startswith(f"sim2real {name}:"), r.stderr[-500:]
