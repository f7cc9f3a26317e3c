"""Strict YAML for files a user writes (matrices, executor options): safe tags, no duplicate keys, no bombs.

``yaml.safe_load`` accepts two things a matrix must not have: a key given twice (the last one wins,
silently) and aliases that expand a few hundred bytes into gigabytes once the value is copied,
hashed or dumped (a "billion laughs" bomb; the loader itself shares the nodes, so the blow-up comes
later, somewhere that cannot report it). Both are refused here with the line that causes them.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from benchbench.errors import UserError

MAX_NODES = 100_000  # expanded (aliases counted each time they are used); a matrix has a few hundred


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping key given twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<' merges are allowed to be overridden: that is their purpose
            key = self.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise _Duplicate(key, line, seen[key])
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


class _Duplicate(Exception):
    def __init__(self, key: Any, line: int, first: int):
        super().__init__(key, line, first)
        self.key, self.line, self.first = key, line, first


def _expanded_size(root: yaml.Node, budget: int) -> int:
    """Nodes of the document with every alias expanded; stops counting past ``budget``."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:  # iterative post-order: a deeply nested document must not overflow the stack
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                    else list(node.value) if isinstance(node, yaml.SequenceNode) else [])
        if children_done or not children:
            sizes[id(node)] = min(budget + 1, 1 + sum(sizes[id(c)] for c in children))
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def load_yaml(text: str | bytes, file: str | os.PathLike | None = None, field: str | None = None) -> Any:
    """Parse one YAML document strictly; a ``UserError`` naming ``file``, the line and the fix otherwise."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, MAX_NODES) > MAX_NODES:
            raise UserError(f"YAML expands to over {MAX_NODES} values through its aliases (&/*)", file=file,
                            field=field, fix="write the values out; a matrix needs no alias bomb")
        return loader.construct_document(node)
    except _Duplicate as d:
        raise UserError(f"key {d.key!r} is given twice, on line {d.first} and line {d.line} (the last would "
                        "silently win)", file=file, field=field, fix=f"keep one of them (line {d.line})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"invalid YAML at {where}: {problem}", file=file, field=field,
                        fix="fix the indentation/syntax there") from None
    except RecursionError:
        raise UserError("YAML nested too deeply", file=file, field=field, fix="flatten it") from None
    finally:
        loader.dispose()
