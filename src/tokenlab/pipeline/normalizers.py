"""Normalizers: edit a `NormalizedString` in place, keeping each character's original span.

Names and JSON fields are HF tokenizer.json's; `normalizer_from_dict` reads one, ``to_dict`` writes it.
"""

from __future__ import annotations

import base64
import binascii

import regex

from ..errors import FormatError
from . import hf_unicode
from .fields import sequence_items
from .normalized import NormalizedString, regex_matches


class Normalizer:
    type_name = ""

    def normalize(self, s: NormalizedString) -> None:
        raise NotImplementedError

    def normalize_str(self, text: str) -> str:
        s = NormalizedString(text)
        self.normalize(s)
        return s.text

    def to_dict(self) -> dict:
        return {"type": self.type_name}


class Sequence(Normalizer):
    type_name = "Sequence"

    def __init__(self, normalizers: list[Normalizer]):
        self.normalizers = list(normalizers)

    def normalize(self, s: NormalizedString) -> None:
        for n in self.normalizers:
            n.normalize(s)

    def to_dict(self) -> dict:
        return {"type": "Sequence", "normalizers": [n.to_dict() for n in self.normalizers]}

    @classmethod
    def from_dict(cls, d: dict) -> Sequence:
        return cls([normalizer_from_dict(x) for x in sequence_items(d, "normalizers")])


class UnicodeForm(Normalizer):
    """NFC / NFD / NFKC / NFKD with HF's Unicode version (pinned overrides of Python's tables)."""

    def __init__(self, form: str):
        self.type_name = self.form = form

    def normalize(self, s: NormalizedString) -> None:
        import unicodedata

        text = s.text
        if text.isascii() or (unicodedata.is_normalized(self.form, text)
                              and not any(c in hf_unicode.char_map(self.form) for c in text)):
            return
        s.transform(hf_unicode.normalize_pairs(text, self.form))


class Lowercase(Normalizer):
    type_name = "Lowercase"

    def normalize(self, s: NormalizedString) -> None:
        if s.text.isascii():
            if not s.text.islower():
                s.text = s.text.lower()
            return
        s.map_chars(hf_unicode.lowercase)


class Strip(Normalizer):
    type_name = "Strip"

    def __init__(self, strip_left: bool = True, strip_right: bool = True):
        self.strip_left, self.strip_right = bool(strip_left), bool(strip_right)

    def normalize(self, s: NormalizedString) -> None:
        s.strip(self.strip_left, self.strip_right, hf_unicode.char_class("white_space").__contains__)

    def to_dict(self) -> dict:
        return {"type": "Strip", "strip_left": self.strip_left, "strip_right": self.strip_right}

    @classmethod
    def from_dict(cls, d: dict) -> Strip:
        return cls(d.get("strip_left", True), d.get("strip_right", True))


class StripAccents(Normalizer):
    """Drops combining marks (HF's ``is_combining_mark``); it does not decompose (pair it with NFD)."""

    type_name = "StripAccents"

    def normalize(self, s: NormalizedString) -> None:
        marks = hf_unicode.char_class("combining_mark")
        s.filter(lambda c: c not in marks)


class Replace(Normalizer):
    type_name = "Replace"

    def __init__(self, pattern: dict, content: str):
        if not isinstance(pattern, dict) or len(pattern) != 1 or next(iter(pattern)) not in ("String", "Regex"):
            raise FormatError(f"Replace pattern must be {{'String': ...}} or {{'Regex': ...}}, got {pattern!r}")
        if not isinstance(content, str) or not isinstance(next(iter(pattern.values())), str):
            raise FormatError(f"Replace content and pattern must be strings, got {content!r}, {pattern!r}"[:200])
        self.pattern = dict(pattern)
        self.content = content
        kind, value = next(iter(self.pattern.items()))
        # HF compiles a String as an escaped regex, so an empty pattern of either kind matches the empty string
        # at every position: the content goes between every two characters and at both ends
        self._regex = regex.compile(regex.escape(value)) if kind == "String" else hf_unicode.HFRegex(value)

    def normalize(self, s: NormalizedString) -> None:
        if not s.text:
            return
        matches = [(a, b) for a, b, hit in regex_matches(self._regex, s.text) if hit]
        s.replace(matches, self.content)

    def to_dict(self) -> dict:
        return {"type": "Replace", "pattern": self.pattern, "content": self.content}

    @classmethod
    def from_dict(cls, d: dict) -> Replace:
        return cls(d["pattern"], d["content"])


class Prepend(Normalizer):
    type_name = "Prepend"

    def __init__(self, prepend: str):
        self.prepend = str(prepend)

    def normalize(self, s: NormalizedString) -> None:
        s.prepend(self.prepend)

    def to_dict(self) -> dict:
        return {"type": "Prepend", "prepend": self.prepend}

    @classmethod
    def from_dict(cls, d: dict) -> Prepend:
        return cls(d["prepend"])


class BertNormalizer(Normalizer):
    """Clean control characters and map whitespace to spaces, pad CJK ideographs with spaces, strip accents
    (NFD then drop Mn), lowercase per character; every character class is HF's (pinned table)."""

    type_name = "BertNormalizer"

    def __init__(self, clean_text: bool = True, handle_chinese_chars: bool = True, strip_accents: bool | None = None,
                 lowercase: bool = True):
        self.clean_text, self.handle_chinese_chars = bool(clean_text), bool(handle_chinese_chars)
        self.strip_accents = None if strip_accents is None else bool(strip_accents)
        self.lowercase = bool(lowercase)

    def normalize(self, s: NormalizedString) -> None:
        if self.clean_text:
            removed = hf_unicode.char_class("bert_removed")
            to_space = hf_unicode.char_class("bert_to_space")
            if removed.regex.search(s.text):
                s.filter(lambda c: c not in removed)
            if to_space.regex.search(s.text):
                s.map_chars(lambda c: " " if c in to_space else c)
        if self.handle_chinese_chars:
            chinese = hf_unicode.char_class("chinese")
            if not s.text.isascii():
                s.transform(_pad_chinese(s.text, chinese))
        if self.lowercase if self.strip_accents is None else self.strip_accents:
            if not s.text.isascii():
                UnicodeForm("NFD").normalize(s)
                s.map_chars(_drop_nonspacing)
        if self.lowercase:
            Lowercase().normalize(s)

    def to_dict(self) -> dict:
        return {"type": "BertNormalizer", "clean_text": self.clean_text,
                "handle_chinese_chars": self.handle_chinese_chars, "strip_accents": self.strip_accents,
                "lowercase": self.lowercase}

    @classmethod
    def from_dict(cls, d: dict) -> BertNormalizer:
        return cls(d.get("clean_text", True), d.get("handle_chinese_chars", True), d.get("strip_accents"),
                   d.get("lowercase", True))


def _pad_chinese(text: str, chinese) -> list[tuple[str, int]]:
    pairs: list[tuple[str, int]] = []
    for c in text:
        if c in chinese:
            pairs.extend(((" ", 0), (c, 1), (" ", 1)))
        else:
            pairs.append((c, 0))
    return pairs


def _drop_nonspacing(c: str) -> str:
    """After NFD: a character stays unless HF's accent stripping removes it (its table of Mn)."""
    return hf_unicode.bert_strip_accents(c) if not c.isascii() else c


class Nmt(Normalizer):
    """sentencepiece's nmt rules: drop some control characters, map some whitespace-like ones to space."""

    type_name = "Nmt"
    _DROP = frozenset([*range(1, 9), 0x0B, *range(0x0E, 0x20), 0x7F, 0x8F, 0x9F])
    _SPACE = frozenset([0x09, 0x0A, 0x0C, 0x0D, 0x1680, *range(0x200B, 0x2010), 0x2028, 0x2029, 0x2581, 0xFEFF,
                        0xFFFD])

    def normalize(self, s: NormalizedString) -> None:
        s.filter(lambda c: ord(c) not in self._DROP)
        s.map_chars(lambda c: " " if ord(c) in self._SPACE else c)


class Precompiled(Normalizer):
    """A sentencepiece charsmap applied as HF does: per grapheme cluster under 6 bytes the shortest key that
    is a prefix of it replaces it, else each character on its own (`CharsMap`)."""

    type_name = "Precompiled"

    def __init__(self, precompiled_charsmap: str):
        from ..models.sentencepiece import CharsMap

        self.precompiled_charsmap = precompiled_charsmap or ""
        try:
            blob = base64.b64decode(self.precompiled_charsmap, validate=True)
        except (binascii.Error, ValueError):
            raise FormatError("Precompiled normalizer: precompiled_charsmap is not base64") from None
        self._map = CharsMap(blob) if blob else None

    def normalize(self, s: NormalizedString) -> None:
        if self._map is None or not s.text:
            return
        segs: list[tuple[int, int, str]] = []
        pos = 0
        changed = False
        for cluster in regex.findall(r"\X", s.text):
            data = cluster.encode("utf-8", "surrogatepass")
            rep = self._map.shortest_match(data) if len(data) < 6 else None
            if rep is not None:
                segs.append((pos, pos + len(cluster), rep))
                changed = changed or rep != cluster
            else:
                for k, ch in enumerate(cluster):
                    one = self._map.shortest_match(ch.encode("utf-8", "surrogatepass"))
                    segs.append((pos + k, pos + k + 1, ch if one is None else one))
                    changed = changed or (one is not None and one != ch)
            pos += len(cluster)
        if changed:
            s.replace_segments(segs)

    def to_dict(self) -> dict:
        return {"type": "Precompiled", "precompiled_charsmap": self.precompiled_charsmap}

    @classmethod
    def from_dict(cls, d: dict) -> Precompiled:
        return cls(d.get("precompiled_charsmap") or "")


class ByteLevelNormalizer(Normalizer):
    """Each UTF-8 byte to GPT-2's printable character (the ByteLevel normalizer)."""

    type_name = "ByteLevel"

    def normalize(self, s: NormalizedString) -> None:
        s.transform(byte_level_pairs(s.text))


def byte_level_pairs(text: str) -> list[tuple[str, int]]:
    from .byte_map import bytes_to_unicode

    table = bytes_to_unicode()
    pairs: list[tuple[str, int]] = []
    for ch in text:
        for k, b in enumerate(ch.encode("utf-8", "surrogatepass")):
            pairs.append((table[b], 1 if k else 0))
    return pairs


_SIMPLE = {"Lowercase": Lowercase, "StripAccents": StripAccents, "Nmt": Nmt, "ByteLevel": ByteLevelNormalizer}
_WITH_FIELDS = {"Sequence": Sequence, "Strip": Strip, "Replace": Replace, "Prepend": Prepend,
                "BertNormalizer": BertNormalizer, "Precompiled": Precompiled}


def normalizer_from_dict(d: dict | None) -> Normalizer | None:
    if d is None:
        return None
    if not isinstance(d, dict):
        raise FormatError(f"normalizer must be an object, got {type(d).__name__}")
    kind = d.get("type")
    if kind in ("NFC", "NFD", "NFKC", "NFKD"):
        return UnicodeForm(kind)
    if kind in _SIMPLE:
        return _SIMPLE[kind]()
    if kind in _WITH_FIELDS:
        try:
            return _WITH_FIELDS[kind].from_dict(d)
        except KeyError as exc:
            raise FormatError(f"normalizer {kind!r} lacks field {exc}") from None
    raise FormatError(f"normalizer {kind!r} is not supported")
