"""Raw input from any door (the CLI, Temporal's CLI or Web UI, a service in another language)
checked against its model, with the reason in one line an operator can act on."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
MAX_PROBLEMS = 5  # fields named in one refusal; the rest are counted
MAX_SHOWN = 60  # characters of a wrong value quoted back


class BadRequest(ValueError):
    """Input that does not fit its model; the message names each field and what was wrong."""


def flat(text: str) -> str:
    """Any text on one line: newlines and runs of spaces folded to one space."""
    return " ".join(str(text).split())


def json_type(raw: Any) -> str:
    """What a JSON value is, in JSON's words (what a service developer sent)."""
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return "a boolean"
    if isinstance(raw, int | float):
        return "a number"
    if isinstance(raw, str):
        return "a string"
    if isinstance(raw, list | tuple):
        return "an array"
    if isinstance(raw, dict):
        return "an object"
    return type(raw).__name__


def json_text(raw: Any, limit: int = MAX_SHOWN) -> str:
    """A JSON value as compact JSON text, cut at `limit` characters."""
    try:
        text = json.dumps(raw, default=str, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):  # a circular structure: never from a decoded payload
        text = repr(raw)
    text = flat(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_line(exc: ValidationError) -> str:
    parts = []
    errors = exc.errors(include_url=False)
    for err in errors[:MAX_PROBLEMS]:
        path = ".".join(str(p) for p in err["loc"]) or "(input)"
        message = err["msg"].removeprefix("Value error, ")
        value = err.get("input")
        shown = (
            f" (got {json_text(value)})"
            if isinstance(value, str | int | float | bool) and err["type"] != "missing"
            else ""
        )
        parts.append(f"{path}: {message}{shown}")
    if len(errors) > MAX_PROBLEMS:
        parts.append(f"and {len(errors) - MAX_PROBLEMS} more")
    return flat("; ".join(parts))


def parse(model: type[M], raw: Any, what: str, *, null_ok: bool = False, example: str = "") -> M:
    """`raw` (a dict, a model or JSON-like data) as `model`, or BadRequest naming the problem
    in one line. `null_ok`: a JSON null (or no input at all) reads as `{}`; otherwise it is
    refused like any other value that is not an object, naming `example` of what is expected."""
    if isinstance(raw, model):
        return raw
    if isinstance(raw, BaseModel):
        raw = raw.model_dump(mode="json")
    if raw is None and null_ok:
        raw = {}
    if not isinstance(raw, dict):
        such = f" such as {example}" if example else ""
        raise BadRequest(f"not a valid {what}: expected a JSON object{such}, got {json_type(raw)}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise BadRequest(f"not a valid {what}: {one_line(exc)}") from None
