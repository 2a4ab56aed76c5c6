"""Special tokens in user text, with tiktoken's contract, shared by every model kind.

A special string in text is an error unless it is allowed (then it becomes its id) or
explicitly not disallowed (then it is ordinary text): prompt injection of control tokens
must be a decision, not an accident.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Literal

import regex

from .errors import InvalidInputError, SpecialTokenError

SpecialSpec = Literal["all"] | Iterable[str]


def utf8(text: str) -> bytes:
    """UTF-8 bytes of ``text``; a lone surrogate (text read with surrogateescape) is a clear error."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"text is not valid Unicode (lone surrogate {text[exc.start]!r} at offset {exc.start}); "
            "was it read from invalid UTF-8?"
        ) from None


def check_special(special_tokens: dict[str, int], text: str, allowed_special: SpecialSpec = (),
                  disallowed_special: SpecialSpec = "all") -> set[str]:
    """The allowed specials; raises :class:`SpecialTokenError` naming the first disallowed one in ``text``."""
    if not isinstance(text, str):
        raise InvalidInputError(f"text must be str, got {type(text).__name__}")
    if not allowed_special and not disallowed_special:  # encode_ordinary: every special is ordinary text
        return set()
    if not allowed_special and disallowed_special == "all":  # the default, kept cheap for short texts
        # a long text: one regex scan for all of them (~1.4 GB/s on code, measured by hand) instead of one `in`
        # per special token (a third of `encode` on code for cl100k's five); a short one: the `in`s cost less
        if not special_tokens or (not any(s in text for s in special_tokens) if len(text) < 512
                                  else _alternation(frozenset(special_tokens)).search(text) is None):
            return set()
    allowed = set(special_tokens) if allowed_special == "all" else set(allowed_special)
    unknown = allowed - set(special_tokens)
    if unknown:
        raise SpecialTokenError(f"not special tokens of this tokenizer: {sorted(unknown)}")
    disallowed = (set(special_tokens) - allowed) if disallowed_special == "all" else set(disallowed_special)
    hits = [(text.find(s), s) for s in disallowed if s in text]
    if hits:
        pos, s = min(hits)
        raise SpecialTokenError(
            f"text contains the special token {s!r} at offset {pos}; pass allowed_special to encode it "
            f"as a special token, or disallowed_special=() to encode it as ordinary text"
        )
    return allowed


@lru_cache(maxsize=64)
def _alternation(strings: frozenset[str]):
    return regex.compile("|".join(regex.escape(s) for s in sorted(strings, key=len, reverse=True)))


def split_special(special_tokens: dict[str, int], text: str, allowed_special: SpecialSpec = (),
                  disallowed_special: SpecialSpec = "all") -> list[str | int]:
    """``text`` cut into ordinary strings and the ids of allowed specials, in order."""
    allowed = check_special(special_tokens, text, allowed_special, disallowed_special)
    if not allowed:
        return [text]
    parts: list[str | int] = []
    last = 0
    for m in _alternation(frozenset(allowed)).finditer(text):
        parts.append(text[last : m.start()])
        parts.append(special_tokens[m.group()])
        last = m.end()
    parts.append(text[last:])
    return parts
