"""The layers run one way: commands -> transfer -> data / deploy -> learn -> sim (DESIGN.md, Layout).
Every import in the package, function-level ones included, is checked."""

import ast
from pathlib import Path

import sim2real

ROOT = Path(sim2real.__file__).parent
RANK = {
    "sim": 0,
    "envs": 0,
    "policies": 0,
    "configs": 0,
    "io": 0,
    "learn": 1,
    "data": 2,
    "deploy": 2,
    "transfer": 3,
    "commands": 4,
}


def _imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [node.module] if node.module != "sim2real" else [f"sim2real.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names]
    return [m for m in out if m.startswith("sim2real.")]


def test_no_module_imports_a_layer_above_its_own():
    wrong = []
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if len(parts) < 2 or parts[0] not in RANK:
            continue
        stage = parts[0]
        for mod in _imports(path):
            target = mod.split(".")[1]
            if target not in RANK:
                wrong.append(f"{path.relative_to(ROOT)} imports {mod} (no such stage)")
            elif RANK[target] > RANK[stage] or (RANK[target] == RANK[stage] == 2 and target != stage):
                wrong.append(f"{path.relative_to(ROOT)} ({stage}) imports {mod} ({target})")
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_a_violation(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from sim2real.commands.cli import main\n")
    assert _imports(bad) == ["sim2real.commands.cli"]
