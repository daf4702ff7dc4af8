"""Read a config's YAML text safely: bounded alias expansion, no duplicate keys, key lines.

PyYAML's `safe_load` shares the node of an alias, so a few lines of nested aliases ("billion
laughs") load in no time but expand exponentially in whatever walks the result. Here the
composed node graph is measured first (each distinct node once, so the measure itself is cheap)
and a document that would expand beyond `MAX_NODES` nodes, or that refers to itself, is refused
before anything is constructed. A key given twice in one mapping is an error too: YAML says keys
are unique and PyYAML silently keeps the last one. Every error is one `ConfigError` naming the
source, the line and the column. Numbers in exponent notation without a dot (`1e-4`) are
floats, as in YAML 1.2 (PyYAML's YAML 1.1 reads them as strings).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from rllib_integration.defaults import ConfigError

# A config has hundreds of nodes; a list of spawn points or waypoints some thousands.
MAX_NODES = 100_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader that also reads `1e-4` as a float."""


_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml(text: str, source: str) -> tuple[Any, dict[str, int]]:
    """The document in `text` and its key lines (dotted key path -> 1-based line).

    `source` names the text in errors ("<file>:<line>:<column>: ..."). An empty document is None.
    """
    loader = _ConfigLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _check_graph(node, source)
        return loader.construct_document(node), _key_lines(node)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except RecursionError:  # PyYAML composes recursively: some hundred levels are its limit
        raise ConfigError(f"{source}: invalid YAML: nested too deeply") from None
    finally:
        loader.dispose()


def _check_graph(root: yaml.Node, source: str) -> None:
    """Refuse recursion, an expansion beyond MAX_NODES and duplicate keys (one visit per node)."""
    sizes: dict[int, int] = {}  # id(node) -> nodes it expands to; absent while being visited
    visiting: set[int] = set()

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        if id(node) in visiting:
            raise ConfigError(f"{_at(source, node)}: invalid YAML: an alias refers to itself")
        visiting.add(id(node))
        total = 1
        if isinstance(node, yaml.MappingNode):
            _reject_duplicate_keys(node, source)
            total += sum(size(key) + size(value) for key, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        if total > MAX_NODES:  # the first (innermost) node too big: where the blow-up is
            raise ConfigError(
                f"{_at(source, node)}: invalid YAML: this value expands to {total} nodes "
                f"(aliases included), more than the {MAX_NODES} a config may have"
            )
        visiting.discard(id(node))
        sizes[id(node)] = total
        return total

    size(root)


def _reject_duplicate_keys(node: yaml.MappingNode, source: str) -> None:
    first: dict[tuple[str, str], yaml.Node] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE_TAG:
            continue  # `<<: *base` merges are meant to be overridden
        seen = first.setdefault((key.tag, key.value), key)
        if seen is not key:
            raise ConfigError(
                f"{_at(source, key)}: invalid YAML: duplicate key '{key.value}' "
                f"(first at line {seen.start_mark.line + 1})"
            )


def _at(source: str, node: yaml.Node) -> str:
    return f"{source}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _key_lines(root: yaml.Node) -> dict[str, int]:
    """Dotted key path -> 1-based line of that key (or list item); bounded by _check_graph."""
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, dotted: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                path = f"{dotted}.{key_node.value}" if dotted else str(key_node.value)
                lines[path] = key_node.start_mark.line + 1
                walk(value_node, path)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                path = f"{dotted}.{index}"
                lines[path] = item.start_mark.line + 1
                walk(item, path)

    walk(root, "")
    return lines
