"""The architecture, checked from the code's own imports (read with ``ast``, nothing is run):
one folder per part, imports that flow one way, no cycles, and lazy imports only for the heavy
optional libraries, each with its reason.  DESIGN.md draws the same picture."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Lowest first; a part may import only parts of lower layers (and itself).  Parts in one layer
# are independent of each other.  ``dragnet.cli`` and ``dragnet.demo`` wire every part together,
# so they sit on top although the rest of ``dragnet`` (settings, documents, services, sqlite,
# logs) is the bottom.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("dragnet",),
    ("extract",),
    ("crawlers", "classifier", "index"),
    ("takedown", "lifespan"),
    ("workers",),
    ("api",),
    ("bench", "dragnet.demo"),
    ("dragnet.cli",),
)
PARTS = tuple(part for layer in LAYERS for part in layer)
PACKAGES = sorted({part.split(".")[0] for part in PARTS})


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the project module it imports
    line: int
    in_function: bool
    has_reason: bool  # a comment on its line or on the lines of its import group above it


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The project module ``name`` refers to (a module, or the package holding a name)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def part_of(module: str) -> str:
    return max((p for p in PARTS if module == p or module.startswith(p + ".")), key=len)


def layer_of(module: str) -> int:
    part = part_of(module)
    return next(i for i, layer in enumerate(LAYERS) if part in layer)


def _imports(module: str, path: Path) -> Iterator[tuple[ast.Import | ast.ImportFrom, list[str], bool, bool]]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        in_function = type_checking = False
        parent = parents.get(node)
        while parent is not None:
            in_function |= isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef))
            type_checking |= isinstance(parent, ast.If) and "TYPE_CHECKING" in ast.unparse(parent.test)
            parent = parents.get(parent)
        if type_checking:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                package = module if path.name == "__init__.py" else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}".strip(".")
            names = [f"{base}.{alias.name}" for alias in node.names] or [base]
        yield node, names, in_function, _has_reason(lines, node.lineno - 1)


def _has_reason(lines: list[str], index: int) -> bool:
    """A comment on the import's line, or above it within its group of import lines."""
    if "#" in lines[index]:
        return True
    index -= 1
    while index >= 0 and (not lines[index].strip() or lines[index].lstrip().startswith(("#", "import ", "from "))):
        if "#" in lines[index]:
            return True
        index -= 1
    return False


def all_imports() -> list[Import]:
    found = []
    for module, path in MODULES.items():
        for node, names, in_function, reason in _imports(module, path):
            for name in names:
                target = _resolve(name)
                if target is not None and target != module:
                    found.append(Import(module, target, node.lineno, in_function, reason))
    return found


def _heavy_modules() -> tuple[str, ...]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return tuple(config["tool"]["ruff"]["lint"]["flake8-tidy-imports"]["banned-module-level-imports"])


def test_every_part_is_a_top_level_folder_of_the_layers() -> None:
    assert {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()} - {"tests"} == set(PACKAGES)
    for module in MODULES:
        assert part_of(module), f"{module} belongs to no part"


def test_imports_flow_one_way() -> None:
    against = sorted(
        f"{i.module}:{i.line} imports {i.target} ({part_of(i.module)} -> {part_of(i.target)})"
        for i in all_imports()
        if part_of(i.module) != part_of(i.target) and layer_of(i.target) >= layer_of(i.module)
    )
    assert against == [], "imports against the flow:\n" + "\n".join(against)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def test_no_import_cycles() -> None:
    edges: dict[str, set[str]] = {}
    for item in all_imports():
        edges.setdefault(item.module, set()).add(item.target)
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_lazy_imports_are_heavy_libraries_with_a_reason() -> None:
    heavy = _heavy_modules()
    problems = []
    for module, path in MODULES.items():
        for node, names, in_function, reason in _imports(module, path):
            if not in_function:
                continue
            if not all(any(n == h or n.startswith(h + ".") for h in heavy) for n in names):
                problems.append(
                    f"{module}:{node.lineno}: {', '.join(names)} imported in a function (not a heavy library)"
                )
            elif not reason:
                problems.append(
                    f"{module}:{node.lineno}: lazy import of {', '.join(names)} without a comment saying why"
                )
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("call", ["import_module(", "__import__("])
def test_parts_and_routers_are_imported_by_name(call: str) -> None:
    """Routers and CLI parts are imported explicitly, so a missing one fails at import."""
    users = [module for module, path in MODULES.items() if call in path.read_text(encoding="utf-8")]
    assert users == []
