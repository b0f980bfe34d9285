"""Typed access to a source record's fields; errors name the field."""

from __future__ import annotations

import json
from typing import Any


class FieldError(ValueError):
    """A required field is missing or has the wrong type."""

    def __init__(self, field: str, message: str, reason: str = "bad_field"):
        super().__init__(f"field {field!r}: {message}")
        self.field = field
        self.reason = reason


def _type_name(value: Any) -> str:
    return type(value).__name__


def req_str(rec: dict, field: str) -> str:
    if field not in rec or rec[field] is None:
        raise FieldError(field, "is missing", reason="missing_field")
    value = rec[field]
    if not isinstance(value, str):
        raise FieldError(field, f"expected a string, got {_type_name(value)}")
    return value


def opt_str(rec: dict, field: str) -> str | None:
    value = rec.get(field)
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise FieldError(field, f"expected a string, got {_type_name(value)}")
    return value if value.strip() else None  # byte-exact: whitespace matters in code and in training text


def opt_list(rec: dict, field: str) -> list:
    value = rec.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise FieldError(field, f"expected a list, got {_type_name(value)}")
    return value


def opt_dict(rec: dict, field: str) -> dict:
    value = rec.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FieldError(field, f"expected an object, got {_type_name(value)}")
    return value


def json_field(rec: dict, field: str) -> Any:
    """A field holding JSON text (APPS style); empty string means absent."""
    value = rec.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise FieldError(field, f"is not valid JSON text: {exc.msg}") from exc
