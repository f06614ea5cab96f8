"""The package's shape: no import circle between modules or between subpackages."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

SRC = Path(__file__).resolve().parents[1] / "src"


def _module(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Modules of the package imported at module level (not inside functions)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If):  # TYPE_CHECKING blocks: annotations only
            continue
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("musicsteer")
        ):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("musicsteer")}
    return found


def _graph() -> nx.DiGraph:
    modules = {_module(p): p for p in SRC.rglob("*.py")}
    graph = nx.DiGraph()
    for name, path in modules.items():
        graph.add_node(name)
        for target in _imports(path) & set(modules):
            if target != name:
                graph.add_edge(name, target)
    return graph


def test_no_module_imports_itself_back():
    assert list(nx.simple_cycles(_graph())) == []


def test_subpackages_depend_on_each_other_one_way():
    def room(module: str) -> str:
        parts = module.split(".")
        return ".".join(parts[:2])

    rooms = nx.DiGraph()
    for a, b in _graph().edges:
        if room(a) != room(b) and room(b) != "musicsteer":
            rooms.add_edge(room(a), room(b))
    assert list(nx.simple_cycles(rooms)) == []


def test_parsing_the_workflow_imports_neither_torch_nor_transformers():
    """Dry runs, SLURM job starts and --report parse the workflow: keep that cheap.

    Imports every musicsteer module the rule files import, then validates and
    pre-flights the paper's and the demo's configs, in a fresh interpreter (the
    pre-flight runs when a real run starts; only its device check needs torch).
    """
    import re
    import subprocess
    import sys

    rules = Path(__file__).resolve().parents[1] / "workflow"
    sources = [rules / "Snakefile", *rules.glob("rules/*.smk")]
    modules = sorted(
        {m for p in sources for m in re.findall(r"from (musicsteer[\w.]*) import", p.read_text())}
    )
    assert "musicsteer.config" in modules
    probe = "\n".join(
        [
            "import importlib, sys, yaml",
            *(f"importlib.import_module({m!r})" for m in modules),
            "from musicsteer import config",
            "for name in ('config/config.yaml', 'config/demo.yaml'):",
            "    cfg = config.validate_config(yaml.safe_load(open(name)),",
            "                                 'workflow/schemas/config.schema.yaml')",
            "    config.preflight(cfg, check_device=False)  # the device check imports torch",
            "print(sorted({'torch', 'transformers', 'sklearn'} & set(sys.modules)))",
        ]
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=rules.parent
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
