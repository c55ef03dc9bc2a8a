"""Every key of lab_config.yaml, from the pydantic models in bench/config.py (their docstrings
and `Field(description=...)` are the descriptions): the JSON schema for editors
(`bench config schema`) and the Markdown reference docs/config.md (`bench config reference`),
which tests/bench/test_config_reference.py keeps in step with the models.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bench.config import LabConfig

CONSTRAINTS = (("exclusiveMinimum", "> {}"), ("minimum", ">= {}"), ("exclusiveMaximum", "< {}"),
               ("maximum", "<= {}"), ("minLength", "at least {} character(s)"), ("maxLength", "at most {} characters"),
               ("minItems", "at least {} entries"), ("pattern", "matches `{}`"))


def json_schema() -> dict[str, Any]:
    """The JSON schema of lab_config.yaml (draft 2020-12, as pydantic writes it)."""
    schema = LabConfig.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


@dataclass
class Key:
    path: str  # dotted, e.g. positions[].dut.rated_current_a
    type: str
    default: str
    description: str


def keys(schema: dict[str, Any] | None = None) -> list[Key]:
    """Every key of the config, depth first, in the models' field order."""
    schema = schema or LabConfig.model_json_schema()
    return list(_walk(schema, schema, ""))


def _walk(node: dict[str, Any], root: dict[str, Any], prefix: str) -> Iterator[Key]:
    required = set(node.get("required", ()))
    for name, prop in node.get("properties", {}).items():
        path = f"{prefix}{name}"
        default = "required" if name in required else _default(prop, root)
        yield Key(path, _type(prop, root), default, _one_line(prop.get("description", "")))
        for sub, suffix in _children(prop, root):
            yield from _walk(sub, root, f"{path}{suffix}.")


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    return root["$defs"][ref.rsplit("/", 1)[1]] if ref else node


def _children(prop: dict[str, Any], root: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    """The object schemas under a key, with how their keys are written below it."""
    for option in prop.get("anyOf", [prop]):
        node = _resolve(option, root)
        if "properties" in node:
            yield node, ""
        elif node.get("type") == "array" and "properties" in _resolve(node.get("items", {}), root):
            yield _resolve(node["items"], root), "[]"
        elif node.get("type") == "object" and "properties" in _resolve(node.get("additionalProperties") or {}, root):
            yield _resolve(node["additionalProperties"], root), ".<name>"


def _type(prop: dict[str, Any], root: dict[str, Any]) -> str:
    options = [_one_type(o, root) for o in prop.get("anyOf", [prop])]
    return " or ".join(dict.fromkeys(o for o in options if o))


def _one_type(node: dict[str, Any], root: dict[str, Any]) -> str:
    if "$ref" in node:
        return "mapping"
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return " / ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    kind = node.get("type")
    if kind == "null":
        return "unset"
    if kind == "array":
        if "prefixItems" in node:
            return "[" + ", ".join(_one_type(i, root) for i in node["prefixItems"]) + "]"
        item = node.get("items", {})
        inner = "mapping" if "properties" in _resolve(item, root) else _one_type(item, root)
        return f"list of {inner}"
    if kind == "object":
        values = node.get("additionalProperties")
        if isinstance(values, dict):
            inner = "mapping" if "properties" in _resolve(values, root) else _one_type(values, root)
            return f"name -> {inner}"
        return "mapping"
    text = {"number": "number", "integer": "integer", "string": "text", "boolean": "true / false"}.get(kind or "", "")
    if node.get("format") == "date":
        text = "date (YYYY-MM-DD)"
    limits = [fmt.format(node[k]) for k, fmt in CONSTRAINTS if k in node]
    return f"{text} ({', '.join(limits)})" if limits else text


def _default(prop: dict[str, Any], root: dict[str, Any]) -> str:
    if "default" not in prop:  # a default_factory: an empty list or mapping, or a model's own defaults
        named = isinstance(_resolve(prop, root).get("additionalProperties"), dict)  # name -> mapping
        return "see below" if any(True for _ in _children(prop, root)) and not named else "empty"
    value = prop["default"]
    return "unset" if value is None else f"`{json.dumps(value)}`"


def _one_line(text: str) -> str:
    return " ".join(text.split())


HEADER = """# lab_config.yaml reference

Generated from the models in `bench/config.py` by `bench config reference > docs/config.md`;
do not edit by hand (a test checks it matches the models). `bench config schema` prints the
same keys as a JSON schema for editors, e.g. for the YAML language server, on the first line
of the file:

    # yaml-language-server: $schema=lab_config.schema.json

after `bench config schema > lab_config.schema.json`. Every key is checked before any
instrument is touched; an unknown key is an error naming it. `positions[]` is a list entry,
`<name>` a name you choose (e.g. the instrument's). Keys of a mapping whose default says
"see below" take the defaults of their own keys.
"""


def markdown_reference() -> str:
    lines = [HEADER, "| key | type | default | what |", "|---|---|---|---|"]
    for k in keys():
        lines.append(f"| `{k.path}` | {_cell(k.type)} | {_cell(k.default)} | {_cell(k.description)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """A table cell: `|` escaped, and `<` outside code spans (Markdown would take <x> for HTML)."""
    parts = text.replace("|", "\\|").split("`")
    return "`".join(p if i % 2 else p.replace("<", "&lt;") for i, p in enumerate(parts))
