"""Reading a user's YAML file (lab_config.yaml, scenarios) without trusting it.

One reader for every file a user hands the bench, so each refuses bad input the same
way: with one message naming the file, the key or line, and the reason, never a
traceback and never after something started. What it refuses and why:
- more than MAX_FILE_BYTES (1 MiB): a config or scenario is a few KiB; anything larger
  is the wrong file, and reading it whole would only cost memory;
- bytes that are not UTF-8 text (a binary or a file saved in another encoding);
- a key given twice in one mapping (YAML would silently keep the last one);
- more than MAX_VALUES values once aliases (`*name`) are expanded: an alias bomb
  (billion laughs) turns a few KiB into gigabytes once the data is walked; a few
  aliases are fine (yaml.safe_dump writes them for a value used twice); an alias
  inside the value it names (a loop) is refused;
- nesting deeper than MAX_DEPTH (the composer recurses, so a file of `[[[[...` would
  otherwise end in a RecursionError);
- values that are not plain data (`!!binary`, `!!set`, `!!timestamp`), keys that are
  not text, and NaN or infinity (a limit or a duration must be a finite number).
Dates stay text (no implicit timestamps), so a model parses them and names the key
of an impossible date (`2027-02-30`) instead of the YAML library raising. As in YAML
1.2, `1e9` is a number and `22:00:00` is text (YAML 1.1 reads them the other way round).

`validate()` then checks the data against a pydantic model strictly: as JSON, a bool
is not a number and a string is not a number (an int is fine for a float).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml
from pydantic import BaseModel, ValidationError
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_FILE_BYTES = 1 << 20  # 1 MiB
MAX_DEPTH = 32  # mappings and lists inside each other; the deepest scenario profile needs 7
MAX_VALUES = 200_000  # values in a file once aliases are expanded: a config has a few hundred

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """Bad input: the message names the file, the key and the reason."""


# YAML 1.1 reads 22:00:00 as the base-60 number 79200; YAML 1.2 dropped that: it is text here
# (a time of day), checked first so the number resolvers never see it
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_AS_TEXT = {first: [("tag:yaml.org,2002:str", _SEXAGESIMAL)] for first in "-+0123456789"}


class _Loader(yaml.SafeLoader):
    """SafeLoader that bounds alias expansion and nesting, refuses duplicate keys, keeps dates as text."""

    yaml_implicit_resolvers = {
        first: [*_AS_TEXT.get(first, []),
                *((tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._values: dict[int, int] = {}  # id(node) -> values inside it once aliases are expanded

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()
        mark = cast(Mark, event.start_mark)  # the pure-Python loader's marks (the stubs also allow the C one's)
        if isinstance(event, yaml.AliasEvent):  # the node it names, counted at its expanded size
            self._refuse_loop(event, mark)
            return super().compose_node(parent, index)
        if self._depth >= MAX_DEPTH:
            raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            self._values[id(node)] = self._expanded(node)
            if self._values[id(node)] > MAX_VALUES:
                raise ComposerError(None, None, f"more than {MAX_VALUES} values once its aliases are expanded "
                                    "(an alias bomb?)", mark)
        return node

    def _refuse_loop(self, event: yaml.AliasEvent, mark: Mark) -> None:
        """An alias inside the value it names would make a list that contains itself."""
        anchored = self.anchors.get(event.anchor) if event.anchor is not None else None
        if anchored is not None and id(anchored) not in self._values:
            raise ComposerError(None, None, f"alias *{event.anchor} is inside the value it names", mark)

    def _expanded(self, node: Node) -> int:
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            return 1
        return 1 + sum(self._values.get(id(child), 1) for child in children)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                seen = first_line.get(key)
            except TypeError:  # an unhashable key: the base class names it
                break
            if seen is not None:
                raise ConstructorError(None, None, f"duplicate key {key!r} (first given on line {seen})",
                                       key_node.start_mark)
            first_line[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:  # e.g. a 5000-digit integer, !!timestamp 2027-02-30
            shown = str(node.value)[:40]
            raise ConstructorError(None, None, f"cannot read {shown!r}: {exc}", node.start_mark) from None


# YAML 1.2 exponent numbers (1e9, 5E-3, 1.5e3), which YAML 1.1 reads as text: a user writing
# `seconds: 1e9` means a number and must hear that it is too large, not that it is no number
_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def key_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('positions', 0, 'dut', 'phases') -> 'positions[0].dut.phases'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_text(path: Path, what: str) -> str:
    """The file as text: at most MAX_FILE_BYTES of UTF-8 (a BOM is allowed)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)  # never more, whatever the file is (/dev/zero included)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES // 1024} KiB, the most a {what} may be; "
                          "is it the right file?")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                          f"{exc.start}); a {what} is a YAML text file") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        context = f"{exc.context}: " if exc.context else ""
        return f"line {mark.line + 1}, column {mark.column + 1}: {context}{exc.problem}"
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return f"offset {exc.position}: character #x{char:04x} is not allowed in YAML text"
    return str(exc)


def _plain(data: Any, loc: tuple[Any, ...] = ()) -> None:
    """Refuse what JSON cannot say: non-text keys, binary/set/date values, NaN and infinity."""
    where = key_path(loc) or "(top level)"
    if isinstance(data, dict):
        for key, value in data.items():
            if not isinstance(key, str):
                raise ConfigError(f"{where}: key {key!r} must be text (write it in quotes)")
            _plain(value, (*loc, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            _plain(value, (*loc, i))
    elif isinstance(data, float) and not math.isfinite(data):
        raise ConfigError(f"{where}: {data} is not a finite number")
    elif data is not None and not isinstance(data, (str, int, float, bool)):
        raise ConfigError(f"{where}: a {type(data).__name__} value is not allowed here (plain text, numbers, "
                          "true/false, lists and mappings only)")


def read_yaml(path: Path | str, what: str) -> Any:
    """The file's data (plain: dicts with text keys, lists, text, finite numbers, bools, None).
    `what` names the kind of file in messages ("config", "scenario")."""
    path = Path(path)
    text = read_text(path, what)
    try:
        loader = _Loader(text)  # its reader refuses control characters right away
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from None
    try:
        _plain(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return data


def read_mapping(path: Path | str, what: str, keys_hint: str) -> dict[str, Any]:
    """read_yaml for a file whose top level must be a mapping (e.g. "with 'bench' and 'positions'")."""
    data = read_yaml(path, what)
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        raise ConfigError(f"{path}: (top level): must be a mapping {keys_hint}, not {found}")
    return data


# pydantic's JSON words -> the YAML words of a config author
_WORDS = {"a valid array": "a list", "an object": "a mapping", "a valid dictionary": "a mapping"}


def errors_by_key(exc: ValidationError, data: Any = None, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, reason) per pydantic error, in the words a config author knows. `data` (what
    was validated) tells the file's keys from the tags pydantic adds for a union's members."""
    found = []
    for err in exc.errors():
        inner = key_path(_file_keys(err["loc"], data))
        if prefix and inner and not inner.startswith("["):
            inner = "." + inner
        key = prefix + inner or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        for json_word, yaml_word in _WORDS.items():
            msg = msg.replace(json_word, yaml_word)
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif isinstance(err.get("input"), (str, int, float, bool)) and len(repr(err["input"])) <= 40 \
                and err["type"] != "value_error":
            msg += f" (got {json.dumps(err['input'])})"
        found.append((key, msg))
    return found


def _file_keys(loc: tuple[int | str, ...], data: Any) -> list[int | str]:
    """The part of a pydantic location that names keys of the file: a union member's tag (e.g.
    `RealismConfig` in virtual_lab.realism.RealismConfig.mains_v) is no key, so it is left out.
    The last part stays even when absent from the data: a missing key is named by it."""
    keys: list[int | str] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif data is not None and (i < len(loc) - 1 or not isinstance(node, dict)):
            continue  # a union tag inside the path, or one after a scalar value
        keys.append(part)
    return keys


def bad_input(path: Path | str, exc: ValidationError, data: Any) -> ConfigError:
    """The ConfigError for a file whose data failed validation: one `file: key: reason` line per error."""
    return ConfigError("\n".join(f"{path}: {key}: {msg}" for key, msg in errors_by_key(exc, data)))


def validate(model: type[M], data: Any) -> M:
    """`model` from read_yaml data, strictly: validated as the JSON it is, so true is not a
    number, "32" is not a number, 3.0 is not a whole number, while dates and paths are
    still read from text. Raises pydantic's ValidationError (see bad_input)."""
    return model.model_validate_json(json.dumps(data, allow_nan=False), strict=True)
