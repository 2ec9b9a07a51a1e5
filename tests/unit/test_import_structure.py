"""The package's import graph: no cycles, and each folder imports only what its job needs.

Every import statement counts, function-local ones included (a local import that dodges
a cycle is still a cycle). Imports under ``if TYPE_CHECKING:`` run only for the type
checker: they do not count for what a module loads, but a circle through them is still a
circle (two modules that each need the other's names belong together, or the shared piece
belongs below both).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import chaos

ROOT = Path(chaos.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in ROOT.rglob("*.py")}


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    yield from _imports_in(list(ast.iter_child_nodes(tree)))


def all_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, those for the type checker only included."""
    yield from (node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom)))


def _imports_in(nodes: list[ast.AST]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The imports that run among `nodes` (and inside them): of ``if TYPE_CHECKING:`` only
    the ``else:`` branch, of ``if not TYPE_CHECKING:`` only the body."""
    for node in nodes:
        if isinstance(node, ast.If) and is_type_checking(node.test):
            yield from _imports_in(list(node.orelse))
            continue
        if (isinstance(node, ast.If) and isinstance(node.test, ast.UnaryOp)
                and isinstance(node.test.op, ast.Not) and is_type_checking(node.test.operand)):
            yield from _imports_in(list(node.body))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _imports_in(list(ast.iter_child_nodes(node)))


def resolve(node: ast.Import | ast.ImportFrom, importer: str, known: dict[str, Path]) -> set[str]:
    """The chaos modules an import statement loads."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    base = node.module or ""
    if node.level:
        package = importer.split(".")
        is_package = known[importer].name == "__init__.py"
        package = package[: len(package) - node.level + (1 if is_package else 0)]
        base = ".".join([*package, base] if base else package)
    targets = set()
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        if candidate in known:
            targets.add(candidate)  # `from chaos.metrics import catalog`
        elif base in known:
            targets.add(base)
    return targets


def with_parent_packages(target: str, importer: str, known: dict[str, Path]) -> set[str]:
    """Importing ``pkg.sub`` from outside ``pkg`` first runs ``pkg/__init__.py``."""
    loaded = {target}
    parts = target.split(".")
    for depth in range(2, len(parts)):
        package = ".".join(parts[:depth])
        if package in known and not importer.startswith(package + "."):
            loaded.add(package)
    return loaded


def import_graph(*, type_only_too: bool = False) -> dict[str, set[str]]:
    """Who imports whom. A type-only import names one module, and loads no package
    ``__init__`` (the type checker reads the module it names)."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges: set[str] = set()
        running = set(map(id, runtime_imports(tree)))
        for node in all_imports(tree) if type_only_too else runtime_imports(tree):
            for target in resolve(node, name, known):
                edges |= (with_parent_packages(target, name, known) if id(node) in running
                          else {target})
        graph[name] = edges - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_function_local_imports() -> None:
    graph = import_graph()
    # imported inside the command's function
    assert "chaos.run.start" in graph["chaos.cli.commands.experiment"]


def test_the_full_graph_sees_type_only_imports() -> None:
    assert "chaos.run.context" not in import_graph()["chaos.run.progress"]
    assert "chaos.run.context" in import_graph(type_only_too=True)["chaos.run.progress"]


def test_no_import_cycle_in_chaos() -> None:
    assert cycles(import_graph()) == []


def test_no_import_cycle_in_chaos_even_through_type_only_imports() -> None:
    assert cycles(import_graph(type_only_too=True)) == []


def test_the_run_context_imports_no_step_of_the_run() -> None:
    """chaos.run.context is what every step takes: it imports none of them, even for types."""
    steps = {"chaos.run.start", "chaos.run.lifecycle", "chaos.run.preflight",
             "chaos.run.record", "chaos.run.plan_view", "chaos.run.progress"}
    assert import_graph(type_only_too=True)["chaos.run.context"] & steps == set()


def imported(source: str) -> list[str]:
    return sorted(alias.name if isinstance(node, ast.Import) else f"{node.module}.{alias.name}"
                  for node in runtime_imports(ast.parse(source)) for alias in node.names)


def test_only_the_imports_that_run_count() -> None:
    source = (
        "import typing\n"
        "if TYPE_CHECKING:\n"
        "    import types_only\n"
        "else:\n"
        "    import in_else\n"
        "    from else_package import name\n"
        "if typing.TYPE_CHECKING:\n"
        "    from also_types import thing\n"
        "elif other:\n"
        "    import in_elif\n"
        "if not TYPE_CHECKING:\n"
        "    import when_running\n"
        "else:\n"
        "    import types_too\n"
        "def later():\n"
        "    import local_one\n")
    assert imported(source) == ["else_package.name", "in_elif", "in_else", "local_one",
                                "typing", "when_running"]


def test_a_cycle_would_be_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_reports_only_render() -> None:
    graph = import_graph()
    offenders = {
        f"{module} -> {target}"
        for module, targets in graph.items() if module.startswith("chaos.report")
        for target in targets
        if target.startswith(("chaos.load", "chaos.aws", "chaos.sandbox", "chaos.run.lifecycle"))
    }
    assert offenders == set()


#: The package root: the vocabulary every folder shares, and the two entry points that
#: PRODUCT.md names (`python -m chaos`, the `chaos.pytest_plugin` pytest11 entry point).
VOCABULARY = {"chaos.clock", "chaos.durations", "chaos.errors", "chaos.files", "chaos.host",
              "chaos.outcome", "chaos.policy"}
ENTRY_POINTS = {"chaos.__main__", "chaos.pytest_plugin"}


def test_the_package_root_holds_only_shared_vocabulary() -> None:
    root = {name for name, path in modules().items() if path.parent == ROOT} - {"chaos"}
    assert root == VOCABULARY | ENTRY_POINTS
    graph = import_graph(type_only_too=True)
    assert {f"{module} -> {target}" for module in VOCABULARY for target in graph[module]
            if target not in VOCABULARY} == set()
