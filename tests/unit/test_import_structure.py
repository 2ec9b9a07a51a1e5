"""The package's import graph: no cycles, and each folder imports only what its job needs.

Every import statement counts, function-local ones included (a local import that dodges
a cycle is still a cycle); imports under ``if TYPE_CHECKING:`` are for types only and
do not count.
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
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    yield from _imports_in(list(ast.iter_child_nodes(tree)))


def _imports_in(nodes: list[ast.AST]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The imports that run among `nodes` (and inside them): of ``if TYPE_CHECKING:`` only
    the ``else:`` branch, of ``if not TYPE_CHECKING:`` only the body."""
    for node in nodes:
        if isinstance(node, ast.If) and is_type_checking(node.test):
            yield from _imports_in(list(node.orelse))
            continue
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.UnaryOp)
            and isinstance(node.test.op, ast.Not)
            and is_type_checking(node.test.operand)
        ):
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
                edges |= (
                    with_parent_packages(target, name, known) if id(node) in running else {target}
                )
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


def test_no_import_cycle_in_chaos() -> None:
    assert cycles(import_graph()) == []


def imported(source: str) -> list[str]:
    return sorted(
        alias.name if isinstance(node, ast.Import) else f"{node.module}.{alias.name}"
        for node in runtime_imports(ast.parse(source))
        for alias in node.names
    )


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
        "    import local_one\n"
    )
    assert imported(source) == [
        "else_package.name",
        "in_elif",
        "in_else",
        "local_one",
        "typing",
        "when_running",
    ]


def test_a_cycle_would_be_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_reports_only_render() -> None:
    graph = import_graph()
    offenders = {
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module.startswith("chaos.report")
        for target in targets
        if target.startswith(("chaos.load", "chaos.aws", "chaos.sandbox", "chaos.run.lifecycle"))
    }
    assert offenders == set()


#: Where a fault kind is derived from the registry (chaos.faults), never named: the
#: experiment model, the run (policy, lifecycle), the result (issue 21).
KIND_BLIND = ("chaos.experiment", "chaos.run", "chaos.result")


def test_a_fault_kind_lives_in_its_folder_only() -> None:
    from chaos.faults import FAULT_KINDS

    graph = import_graph()
    kind_packages = {kind.__module__.rsplit(".", 1)[0] for kind in FAULT_KINDS.values()}
    offenders = {
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module.startswith(KIND_BLIND)
        for target in targets
        if target.startswith(tuple(f"{p}." for p in kind_packages)) or target in kind_packages
    }
    assert offenders == set()
    spelled = {
        f"{module}: {kind.type_name!r}"
        for module, path in modules().items()
        if module.startswith(KIND_BLIND)
        for kind in FAULT_KINDS.values()
        if repr(kind.type_name).replace("'", '"') in path.read_text(encoding="utf-8")
    }
    assert spelled == set()


#: What the rest of the toolkit may load of the sandbox: its control (start, find, stop;
#: its state and journal prefix), the realism setting, and the packages above them.
SANDBOX_INTERFACE = {
    "chaos.sandbox",
    "chaos.sandbox.process",
    "chaos.sandbox.process.control",
    "chaos.sandbox.realism",
}
#: The sandbox's groups, one per AWS service it emulates (plus its process and demo).
SANDBOX_SERVICES = ("apigateway", "functions", "capacity", "waf", "cloudwatch", "eventbridge")


def in_sandbox(module: str) -> bool:
    return module == "chaos.sandbox" or module.startswith("chaos.sandbox.")


def test_the_toolkit_reaches_the_sandbox_through_its_control_only() -> None:
    offenders = {
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        if not in_sandbox(module)
        for target in targets
        if in_sandbox(target) and target not in SANDBOX_INTERFACE
    }
    assert offenders == set()


def every_import(path: Path) -> set[str]:
    """The absolute modules a file imports, type-only imports included."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_the_sandbox_services_leave_the_process_to_wire_them() -> None:
    """A service's group never imports the process that holds it (the server wires the
    services together; a service states what it reads of another as a small Protocol),
    not even for types, nor the demo seeded into it."""
    services = tuple(f"chaos.sandbox.{name}" for name in SANDBOX_SERVICES)
    offenders = {
        f"{module} -> {target}"
        for module, path in modules().items()
        if module.startswith(services)
        for target in every_import(path)
        if target.startswith(("chaos.sandbox.process", "chaos.sandbox.demo"))
    }
    assert offenders == set()


def test_reports_do_not_measure_assemble_or_judge_again() -> None:
    """report/ renders a result: CloudWatch, row folding, assembly and refresh are elsewhere."""
    graph = import_graph()
    offenders = {
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module.startswith("chaos.report")
        for target in targets
        if target.startswith(
            (
                "chaos.metrics.cloudwatch",
                "chaos.metrics.server_side",
                "chaos.metrics.aggregate",
                "chaos.result",
            )
        )
    }
    assert offenders == set()


def test_metrics_only_measure() -> None:
    """metrics/ imports nothing of what uses its figures (the run, results, reports,
    verdicts, the CLI)."""
    graph = import_graph()
    offenders = {
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module.startswith("chaos.metrics")
        for target in targets
        if target.startswith(
            (
                "chaos.run",
                "chaos.result",
                "chaos.report",
                "chaos.verdict",
                "chaos.cli",
                "chaos.gameday",
                "chaos.load",
            )
        )
    }
    assert offenders == set()


def importers_of(names: set[str]) -> dict[str, set[str]]:
    """Which chaos modules import which of `names` from a chaos module."""
    found: dict[str, set[str]] = {}
    for module, path in modules().items():
        for node in runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("chaos"):
                hit = {alias.name for alias in node.names} & names
                if hit:
                    found.setdefault(module, set()).update(hit)
    return found


def test_one_server_side_reader() -> None:
    """The run and `gameday report --refresh` read CloudWatch through read_settled only."""
    lower_readers = importers_of(
        {"read_server_side", "read_series", "fetch_series", "slis_from_series", "figures_of"}
    )
    assert set(lower_readers) <= {"chaos.metrics.server_side"}
    callers = set(importers_of({"read_settled"}))
    assert "chaos.result.refresh" in callers
    assert any(module.startswith("chaos.run.") for module in callers)
    assert all(
        module == "chaos.result.refresh" or module.startswith("chaos.run.") for module in callers
    )


def all_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, those for the type checker only included."""
    yield from (node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom)))


def test_the_full_graph_sees_type_only_imports() -> None:
    assert "chaos.run.context" not in import_graph()["chaos.run.progress"]
    assert "chaos.run.context" in import_graph(type_only_too=True)["chaos.run.progress"]


def test_no_import_cycle_in_chaos_even_through_type_only_imports() -> None:
    assert cycles(import_graph(type_only_too=True)) == []


def test_the_run_context_imports_no_step_of_the_run() -> None:
    """chaos.run.context is what every step takes: it imports none of them, even for types."""
    steps = {
        "chaos.run.start",
        "chaos.run.lifecycle",
        "chaos.run.preflight",
        "chaos.run.record",
        "chaos.run.plan_view",
        "chaos.run.progress",
    }
    assert import_graph(type_only_too=True)["chaos.run.context"] & steps == set()


#: The package root: the vocabulary every folder shares, and the two entry points that
#: PRODUCT.md names (`python -m chaos`, the `chaos.pytest_plugin` pytest11 entry point).
VOCABULARY = {
    "chaos.clock",
    "chaos.durations",
    "chaos.errors",
    "chaos.files",
    "chaos.host",
    "chaos.outcome",
    "chaos.phases",
    "chaos.policy",
    "chaos.yaml_model",
}


ENTRY_POINTS = {"chaos.__main__", "chaos.pytest_plugin"}


def test_the_package_root_holds_only_shared_vocabulary() -> None:
    root = {name for name, path in modules().items() if path.parent == ROOT} - {"chaos"}
    assert root == VOCABULARY | ENTRY_POINTS
    graph = import_graph(type_only_too=True)
    assert {
        f"{module} -> {target}"
        for module in VOCABULARY
        for target in graph[module]
        if target not in VOCABULARY
    } == set()
