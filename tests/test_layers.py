"""The layers run one way: commands -> transfer / ident -> data / deploy -> learn -> sim and envs
(docs/development/architecture.md).
Every import in the package and in ``envs/``, function-level ones included, is checked; so are the loads that
import a module without an import statement: ``resources.files("sim2real.x")``, ``importlib.util.find_spec``,
``importlib.import_module`` and a subprocess launched with ``python -m sim2real.x``."""

import ast
from pathlib import Path

import sim2real.envs

import sim2real

ROOT = Path(sim2real.__file__).parent
ENVS = Path(sim2real.envs.__file__).parent  # envs/ in a checkout, installed as sim2real.envs
RANK = {
    "sim": 0,
    "envs": 0,
    "policies": 0,
    "configs": 0,
    "io": 0,
    "learn": 1,
    "data": 2,
    "deploy": 2,
    "ident": 3,
    "transfer": 3,
    "commands": 4,
}
LOADERS = ("files", "find_spec", "import_module")


def _imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [node.module] if node.module != "sim2real" else [f"sim2real.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.Call):  # resources.files("sim2real.x"), find_spec(...), import_module(...)
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            if name in LOADERS and node.args and isinstance(node.args[0], ast.Constant):
                out.append(str(node.args[0].value))
        elif isinstance(node, (ast.List, ast.Tuple)):  # [sys.executable, "-m", "sim2real.x", ...]
            values = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
            out += [str(values[i + 1]) for i, v in enumerate(values[:-1]) if v == "-m" and values[i + 1]]
    return [m for m in out if m.startswith("sim2real.")]


def _files() -> list[tuple[str, Path, str]]:
    """(stage, file, name shown) of every module below the package and in envs/."""
    out = []
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if len(parts) >= 2 and parts[0] in RANK:
            out.append((parts[0], path, str(path.relative_to(ROOT))))
    out += [("envs", p, f"envs/{p.relative_to(ENVS)}") for p in ENVS.rglob("*.py")]
    return out


def test_no_module_imports_a_layer_above_its_own():
    wrong = []
    files = _files()
    assert any(shown.startswith("envs/") for _, _, shown in files), "envs/ was not scanned"
    for stage, path, shown in files:
        for mod in _imports(path):
            target = mod.split(".")[1]
            if target not in RANK:
                wrong.append(f"{shown} imports {mod} (no such stage)")
            elif RANK[target] > RANK[stage] or (RANK[target] == RANK[stage] >= 2 and target != stage):
                wrong.append(f"{shown} ({stage}) imports {mod} ({target})")
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_a_violation(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text(
        "import subprocess, sys\nfrom importlib import resources\n"
        "def f():\n    from sim2real.commands.cli import main\n"
        "def g():\n    return resources.files('sim2real.learn')\n"
        "def h():\n    subprocess.run([sys.executable, '-m', 'sim2real.commands.cli', 'unit'])\n"
    )
    assert _imports(bad) == ["sim2real.commands.cli", "sim2real.learn", "sim2real.commands.cli"]


def test_the_registry_reads_task_yamls_without_the_learning_layer():
    """``sim.tasks`` finds the packaged task YAMLs without importing ``sim2real.configs`` (whose ``__init__``
    builds the Hydra groups from ``learn.schemas``): checked in a fresh interpreter."""
    import subprocess
    import sys

    code = (
        "import sys; from sim2real.sim import tasks; tasks.names(); "
        "bad = sorted(m for m in sys.modules if m.startswith(('sim2real.learn', 'sim2real.configs'))); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
