"""Garbage for the workflows' doors, made with hypothesis from each door's JSON schema
(floor/doors.py): values that are not JSON objects, objects with an unknown field, a field of
the wrong JSON type, a number (or length, or count) out of its bounds, a string off its pattern
or enum. Every value made here is one the door must refuse (a pause takes anything: the tests
check it pauses). Shared by tests/unit/test_doors.py (parsing, many examples) and
tests/integration/test_doors.py (through Temporal, a few per door)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from floor.doors import Door

# Values of each JSON type that no lax reading turns into another type (pydantic reads true as
# 1 for a plain int and "yes" as true for a plain bool, so neither is used as "wrong" there).
WRONG: dict[str, list[Any]] = {
    "string": [5, 1.5, True, [], {}, ["x"]],
    "integer": [1.5, "x", "", [], {}, [1]],
    "number": ["x", [], {}, [1.5]],
    "boolean": [5, 1.5, "maybe", [], {}],
    "array": ["x", 5, True, {"x": 1}],
    "object": ["x", 5, 1.5, True, [], [{}]],
    "null": ["x", 5, []],
}
NOT_OBJECTS = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.just(["not", {"an": "object"}]),
)
BAD_AMOUNTS = ["1000.00", "1e6", "-1", " 5", "5 ", "0x10", "١٢", 1.5, True, "", "9" * 79]


def resolve(schema: dict, defs: dict) -> dict:
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def allowed_types(schema: dict, defs: dict) -> set[str]:
    schema = resolve(schema, defs)
    if "anyOf" in schema:
        return set().union(*(allowed_types(s, defs) for s in schema["anyOf"]))
    if "enum" in schema:
        return {_json_type(v) for v in schema["enum"]}
    kind = schema.get("type")
    if kind is None:
        return set(WRONG)  # any JSON
    if kind == "integer":
        return {"integer"}
    if kind == "number":
        return {"number", "integer"}
    return {kind}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def wrong_values(schema: dict, defs: dict) -> list[Any]:
    """Values a field with this schema must refuse: the wrong JSON types, then its bounds."""
    allowed = allowed_types(schema, defs)
    out: list[Any] = []
    for value in (v for values in WRONG.values() for v in values):
        kind = _json_type(value)
        if kind in allowed or value in out:
            continue
        if kind == "boolean" and allowed & {"integer", "number"}:  # a plain int reads true as 1
            continue
        out.append(value)
    if "null" not in allowed:
        out.append(None)
    return out + out_of_bounds(schema, defs)


def out_of_bounds(schema: dict, defs: dict) -> list[Any]:
    schema = resolve(schema, defs)
    if "base units" in schema.get("description", ""):
        return BAD_AMOUNTS
    if "anyOf" in schema:
        # Out of bounds for every option: only where the options are of one kind (a bounded
        # number or null, say).
        options = [resolve(s, defs) for s in schema["anyOf"] if resolve(s, defs).get("type") != "null"]
        return out_of_bounds(options[0], defs) if len(options) == 1 else []
    out: list[Any] = []
    if "enum" in schema:
        out.append("not-one-of-them" if all(isinstance(v, str) for v in schema["enum"]) else 99)
    kind = schema.get("type")
    if kind in ("integer", "number"):
        if "minimum" in schema:
            out.append(schema["minimum"] - 1)
        if "exclusiveMinimum" in schema:
            out.append(schema["exclusiveMinimum"])
        if "maximum" in schema:
            out.append(schema["maximum"] + 1)
    if kind == "string":
        if schema.get("minLength", 0) > 0:
            out.append("")
        if "maxLength" in schema:
            out.append("x" * (schema["maxLength"] + 1))
        if "pattern" in schema:
            out.append("not matching the pattern!")
        if schema.get("format") == "date-time":
            out.append("next tuesday")
    if kind == "array":
        if schema.get("minItems", 0) > 0:
            out.append([])
        if "maxItems" in schema:
            out.append([None] * (schema["maxItems"] + 1))
    return out


def field_garbage(example: dict, schema: dict, defs: dict) -> list[dict]:
    """The example with one field (top level, or one level into a nested object) set wrong."""
    schema = resolve(schema, defs)
    out = []
    for name, prop in schema.get("properties", {}).items():
        if name in ("state", "memory"):
            continue
        for value in wrong_values(prop, defs):
            out.append({**example, name: value})
        inner = resolve(prop, defs)
        nested = example.get(name)
        if isinstance(nested, dict) and inner.get("properties"):
            for sub in field_garbage(nested, inner, defs):
                out.append({**example, name: sub})
        items = resolve(inner.get("items", {}), defs) if inner.get("type") == "array" else {}
        if isinstance(nested, list) and nested and isinstance(nested[0], dict) and items.get("properties"):
            for sub in field_garbage(nested[0], items, defs):
                out.append({**example, name: [sub, *nested[1:]]})
    return out


def garbage(door: Door) -> st.SearchStrategy:
    """Inputs `door` must refuse (for a pause: inputs it must take as a reason)."""
    not_objects = NOT_OBJECTS if door.null or door.takes.startswith("anything") else st.one_of(NOT_OBJECTS, st.none())
    if door.takes.startswith(("null, ", "anything")):  # a bare string is a reason there
        not_objects = not_objects.filter(lambda v: not isinstance(v, str))
    if door.model is None:
        if door.null:  # takes nothing: anything but null and {} is refused
            return st.one_of(not_objects, st.dictionaries(st.text(min_size=1, max_size=8), st.integers(), min_size=1))
        return not_objects
    schema = door.adapter.json_schema()
    defs = schema.get("$defs", {})
    example = copy.deepcopy(door.example)
    options = [not_objects]
    if isinstance(example, dict):
        options.append(
            st.builds(
                lambda key, value: {**example, f"unexpected_{key}": value},
                st.text(alphabet="abcxyz_", min_size=1, max_size=6),
                st.one_of(st.booleans(), st.integers(), st.text(max_size=5), st.none()),
            )
        )
        wrong = field_garbage(example, schema, defs)
        if wrong:
            options.append(st.sampled_from(wrong))
    elif isinstance(example, list) and example and isinstance(example[0], dict):  # an array of objects
        items = resolve(schema["items"], defs)
        options.append(st.sampled_from([[bad] for bad in field_garbage(example[0], items, defs)]))
        options.append(st.just([]))
        options.append(st.sampled_from(["x", 5, {"x": 1}]).map(lambda v: [v]))
    elif isinstance(example, list):  # an array of strings
        options.append(st.sampled_from([[5], [None], [{}], "x", {"x": 1}]))
    elif isinstance(example, str):
        options = [st.one_of(st.integers(), st.none(), st.lists(st.integers(), max_size=2), st.just({"x": 1}))]
    return st.one_of(options)
