"""YAML loading that remembers line numbers, so errors can point at them.

``load_yaml(path)`` returns ``(data, lines)`` where ``lines`` maps a dotted key
path such as ``"principles.3.critique"`` to its 1-based line in the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from constitutional.core.errors import ConstitutionalError


def _walk(node: yaml.Node, prefix: str, lines: dict[str, int]) -> None:
    lines.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = f"{prefix}.{key.value}" if prefix else str(key.value)
            lines[path] = key.start_mark.line + 1
            _walk(value, path, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = f"{prefix}.{i}" if prefix else str(i)
            lines[path] = item.start_mark.line + 1
            _walk(item, path, lines)


def load_yaml_text(text: str, source: str | Path) -> tuple[Any, dict[str, int]]:
    try:
        loader = yaml.SafeLoader(text)
        try:  # one parse: the node tree gives line numbers, the same tree gives the data
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ConstitutionalError(
            f"not valid YAML: {getattr(e, 'problem', e)}",
            file=source,
            line=mark.line + 1 if mark else None,
            hint="fix the syntax at that line (indentation, a missing ':' or an unclosed quote)",
        ) from None
    lines: dict[str, int] = {}
    if node is not None:
        _walk(node, "", lines)
    return data, lines


def load_yaml(path: str | Path) -> tuple[Any, dict[str, int]]:
    path = Path(path)
    if not path.is_file():
        raise ConstitutionalError("file not found", file=path, hint="check the path")
    return load_yaml_text(path.read_text(encoding="utf-8"), path)


def line_of(lines: dict[str, int], loc: tuple | list) -> int | None:
    """The line of the deepest known prefix of a pydantic error location."""
    parts = [str(p) for p in loc]
    while parts:
        key = ".".join(parts)
        if key in lines:
            return lines[key]
        parts.pop()
    return lines.get("")


def pydantic_error(exc, source: str | Path, lines: dict[str, int], prefix: tuple = ()) -> ConstitutionalError:
    """Turn the first pydantic ValidationError entry into a ConstitutionalError."""
    err = exc.errors()[0]
    loc = tuple(prefix) + tuple(err["loc"])
    field = ".".join(str(p) for p in loc) or None
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
        hint = "remove it or check its spelling against the reference in the README"
    elif err["type"] == "missing":
        msg = "required field is missing"
        hint = "add it"
    else:
        hint = f"got {err.get('input')!r}"
    return ConstitutionalError(msg, file=source, line=line_of(lines, loc), field=field, hint=hint)
