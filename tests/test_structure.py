"""The structure the code keeps (docs/architecture.md), read from the code: the layer contract in
pyproject.toml holds when run as `make test` runs it, no two files import each other even in a
roundabout way or from inside a function, and no module grows past 800 lines."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "db", "trading")
GENERATED = (ROOT / "db" / "migrations",)  # aerich writes these
MAX_LINES = 800


def test_the_import_contract_holds_as_make_test_runs_it() -> None:
    beside = Path(sys.executable).parent / "lint-imports"
    lint = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert lint is not None, "lint-imports is missing: pip install -e '.[dev]'"
    done = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_import_cycles_between_modules() -> None:
    # Every import counts: module level, inside functions, under TYPE_CHECKING.
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    cycles = [_one_cycle(graph, group) for group in _strongly_connected(graph)]
    assert cycles == [], "import cycles:\n" + "\n".join(sorted(cycles))


def test_no_module_is_longer_than_800_lines() -> None:
    lengths = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for top in PACKAGES  # the product (test fakes may grow with what they fake)
        for path in sorted((ROOT / top).rglob("*.py"))
        if not any(path.is_relative_to(skip) for skip in GENERATED)
    }
    assert {path: n for path, n in lengths.items() if n > MAX_LINES} == {}


def _strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """The groups of modules that reach each other through imports (Tarjan, iteratively)."""
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for root in modules:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if child < len(edges[node]):
                work.append((node, child + 1))
                target = edges[node][child]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if work:  # back in the caller: propagate
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(group)
    return groups


def _one_cycle(graph: grimp.ImportGraph, group: set[str]) -> str:
    """The shortest cycle through the group's first module, as `a -> b -> a`, and the group."""
    start = min(group)
    chains = [
        graph.find_shortest_chain(importer=imported, imported=start)
        for imported in graph.find_modules_directly_imported_by(start) & group
    ]
    chain = min((c for c in chains if c), key=len)
    others = sorted(group - set(chain))
    more = f" (with {', '.join(others)} in the same knot)" if others else ""
    return " -> ".join((start, *chain)) + more
