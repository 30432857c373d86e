"""YAML read with line numbers and duplicate keys refused, so that every problem names
``file:line: key.path``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from integration.tasks.base import WRITE_KINDS

# -- YAML with line numbers and duplicate-key detection --------------------------------------


class DupKeyLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: DupKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key]})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep)


DupKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Line (1-based) of ``loc``: of its key when the last step is a mapping key (``labels:``),
    else of the deepest YAML node on ``loc`` that exists."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for i, part in enumerate(loc):
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if str(k.value) == str(part)), None)
            if pair is None:
                return line
            if i == len(loc) - 1:
                return pair[0].start_mark.line + 1
            node = pair[1]
        elif isinstance(node, yaml.SequenceNode) and str(part).isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def loc_path(loc: tuple[Any, ...]) -> tuple[str, ...]:
    # Drop pydantic's leading union tag ("label_status", ...) and function-validator markers.
    parts = [str(p) for p in loc]
    if parts and parts[0] in WRITE_KINDS:
        parts = parts[1:]
    return tuple(p for p in parts if not p.startswith("function-"))


def located(path: Path, items: list[tuple[int | None, str, str]]) -> list[str]:
    """``file:line: key: message`` lines; one line for a problem that YAML aliases repeat under
    several keys (``lungs: *lung``): the others are named after it."""
    grouped: dict[tuple[int | None, str], list[str]] = {}
    for line, key, message in items:
        grouped.setdefault((line, message), []).append(key)
    out = []
    for (line, message), keys in grouped.items():
        also = f" (also as {', '.join(keys[1:])})" if len(keys) > 1 else ""
        out.append(f"{path}:{line}: {keys[0]}{also}: {message}")
    return out


def compose_node(path: Path) -> yaml.Node | None:
    try:
        return yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return None


def key_line(path: Path, loc: tuple[Any, ...]) -> int:
    """Line of ``loc`` in the YAML file ``path`` (1 when it cannot be found)."""
    return line_of(compose_node(Path(path)), loc) or 1


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None, list[str]]:
    """(data, node tree for :func:`line_of`, problems) of a YAML file, duplicate keys refused; a
    file that cannot be read or parsed is one ``file:line: problem``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, None, [f"{path}: cannot read: {exc.strerror}"]
    try:
        data = yaml.load(text, Loader=DupKeyLoader)  # noqa: S506 -- SafeLoader subclass
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        return None, None, [f"{where}: {getattr(exc, 'problem', None) or exc}"]
    return data, root, []


def schema_items(exc: ValidationError, root: yaml.Node | None) -> list[tuple[int | None, str, str]]:
    """A pydantic validation error as (line, key path, message) items for :func:`located`."""
    items = []
    for err in exc.errors():
        loc = loc_path(tuple(err["loc"]))
        items.append((line_of(root, loc), ".".join(loc) or "(top)", err["msg"]))
    return items
