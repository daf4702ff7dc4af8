"""Inside the embedded server, only the protocol layer and the process around it know the wire."""

import ast
from pathlib import Path

import rllib_integration.embedded as embedded

PACKAGE = Path(embedded.__file__).parent
PROTOCOL = "rllib_integration.embedded.protocol"
# The process (app, flags) wires the protocol layer to the world; everything else is simulation.
MAY_IMPORT_PROTOCOL = {"protocol", "app.py", "cli.py", "__main__.py"}


def imported_modules(source: str) -> set[str]:
    """Every module a source imports: top level, inside functions and under TYPE_CHECKING."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def reaches_protocol(source: str) -> bool:
    return any(
        name == PROTOCOL or name.startswith(PROTOCOL + ".") for name in imported_modules(source)
    )


def test_the_simulation_imports_nothing_of_the_protocol_layer():
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] not in MAY_IMPORT_PROTOCOL
        and reaches_protocol(path.read_text())
    ]
    assert offenders == []


def test_the_check_sees_every_kind_of_import():
    assert reaches_protocol("from rllib_integration.embedded.protocol import codec")
    assert reaches_protocol("from rllib_integration.embedded import protocol")
    assert reaches_protocol("def f():\n    import rllib_integration.embedded.protocol.codec\n")
    assert reaches_protocol(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from rllib_integration.embedded.protocol.handlers import RpcApi\n"
    )
    assert not reaches_protocol("from rllib_integration.embedded import physics")
