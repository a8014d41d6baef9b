"""No module of liaison or crypto imports one that imports it back, directly or through a chain.

The import-linter contracts (pyproject.toml) check the direction between packages; this checks
within them. The graph is grimp's, import-linter's own: imports inside functions count.
"""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest

ROOT_PACKAGES = ("liaison", "crypto")


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Each set of modules that import each other in a circle (strongly connected, Tarjan),
    as a closed chain `a, b, …, a` that shows one way round it."""
    modules = sorted(graph.modules)
    imports = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    # Iterative, so a deep import chain cannot hit the recursion limit.
    for root in modules:
        if root in order:
            continue
        work = [(root, iter(imports[root]))]
        order[root] = low[root] = len(order)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, pending = work[-1]
            target = next(pending, None)
            if target is not None:
                if target not in imports:
                    continue
                if target not in order:
                    order[target] = low[target] = len(order)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(imports[target])))
                elif target in on_stack:
                    low[module] = min(low[module], order[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == order[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1 or module in imports[module]:
                    components.append(sorted(component))
    return [_closed_chain(graph, component) for component in sorted(components)]


def _closed_chain(graph: grimp.ImportGraph, component: list[str]) -> list[str]:
    start = component[0]
    if start in graph.find_modules_directly_imported_by(start):
        return [start, start]
    following = next(
        m for m in component[1:] if graph.direct_import_exists(importer=start, imported=m)
    )
    back = graph.find_shortest_chain(importer=following, imported=start)
    assert back is not None  # same strongly connected component
    return [start, *back]


def test_cycle_finder_reports_a_closed_chain_through_a_function_level_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "circle"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from circle import b\n")
    (package / "b.py").write_text("def later():\n    from circle import c\n")
    (package / "c.py").write_text("import circle.a\n")
    (package / "d.py").write_text("import circle.a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("circle", cache_dir=None)
    assert import_cycles(graph) == [["circle.a", "circle.b", "circle.c", "circle.a"]]


def test_no_module_imports_itself_back() -> None:
    graph = grimp.build_graph(*ROOT_PACKAGES, cache_dir=None)
    cycles = import_cycles(graph)
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
