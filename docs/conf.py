"""Sphinx configuration of sim2real's documentation (``make docs``; ``make test`` builds it with ``-W``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")

project = "sim2real"
author = "the sim2real developers"
copyright = "2026, the sim2real developers"  # noqa: A001
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "examples/**/*.md", "benchmarks/**", "hopper_torso/**", "videos/**"]
autodoc_inherit_docstrings = False  # Gymnasium's own docstrings are not ours to publish


def _withheld() -> list[str]:
    """Reports whose units ran under several commits or from a dirty tree are not published
    (sim2real.transfer.first_screen.provenance; docs/results.md lists them with the reason)."""
    import json

    from sim2real.transfer.first_screen import provenance

    docs = Path(__file__).resolve().parent
    return [
        p.name.replace("-summary.json", "-report.md")
        for p in sorted(docs.glob("*-summary.json"))
        if provenance(json.loads(p.read_text()))
    ]


exclude_patterns += _withheld()
html_theme = "furo"
html_title = "sim2real"
html_static_path = ["videos"]  # the rollout videos (benchmarks/videos.py), embedded in videos.md
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
# the lab notes are a kept record with their own heading levels; everything else must be clean
suppress_warnings = ["myst.header"]
autodoc_typehints = "description"
autodoc_member_order = "bysource"
nitpicky = False
