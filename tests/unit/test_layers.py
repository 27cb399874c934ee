"""The layers of docs/architecture.md, read from the source's imports.

Each top-level module or package of `telemed` sits on a layer; a module may import the layers
below it, never one above, and the edge packages (api, views, ingest, signalling, ...) do not
import each other: they share through services or lower. Modules form no import cycle. What
still breaks these rules today is listed in `KNOWN` and `KNOWN_CYCLES`, each to be removed by the
layering work; the tests fail on anything new, and on a listed entry that is gone (so the lists
only shrink).
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
    "mqtt_loop": 1,
    "bus": 1,  # the core's messenger: it needs only settings, tasks and the readiness registry
    "db": 2, "broker": 2,
    "services": 3, "live_channels": 3, "notify": 3, "documents": 3,
    "api": 4, "views": 4, "ingest": 4, "signalling": 4, "precall": 4, "middlewares": 4,
    "app": 5, "commands": 5, "demo": 5, "demo_devices": 5, "cli": 6, "__main__": 7,
}

SHARED_LAYERS = frozenset({0, 1, 2, 3, 5})

# Imports that break the layers today (importer package -> imported package). Remove an entry
# when its last import goes; never add one.
KNOWN: frozenset[tuple[str, str]] = frozenset({
    # pages and API handlers take the CSRF token, the JSON body and the client address
    # from the request pipeline
    ("views", "middlewares"), ("api", "middlewares"),
    ("views", "api"), ("views", "signalling"), ("api", "signalling"), ("api", "precall"),
    ("precall", "signalling"),
})


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


def test_a_wrong_import_is_caught(tmp_path: Path) -> None:
    (tmp_path / "domain").mkdir()
    (tmp_path / "domain" / "rule.py").write_text("from telemed.services import alerts\n")
    assert layer_breaks(tmp_path) == {("domain", "services")}


@pytest.mark.parametrize("package", ["api", "views"])
def test_handlers_do_not_query(package: str) -> None:
    """Handlers never build SQL: no `select`/`col`/`func` from sqlmodel or sqlalchemy."""
    offenders = sorted(
        str(path.relative_to(ROOT / package))
        for path in (ROOT / package).rglob("*.py")
        if any(
            isinstance(node, ast.ImportFrom) and node.module in {"sqlmodel", "sqlalchemy"}
            and {a.name for a in node.names} & {"select", "col", "func", "or_", "and_"}
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    )
    assert offenders == QUERYING_HANDLERS[package]


# Handler modules that still build queries today; the layering work empties these lists.
QUERYING_HANDLERS: dict[str, list[str]] = {
    "api": [
        "fhir/appointment.py", "fhir/auditevent.py", "fhir/careplan.py", "fhir/flag.py",
        "fhir/observation.py", "fhir/patient.py", "fhir/spec.py",
    ],
    "views": ["alerts.py", "vitals.py"],
}


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
