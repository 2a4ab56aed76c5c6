"""Typed reads of tokenizer.json fields, as strict as HF's own parser: a wrong type is an error, never coerced."""

from __future__ import annotations

from ..errors import FormatError


def flag(d: dict, key: str, default: bool = False) -> bool:
    """A boolean field (an integer or a string is an error, not truthy)."""
    value = d.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise FormatError(f"{key} must be true or false, got {value!r}"[:120])
    return value


def sequence_items(d: dict, key: str) -> list:
    """A Sequence component's list of parts (HF refuses anything but a list of objects)."""
    items = d[key]
    if not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
        raise FormatError(f"Sequence {key} must be a list of objects, got {str(items)[:60]}")
    return items
