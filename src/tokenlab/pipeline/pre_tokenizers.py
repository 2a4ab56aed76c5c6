"""Pre-tokenizers: cut normalized text into pieces (each still aligned to the original) for the model.

`PreTokenizedString` holds the pieces; a piece already made a token (an added token) is left alone.
Names and JSON fields are HF tokenizer.json's.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import regex

from ..errors import FormatError
from . import hf_unicode
from .byte_map import bytes_to_unicode
from .fields import sequence_items
from .normalized import BEHAVIORS, NormalizedString, char_matches, invert, regex_matches

GPT2_REGEX = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

# tokenizer.json spelling of split behaviours <-> ours
_BEHAVIOR_JSON = {"Removed": "removed", "Isolated": "isolated", "MergedWithPrevious": "merged_with_previous",
                  "MergedWithNext": "merged_with_next", "Contiguous": "contiguous"}
_BEHAVIOR_NAME = {v: k for k, v in _BEHAVIOR_JSON.items()}


class Piece:
    """A piece of text for the model, or an added token found earlier (``token_id`` set)."""

    __slots__ = ("normalized", "token_id")

    def __init__(self, normalized: NormalizedString, token_id: int | None = None):
        self.normalized = normalized
        self.token_id = token_id


class PreTokenizedString:
    def __init__(self, pieces: list[Piece]):
        self.pieces = pieces

    def split(self, fn: Callable[[NormalizedString], list[NormalizedString]]) -> None:
        out: list[Piece] = []
        for p in self.pieces:
            if p.token_id is not None:
                out.append(p)
                continue
            out.extend(Piece(n) for n in fn(p.normalized) if n.text)
        self.pieces = out

    def normalize(self, fn: Callable[[NormalizedString], None]) -> None:
        for p in self.pieces:
            if p.token_id is None:
                fn(p.normalized)


class PreTokenizer:
    type_name = ""

    def pre_tokenize(self, pts: PreTokenizedString) -> None:
        raise NotImplementedError

    def pre_tokenize_str(self, text: str) -> list[tuple[str, tuple[int, int]]]:
        """Pieces and their original offsets (as HF's ``pre_tokenize_str``)."""
        pts = PreTokenizedString([Piece(NormalizedString(text))])
        self.pre_tokenize(pts)
        return [(p.normalized.text, p.normalized.original_span()) for p in pts.pieces]

    def to_dict(self) -> dict:
        return {"type": self.type_name}


def _behavior(value) -> str:
    if value in _BEHAVIOR_JSON:
        return _BEHAVIOR_JSON[value]
    if value in BEHAVIORS:
        return value
    raise FormatError(f"unknown split behavior {value!r}")


class Sequence(PreTokenizer):
    type_name = "Sequence"

    def __init__(self, pretokenizers: list[PreTokenizer]):
        self.pretokenizers = list(pretokenizers)

    def pre_tokenize(self, pts: PreTokenizedString) -> None:
        for p in self.pretokenizers:
            p.pre_tokenize(pts)

    def to_dict(self) -> dict:
        return {"type": "Sequence", "pretokenizers": [p.to_dict() for p in self.pretokenizers]}

    @classmethod
    def from_dict(cls, d: dict) -> Sequence:
        return cls([pre_tokenizer_from_dict(x) for x in sequence_items(d, "pretokenizers")])


@lru_cache(maxsize=256)
def _compile(pattern: str):
    """A Split / ByteLevel regex with HF's (Oniguruma's) Unicode classes pinned (`hf_unicode.pin_regex`)."""
    try:
        return hf_unicode.HFRegex(pattern)
    except regex.error as exc:
        raise FormatError(f"Split regex {pattern!r} does not compile: {exc}") from None


class Split(PreTokenizer):
    type_name = "Split"

    def __init__(self, pattern: dict, behavior: str = "Isolated", invert: bool = False):
        if (not isinstance(pattern, dict) or len(pattern) != 1 or next(iter(pattern)) not in ("String", "Regex")
                or not isinstance(next(iter(pattern.values())), str)):
            raise FormatError(f"Split pattern must be {{'String': ...}} or {{'Regex': ...}}, got {pattern!r}")
        self.pattern = dict(pattern)
        self.behavior = _behavior(behavior)
        self.invert = bool(invert)
        kind, value = next(iter(self.pattern.items()))
        # HF compiles a String as an escaped regex, so an empty pattern of either kind matches the empty string
        # at every position: each character becomes its own piece
        self._regex = regex.compile(regex.escape(value)) if kind == "String" else _compile(value)

    def _split(self, n: NormalizedString) -> list[NormalizedString]:
        matches = regex_matches(self._regex, n.text)
        if self.invert:
            matches = invert(matches)
        return n.split(matches, self.behavior)

    def pre_tokenize(self, pts: PreTokenizedString) -> None:
        pts.split(self._split)

    def to_dict(self) -> dict:
        return {"type": "Split", "pattern": self.pattern, "behavior": _BEHAVIOR_NAME[self.behavior],
                "invert": self.invert}

    @classmethod
    def from_dict(cls, d: dict) -> Split:
        return cls(d["pattern"], d.get("behavior", "Isolated"), d.get("invert", False))


class ByteLevel(PreTokenizer):
    """Optionally a space before the text and GPT-2's regex split, then every byte as a printable character."""

    type_name = "ByteLevel"

    def __init__(self, add_prefix_space: bool = True, trim_offsets: bool = True, use_regex: bool = True):
        self.add_prefix_space, self.trim_offsets, self.use_regex = (bool(add_prefix_space), bool(trim_offsets),
                                                                     bool(use_regex))

    def _split(self, n: NormalizedString) -> list[NormalizedString]:
        if self.add_prefix_space and not n.text.startswith(" "):
            n.prepend(" ")
        if self.use_regex:
            return n.split(regex_matches(_compile(GPT2_REGEX), n.text), "isolated")
        return [n]

    def pre_tokenize(self, pts: PreTokenizedString) -> None:
        pts.split(self._split)
        pts.normalize(to_byte_level)

    def to_dict(self) -> dict:
        return {"type": "ByteLevel", "add_prefix_space": self.add_prefix_space, "trim_offsets": self.trim_offsets,
                "use_regex": self.use_regex}

    @classmethod
    def from_dict(cls, d: dict) -> ByteLevel:
        return cls(d.get("add_prefix_space", True), d.get("trim_offsets", True), d.get("use_regex", True))


_FULL_BYTE_LEVEL = bytes_to_unicode()
_ASCII_TO_BYTE_LEVEL = {b: _FULL_BYTE_LEVEL[b] for b in range(128)}


def to_byte_level(n: NormalizedString) -> None:
    """Each UTF-8 byte to its printable character; a character's bytes all keep its span (HF's transform)."""
    if n.text.isascii():
        n.text = n.text.translate(_ASCII_TO_BYTE_LEVEL)
        return
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    table = _FULL_BYTE_LEVEL
    for ch, a, b in zip(n.text, n.starts, n.ends):
        if ch < "\x80":
            chars.append(table[ord(ch)])
            starts.append(a)
            ends.append(b)
            continue
        data = ch.encode("utf-8", "surrogatepass")
        chars.append("".join(table[x] for x in data))
        starts.extend([a] * len(data))
        ends.extend([b] * len(data))
    n.text = "".join(chars)
    n.starts, n.ends = starts, ends


class Metaspace(PreTokenizer):
    """Spaces become ``replacement``; prepended per ``prepend_scheme`` (always / first / never); optionally
    split so that each replacement opens a piece."""

    type_name = "Metaspace"

    def __init__(self, replacement: str = "\u2581", prepend_scheme: str = "always", split: bool = True):
        if len(replacement) != 1:
            raise FormatError(f"Metaspace replacement must be one character, got {replacement!r}")
        if prepend_scheme not in ("always", "first", "never"):
            raise FormatError(f"Metaspace prepend_scheme {prepend_scheme!r} is not supported")
        self.replacement, self.prepend_scheme, self.split = replacement, prepend_scheme, bool(split)

    def _split(self, n: NormalizedString) -> list[NormalizedString]:
        rep = self.replacement
        n.replace([(i, i + 1) for i, c in enumerate(n.text) if c == " "], rep)
        if not n.text.startswith(rep):
            if self.prepend_scheme == "always" or (self.prepend_scheme == "first" and n.original_span()[0] == 0):
                n.prepend(rep)
        if self.split:
            return n.split(char_matches(lambda c: c == rep, n.text), "merged_with_next")
        return [n]

    def pre_tokenize(self, pts: PreTokenizedString) -> None:
        pts.split(self._split)

    def to_dict(self) -> dict:
        return {"type": "Metaspace", "replacement": self.replacement, "prepend_scheme": self.prepend_scheme,
                "split": self.split}

    @classmethod
    def from_dict(cls, d: dict) -> Metaspace:
        scheme = d.get("prepend_scheme")
        if scheme is None:  # files written before tokenizers 0.19
            scheme = "always" if d.get("add_prefix_space", True) else "never"
        return cls(d.get("replacement", "\u2581"), scheme, d.get("split", True))


class Whitespace(PreTokenizer):
    """HF's ``\\w+|[^\\w\\s]+`` (its regex engine's classes, pinned), everything else removed."""

    type_name = "Whitespace"

    @staticmethod
    def _matches(text: str) -> list[tuple[int, int, bool]]:
        word, space = hf_unicode.char_class("regex_word"), hf_unicode.char_class("regex_space")
        out: list[tuple[int, int, bool]] = []
        i, n = 0, len(text)
        prev = 0
        while i < n:
            c = text[i]
            if c in space:
                i += 1
                continue
            kind = c in word
            j = i + 1
            while j < n and (text[j] in word) == kind and (kind or text[j] not in space):
                j += 1
            if prev < i:
                out.append((prev, i, False))
            out.append((i, j, True))
            prev = i = j
        if prev < n:
            out.append((prev, n, False))
        return out or [(0, 0, False)]

    def pre_tokenize(self, pts: PreTokenizedString) -> None:
        pts.split(lambda n: n.split(invert(self._matches(n.text)), "removed"))


class WhitespaceSplit(PreTokenizer):
    type_name = "WhitespaceSplit"

    def pre_tokenize(self, pts: PreTokenizedString) -> None:
        ws = hf_unicode.char_class("white_space")
        pts.split(lambda n: n.split(char_matches(ws.__contains__, n.text), "removed"))


class Punctuation(PreTokenizer):
    type_name = "Punctuation"

    def __init__(self, behavior: str = "Isolated"):
        self.behavior = _behavior(behavior)

    def pre_tokenize(self, pts: PreTokenizedString) -> None:
        punct = hf_unicode.char_class("punctuation")
        pts.split(lambda n: n.split(char_matches(punct.__contains__, n.text), self.behavior))

    def to_dict(self) -> dict:
        return {"type": "Punctuation", "behavior": _BEHAVIOR_NAME[self.behavior]}

    @classmethod
    def from_dict(cls, d: dict) -> Punctuation:
        return cls(d.get("behavior", "Isolated"))


class Digits(PreTokenizer):
    type_name = "Digits"

    def __init__(self, individual_digits: bool = False):
        self.individual_digits = bool(individual_digits)

    def pre_tokenize(self, pts: PreTokenizedString) -> None:
        num = hf_unicode.char_class("numeric")
        behavior = "isolated" if self.individual_digits else "contiguous"
        pts.split(lambda n: n.split(char_matches(num.__contains__, n.text), behavior))

    def to_dict(self) -> dict:
        return {"type": "Digits", "individual_digits": self.individual_digits}

    @classmethod
    def from_dict(cls, d: dict) -> Digits:
        return cls(d.get("individual_digits", False))


class BertPreTokenizer(PreTokenizer):
    """Whitespace removed, then each punctuation character its own piece (HF's character classes)."""

    type_name = "BertPreTokenizer"

    def pre_tokenize(self, pts: PreTokenizedString) -> None:
        ws, punct = hf_unicode.char_class("white_space"), hf_unicode.char_class("punctuation")
        pts.split(lambda n: n.split(char_matches(ws.__contains__, n.text), "removed"))
        pts.split(lambda n: n.split(char_matches(punct.__contains__, n.text), "isolated"))


class CharDelimiterSplit(PreTokenizer):
    type_name = "CharDelimiterSplit"

    def __init__(self, delimiter: str):
        if len(delimiter) != 1:
            raise FormatError(f"CharDelimiterSplit delimiter must be one character, got {delimiter!r}")
        self.delimiter = delimiter

    def pre_tokenize(self, pts: PreTokenizedString) -> None:
        d = self.delimiter
        pts.split(lambda n: n.split(char_matches(lambda c: c == d, n.text), "removed"))

    def to_dict(self) -> dict:
        return {"type": "CharDelimiterSplit", "delimiter": self.delimiter}

    @classmethod
    def from_dict(cls, d: dict) -> CharDelimiterSplit:
        return cls(d["delimiter"])


class UnicodeScripts(PreTokenizer):
    """A new piece wherever the script changes (spaces and unassigned characters belong to any script;
    Hiragana, Katakana and U+30FC count as Han), with HF's script table (pinned)."""

    type_name = "UnicodeScripts"

    @staticmethod
    def _split(n: NormalizedString) -> list[NormalizedString]:
        cuts = []
        last = None
        for i, ch in enumerate(n.text):
            s = 0 if ch == " " else hf_unicode.script(ch)
            if s != 0 and last != s:  # as HF: the first scripted character opens the first piece, so
                cuts.append(i)        # characters of no script before it are dropped
            if s != 0:
                last = s
        bounds = [*cuts, len(n.text)]
        return [n.slice(a, b) for a, b in zip(bounds, bounds[1:])]

    def pre_tokenize(self, pts: PreTokenizedString) -> None:
        pts.split(self._split)


class FixedLength(PreTokenizer):
    """Pieces of ``length`` characters."""

    type_name = "FixedLength"

    def __init__(self, length: int = 5):
        if int(length) < 1:
            raise FormatError(f"FixedLength length must be >= 1, got {length}")
        self.length = int(length)

    def pre_tokenize(self, pts: PreTokenizedString) -> None:
        k = self.length
        pts.split(lambda n: [n.slice(i, min(i + k, len(n.text))) for i in range(0, len(n.text), k)])

    def to_dict(self) -> dict:
        return {"type": "FixedLength", "length": self.length}

    @classmethod
    def from_dict(cls, d: dict) -> FixedLength:
        return cls(d.get("length", 5))


_SIMPLE = {"Whitespace": Whitespace, "WhitespaceSplit": WhitespaceSplit, "BertPreTokenizer": BertPreTokenizer,
           "UnicodeScripts": UnicodeScripts}
_WITH_FIELDS = {"Sequence": Sequence, "Split": Split, "ByteLevel": ByteLevel, "Metaspace": Metaspace,
                "Punctuation": Punctuation, "Digits": Digits, "CharDelimiterSplit": CharDelimiterSplit,
                "FixedLength": FixedLength}


def pre_tokenizer_from_dict(d: dict | None) -> PreTokenizer | None:
    if d is None:
        return None
    if not isinstance(d, dict):
        raise FormatError(f"pre_tokenizer must be an object, got {type(d).__name__}")
    kind = d.get("type")
    if kind in _SIMPLE:
        return _SIMPLE[kind]()
    if kind in _WITH_FIELDS:
        try:
            return _WITH_FIELDS[kind].from_dict(d)
        except KeyError as exc:
            raise FormatError(f"pre-tokenizer {kind!r} lacks field {exc}") from None
    raise FormatError(f"pre-tokenizer {kind!r} is not supported")
