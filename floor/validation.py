"""Raw input from any door (the CLI, Temporal's CLI or Web UI, a service in another language)
checked against its model, with the reason in one line an operator can act on."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class BadRequest(ValueError):
    """Input that does not fit its model; the message names each field and what was wrong."""


def one_line(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err["loc"]) or "(input)"
        message = err["msg"].removeprefix("Value error, ")
        value = err.get("input")
        shown = f" (got {value!r})" if isinstance(value, str | int | float | bool) and err["type"] != "missing" else ""
        parts.append(f"{path}: {message}{shown}")
    return "; ".join(parts)


def parse(model: type[M], raw: Any, what: str) -> M:
    """`raw` (a dict, a model or JSON-like data) as `model`, or BadRequest naming the problem."""
    if isinstance(raw, model):
        return raw
    if isinstance(raw, BaseModel):
        raw = raw.model_dump(mode="json")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise BadRequest(f"not a valid {what}: expected a JSON object, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise BadRequest(f"not a valid {what}: {one_line(exc)}") from None
