"""Load experiment and game-day YAML files, reporting every problem as ``FILE:LINE:COL: ...``.

The YAML is composed into a node tree first (``yaml.compose`` semantics, SafeLoader), so
each pydantic error location such as ``('faults', 0, 'latency', 'rate')`` is mapped back to
the line and column of that node; a missing field points at its parent mapping, an
unknown key at the key itself. Lines and columns are 1-based.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from chaos.errors import InputError
from chaos.experiment.model import (
    NAME_PATTERN,
    REGION_PATTERN,
    Experiment,
    GamedayPlan,
)
from chaos.faults import FAULT_TYPES
from chaos.metrics.catalog import validate_abort_when_sli, validate_sli_names

__all__ = ["KINDS", "load_document", "load_experiment", "load_plan", "validate_paths"]

KINDS: dict[str, type[Experiment] | type[GamedayPlan]] = {
    "experiment": Experiment,
    "gameday": GamedayPlan,
}
_YAML_SUFFIXES = (".yaml", ".yml")
_MAX_ECHO = 40
_EMPTY = "empty document (expected an experiment or game-day plan)"
_PATTERN_MEANING = {
    NAME_PATTERN: "must be 1-63 lowercase letters, digits and dashes, starting with a letter "
    "or digit",
    REGION_PATTERN: "must be an AWS region such as us-east-1",
}


class _Position:
    __slots__ = ("column", "line")

    def __init__(self, line: int, column: int) -> None:
        self.line = line
        self.column = column

    @classmethod
    def of(cls, node: Node | None) -> _Position:
        if node is None:
            return cls(1, 1)
        mark = node.start_mark
        return cls(mark.line + 1, mark.column + 1)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_ECHO else f"(a value of {len(str(value))} characters)"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _line(path: Path, pos: _Position, message: str, field: str = "") -> str:
    prefix = f"{path}:{pos.line}:{pos.column}: "
    return prefix + (f"{field}: " if field else "") + _one_line(message)


def _fail(path: Path, pos: _Position, message: str, field: str = "") -> InputError:
    return InputError(_line(path, pos, message, field))


# --------------------------------------------------------------------------- reading


def _read_text(path: Path) -> str:
    origin = _Position(1, 1)
    try:
        if path.is_dir():
            raise _fail(
                path,
                origin,
                "is a directory (expected an experiment or game-day YAML file; "
                "`gameday validate DIR` checks every *.yaml/*.yml file in it)",
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise _fail(path, origin, "no such file") from None
    except PermissionError:
        raise _fail(path, origin, "permission denied") from None
    except OSError as exc:
        raise _fail(path, origin, f"cannot read: {exc.strerror or exc}") from None
    if b"\x00" in data:
        raise _fail(path, origin, "not a text file (binary content; expected UTF-8 YAML)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(
            path, origin, f"not a text file (not UTF-8 at byte {exc.start}; expected UTF-8 YAML)"
        ) from None


def _compose(path: Path, text: str) -> tuple[Node | None, Any]:
    """Compose the single document of ``text`` and construct its Python value."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_duplicate_keys(path, node)
        return node, loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = _Position(mark.line + 1, mark.column + 1) if mark else _Position(1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            problem = f"{exc.problem} ({exc.context})"
        raise _fail(path, pos, f"yaml: {problem}") from None
    except yaml.YAMLError as exc:
        raise _fail(path, _Position(1, 1), f"yaml: {exc}") from None
    finally:
        loader.dispose()


def _check_duplicate_keys(path: Path, root: Node) -> None:
    stack: list[tuple[Node, list[str | int]]] = [(root, [])]
    seen_nodes: set[int] = set()
    while stack:
        node, trail = stack.pop()
        if id(node) in seen_nodes:  # anchors/aliases can share nodes
            continue
        seen_nodes.add(id(node))
        if isinstance(node, MappingNode):
            first: dict[str, Node] = {}
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.value != "<<":
                    if key.value in first:
                        seen = _Position.of(first[key.value])
                        raise _fail(
                            path,
                            _Position.of(key),
                            f"duplicate key {_show(key.value)} "
                            f"(first at line {seen.line}, column {seen.column})",
                            _dotted([*trail, key.value]),
                        )
                    first[key.value] = key
                    stack.append((value, [*trail, key.value]))
                else:
                    stack.append((value, trail))
        elif isinstance(node, SequenceNode):
            stack.extend((item, [*trail, i]) for i, item in enumerate(node.value))


# --------------------------------------------------------------------------- locating


def _dotted(parts: Sequence[str | int]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _find_key(mapping: MappingNode, key: str | int) -> tuple[Node, Node] | None:
    wanted = str(key)
    for key_node, value_node in mapping.value:
        if isinstance(key_node, ScalarNode) and key_node.value == wanted:
            return key_node, value_node
    return None


def _locate(root: Node, loc: Sequence[str | int], *, at_key: bool = False) -> tuple[_Position, str]:
    """Map a pydantic ``loc`` to a position and a dotted field path.

    Elements that match no node (tags of discriminated unions) are skipped. A last
    element that is absent from its mapping is a missing field: the position is that of
    the mapping (its key when it has one). With ``at_key`` the position is the last key.
    """
    node: Node = root
    key_of_node: Node | None = None
    parts: list[str | int] = []
    for index, elem in enumerate(loc):
        last = index == len(loc) - 1
        if elem == "[key]" and key_of_node is not None:
            return _Position.of(key_of_node), _dotted(parts)
        if isinstance(node, MappingNode):
            found = _find_key(node, elem)
            if found is not None:
                parts.append(elem)
                key_of_node, node = found
                if last and at_key:
                    return _Position.of(key_of_node), _dotted(parts)
                continue
            if last:
                parts.append(elem)
                return _Position.of(key_of_node or node), _dotted(parts)
            continue  # a union tag
        if isinstance(node, SequenceNode) and isinstance(elem, int) and not isinstance(elem, bool):
            if 0 <= elem < len(node.value):
                parts.append(elem)
                node, key_of_node = node.value[elem], None
                continue
            parts.append(elem)
            break
        # a union tag on a list or scalar
    return _Position.of(node), _dotted(parts)


# --------------------------------------------------------------------------- messages


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == "missing":
        return "missing required field"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "unknown_field":
        return "unknown field" + str(ctx.get("hint", ""))
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "model_type" or kind == "model_attributes_type" or kind == "dict_type":
        return "expected a mapping"
    if kind == "union_tag_not_found":
        return f"missing required field (one of: {', '.join(FAULT_TYPES)})"
    if kind == "union_tag_invalid":
        return (
            f"unknown {str(ctx.get('discriminator', 'type')).strip(chr(39))} "
            f"{_show(ctx.get('tag'))}; expected one of {ctx.get('expected_tags')}"
        )
    if kind == "string_pattern_mismatch":
        value = error.get("input")
        shown = f" {_show(value)}" if isinstance(value, str) else ""
        pattern = str(ctx.get("pattern"))
        return f"invalid value{shown}: {_PATTERN_MEANING.get(pattern, f'must match {pattern}')}"
    message = error["msg"]
    value = error.get("input")
    if kind.endswith("_type") or kind.endswith("_parsing") or kind == "literal_error":
        if isinstance(value, (str, int, float, bool)) or value is None:
            message += f" (got {_show(value)})"
        else:
            message += f" (got a {_kind_name(value)})"
    return message


def _kind_name(value: object) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def _error_lines(path: Path, root: Node, exc: ValidationError) -> list[str]:
    found: list[tuple[int, int, str]] = []
    for error in exc.errors():
        loc = list(error["loc"])
        at_key = False
        if error["type"] == "union_tag_invalid" or error["type"] == "union_tag_not_found":
            loc.append(str((error.get("ctx") or {}).get("discriminator", "type")).strip("'"))
        elif error["type"] == "unknown_field":
            loc.append(str((error.get("ctx") or {}).get("field", "")))
            at_key = True
        elif error["type"] == "extra_forbidden":
            at_key = True
        pos, field = _locate(root, loc, at_key=at_key)
        found.append((pos.line, pos.column, _line(path, pos, _message(error), field)))
    found.sort(key=lambda item: (item[0], item[1]))
    lines: list[str] = []
    for *_, text in found:
        if text not in lines:
            lines.append(text)
    return lines


# --------------------------------------------------------------------------- loading


def _load(path: Path) -> tuple[Experiment | GamedayPlan, Node]:
    path = Path(path)
    text = _read_text(path)
    root, data = _compose(path, text)
    if root is None or (isinstance(root, ScalarNode) and data is None and root.value == ""):
        raise _fail(path, _Position(1, 1), _EMPTY)
    if not isinstance(root, MappingNode) or not isinstance(data, dict):
        got = "a list" if isinstance(root, SequenceNode) else f"the value {_show(data)}"
        raise _fail(
            path,
            _Position.of(root),
            f"the top level must be a mapping (an experiment or game-day plan), not {got}",
        )
    kinds = ", ".join(KINDS)
    kind_entry = _find_key(root, "kind")
    if kind_entry is None:
        raise _fail(path, _Position.of(root), f"missing required field (one of: {kinds})", "kind")
    kind = data.get("kind")
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise _fail(
            path,
            _Position.of(kind_entry[1]),
            f"unknown kind {_show(kind)}; expected one of: {kinds}",
            "kind",
        )
    try:
        document: Experiment | GamedayPlan = model.model_validate(data)
    except ValidationError as exc:
        raise InputError("\n".join(_error_lines(path, root, exc))) from None
    document._source = path
    if isinstance(document, GamedayPlan):
        _check_plan_files(path, root, document)
    else:
        _check_sli_names(path, root, document)
    return document, root


def _check_sli_names(path: Path, root: Node, experiment: Experiment) -> None:
    lines = []
    for index, message in validate_sli_names(experiment):
        pos, field = _locate(root, ["slo", index, "sli"])
        lines.append(_line(path, pos, message, field))
    abort_message = validate_abort_when_sli(experiment)
    if abort_message:
        pos, field = _locate(root, ["stop_conditions", "abort_when", "sli"])
        lines.append(_line(path, pos, abort_message, field))
    if lines:
        raise InputError("\n".join(lines))


def _check_plan_files(path: Path, root: Node, plan: GamedayPlan) -> None:
    lines: list[str] = []
    for index, target in enumerate(plan.experiment_paths()):
        if not target.is_file():
            pos, field = _locate(root, ["experiments", index])
            problem = "is a directory" if target.is_dir() else "no such file"
            lines.append(_line(path, pos, f"{problem}: {target}", field))
    if lines:
        raise InputError("\n".join(lines))


def load_document(path: Path | str) -> Experiment | GamedayPlan:
    """Load an experiment or a game-day plan, as its ``kind`` says.

    Raises ``InputError`` whose message has one ``FILE:LINE:COL: field.path: message``
    line per problem.
    """
    return _load(Path(path))[0]


def load_experiment(path: Path | str) -> Experiment:
    """Load an experiment; a game-day plan is an ``InputError``."""
    return _load_kind(Path(path), Experiment, "expected an experiment, this is a game-day plan")


def load_plan(path: Path | str) -> GamedayPlan:
    """Load a game-day plan; an experiment is an ``InputError``."""
    return _load_kind(Path(path), GamedayPlan, "expected a game-day plan, this is an experiment")


_Kind = TypeVar("_Kind", Experiment, GamedayPlan)


def _load_kind(path: Path, kind: type[_Kind], wrong_kind: str) -> _Kind:
    document, root = _load(path)
    if not isinstance(document, kind):
        pos, _ = _locate(root, ["kind"])
        raise _fail(path, pos, wrong_kind, "kind")
    return document


def yaml_files(directory: Path) -> list[Path]:
    """The *.yaml / *.yml files under `directory`, recursively, sorted; hidden folders skipped."""
    return sorted(
        p
        for p in directory.rglob("*")
        if p.suffix in _YAML_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    )


def _expand(path: Path) -> list[Path] | str:
    if not path.is_dir():
        return [path]
    files = yaml_files(path)
    if not files:
        return _line(path, _Position(1, 1), "no *.yaml or *.yml files in this directory")
    return files


def documents_with_lines(
    paths: Sequence[Path | str],
) -> list[tuple[Experiment | GamedayPlan, Callable[[list[str | int], str], str]]]:
    """The valid documents under `paths` (directories searched as `validate_paths` does),
    each with a function giving ``FILE:LINE:COL: field: message`` for one of its fields."""
    found: list[tuple[Experiment | GamedayPlan, Callable[[list[str | int], str], str]]] = []
    for given in paths:
        expanded = _expand(Path(given))
        for path in [] if isinstance(expanded, str) else expanded:
            try:
                document, root = _load(path)
            except InputError:
                continue

            def line_of(
                keys: list[str | int], message: str, path: Path = path, root: Node = root
            ) -> str:
                pos, field = _locate(root, keys)
                return _line(path, pos, message, field)

            found.append((document, line_of))
    return found


def validate_paths(paths: Sequence[Path | str]) -> list[str]:
    """Validate files (directories are searched for *.yaml/*.yml files, recursively).

    Returns every error line (``FILE:LINE:COL: ...``); an empty list means all are valid.
    """
    lines: list[str] = []
    for given in paths:
        expanded = _expand(Path(given))
        if isinstance(expanded, str):
            lines.append(expanded)
            continue
        for path in expanded:
            try:
                _load(path)
            except InputError as exc:
                lines.extend(str(exc).splitlines())
    return lines
