"""The package's import graph: arrows point down (shared/DESIGN.md, "Layout").

Every module of llmeter_widget is parsed (ast, nothing imported) and each of its imports is
read: at the top, in functions, under `if TYPE_CHECKING:`, relative or absolute. An import of
`llmeter_widget.a.b` (or `from .a import b`, b a module) is an edge to the module it names;
the package's `__init__` that Python runs first is not an edge (or every module would import
its package). Two rules:

- no import cycle anywhere in the package;
- the engine (what makes, records and sweeps requests) imports no view: the views subscribe to
  its typed run events (events.py) instead of being picked and built by it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "llmeter_widget"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

# The engine: these modules (and packages) make, time, schedule, record and sweep requests.
ENGINE = ("endpoints", "load", "workers", "runner", "stats", "results", "experiments", "events",
          "keys", "callbacks", "cost", "payloads", "loops", "limits", "simulator")
# What the engine must not import: the view layer, and the modules kept for compatibility that
# re-export it.
VIEWS = ("views", "widget", "terminal")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that `name` (at `path`) imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):  # every level: top, functions, TYPE_CHECKING blocks
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's package, up level - 1 more
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                start = ".".join([*base, node.module] if node.module else base)
            else:
                start = node.module or ""
            # `from x import y`: y is a module of x, or a name defined in x
            targets = [f"{start}.{a.name}" if f"{start}.{a.name}" in known else start
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` of a name: its module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    mods = modules(root)
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as a path
    that closes on itself, e.g. ["a", "b", "a"]."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_path(graph, set(c)) for c in components]


def _cycle_path(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """One cycle through a strongly connected component, to name in the failure."""
    start = min(component)
    path, seen = [start], {start}
    while True:
        nxt = sorted(w for w in graph[path[-1]] if w in component)
        back = [w for w in nxt if w in seen]
        if back:
            return path[path.index(back[0]):] + [back[0]]
        path.append(nxt[0])
        seen.add(nxt[0])


def in_layer(module: str, layer: tuple[str, ...]) -> bool:
    rest = module.removeprefix(PACKAGE + ".")
    return rest != module and rest.split(".")[0] in layer


def engine_view_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((m, t) for m, targets in graph.items() if in_layer(m, ENGINE)
                  for t in targets if in_layer(t, VIEWS))


# -- the rules --------------------------------------------------------------------------------------
def test_the_package_has_no_import_cycle():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_engine_imports_no_view():
    bad = engine_view_imports(import_graph())
    assert not bad, ("the engine imports the view layer (views subscribe to run events "
                     "instead): " + ", ".join(f"{m} -> {t}" for m, t in bad))


def test_every_engine_name_is_in_the_package():
    """A renamed or removed engine module must be renamed here too, not silently unchecked."""
    top = {name.removeprefix(PACKAGE + ".").split(".")[0] for name in modules()}
    assert set(ENGINE) <= top, sorted(set(ENGINE) - top)
    assert "views" in top


# -- the reader itself, on a small package written here ------------------------------------------
def write(root: Path, files: dict[str, str]) -> Path:
    package = root / PACKAGE
    for name, source in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return package


def test_the_reader_sees_every_kind_of_import(tmp_path):
    package = write(tmp_path, {
        "__init__.py": "from .runner import Runner\n",
        "runner.py": (
            "from __future__ import annotations\n"
            "from typing import TYPE_CHECKING\n"
            "from . import stats\n"
            "if TYPE_CHECKING:\n"
            "    from .results import Result\n"
            "def view():\n"
            "    from .views.terminal import TerminalView\n"
            "    import llmeter_widget.widget\n"
        ),
        "stats.py": "import math\nfrom .keys import KEYS\n",
        "keys.py": "KEYS = ()\n",
        "results.py": "from ..outside import x\n",
        "widget.py": "",
        "views/__init__.py": "from .terminal import TerminalView\n",
        "views/terminal.py": "from ..stats import LOOP\nfrom .. import keys\n",
    })
    graph = import_graph(package)
    assert graph["llmeter_widget.runner"] == {
        "llmeter_widget.stats", "llmeter_widget.results", "llmeter_widget.views.terminal",
        "llmeter_widget.widget"}
    assert graph["llmeter_widget.stats"] == {"llmeter_widget.keys"}
    assert graph["llmeter_widget.views"] == {"llmeter_widget.views.terminal"}
    assert graph["llmeter_widget.views.terminal"] == {"llmeter_widget.stats", "llmeter_widget.keys"}
    assert graph["llmeter_widget"] == {"llmeter_widget.runner"}
    assert find_cycles(graph) == []
    assert engine_view_imports(graph) == [
        ("llmeter_widget.runner", "llmeter_widget.views.terminal"),
        ("llmeter_widget.runner", "llmeter_widget.widget")]


@pytest.mark.parametrize("late", [False, True])
def test_a_cycle_is_found_and_named(tmp_path, late):
    indent = "def f():\n    " if late else ""  # a function-level import closes it as well
    package = write(tmp_path, {
        "__init__.py": "",
        "runner.py": f"{indent}from .widget import Dashboard\n",
        "widget.py": "from .experiments import LoadTest\n",
        "experiments.py": "from .runner import Runner\n",
        "stats.py": "",
    })
    cycles = find_cycles(import_graph(package))
    assert cycles == [["llmeter_widget.experiments", "llmeter_widget.runner",
                       "llmeter_widget.widget", "llmeter_widget.experiments"]]
