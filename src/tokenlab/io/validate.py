"""Checks every reader runs before it builds anything from a file.

A hostile or damaged file must give one clear :class:`FormatError` naming the file and the field,
never a traceback, a multi-gigabyte allocation, or a tokenizer that silently gives other ids. The
readers (tokenlab json, tokenizer.json, .tiktoken, tekken, SentencePiece ``.model``, vocab.txt)
share these helpers so the rules are the same everywhere:

* ids are ints (not bools, floats or strings), non-negative, unique, and below :func:`id_limit` of
  the number of entries the file has (so an id of 10**9 cannot make decode build an 8 GB table);
* special tokens are non-empty strings whose ids are distinct from each other and from the vocab's;
* declared sizes (tekken's ``default_vocab_size``, ...) are bounded by what the file describes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from ..errors import FormatError

# Largest id any tokenizer may use: ids are stored as uint32 in shards and arrays and as int32 by
# several reference libraries, so 2**31 - 1 is the hard ceiling whatever the file says.
MAX_ID = (1 << 31) - 1
# Ids may have gaps (tiktoken's specials, reserved ranges) but not so many that the id -> token table
# is mostly empty: at most this many ids beyond four per entry.
ID_SLACK = 1 << 20


def id_limit(n_entries: int) -> int:
    """One more than the largest id a file with ``n_entries`` tokens may use."""
    return min(MAX_ID + 1, 4 * max(0, int(n_entries)) + ID_SLACK)


def fail(where, field: str, message: str) -> FormatError:
    """The error to raise: ``FILE: FIELD: message`` (FILE left out when unknown)."""
    prefix = f"{where}: " if where else ""
    return FormatError(f"{prefix}{field}: {message}")


def check_int(value, where, field: str, *, low: int = 0, high: int | None = None) -> int:
    """``value`` as an int in ``[low, high)``; bools, floats and numeric strings are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(where, field, f"expected an integer, got {type(value).__name__} {_short(value)}")
    if value < low:
        raise fail(where, field, f"{value} is negative" if low == 0 and value < 0 else f"{value} is below {low}")
    if high is not None and value >= high:
        raise fail(where, field, f"{_short(value)} is too large (at most {high - 1} for this file)")
    return value


def check_str(value, where, field: str, *, nonempty: bool = False) -> str:
    if not isinstance(value, str):
        raise fail(where, field, f"expected a string, got {type(value).__name__} {_short(value)}")
    if nonempty and not value:
        raise fail(where, field, "must not be empty")
    return value


def check_type(value, types, where, field: str, what: str):
    """``value`` if it is one of ``types``; else an error saying ``what`` was expected."""
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise fail(where, field, f"expected {what}, got bool")
    if not isinstance(value, types):
        raise fail(where, field, f"expected {what}, got {type(value).__name__} {_short(value)}")
    return value


def check_ids(pairs: Iterable[tuple[object, object]], where, field: str, *, limit: int) -> dict:
    """``{key: id}`` from (key, id) pairs: ids valid ints below ``limit``, keys and ids both unique."""
    out: dict = {}
    seen: dict[int, object] = {}
    for key, i in pairs:
        if type(i) is not int or not 0 <= i < limit:  # the field name is only built for the error
            i = check_int(i, where, f"{field}[{_short(key)}]", high=limit)
        if key in out:
            raise fail(where, field, f"token {_short(key)} appears twice (ids {out[key]} and {i})")
        if i in seen:
            raise fail(where, field, f"id {i} is used by two tokens ({_short(seen[i])} and {_short(key)})")
        out[key] = i
        seen[i] = key
    return out


def check_specials(specials, where, field: str, *, limit: int, taken: dict[int, object] | None = None,
                   allow_same: dict | None = None) -> dict[str, int]:
    """Special tokens ``{string: id}``: non-empty strings, distinct ids, none equal to a vocab id in ``taken``.

    ``allow_same`` maps a string to the id it may share with the vocab (a special that is also a vocab
    token with that same id, as tokenizer.json files list their specials).
    """
    if not isinstance(specials, dict):
        raise fail(where, field, f"expected an object {{token: id}}, got {type(specials).__name__}")
    out: dict[str, int] = {}
    by_id: dict[int, str] = {}
    for s, i in specials.items():
        check_str(s, where, field, nonempty=True)
        i = check_int(i, where, f"{field}[{_short(s)}]", high=limit)
        if i in by_id:
            raise fail(where, field, f"specials {by_id[i]!r} and {s!r} share the id {i}")
        if taken is not None and i in taken and (allow_same or {}).get(s) != i:
            raise fail(where, field, f"special {s!r} has the id {i} of the token {_short(taken[i])}")
        out[s] = i
        by_id[i] = s
    return out


def first_gap(ids: Iterable[int]) -> int:
    """The smallest non-negative int missing from ``ids`` (unique ints)."""
    for k, r in enumerate(sorted(ids)):
        if r != k:
            return k
    return len(ids) if hasattr(ids, "__len__") else -1


def load_json(path, data: bytes | None = None):
    """Parse a JSON file; bad UTF-8, bad JSON and absurd nesting are one-line errors."""
    try:
        if data is None:
            data = Path(path).read_bytes()
        return json.loads(data.decode("utf-8"))
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}: corrupt JSON ({exc})") from None
    except RecursionError:
        raise FormatError(f"{path}: JSON nested too deeply") from None


def with_file(exc: FormatError, path) -> FormatError:
    """``exc`` with the file name in front, unless it already names it."""
    text = str(exc)
    if str(path) in text:
        return exc
    return FormatError(f"{path}: {text}")


def _short(value, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
