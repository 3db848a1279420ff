"""The project's import graph: no circle, and no import from a lower layer to a higher one.

Layers, lowest first (a module may import its own layer and the ones below):
    trainables       what a trial runs, the error base and the atomic writers (trainables/errors.py, files.py)
    search_spaces    priors as data
    sweep            experiments on Ray Tune
    analysis         evaluation and analyses of results tables
    babysweep        the front door: the scripting API (`import babysweep`), the pipeline that chains commands,
                     and the `babysweep` command (babysweep/cli/)

Every import counts, also those inside functions (a lazy import is still a dependency). Run this file to print
the graph: `python tests/test_layers.py`.
"""
import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ["trainables", "search_spaces", "sweep", "analysis", "babysweep"]
LAYERS = PACKAGES  # lowest first


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: set) -> set:
    """The project modules `name` imports (a `from package import module` counts as the module)."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in known else source for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` of a non-module attribute: its module
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def layer(module: str) -> int:
    return max(i for i, prefix in enumerate(LAYERS) if module == prefix or module.startswith(prefix + "."))


def cycles(g: dict[str, set]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in g:
        if v not in index:
            visit(v)
    return out


def test_no_import_circle():
    assert cycles(graph()) == []


def test_no_import_from_a_lower_layer_to_a_higher_one():
    upward = [f"{a} ({LAYERS[layer(a)]}) imports {b} ({LAYERS[layer(b)]})"
              for a, targets in graph().items() for b in targets if layer(b) > layer(a)]
    assert upward == []


def folder_graph(g: dict[str, set]) -> dict[str, set]:
    """The graph between top-level folders: a folder imports another when one of its modules does."""
    out = {p: set() for p in PACKAGES}
    for a, targets in g.items():
        out[a.split(".")[0]] |= {b.split(".")[0] for b in targets} - {a.split(".")[0]}
    return out


def test_no_import_circle_among_top_level_folders():
    folders = folder_graph(graph())
    assert cycles(folders) == []
    assert folders["sweep"] <= {"trainables", "search_spaces"} and "analysis" not in folders["trainables"]


def test_the_graph_sees_lazy_and_relative_imports():
    g = graph()
    assert "sweep.folder" in g["sweep.launch"]                 # `from . import folder`
    assert "analysis.evaluate" in g["babysweep.cli.experiments"]   # an import inside a function
    assert "trainables.errors" in g["search_spaces.priors"]


if __name__ == "__main__":
    g = graph()
    for name in sorted(g, key=lambda m: (layer(m), m)):
        print(f"[{LAYERS[layer(name)]}] {name} -> {', '.join(sorted(g[name])) or '-'}")
    print(f"\n{len(g)} modules; circles: {cycles(g) or 'none'}; upward imports: "
          f"{sum(layer(b) > layer(a) for a, t in g.items() for b in t)}")
