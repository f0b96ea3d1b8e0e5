"""A small JSON Schema validator for the schemas pydantic writes (the keywords it uses, and no
others: an unknown keyword fails loudly rather than passing), for checking the CLI's `--json`
output against docs/cli-json.md's schemas (cli/outputs.py) without another dependency."""

from __future__ import annotations

import re
from typing import Any

TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
ANNOTATIONS = {"title", "description", "default", "format", "examples", "$defs"}


def problems(value: Any, schema: dict, root: dict | None = None, at: str = "$") -> list[str]:
    """Where `value` does not fit `schema`: one line per problem, empty when it fits."""
    root = root if root is not None else schema
    out: list[str] = []
    for key, rule in schema.items():
        if key in ANNOTATIONS:
            continue
        if key == "$ref":
            target = root
            for part in rule.removeprefix("#/").split("/"):
                target = target[part]
            out += problems(value, target, root, at)
        elif key == "type":
            kinds = rule if isinstance(rule, list) else [rule]
            if not any(TYPES[k](value) for k in kinds):
                out.append(f"{at}: expected {rule}, got {type(value).__name__} {value!r:.80}")
                return out
        elif key == "anyOf":
            if all(problems(value, option, root, at) for option in rule):
                out.append(f"{at}: fits none of {len(rule)} options: {value!r:.80}")
        elif key == "enum":
            if value not in rule:
                out.append(f"{at}: {value!r} is not one of {rule}")
        elif key == "const":
            if value != rule:
                out.append(f"{at}: {value!r} is not {rule!r}")
        elif key == "pattern":
            if isinstance(value, str) and not re.search(rule, value):
                out.append(f"{at}: {value!r} does not match {rule}")
        elif key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if TYPES["number"](value):
                ok = {
                    "minimum": value >= rule,
                    "maximum": value <= rule,
                    "exclusiveMinimum": value > rule,
                    "exclusiveMaximum": value < rule,
                }[key]
                if not ok:
                    out.append(f"{at}: {value} breaks {key} {rule}")
        elif key in ("minItems", "maxItems", "minLength", "maxLength"):
            if isinstance(value, list | str):
                n = len(value)
                if (key.startswith("min") and n < rule) or (key.startswith("max") and n > rule):
                    out.append(f"{at}: length {n} breaks {key} {rule}")
        elif key == "required":
            if isinstance(value, dict):
                out += [f"{at}: {name!r} is missing" for name in rule if name not in value]
        elif key == "properties":
            if isinstance(value, dict):
                for name, sub in rule.items():
                    if name in value:
                        out += problems(value[name], sub, root, f"{at}.{name}")
        elif key == "additionalProperties":
            if isinstance(value, dict):
                known = set(schema.get("properties", {}))
                for name, v in value.items():
                    if name in known:
                        continue
                    if rule is False:
                        out.append(f"{at}: {name!r} is not in the schema")
                    elif isinstance(rule, dict):
                        out += problems(v, rule, root, f"{at}.{name}")
        elif key == "items":
            if isinstance(value, list):
                for i, item in enumerate(value):
                    out += problems(item, rule, root, f"{at}[{i}]")
        else:
            raise ValueError(f"{at}: the schema keyword {key!r} is not supported here")
    return out


def cli_json(ran, model) -> dict:
    """A `floor ... --json` run's one JSON object (`ran`: the `cli` fixture's result), checked
    against the schema of what the command prints (`model`, from cli/outputs.py)."""
    from cli.outputs import schema

    assert ran.out.count("\n") == 1, (ran.out, ran.err)
    data = ran.json()
    found = problems(data, schema(model))
    assert found == [], found
    return data
