"""The tree shows the flow: stage packages that never import a later stage, no import cycle, no
module over 800 lines, every package named in docs/architecture.md, every command helped."""

from __future__ import annotations

import ast
from pathlib import Path

import click

from pipeline.cli import main

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pipeline"
MAX_LINES = 800

# What each part of the program may import (besides itself): the stages in their order
# (intake → reading → outputs, with core's pure steps merge, score and ranking between), the
# infrastructure below them, the use cases (run, check) and the command line above.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "ooxml": {"core"},
    "runtime": {"core"},
    "config": {"core"},
    "store": {"core", "ooxml", "runtime"},
    "intake": {"core", "store", "runtime"},
    "reading": {"core", "store", "runtime", "intake"},
    "outputs": {"core", "store", "runtime", "ooxml", "intake", "reading"},
    "authoring": {"core", "ooxml"},
    "run": {"core", "store", "runtime", "intake", "reading", "outputs"},
    "check": {"core", "store", "runtime", "intake", "reading", "outputs", "run"},
    "mail": {"core", "store", "runtime", "outputs"},
    "cli": {
        "core",
        "config",
        "store",
        "runtime",
        "intake",
        "reading",
        "outputs",
        "authoring",
        "run",
        "check",
        "mail",
    },
    "__main__": {"cli"},
    "__init__": set(),
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(path: Path, name: str) -> set[str]:
    """The pipeline modules `path` imports, anywhere in it (functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("pipeline")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                kept = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*kept, base]).strip(".")
            if not base.startswith("pipeline"):
                continue
            for alias in node.names:  # `from pipeline.x import y`: y may be a module
                out.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m for m in out if m in MODULES}


MODULES = _modules()
GRAPH = {name: _imports(path, name) - {name} for name, path in MODULES.items()}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_a_stage_never_imports_a_later_stage() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if _part(target) != _part(module) and _part(target) not in ALLOWED[_part(module)]
    ]
    assert wrong == []
    assert set(ALLOWED) >= {_part(m) for m in MODULES}  # every part of the tree has its rule


def test_the_import_graph_has_no_cycle() -> None:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(GRAPH[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])  # on the path: a cycle
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_no_module_is_over_800_lines() -> None:
    long = {
        name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_benchmarks_live_outside_the_package() -> None:
    assert not [m for m in MODULES if "bench" in m.split(".")[-1]]
    assert not any(
        "bench" in line
        for path in MODULES.values()
        for line in path.read_text().splitlines()
        if "import" in line
    )


def test_the_architecture_document_names_every_package() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    packages = sorted(
        {p.parent.relative_to(ROOT).as_posix().replace("/", ".") for p in PACKAGE.rglob("__init__.py")}
    )
    assert len(packages) >= 9
    missing = [p for p in packages if f"`{p}`" not in text and f"`{p.replace('.', '/')}/`" not in text]
    assert missing == []


def test_every_command_has_help_text() -> None:
    def commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
        found = []
        for name, command in group.commands.items():
            found.append((prefix + name, command))
            if isinstance(command, click.Group):
                found += commands(command, f"{prefix}{name} ")
        return found

    listed = commands(main)
    assert {"consolidate", "check", "sample", "template", "mail fetch", "mail send"} <= {
        name for name, _ in listed
    }
    assert main.help
    for name, command in listed:
        assert command.help and len(command.help) > 20, name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts}"
