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


def test_a_mixed_report_is_marked_and_withheld():
    from sim2real.transfer.first_screen import provenance

    assert provenance({"commits": ["a" * 40]}) is None
    assert "2 commits" in provenance({"commits": ["a" * 40, "b" * 40]})
    assert "dirty" in provenance({"commits": ["a" * 40 + "-dirty"]})
    assert "dirty" in provenance({"commits": ["a" * 40], "pretraining": {"commits": ["a" * 40 + "-dirty"]}})
    assert provenance({"commits": []}) is not None
    results = (ROOT / "docs" / "results.md").read_text()
    assert "`docs/navigate-real-paired-report.md` | its units ran under 6 commits" in results
