"""The layers of docs/architecture.md, read from the source's imports.

Each top-level module or package of `telemed` sits on a layer; a module may import the layers
below it, never one above, and the edge packages (api, views, ingest, signalling, ...) do not
import each other: they share through services or lower. Modules form no import cycle.
`KNOWN` and `KNOWN_CYCLES` (exceptions) are empty and may only shrink: the tests fail on
anything new, and on a listed entry that is gone.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "telemed"

# Lower number = lower layer. A module imports only from lower layers; within a layer only
# the packages of `SHARED_LAYERS` may import each other.
LAYERS: dict[str, int] = {
    "domain": 0,
    "__init__": 1, "errors": 1, "principal": 1, "settings": 1, "logs": 1, "tasks": 1,
    "metrics": 1, "i18n": 1, "webroot": 1, "security": 1, "keys": 1, "readiness": 1,
    "mqtt_loop": 1, "static_files": 1, "heap": 1,
    "bus": 1,  # the core's messenger: it needs only settings, tasks and the readiness registry
    # adapters that own one outside resource: the database, the MQTT broker, the echo peer, the PACS
    "db": 2, "broker": 2, "precall": 2, "imaging": 2,
    "services": 3, "live_channels": 3, "notify": 3, "identity": 3, "documents": 3,
    "api": 4, "views": 4, "ingest": 4, "signalling": 4, "middlewares": 4,
    "app": 5, "commands": 5, "demo": 5, "demo_devices": 5, "demo_teleconsult": 5, "demo_sso": 5,
    "demo_documents": 5,
    "cli": 6, "__main__": 7,
}

SHARED_LAYERS = frozenset({0, 1, 2, 3, 5})

# Imports that break the layers today (importer package -> imported package). Remove an entry
# when its last import goes; never add one.
KNOWN: frozenset[tuple[str, str]] = frozenset()


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_module(name: str, root: Path) -> bool:
    relative = Path(*name.split(".")[1:])
    return (root / relative).is_dir() or (root / relative).with_suffix(".py").is_file()


def _imports(path: Path, root: Path = ROOT) -> set[str]:
    """The telemed modules `path` imports, at any depth (lazy imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "telemed" or node.module.startswith("telemed."):
                for alias in node.names:  # a submodule, or a name defined in the module
                    name = f"{node.module}.{alias.name}"
                    found.add(name if _is_module(name, root) else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("telemed."))
    return found


def layer_breaks(root: Path = ROOT) -> set[tuple[str, str]]:
    """Every (importer package, imported package) pair that points up the layers."""
    breaks: set[tuple[str, str]] = set()
    for path in root.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        here = _package("telemed." + ".".join(path.relative_to(root).with_suffix("").parts))
        for target in _imports(path, root):
            there = _package(target)
            upward = LAYERS[there] > LAYERS[here]
            sideways = LAYERS[there] == LAYERS[here] and LAYERS[here] not in SHARED_LAYERS
            if here != there and (upward or sideways):
                breaks.add((here, there))
    return breaks


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("telemed", *parts))


def import_cycles(root: Path = ROOT) -> set[frozenset[str]]:
    """The sets of modules that import each other in a ring (lazy imports count too)."""
    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        if "migrations" not in path.parts:
            graph[_module_name(path, root)] = _imports(path, root)
    for name, targets in graph.items():
        graph[name] = targets - {name}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: set[frozenset[str]] = set()

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            ring = set()
            while True:
                member = stack.pop()
                ring.add(member)
                if member == node:
                    break
            if len(ring) > 1:
                cycles.add(frozenset(ring))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return cycles


# Import rings today; remove an entry when its ring is broken, never add one.
KNOWN_CYCLES: set[frozenset[str]] = set()


def test_no_new_import_cycle() -> None:
    assert import_cycles() - KNOWN_CYCLES == set()


def test_the_list_of_known_cycles_only_shrinks() -> None:
    assert KNOWN_CYCLES - import_cycles() == set()


def test_every_module_has_a_layer() -> None:
    names = {p.stem if p.is_file() else p.name for p in ROOT.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    assert names - LAYERS.keys() == set()


def test_no_new_import_points_up_the_layers() -> None:
    assert layer_breaks() - KNOWN == set()


def test_the_list_of_known_breaks_only_shrinks() -> None:
    assert KNOWN - layer_breaks() == set()


# What the home-device side may take from the server package: the wire contract and the one
# paho-on-asyncio adapter (which therefore imports nothing of ours).
DEVICE_SIDE_MAY_IMPORT = ("telemed.domain", "telemed.mqtt_loop")


def device_side_imports(root: Path = ROOT.parent / "devices") -> set[str]:
    """The telemed modules the device package imports that it must not."""
    return {name for path in root.rglob("*.py") for name in _imports(path, ROOT)
            if not name.startswith(DEVICE_SIDE_MAY_IMPORT)}


def test_the_device_side_imports_only_the_wire_contract_and_the_adapter() -> None:
    assert device_side_imports() == set()


def test_the_mqtt_adapter_imports_nothing_of_ours() -> None:
    assert _imports(ROOT / "mqtt_loop.py") == set()


def test_a_wrong_device_import_is_caught(tmp_path: Path) -> None:
    (tmp_path / "client.py").write_text("from telemed.ingest.mqtt import BrokerAddress\n")
    assert device_side_imports(tmp_path) == {"telemed.ingest.mqtt"}


@pytest.mark.parametrize(("module", "source", "expected"), [
    ("domain/rule.py", "from telemed.services import alerts\n", ("domain", "services")),
    ("services/x.py", "from telemed.views.render import t\n", ("services", "views")),
    ("views/page.py", "from telemed.api.auth import login\n", ("views", "api")),
    ("api/visits.py", "def f():\n    from telemed.signalling.hub import HUB\n",
     ("api", "signalling")),
    ("views/page.py", "import telemed.middlewares.x\n", ("views", "middlewares")),
])
def test_a_wrong_import_is_caught(tmp_path: Path, module: str, source: str,
                                  expected: tuple[str, str]) -> None:
    """A fake module with one import that points up (or sideways between edges) fails."""
    path = tmp_path / module
    path.parent.mkdir(parents=True)
    path.write_text(source)
    assert layer_breaks(tmp_path) == {expected}
    assert layer_breaks(tmp_path) - KNOWN != set()  # the check above would fail on it


SESSION_QUERIES = frozenset({"get", "exec", "execute", "scalar", "scalars", "refresh"})


def _queries(node: ast.AST) -> bool:
    """An import of SQL builders, or a query run on a database `session` (a web session's
    ``session.get("key")`` is not one)."""
    if isinstance(node, ast.ImportFrom):
        return node.module in {"sqlmodel", "sqlalchemy"} and bool(
            {a.name for a in node.names} & {"select", "col", "func", "or_", "and_"})
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name) and node.func.value.id in {"session", "db"}
            and node.func.attr in SESSION_QUERIES
            and not (node.args and _web_session_key(node.args[0])))


def _web_session_key(node: ast.expr) -> bool:
    """A web session's key: a literal or a constant's NAME (``session.get(ENROL_SECRET)``)."""
    return isinstance(node, ast.Constant) or (isinstance(node, ast.Name) and node.id.isupper())


def querying_modules(root: Path) -> list[str]:
    """The modules below `root` that build SQL or run a query themselves."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*.py")
                  if any(map(_queries, ast.walk(ast.parse(path.read_text(encoding="utf-8"))))))


@pytest.mark.parametrize("package", ["api", "views"])
def test_handlers_do_not_query(package: str) -> None:
    """Handlers never build SQL nor run a query: data work lives in services."""
    assert querying_modules(ROOT / package) == QUERYING_HANDLERS[package]


def test_a_query_in_a_handler_is_caught(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("async def f(session):\n    await session.get(User, 1)\n")
    (tmp_path / "b.py").write_text("from sqlmodel import select\n")
    (tmp_path / "c.py").write_text("async def f(session):\n    session.get('lang')\n")
    assert querying_modules(tmp_path) == ["a.py", "b.py"]


# Handler modules allowed to build queries: none (data work lives in services).
QUERYING_HANDLERS: dict[str, list[str]] = {"api": [], "views": []}


TESTS = ROOT.parent / "tests"


def _test_module_imports(root: Path = TESTS) -> list[str]:
    """Imports of a test module, from the tests below `root` and from bench/."""
    found = []
    for path in [*root.rglob("*.py"), *(ROOT.parent / "bench").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found += [f"{path.name} -> {name}" for name in names
                      if name.startswith("tests.") and name.split(".")[-1].startswith("test_")]
    return sorted(found)


def test_no_module_imports_a_test_module(tmp_path: Path) -> None:
    """Shared test pieces live in tests/helpers/ (fixtures in conftest.py), never in a test."""
    assert _test_module_imports() == []
    (tmp_path / "test_a.py").write_text("from tests.integration.test_pages import log_in\n")
    assert _test_module_imports(tmp_path) != []
