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
        return regex.compile(rx) if rx else None

    @cached_property
    def _digits(self):
        return regex.compile(rf"\p{{N}}{{1,{self.split_digits}}}") if self.split_digits else None

    def split(self, text: str) -> list[str]:
        """Pieces in order; their concatenation is always ``text``."""
        if not text:
            return []
        chunks = [text]
        if self._digits is not None:
            chunks = _isolate(self._digits, text)
        if self._compiled is None:
            return chunks
        if self.pattern not in PATTERNS:
            # a custom regex may not match every character: keep the gaps as pieces (HF's
            # "isolated" Split, which the tokenizer.json export uses) so nothing is dropped
            rx = self._compiled
            return [piece for chunk in chunks for piece in _isolate_guarded(rx, chunk, self.pattern)]
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
        raise InvalidInputError(
            f"pre-tokenizer pattern {str(pattern)[:80]!r} took over {limit:.1f} s on a {len(text)}-character "
            "text (catastrophic backtracking); use a simpler pattern, e.g. without nested or overlapping "
            "repetition") from None


def get_pretokenizer(spec: str | PreTokenizer | None, split_digits: int | None = None) -> PreTokenizer:
    if isinstance(spec, PreTokenizer):
        return spec
    if spec is None:
        spec = "none"
    if spec == "none":
        return PreTokenizer(None, split_digits)
    return PreTokenizer(spec, split_digits)
