"""The import graph keeps its layers: every import of a package module is an allowed arrow.

Every Python module of the library, the embedded server, the DQN example, the entry scripts and
`aws/` is parsed (nothing is imported), and each of its imports of a project module is checked
against RULES, whether it runs at import time, inside a function (deferred), or only for the type
checker (`if TYPE_CHECKING:`): a deferred or type-only import that runs up a layer is still a
dependency on what is above. The graph must also be free of cycles. The last tests show that the
checks fail on a synthetic bad import.
"""

from __future__ import annotations

import ast
import fnmatch
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["rllib_integration", "dqn_example", "aws", "dqn_train.py", "dqn_inference.py"]
SOURCES += ["dqn_inference_ray.py", "examples"]
PROJECT_PACKAGES = ("rllib_integration", "dqn_example", "aws")

RI = "rllib_integration"
# module (exact name, or a pattern whose `*` also matches dots) -> what it may import.
# The most specific rule applies: an exact name before any pattern, then the longest pattern.
# Bottom to top: leaves, the child processes, the parts, the core, the RL face, the example.
RULES: dict[str, tuple[str, ...]] = {
    # Leaves: defaults and value checks, the read-only simulator view, OpenDRIVE geometry.
    f"{RI}": (),
    f"{RI}.fatal": (),
    f"{RI}.defaults": (f"{RI}.fatal",),
    f"{RI}.sim_view": (),
    f"{RI}.map_geometry": (),
    f"{RI}.video": (),
    f"{RI}.space_checks": (f"{RI}.fatal",),
    # Which towns a config may name (the embedded server's map catalog is data to it).
    f"{RI}.towns": (f"{RI}.defaults", f"{RI}.embedded.maps.*"),
    # The embedded server is its own process: it reaches nothing of the library but the geometry.
    f"{RI}.embedded*": (f"{RI}.embedded*", f"{RI}.map_geometry"),
    # Child processes the env owns, and the helpers to start and stop them.
    f"{RI}.supervisor": (),
    f"{RI}.supervisor.process": (),
    f"{RI}.supervisor.state_dir": (f"{RI}.fatal",),
    f"{RI}.supervisor.simulator": (
        f"{RI}.defaults",
        f"{RI}.supervisor.process",
        f"{RI}.supervisor.state_dir",
    ),
    # NPC traffic; `host` runs in its own process and imports nothing of the package but the
    # watchdog of its Traffic Manager (a leaf).
    f"{RI}.traffic": (),
    f"{RI}.traffic.tm_watchdog": (),
    f"{RI}.traffic.host": (f"{RI}.traffic.tm_watchdog",),
    f"{RI}.traffic.host_client": (f"{RI}.defaults", f"{RI}.supervisor.*"),
    f"{RI}.traffic.background": (
        f"{RI}.defaults",
        f"{RI}.sim_view",
        f"{RI}.supervisor.simulator",
        f"{RI}.traffic.host_client",
    ),
    # Client-side sensors: built from a SimulatorView, never from the core.
    f"{RI}.sensors": (),
    f"{RI}.sensors.parsing": (),
    f"{RI}.sensors.base": (f"{RI}.defaults", f"{RI}.routes.route", f"{RI}.sim_view"),
    f"{RI}.sensors.collector": (f"{RI}.sensors.base",),
    # Tells collectors which frame the client-side sensors (world on_tick callbacks) ran for.
    f"{RI}.sensors.tick_confirmation": (f"{RI}.sensors.collector",),
    f"{RI}.sensors.carla_sensors": (f"{RI}.sensors.base", f"{RI}.sensors.parsing"),
    f"{RI}.sensors.birdview*": (f"{RI}.sensors.birdview.*", f"{RI}.map_geometry"),
    f"{RI}.sensors.birdview.sensor": (
        f"{RI}.sensors.base",
        f"{RI}.sensors.birdview.*",
        f"{RI}.routes.*",
        f"{RI}.sim_view",
    ),
    f"{RI}.sensors.lane_state": (f"{RI}.sensors.base", f"{RI}.sim_view"),
    # The hero's progress along its route, as a vector (the route is below the sensors).
    f"{RI}.sensors.route_state": (f"{RI}.sensors.base", f"{RI}.routes.*", f"{RI}.sim_view"),
    # CARLA 0.9.16's sensor attributes: the embedded server's blueprint table, as data.
    f"{RI}.sensors.attributes": (f"{RI}.defaults", f"{RI}.embedded.blueprints"),
    f"{RI}.sensors.registry": (
        f"{RI}.defaults",
        f"{RI}.sensors.lane_state",
        f"{RI}.sensors.route_state",
        f"{RI}.sim_view",
        f"{RI}.sensors.base",
        f"{RI}.sensors.carla_sensors",
        f"{RI}.sensors.collector",
        f"{RI}.sensors.birdview.sensor",
    ),
    f"{RI}.sensors.bird_view": (f"{RI}.sensors.birdview.sensor",),  # the old path, an alias
    # Routes sit below the sensors and the core: planning, route files and scoring on the plain
    # `carla` API, read through the view.
    f"{RI}.routes*": (f"{RI}.routes.*", f"{RI}.defaults", f"{RI}.sim_view"),
    # The simulator side of one env.
    f"{RI}.core": (),
    f"{RI}.core.control_path": (f"{RI}.traffic.host_client",),
    f"{RI}.core.heroes": (
        f"{RI}.routes.route",
        f"{RI}.sensors.base",
        f"{RI}.sensors.collector",
        f"{RI}.sim_view",
    ),
    f"{RI}.core.carla_core": (
        f"{RI}.fatal",
        f"{RI}.core.control_path",
        f"{RI}.core.heroes",
        f"{RI}.defaults",
        f"{RI}.routes.route",
        f"{RI}.sim_view",
        f"{RI}.sensors.base",
        f"{RI}.sensors.collector",
        f"{RI}.sensors.tick_confirmation",
        f"{RI}.sensors.registry",
        f"{RI}.supervisor.simulator",
        f"{RI}.traffic.background",
    ),
    # The RL face: experiments see the simulator through the view only.
    f"{RI}.base_experiment": (f"{RI}.defaults", f"{RI}.routes.tracker", f"{RI}.sim_view"),
    f"{RI}.yaml_loader": (f"{RI}.defaults",),
    f"{RI}.config": (
        f"{RI}.defaults",
        f"{RI}.base_experiment",
        f"{RI}.routes.source",
        f"{RI}.sensors.attributes",
        f"{RI}.sensors.base",
        f"{RI}.sensors.registry",
        f"{RI}.towns",
        f"{RI}.yaml_loader",
    ),
    f"{RI}.env_metrics": (f"{RI}.sim_view",),
    f"{RI}.carla_env": (
        f"{RI}.fatal",
        f"{RI}.base_experiment",
        f"{RI}.routes.route",
        f"{RI}.routes.source",
        f"{RI}.routes.tracker",
        f"{RI}.config",
        f"{RI}.core.carla_core",
        f"{RI}.defaults",
        f"{RI}.env_metrics",
        f"{RI}.space_checks",
        f"{RI}.supervisor.simulator",
        f"{RI}.towns",
    ),
    # Evaluation on routes: the env, its config, the routes' planner and results, and the
    # trainer's own reading of its training file and checkpoints (evaluation sits above it).
    f"{RI}.evaluate*": (
        f"{RI}.evaluate.*",
        f"{RI}.training.*",
        f"{RI}.carla_env",
        f"{RI}.config",
        f"{RI}.core.carla_core",
        f"{RI}.routes.*",
        f"{RI}.video",
    ),
    # Several heroes in one world: the Ray-free env, and its RLlib and PettingZoo faces.
    f"{RI}.agents_env": (
        f"{RI}.fatal",
        f"{RI}.base_experiment",
        f"{RI}.carla_env",
        f"{RI}.config",
        f"{RI}.core.carla_core",
        f"{RI}.core.heroes",
        f"{RI}.env_metrics",
        f"{RI}.space_checks",
        f"{RI}.supervisor.simulator",
    ),
    f"{RI}.multi_agent_env": (f"{RI}.agents_env",),
    f"{RI}.pettingzoo_env": (f"{RI}.agents_env",),
    # Training and running agents with RLlib: the generic trainer, on top of the library.
    f"{RI}.training": (),
    f"{RI}.training*": (
        f"{RI}",
        f"{RI}.config",
        f"{RI}.defaults",
        f"{RI}.carla_env",
        f"{RI}.core.carla_core",
        f"{RI}.fatal",
        f"{RI}.space_checks",
        f"{RI}.supervisor.simulator",
        f"{RI}.training.*",
        f"{RI}.video",
    ),
    f"{RI}.train": (f"{RI}.training.trainer",),
    f"{RI}.infer": (f"{RI}.config", f"{RI}.training.*"),
    # The example uses the library's public modules only; the library never imports it.
    "dqn_example*": (
        "dqn_example*",
        f"{RI}.training.*",
        f"{RI}.video",
        f"{RI}.base_experiment",
        f"{RI}.carla_env",
        f"{RI}.config",
        f"{RI}.defaults",
        f"{RI}.sim_view",
        f"{RI}.sensors.birdview.sensor",
        f"{RI}.sensors.birdview.settings",
    ),
    # Other examples: a user's own experiment, written against the library's public face.
    # An example may build on the DQN example (the route example reuses its experiment and nets).
    "examples*": (
        "examples*",
        "dqn_example*",
        f"{RI}.base_experiment",
        f"{RI}.routes.*",
        f"{RI}.sensors.birdview.settings",
        f"{RI}.sensors.lane_state",
        f"{RI}.sensors.route_state",
        f"{RI}.sim_view",
    ),
    "dqn_train": ("dqn_example*", f"{RI}.training.*"),
    "dqn_inference": ("dqn_example*", f"{RI}.training.*"),
    "dqn_inference_ray": ("dqn_example*", f"{RI}.training.*"),
    # The AWS helper stands apart.
    "aws*": ("aws*",),
}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str  # "top-level", "deferred" or "TYPE_CHECKING"
    line: int

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({self.kind}, line {self.line})"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    modules = {}
    for source in SOURCES:
        path = ROOT / source
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            modules[module_name(file)] = file
    return modules


def imports_of(source: str, module: str, is_package: bool, known: set[str]) -> list[Edge]:
    """Every import of a project module in `source`, with where it runs."""
    edges: list[Edge] = []
    package = module if is_package else module.rpartition(".")[0]

    def target_of(name: str) -> str | None:
        if name.split(".")[0] not in PROJECT_PACKAGES and name not in known:
            return None
        while name and name not in known:  # a name inside a module, not a submodule
            name = name.rpartition(".")[0]
        return name or None

    def visit(node: ast.AST, kind: str) -> None:
        for child in ast.iter_child_nodes(node):
            child_kind = kind
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                child_kind = "deferred" if kind == "top-level" else kind
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.body:
                    visit_statement(statement, "TYPE_CHECKING")
                for statement in child.orelse:
                    visit_statement(statement, kind)
                continue
            visit_statement(child, child_kind)

    def visit_statement(node: ast.AST, kind: str) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, kind, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                qualified = f"{base}.{alias.name}"
                add(qualified if qualified in known else base, kind, node.lineno)
        visit(node, kind)

    def add(name: str, kind: str, line: int) -> None:
        target = target_of(name)
        edge = Edge(module, target, kind, line) if target is not None else None
        if edge is not None and target != module and edge not in edges:
            edges.append(edge)

    visit(ast.parse(source), "top-level")
    return edges


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_graph() -> list[Edge]:
    modules = project_modules()
    edges = []
    for name, path in modules.items():
        edges += imports_of(path.read_text(), name, path.name == "__init__.py", set(modules))
    return edges


def rule_for(module: str) -> tuple[str, ...] | None:
    if module in RULES:
        return RULES[module]
    patterns = [p for p in RULES if "*" in p and fnmatch.fnmatchcase(module, p)]
    return RULES[max(patterns, key=len)] if patterns else None


def violations(edges: list[Edge]) -> list[str]:
    problems = []
    for edge in edges:
        allowed = rule_for(edge.source)
        if allowed is None:
            problems.append(f"{edge.source}: no rule (add it to RULES in its layer)")
        elif not any(fnmatch.fnmatchcase(edge.target, p) for p in allowed):
            problems.append(f"not an allowed arrow: {edge}")
    return problems


def cycles(edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
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
            connect(node)
    return found


# ---------------------------------------------------------------- the tree as it is


def test_every_module_has_a_rule():
    missing = [name for name in project_modules() if rule_for(name) is None]
    assert missing == [], f"modules without a layer rule: {missing}"


def test_every_import_is_an_allowed_arrow():
    edges = import_graph()
    assert len(edges) > 50  # the parser sees the real graph
    assert violations(edges) == []


def test_the_import_graph_has_no_cycle():
    assert cycles(import_graph()) == []


def test_the_embedded_server_reaches_only_itself_and_the_geometry():
    outside = {
        edge.target
        for edge in import_graph()
        if edge.source.startswith(f"{RI}.embedded") and not edge.target.startswith(f"{RI}.embedded")
    }
    assert outside == {f"{RI}.map_geometry"}


# ---------------------------------------------------------------- the checks catch a bad import


BAD_SENSOR_BASE = """
from __future__ import annotations
from typing import TYPE_CHECKING
from rllib_integration.defaults import parse_transform
if TYPE_CHECKING:
    from rllib_integration.core.carla_core import CarlaCore

def later():
    from rllib_integration.carla_env import CarlaEnv
    from . import collector
"""


def test_the_parser_sees_all_three_kinds_of_import():
    known = set(project_modules())
    edges = imports_of(textwrap.dedent(BAD_SENSOR_BASE), f"{RI}.sensors.base", False, known)
    assert {(e.target, e.kind) for e in edges} == {
        (f"{RI}.defaults", "top-level"),
        (f"{RI}.core.carla_core", "TYPE_CHECKING"),
        (f"{RI}.carla_env", "deferred"),
        (f"{RI}.sensors.collector", "deferred"),
    }


def test_a_synthetic_upward_import_fails_the_layer_check_and_closes_a_cycle():
    known = set(project_modules())
    real = import_graph()
    bad = imports_of(textwrap.dedent(BAD_SENSOR_BASE), f"{RI}.sensors.base", False, known)
    problems = violations(real + bad)
    assert len(problems) == 3 and all("not an allowed arrow" in p for p in problems)
    assert any(f"{RI}.sensors.base -> {RI}.core.carla_core (TYPE_CHECKING" in p for p in problems)
    # core imports the sensors, so sensors reaching the core is a cycle as well.
    circle = next(c for c in cycles(real + bad) if f"{RI}.core.carla_core" in c)
    assert f"{RI}.sensors.base" in circle


def test_a_module_without_a_rule_is_reported():
    edge = Edge(f"{RI}.newthing", f"{RI}.defaults", "top-level", 1)
    assert violations([edge]) == [f"{RI}.newthing: no rule (add it to RULES in its layer)"]


def test_the_embedded_server_may_not_reach_the_library():
    edge = Edge(f"{RI}.embedded.world", f"{RI}.defaults", "deferred", 3)
    assert violations([edge]) == [f"not an allowed arrow: {edge}"]
