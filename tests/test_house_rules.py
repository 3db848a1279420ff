"""The house rules a reader relies on, checked on the source tree: no module too long to read top to bottom, and
an experiment's kind or role asked of its spec class, never compared as a string (docs/architecture.md)."""
import ast

import pytest
from conftest import REPO

PACKAGES = ("trainables", "search_spaces", "sweep", "analysis", "babysweep")
MAX_LINES = 450
LONG_ALLOWED = set()  # the grammar of the built-in corpus may grow past it; it is 390 lines today
# where a kind or role is the spec classes' own business: the kinds, and the reader of old record formats
SPEC_HOMES = ("sweep/kinds/", "sweep/records.py")
EXPERIMENT_KINDS = {"sweep", "rerun"}


def modules():
    for package in PACKAGES:
        yield from sorted((REPO / package).rglob("*.py"))


def test_no_module_is_longer_than_a_reader_holds_in_their_head():
    long = {str(p.relative_to(REPO)): n for p in modules()
            if (n := len(p.read_text().splitlines())) > MAX_LINES and str(p.relative_to(REPO)) not in LONG_ALLOWED}
    assert long == {}, f"over {MAX_LINES} lines: split them by what their parts are"


def names_a(node, key: str) -> bool:
    """`node` is key (a variable), x.key, x[key] or x.get(key, ...)."""
    if isinstance(node, ast.Name):
        return node.id == key
    if isinstance(node, ast.Attribute):
        return node.attr == key
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == key
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        return bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value == key
    return False


def is_experiment_kind(node) -> bool:
    if isinstance(node, ast.Constant):
        return node.value in EXPERIMENT_KINDS
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(is_experiment_kind(e) for e in node.elts)
    return isinstance(node, ast.Attribute) and node.attr == "KIND"


def string_tests_of_kinds(tree) -> list[int]:
    """Lines comparing an algo (any), or a kind with an experiment kind, by ==, !=, in or not in."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        if any(names_a(s, "algo") for s in sides) or (
                any(names_a(s, "kind") for s in sides) and any(is_experiment_kind(s) for s in sides)):
            lines.append(node.lineno)
    return lines


def test_no_caller_compares_an_experiments_algo_or_kind_as_a_string():
    found = {}
    for path in modules():
        rel = str(path.relative_to(REPO))
        if rel.startswith(SPEC_HOMES):
            continue
        lines = string_tests_of_kinds(ast.parse(path.read_text(), rel))
        if lines:
            found[rel] = lines
    assert found == {}, "ask the spec (isinstance, its methods), as sweep/kinds/ says"


@pytest.mark.parametrize("code, caught", [
    ('if record.get("algo") == "scan": pass', True),
    ('if st["algo"] != "rerun": pass', True),
    ('if args.algo in ("bohb", "asha"): pass', True),
    ('algo = record.get("algo", "bohb")\nif algo == "bohb": pass', True),
    ('if record.get("kind") == "rerun": pass', True),
    ('if exp.kind == SweepSpec.KIND: pass', True),
    ('if p.kind == "log_uniform": pass', False),     # a prior's kind, not an experiment's
    ('if isinstance(exp.spec, ScanSpec): pass', False),
])
def test_the_rule_catches_what_it_is_for(code, caught):
    assert bool(string_tests_of_kinds(ast.parse(code))) == caught
