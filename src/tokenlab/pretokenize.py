"""Pre-tokenizers: split text into pieces that BPE never merges across.

The named patterns are the ones shipped with GPT-2, cl100k_base and o200k_base, so a
tokenizer trained here pre-tokenizes exactly as those models do.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import regex

from .errors import InvalidInputError

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
# Mistral's tekken: o200k's letter classes without contractions, digits one at a time
TEKKEN_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*""",
        r"""\p{N}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
WHITESPACE_PATTERN = r"""\s+|\S+"""

PATTERNS: dict[str, str | None] = {
    "gpt2": GPT2_PATTERN,
    "cl100k": CL100K_PATTERN,
    "o200k": O200K_PATTERN,
    "tekken": TEKKEN_PATTERN,
    "whitespace": WHITESPACE_PATTERN,
    "none": None,
}


@dataclass(frozen=True)
class PreTokenizer:
    """A regex split, optionally preceded by isolating runs of at most ``split_digits`` digits.

    ``pattern`` is a name from :data:`PATTERNS` or a raw regex (``regex`` module syntax);
    ``None``/``"none"`` keeps the whole text as one piece.
    """

    pattern: str | None = "gpt2"
    split_digits: int | None = None

    def __post_init__(self):
        if self.split_digits is not None and not (1 <= int(self.split_digits) <= 32):
            raise InvalidInputError(f"split_digits must be between 1 and 32, got {self.split_digits}")
        try:
            self._compiled  # noqa: B018 - validate the regex eagerly
        except regex.error as exc:
            raise InvalidInputError(f"invalid pre-tokenizer pattern {self.pattern!r}: {exc}") from None

    @property
    def regex_str(self) -> str | None:
        if self.pattern is None:
            return None
        return PATTERNS.get(self.pattern, self.pattern)

    @property
    def name(self) -> str:
        if self.pattern is None:
            return "none"
        return self.pattern if self.pattern in PATTERNS else "custom"

    @cached_property
    def _compiled(self):
        rx = self.regex_str
        return regex.compile(self._spelled or rx) if rx else None

    @cached_property
    def _spelled(self) -> str | None:
        """A custom pattern in which ``(?i)`` reaches a class or the letter i, spelled with tiktoken's classes as
        explicit ranges, case folding included (`encode.regex_program.explicit_pattern`): the ``regex`` module
        folds ``\\p{Lu}`` and ``i`` otherwise, in ways stand-ins cannot mend. None for every other pattern (classes
        pinned by stand-ins, ~5x faster in ``regex`` than a spelled-out pattern)."""
        rx = self.regex_str
        if not rx or self.pattern in PATTERNS or not _CASE_FLAG.search(rx):
            return None
        from .encode.regex_program import explicit_pattern

        return explicit_pattern(rx)

    @cached_property
    def _digits(self):
        if not self.split_digits:
            return None
        digits = rf"\p{{N}}{{1,{self.split_digits}}}"
        if self._spelled:
            from .encode.regex_program import explicit_pattern

            digits = explicit_pattern(digits, only_if_folded=False)
        return regex.compile(digits)

    def split(self, text: str) -> list[str]:
        """Pieces in order; their concatenation is always ``text``. Unicode classes follow tiktoken's tables
        (:func:`pinned_view`), not the installed ``regex``'s."""
        if not text:
            return []
        view = pinned_view(self._class_key, text) if self._class_key else None
        if view is not None:
            pieces, start = [], 0
            for piece in self._split(view):
                pieces.append(text[start:start + len(piece)])
                start += len(piece)
            return pieces
        return self._split(text)

    @cached_property
    def _class_key(self) -> str:
        """The regex text whose classes decide the stand-ins (the pattern and the digit splitter); empty for a
        spelled-out pattern, whose explicit ranges read the text as it is."""
        if self._spelled:
            return ""
        return (self.regex_str or "") + (r"\p{N}" if self.split_digits else "")

    def _split(self, text: str) -> list[str]:
        chunks = [text]
        if self._digits is not None:
            chunks = _isolate(self._digits, text)
        if self._compiled is None:
            return chunks
        if self.pattern not in PATTERNS:
            # a custom regex may not match every character: keep the gaps as pieces (HF's
            # "isolated" Split, which the tokenizer.json export uses) so nothing is dropped
            rx = self._compiled
            if len(chunks) == 1:
                return _findall_guarded(rx, text, self.pattern)
            return [piece for chunk in chunks for piece in _findall_guarded(rx, chunk, self.pattern)]
        findall = self._compiled.findall  # the named patterns match every character
        if len(chunks) == 1:
            return findall(text)
        out: list[str] = []
        for chunk in chunks:
            out.extend(findall(chunk))
        return out

    def to_dict(self) -> dict:
        return {"pattern": self.pattern, "split_digits": self.split_digits}

    @classmethod
    def from_dict(cls, d: dict) -> PreTokenizer:
        return cls(pattern=d.get("pattern"), split_digits=d.get("split_digits"))


def _isolate(rx, text: str, timeout: float | None = None) -> list[str]:
    """Split text so that every match of rx is a piece of its own (HF's 'isolated' behaviour)."""
    out, last = [], 0
    for m in rx.finditer(text, timeout=timeout):
        if m.start() > last:
            out.append(text[last : m.start()])
        out.append(m.group())
        last = m.end()
    if last < len(text):
        out.append(text[last:])
    return out


# ---------------------------------------------------------------- regex guard (issue 14)
# A pattern from a file or the command line may backtrack catastrophically (``(a|aa)+$`` takes minutes on
# 40 characters). The named patterns are known to be linear; custom ones run with the ``regex`` module's
# timeout, which ends the match with a clear error instead of hanging.
REGEX_TIMEOUT_BASE = 2.0  # seconds allowed per split call ...
REGEX_TIMEOUT_PER_CHAR = 1e-6  # ... plus this much per character (a linear pattern needs ~0.1 us)


def regex_timeout(n_chars: int) -> float:
    return REGEX_TIMEOUT_BASE + n_chars * REGEX_TIMEOUT_PER_CHAR


def _isolate_guarded(rx, text: str, pattern: str | None) -> list[str]:
    """:func:`_isolate` under the time limit; a runaway pattern is an InvalidInputError."""
    limit = regex_timeout(len(text))
    try:
        return _isolate(rx, text, timeout=limit)
    except TimeoutError:
        raise _runaway(pattern, limit, len(text)) from None


def _runaway(pattern: str | None, limit: float, n_chars: int) -> InvalidInputError:
    return InvalidInputError(
        f"pre-tokenizer pattern {str(pattern)[:80]!r} took over {limit:.1f} s on a {n_chars}-character "
        "text (catastrophic backtracking); use a simpler pattern, e.g. without nested or overlapping "
        "repetition")


def _findall_guarded(rx, text: str, pattern: str | None) -> list[str]:
    """:func:`_isolate_guarded`'s pieces, from ``findall`` (no match objects) when the matches cover the text:
    ordered, non-overlapping matches whose lengths add up to the text's leave no gap."""
    if rx.groups:  # findall would give the groups
        return _isolate_guarded(rx, text, pattern)
    limit = regex_timeout(len(text))
    try:
        pieces = rx.findall(text, timeout=limit)
    except TimeoutError:
        raise _runaway(pattern, limit, len(text)) from None
    if sum(map(len, pieces)) != len(text):
        return _isolate_guarded(rx, text, pattern)
    return pieces


def get_pretokenizer(spec: str | PreTokenizer | None, split_digits: int | None = None) -> PreTokenizer:
    if isinstance(spec, PreTokenizer):
        return spec
    if spec is None:
        spec = "none"
    if spec == "none":
        return PreTokenizer(None, split_digits)
    return PreTokenizer(spec, split_digits)


# ---------------------------------------------------------------------------------------------------------------
# Unicode classes pinned to tiktoken's tables. The installed ``regex`` follows its own (newer) Unicode version, so a
# pattern compiled as written splits newly assigned code points differently from tiktoken (Rust regex, older
# tables): "\U00019087's" is a letter and a contraction to ``regex``, a symbol run to tiktoken. Writing the classes
# out as explicit ranges is exact but makes ``regex`` 10-25x slower, so instead each code point whose classes differ
# (for the classes the pattern uses) is replaced, before matching, by a stand-in code point that ``regex`` puts in
# exactly the classes tiktoken puts the original in; pieces are then cut from the original text at the same
# offsets. The table (data/regex_properties.json) is probed from tiktoken by scripts/make_regex_properties.py.

_MAX_CODE_POINT = 0x10FFFF
_SHORTHANDS = {"s": "s", "S": "s", "d": "d", "D": "d", "w": "w", "W": "w", "b": "w", "B": "w"}
_CASE_FLAG = regex.compile(r"\(\?[a-zA-Z]*i[a-zA-Z]*[:)]")  # an inline flag group that turns on (?i)
_PROPERTY = regex.compile(r"\\[pP](?:\{\s*\^?\s*([A-Za-z_&]+)\s*\}|([A-Za-z]))|\\([sSdDwWbB])|\\.")


def _pinned_table() -> dict[str, list[tuple[int, int]]]:
    global _PINNED
    if _PINNED is None:
        import json
        from importlib.resources import files

        data = json.loads(files("tokenlab").joinpath("data/regex_properties.json").read_text(encoding="utf-8"))
        _PINNED = {name: [(lo, hi) for lo, hi in ranges] for name, ranges in data["classes"].items()}
    return _PINNED


_PINNED: dict[str, list[tuple[int, int]]] | None = None
_MEMBERSHIP: dict[tuple[str, bool], object] = {}
_STAND_INS: dict[str, tuple[dict[int, int], int]] = {}


def classes_used(pattern: str) -> list[str]:
    """Names (as in the pinned table) of the Unicode classes ``pattern`` uses, in first-use order."""
    table = _pinned_table()
    out: list[str] = []
    for m in _PROPERTY.finditer(pattern):
        name = m.group(1) or m.group(2) or _SHORTHANDS.get(m.group(3))  # None for any other escape
        if name and name in table and name not in out:
            out.append(name)
    return out


def _membership(name: str, pinned: bool):
    """Boolean array over all code points: is it in class ``name`` for tiktoken (``pinned``) or for ``regex``?"""
    import numpy as np

    key = (name, pinned)
    if key not in _MEMBERSHIP:
        member = np.zeros(_MAX_CODE_POINT + 1, dtype=bool)
        if pinned:
            for lo, hi in _pinned_table()[name]:
                member[lo:hi + 1] = True
        else:
            cps = np.arange(_MAX_CODE_POINT + 1, dtype=np.uint32)
            cps[0xD800:0xE000] = 0xFFFF  # a str cannot hold lone surrogates; U+FFFF is a noncharacter
            text = cps.tobytes().decode("utf-32-le")
            rx = regex.compile(f"\\{name}+" if name in ("s", "d", "w") else rf"\p{{{name}}}+")
            for m in rx.finditer(text):
                member[m.start():m.end()] = True
        member[0xD800:0xE000] = False
        _MEMBERSHIP[key] = member
    return _MEMBERSHIP[key]


def stand_ins(pattern: str) -> tuple[dict[int, int], int]:
    """(code point -> stand-in, lowest such code point) for ``pattern``'s classes; ({}, 0) when ``regex`` and
    tiktoken agree on all of them."""
    if pattern in _STAND_INS:
        return _STAND_INS[pattern]
    import numpy as np

    names = classes_used(pattern)
    mapping: dict[int, int] = {}
    if names:
        pinned = np.zeros(_MAX_CODE_POINT + 1, dtype=np.uint32)
        ours = np.zeros(_MAX_CODE_POINT + 1, dtype=np.uint32)
        for k, name in enumerate(names):
            pinned |= _membership(name, True).astype(np.uint32) << k
            ours |= _membership(name, False).astype(np.uint32) << k
        differ = np.flatnonzero(pinned != ours)
        stable = pinned == ours
        stable[0xD800:0xE000] = False
        stable[:0x3000] = False  # stand-ins far from ASCII and the scripts patterns name literally
        for signature in np.unique(pinned[differ]):
            candidates = np.flatnonzero(stable & (ours == signature))
            if len(candidates):
                proxy = int(candidates[-1])
                for cp in differ[pinned[differ] == signature]:
                    mapping[int(cp)] = proxy
    result = (mapping, min(mapping, default=0))
    _STAND_INS[pattern] = result
    return result


def pinned_view(pattern: str, text: str) -> str | None:
    """``text`` with stand-ins for the code points ``regex`` classifies differently from tiktoken under
    ``pattern``'s classes (same length, so match offsets carry over); None when nothing changes."""
    mapping, lowest = stand_ins(pattern)
    if not mapping or not text or ord(max(text)) < lowest:
        return None
    mapped = text.translate(mapping)
    return None if mapped == text else mapped
