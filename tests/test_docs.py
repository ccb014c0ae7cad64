"""The generated documentation pages match the code: the command reference is `--help`, the parameter table is
the dynamics layer's PARAMS, the results page is the checked-in summaries (docs/generate.py)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _generate():
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generated_pages_match_the_code():
    """In a fresh interpreter: tasks other tests register in this process would show up in `--help`."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, str(ROOT / "docs" / "generate.py"), "--check"], capture_output=True,
                       text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_drift_check_sees_a_change(monkeypatch, capsys):
    gen = _generate()
    monkeypatch.setitem(gen.PAGES, "reference/parameters.md", lambda: "# something else\n")
    assert gen.main(["--check"]) == 1 and "reference/parameters.md" in capsys.readouterr().out


def test_a_mixed_report_is_marked_and_withheld(tmp_path, monkeypatch):
    import json

    from sim2real.transfer.first_screen import provenance

    assert provenance({"commits": ["a" * 40]}) is None
    assert "2 commits" in provenance({"commits": ["a" * 40, "b" * 40]})
    assert "dirty" in provenance({"commits": ["a" * 40 + "-dirty"]})
    assert "dirty" in provenance({"commits": ["a" * 40], "pretraining": {"commits": ["a" * 40 + "-dirty"]}})
    assert provenance({"commits": []}) is not None
    # the results page (and so the site's table of contents) publishes the one-commit report only
    gen = _generate()
    monkeypatch.setattr(gen, "DOCS", tmp_path)
    est = {"iqm": 0.9, "ci_low": 0.8, "ci_high": 0.95, "n_seeds": 5}
    for name, commits in (("clean", ["a" * 40]), ("mixed", ["a" * 40, "b" * 40 + "-dirty"])):
        summary = {"task": "grasp", "dynamics_name": "real", "seeds": 5, "budgets": [100], "commits": commits,
                   "conditions": {"zero_shot": {"success": est}, "finetune": {"100": {"success": est}}}}  # fmt: skip
        (tmp_path / f"{name}-summary.json").write_text(json.dumps(summary))
    results = gen.results_md()
    published, withheld = results.split("## Withheld")
    assert "[clean](clean-report.md)" in published and "mixed" not in published
    assert "`docs/mixed-report.md` | its units ran under 2 commits, 1 from a dirty tree |" in withheld
    toc = withheld.split("```{toctree}")[1]
    assert "clean-report" in toc and "mixed-report" not in toc


def test_the_reproducibility_page_sets_a_rerun_beside_the_first_run(tmp_path, monkeypatch):
    import json

    gen = _generate()
    monkeypatch.setattr(gen, "DOCS", tmp_path)
    assert "No report has been run a second time yet." in gen.reproducibility_md()
    est = {"iqm": 0.9, "ci_low": 0.8, "ci_high": 0.95, "n_seeds": 5}
    first = {
        "task": "grasp", "dynamics": {"mass_scale": 1.5}, "seeds": 5, "budgets": [100], "episodes_per_evaluation": 30,
        "episode_seeds": "test", "pretraining": {"design": "paired", "wall_time_s": {"pretrain seed 0": 120.0}},
        "commits": ["a" * 40], "command": "sim2real compare task=grasp out=runs/a",
        "conditions": {"zero_shot": {"success": est}, "finetune": {"100": {"success": est}}},
    }  # fmt: skip
    second = json.loads(json.dumps(first))
    second["command"] = "sim2real compare task=grasp out=runs/b"
    second["conditions"]["zero_shot"]["success"] = {"iqm": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n_seeds": 5}
    (tmp_path / "rerun").mkdir()
    (tmp_path / "grasp-real-paired-summary.json").write_text(json.dumps(first))
    (tmp_path / "rerun" / "grasp-real-paired-summary.json").write_text(json.dumps(second))
    page = gen.reproducibility_md()
    assert "| zero_shot | - | 90% [80%, 95%] | 50% [40%, 60%] | -40.0 points | **no** |" in page
    assert "| finetune | 100 | 90% [80%, 95%] | 90% [80%, 95%] | +0.0 points | yes |" in page
    assert "The CIs overlap in 1 of 2 cells." in page and "2 min of pretraining (1 runs)" in page
    assert "Per seed" not in page  # no per-seed CSVs checked in: no sentence about them
    head = "condition,seed,budget,step,success_rate,mean_return\n"
    rows = ["zero_shot,0,0,0,0.9,1.5\n", "finetune,0,100,100,0.9,2.5\n"]
    (tmp_path / "grasp-real-paired-results.csv").write_text(head + "".join(rows) + "scratch,0,100,100,0.0,0.1\n")
    (tmp_path / "rerun" / "grasp-real-paired-results.csv").write_text(head + "".join(rows))
    assert "2 of 2 evaluations of the shared conditions" in gen.reproducibility_md()  # scratch: first run only
    assert "to the last digit" in gen.reproducibility_md()
    (tmp_path / "rerun" / "grasp-real-paired-results.csv").write_text(head + rows[0] + "finetune,0,100,100,0.8,2.5\n")
    page = gen.reproducibility_md()
    assert "1 of 2 evaluations" in page and "to the last digit" not in page
    second["seeds"] = 3  # a different protocol is not set beside the first
    (tmp_path / "rerun" / "grasp-real-paired-summary.json").write_text(json.dumps(second))
    assert "Not comparable: the runs differ in seeds." in gen.reproducibility_md()


def test_publishing_points_the_reports_plots_at_the_published_copies(tmp_path):
    """benchmarks/publish.sh, run from a copy of the repository layout: the report's own image link (a plot beside
    it in the comparison directory) names the copy under docs/figures/, so sphinx -W finds it."""
    import shutil
    import subprocess

    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "docs" / "figures").mkdir(parents=True)
    shutil.copy(ROOT / "benchmarks" / "publish.sh", tmp_path / "benchmarks" / "publish.sh")
    src = tmp_path / "cmp"
    src.mkdir()
    (src / "summary.json").write_text("{}")
    (src / "report.md").write_text("# r\n\n![learning curves](learning_curves.png)\n\n![logged](logged.png)\n")
    (src / "learning_curves.png").write_bytes(b"png")
    (src / "logged.png").write_bytes(b"png2")
    run = subprocess.run(["bash", str(tmp_path / "benchmarks" / "publish.sh"), str(src), "x-real"], capture_output=True,
                         text=True)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "![learning curves](figures/x-real-curves.png)" in (tmp_path / "docs" / "x-real-report.md").read_text()
    assert (tmp_path / "docs" / "figures" / "x-real-curves.png").read_bytes() == b"png"
    assert "![logged](figures/x-real-logged.png)" in (tmp_path / "docs" / "x-real-report.md").read_text()
    assert (tmp_path / "docs" / "figures" / "x-real-logged.png").read_bytes() == b"png2"
    (src / "report.md").write_text("# changed\n")
    again = subprocess.run(["bash", str(tmp_path / "benchmarks" / "publish.sh"), str(src), "x-real"],
                           capture_output=True, text=True)  # fmt: skip
    assert again.returncode == 2 and "exists and differs; FORCE=1" in again.stderr
