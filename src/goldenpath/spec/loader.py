"""Read ``goldenpath.yaml`` into a :class:`~goldenpath.spec.models.Spec`, with errors that say
which key on which line is wrong and how to fix it."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from goldenpath.errors import SpecInvalid, SpecNotFound, SpecSyntaxError, SpecUnknownKey
from goldenpath.spec.models import Spec

__all__ = ["SPEC_FILENAME", "find_spec_file", "load_spec", "parse_spec"]

SPEC_FILENAME = "goldenpath.yaml"

_Path = tuple[str | int, ...]


def find_spec_file(start: Path | None = None) -> Path:
    """The nearest ``goldenpath.yaml`` in ``start`` (default: the working directory) or above.

    ``start`` may also be the spec file itself.
    """
    origin = (start or Path.cwd()).resolve()
    if origin.is_file():
        return origin
    if start is not None and not origin.exists():
        raise SpecNotFound(
            f"project folder {origin} does not exist",
            hint="pass --project with the folder that holds goldenpath.yaml",
        )
    for folder in (origin, *origin.parents):
        candidate = folder / SPEC_FILENAME
        if candidate.is_file():
            return candidate
        if start is not None:
            break  # an explicit project folder is not searched upwards
    where = f"in {origin}" if start is not None else f"in {origin} or any folder above it"
    raise SpecNotFound(
        f"no {SPEC_FILENAME} found {where}",
        hint=(
            "run the command inside a project, pass --project DIR, or create one with "
            "`goldenpath init DIR --example telco-churn`"
        ),
    )


def load_spec(path: Path) -> Spec:
    """Read and validate the spec file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecNotFound(f"spec file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecSyntaxError(f"cannot read {path}: {exc}") from None
    return parse_spec(text, source=str(path))


def parse_spec(text: str, *, source: str = SPEC_FILENAME) -> Spec:
    """Validate spec text; ``source`` names it in error messages."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecSyntaxError(
            f"{where}: not valid YAML ({problem})",
            hint="fix the YAML syntax at that line (indentation, colons, quotes)",
        ) from None
    if not isinstance(raw, dict):
        raise SpecInvalid(
            f"{source}: the spec must be a mapping with project, task, data and training sections",
            hint="start from an example: `goldenpath init DIR --example telco-churn`",
        )
    lines = _line_numbers(node)
    unknown = _unknown_keys(raw, Spec, ())
    if unknown:
        messages = []
        for path, suggestion in unknown:
            key = _dotted(path)
            line = lines.get(path)
            at = f"{source}:{line}" if line else source
            tip = f" (did you mean {_dotted((*path[:-1], suggestion))!r}?)" if suggestion else ""
            messages.append(f"{at}: unknown key {key!r}{tip}")
        raise SpecUnknownKey(
            "\n".join(messages),
            hint="remove or rename the key; `goldenpath schema` prints every valid key",
            details={"unknown_keys": [_dotted(p) for p, _ in unknown]},
        )
    try:
        return Spec.model_validate(raw)
    except ValidationError as exc:
        messages = []
        for error in exc.errors():
            path = tuple(error["loc"])
            if not path and error["type"] == "value_error":
                messages.extend(_cross_field_messages(_message(error), lines, source))
                continue
            line = lines.get(path) or _nearest_line(lines, path)
            at = f"{source}:{line}" if line else source
            key = _dotted(path) or "(top level)"
            messages.append(f"{at}: {key}: {_message(error)}")
        raise SpecInvalid(
            "\n".join(messages),
            hint="correct the values above; `goldenpath schema` documents every key",
            details={"errors": [_error_key(e) for e in exc.errors()]},
        ) from None


# pydantic prefixes the message of a ValueError or an assert raised in a validator; the
# prefix names Python's exception, not the spec's problem, so users never see it.
_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


def _message(error: Any) -> str:
    """A validation error's message as a user reads it: without pydantic's exception prefix."""
    message = str(error["msg"])
    for prefix in _PYDANTIC_PREFIXES:
        message = message.removeprefix(prefix)
    return message


def _error_key(error: Any) -> str:
    """The dotted key an error is about (for cross-field errors: the first key it names)."""
    path = tuple(error["loc"])
    if path:
        return _dotted(path)
    first = _message(error).split("; ")[0]
    return first.split(":", 1)[0].strip()


def _cross_field_messages(message: str, lines: dict[_Path, int], source: str) -> list[str]:
    """The whole-spec validator joins its problems with '; ', each starting with a dotted key;
    give each its own line, located at that key."""
    found = []
    for problem in message.split("; "):
        key = problem.split(":", 1)[0].strip()
        path = _parse_dotted(key)
        line = lines.get(path) or _nearest_line(lines, path)
        found.append(f"{source}:{line}: {problem}" if line else f"{source}: {problem}")
    return found


def _parse_dotted(key: str) -> _Path:
    parts: list[str | int] = []
    for piece in key.replace("]", "").split("."):
        name, *indexes = piece.split("[")
        if name:
            parts.append(name)
        parts.extend(int(i) for i in indexes if i.isdigit())
    return tuple(parts)


def _dotted(path: _Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _nearest_line(lines: dict[_Path, int], path: _Path) -> int | None:
    for end in range(len(path) - 1, 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _line_numbers(node: yaml.Node | None, path: _Path = ()) -> dict[_Path, int]:
    """Map each key path in the YAML document to its 1-based line number."""
    found: dict[_Path, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*path, str(key_node.value))
            found[child] = key_node.start_mark.line + 1
            found.update(_line_numbers(value_node, child))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            child = (*path, i)
            found[child] = item.start_mark.line + 1
            found.update(_line_numbers(item, child))
    return found


def _unknown_keys(
    raw: object, model: type[BaseModel], path: _Path
) -> list[tuple[_Path, str | None]]:
    """Keys in ``raw`` that ``model`` does not define, with the closest valid key, recursively."""
    if not isinstance(raw, dict):
        return []
    fields = model.model_fields
    found: list[tuple[_Path, str | None]] = []
    for key, value in raw.items():
        # YAML 1.1 reads a bare `on:` key as true; the gates' models take it back as "on"
        name = "on" if key is True and "on" in fields else str(key)
        if name not in fields:
            close = difflib.get_close_matches(name, list(fields), n=1, cutoff=0.5)
            found.append(((*path, name), close[0] if close else None))
            continue
        found.extend(_unknown_in_value(value, fields[name].annotation, (*path, name)))
    return found


def _unknown_in_value(
    value: object, annotation: Any, path: _Path
) -> list[tuple[_Path, str | None]]:
    """Descend into nested models, lists of models and dicts of models."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _unknown_keys(value, annotation, path)
    args: tuple[Any, ...] = getattr(annotation, "__args__", ())
    origin = getattr(annotation, "__origin__", None)
    found: list[tuple[_Path, str | None]] = []
    if origin is list and args and isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(_unknown_in_value(item, args[0], (*path, i)))
    elif origin is dict and len(args) == 2 and isinstance(value, dict):
        for key, item in value.items():
            found.extend(_unknown_in_value(item, args[1], (*path, str(key))))
    elif args and origin is None:  # a union such as `Model | None`
        for arg in args:
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                found.extend(_unknown_keys(value, arg, path))
    return found
