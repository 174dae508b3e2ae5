"""YAML loading that remembers line numbers, so errors can point at them.

``load_yaml(path)`` returns ``(data, lines)`` where ``lines`` maps a dotted key
path such as ``"principles.3.critique"`` to its 1-based line in the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from constitutional.core.errors import ConstitutionalError

MAX_BYTES = 8 * 1024 * 1024  # a constitution, config or policy is kilobytes; this bounds what a mistake costs
MAX_DEPTH = 64  # nesting levels; no file of ours needs more than five
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's C parser where installed (~10x faster)


def _walk(root: yaml.Node, source: str | Path) -> dict[str, int]:
    """Line numbers by dotted path; refuses aliases (a shared node seen twice), duplicate keys and deep nesting,
    so the cost of a file is bounded by its size."""
    lines: dict[str, int] = {"": root.start_mark.line + 1}
    seen: set[int] = set()
    stack = [(root, "", 0)]
    while stack:
        node, prefix, depth = stack.pop()
        if id(node) in seen:
            raise ConstitutionalError(f"YAML aliases are not supported (this value repeats the anchor at line "
                                      f"{node.start_mark.line + 1})", file=source, line=node.start_mark.line + 1,
                                      field=prefix or None, hint="write the repeated value out in full")
        seen.add(id(node))
        if depth > MAX_DEPTH:
            raise ConstitutionalError(f"nested deeper than {MAX_DEPTH} levels", file=source,
                                      line=node.start_mark.line + 1, hint="flatten the structure")
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            children = []
            for key, value in node.value:
                if key.tag == "tag:yaml.org,2002:merge":
                    raise ConstitutionalError("YAML merge keys (<<) are not supported", file=source,
                                              line=key.start_mark.line + 1, hint="write the merged keys out in full")
                if isinstance(key, yaml.ScalarNode) and key.value in keys:
                    raise ConstitutionalError(f"duplicate key '{key.value}'", file=source, line=key.start_mark.line + 1,
                                              field=f"{prefix}.{key.value}" if prefix else key.value,
                                              hint="each key may appear once in a mapping; remove one")
                keys.add(getattr(key, "value", ""))
                path = f"{prefix}.{key.value}" if prefix else str(key.value)
                lines[path] = key.start_mark.line + 1
                children.append((value, path, depth + 1))
            stack.extend(reversed(children))  # document order: the first repeat is the one reported
        elif isinstance(node, yaml.SequenceNode):
            children = []
            for i, item in enumerate(node.value):
                path = f"{prefix}.{i}" if prefix else str(i)
                lines[path] = item.start_mark.line + 1
                children.append((item, path, depth + 1))
            stack.extend(reversed(children))
    return lines


def load_yaml_text(text: str, source: str | Path) -> tuple[Any, dict[str, int]]:
    try:
        loader = _Loader(text)
        try:  # one parse: the node tree gives line numbers, the same tree gives the data
            node = loader.get_single_node()
            lines = _walk(node, source) if node is not None else {}
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ConstitutionalError(
            f"not valid YAML: {getattr(e, 'problem', None) or e}",
            file=source,
            line=mark.line + 1 if mark else None,
            hint="fix the syntax at that line (indentation, a missing ':' or an unclosed quote)",
        ) from None
    except RecursionError:
        raise ConstitutionalError(f"nested deeper than {MAX_DEPTH} levels", file=source, hint="flatten the structure") from None
    return data, lines


def read_text(path: str | Path, max_bytes: int = MAX_BYTES) -> str:
    """A file's text: it must exist, be at most ``max_bytes`` and be UTF-8 (the line of a bad byte is named)."""
    path = Path(path)
    if not path.is_file():
        raise ConstitutionalError("file not found", file=path, hint="check the path")
    size = path.stat().st_size
    if size > max_bytes:
        raise ConstitutionalError(f"the file is {size / 1e6:.1f} MB; at most {max_bytes / 1e6:.0f} MB is read",
                                  file=path, hint="is this the file you meant?")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConstitutionalError(f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})", file=path,
                                  line=data.count(b"\n", 0, e.start) + 1,
                                  hint="save the file as UTF-8 (it looks like Latin-1, UTF-16 or binary)") from None


def load_yaml(path: str | Path) -> tuple[Any, dict[str, int]]:
    return load_yaml_text(read_text(path), Path(path))


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


class _NoAliasDumper(yaml.SafeDumper):
    def ignore_aliases(self, data) -> bool:
        return True


def dump_yaml(data, **kw) -> str:
    """YAML the reader above accepts: a value that appears twice is written out twice, never as an alias."""
    return yaml.dump(data, Dumper=_NoAliasDumper, **kw)
