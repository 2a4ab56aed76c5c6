"""Decoders: token strings -> text (byte-level, metaspace, wordpiece, byte fallback, fuse, strip, replace, BPE
suffix, CTC), each a chain step on the list of token strings as in HF. Names and JSON fields are tokenizer.json's."""

from __future__ import annotations

import re

import regex

from ..errors import FormatError
from . import hf_unicode
from .fields import sequence_items
from .normalized import regex_matches


class Decoder:
    type_name = ""

    def decode_chain(self, tokens: list[str]) -> list[str]:
        raise NotImplementedError

    def decode(self, tokens: list[str]) -> str:
        return "".join(self.decode_chain(list(tokens)))

    def to_dict(self) -> dict:
        return {"type": self.type_name}


class ByteLevel(Decoder):
    type_name = "ByteLevel"

    def __init__(self, add_prefix_space: bool = True, trim_offsets: bool = True, use_regex: bool = True):
        self.add_prefix_space, self.trim_offsets, self.use_regex = (bool(add_prefix_space), bool(trim_offsets),
                                                                     bool(use_regex))

    def decode_chain(self, tokens: list[str]) -> list[str]:
        from .byte_map import unicode_to_bytes

        table = unicode_to_bytes()
        data = bytearray()
        for t in tokens:
            try:
                data.extend(table[c] for c in t)
            except KeyError:
                data.extend(t.encode("utf-8", "surrogatepass"))
        return [data.decode("utf-8", "replace")]

    def to_dict(self) -> dict:
        return {"type": "ByteLevel", "add_prefix_space": self.add_prefix_space, "trim_offsets": self.trim_offsets,
                "use_regex": self.use_regex}

    @classmethod
    def from_dict(cls, d: dict) -> ByteLevel:
        return cls(d.get("add_prefix_space", True), d.get("trim_offsets", True), d.get("use_regex", True))


class Metaspace(Decoder):
    type_name = "Metaspace"

    def __init__(self, replacement: str = "\u2581", prepend_scheme: str = "always", split: bool = True):
        self.replacement, self.prepend_scheme, self.split = replacement, prepend_scheme, bool(split)

    def decode_chain(self, tokens: list[str]) -> list[str]:
        rep = self.replacement
        out = []
        for i, t in enumerate(tokens):
            if i == 0 and self.prepend_scheme != "never":
                out.append("".join("" if c == rep else c for c in t))
            else:
                out.append(t.replace(rep, " "))
        return out

    def to_dict(self) -> dict:
        return {"type": "Metaspace", "replacement": self.replacement, "prepend_scheme": self.prepend_scheme,
                "split": self.split}

    @classmethod
    def from_dict(cls, d: dict) -> Metaspace:
        scheme = d.get("prepend_scheme")
        if scheme is None:
            scheme = "always" if d.get("add_prefix_space", True) else "never"
        return cls(d.get("replacement", "\u2581"), scheme, d.get("split", True))


def cleanup(text: str) -> str:
    """HF's English detokenization cleanup (spaces before punctuation and contractions)."""
    for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                 (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(a, b)
    return text


class WordPiece(Decoder):
    type_name = "WordPiece"

    def __init__(self, prefix: str = "##", cleanup: bool = True):
        self.prefix, self.cleanup = prefix, bool(cleanup)

    def decode_chain(self, tokens: list[str]) -> list[str]:
        out = []
        for i, t in enumerate(tokens):
            if i:
                t = t[len(self.prefix):] if t.startswith(self.prefix) else " " + t
            out.append(cleanup(t) if self.cleanup else t)
        return out

    def to_dict(self) -> dict:
        return {"type": "WordPiece", "prefix": self.prefix, "cleanup": self.cleanup}

    @classmethod
    def from_dict(cls, d: dict) -> WordPiece:
        return cls(d.get("prefix", "##"), d.get("cleanup", True))


_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")


class ByteFallback(Decoder):
    type_name = "ByteFallback"

    def decode_chain(self, tokens: list[str]) -> list[str]:
        out: list[str] = []
        pending = bytearray()

        def flush():
            if pending:
                try:
                    out.append(pending.decode("utf-8"))
                except UnicodeDecodeError:
                    out.extend("\ufffd" for _ in pending)
                pending.clear()

        for t in tokens:
            m = _BYTE_TOKEN.fullmatch(t) if len(t) == 6 else None
            if m:
                pending.append(int(m.group(1), 16))
            else:
                flush()
                out.append(t)
        flush()
        return out


class Fuse(Decoder):
    type_name = "Fuse"

    def decode_chain(self, tokens: list[str]) -> list[str]:
        return ["".join(tokens)]


class Strip(Decoder):
    type_name = "Strip"

    def __init__(self, content: str = " ", start: int = 0, stop: int = 0):
        self.content, self.start, self.stop = content, int(start), int(stop)

    def decode_chain(self, tokens: list[str]) -> list[str]:
        out = []
        for t in tokens:
            a = 0
            for i in range(min(self.start, len(t))):
                if t[i] == self.content:
                    a = i + 1
                else:
                    break
            b = len(t)
            for i in range(min(self.stop, len(t))):
                k = len(t) - i - 1
                if t[k] == self.content:
                    b = k
                else:
                    break
            out.append(t[a:b] if a < b else "")
        return out

    def to_dict(self) -> dict:
        return {"type": "Strip", "content": self.content, "start": self.start, "stop": self.stop}

    @classmethod
    def from_dict(cls, d: dict) -> Strip:
        return cls(d.get("content", " "), d.get("start", 0), d.get("stop", 0))


class Replace(Decoder):
    type_name = "Replace"

    def __init__(self, pattern: dict, content: str):
        if not isinstance(pattern, dict) or len(pattern) != 1 or next(iter(pattern)) not in ("String", "Regex"):
            raise FormatError(f"Replace pattern must be {{'String': ...}} or {{'Regex': ...}}, got {pattern!r}")
        if not isinstance(content, str) or not isinstance(pattern, dict) or not all(
                isinstance(v, str) for v in pattern.values()):
            raise FormatError(f"Replace content and pattern must be strings, got {content!r}, {pattern!r}"[:200])
        self.pattern, self.content = dict(pattern), content
        kind, value = next(iter(self.pattern.items()))
        # HF's matches (Oniguruma, its classes; a String is an escaped regex): an empty pattern matches the empty
        # string at every position, and an empty match where the previous match ends is skipped
        self._regex = regex.compile(regex.escape(value)) if kind == "String" else hf_unicode.HFRegex(value)

    def decode_chain(self, tokens: list[str]) -> list[str]:
        return ["".join(self.content if hit else t[a:b] for a, b, hit in regex_matches(self._regex, t))
                for t in tokens]

    def to_dict(self) -> dict:
        return {"type": "Replace", "pattern": self.pattern, "content": self.content}

    @classmethod
    def from_dict(cls, d: dict) -> Replace:
        return cls(d["pattern"], d["content"])


class BPEDecoder(Decoder):
    type_name = "BPEDecoder"

    def __init__(self, suffix: str = "</w>"):
        self.suffix = suffix

    def decode_chain(self, tokens: list[str]) -> list[str]:
        n = len(tokens) - 1
        return [t.replace(self.suffix, "" if i == n else " ") for i, t in enumerate(tokens)]

    def to_dict(self) -> dict:
        return {"type": "BPEDecoder", "suffix": self.suffix}

    @classmethod
    def from_dict(cls, d: dict) -> BPEDecoder:
        return cls(d.get("suffix", "</w>"))


class CTC(Decoder):
    type_name = "CTC"

    def __init__(self, pad_token: str = "<pad>", word_delimiter_token: str = "|", cleanup: bool = True):
        self.pad_token, self.word_delimiter_token, self.cleanup = pad_token, word_delimiter_token, bool(cleanup)

    def decode_chain(self, tokens: list[str]) -> list[str]:
        out = []
        prev = object()
        for t in tokens:
            if t == prev:
                continue
            prev = t
            r = t.replace(self.pad_token, "")
            if self.cleanup:
                r = cleanup(r).replace(self.word_delimiter_token, " ")
            if r:
                out.append(r)
        return out

    def to_dict(self) -> dict:
        return {"type": "CTC", "pad_token": self.pad_token, "word_delimiter_token": self.word_delimiter_token,
                "cleanup": self.cleanup}

    @classmethod
    def from_dict(cls, d: dict) -> CTC:
        return cls(d.get("pad_token", "<pad>"), d.get("word_delimiter_token", "|"), d.get("cleanup", True))


class Sequence(Decoder):
    type_name = "Sequence"

    def __init__(self, decoders: list[Decoder]):
        self.decoders = list(decoders)

    def decode_chain(self, tokens: list[str]) -> list[str]:
        for d in self.decoders:
            tokens = d.decode_chain(tokens)
        return tokens

    def to_dict(self) -> dict:
        return {"type": "Sequence", "decoders": [d.to_dict() for d in self.decoders]}

    @classmethod
    def from_dict(cls, d: dict) -> Sequence:
        return cls([decoder_from_dict(x) for x in sequence_items(d, "decoders")])


_SIMPLE = {"ByteFallback": ByteFallback, "Fuse": Fuse}
_WITH_FIELDS = {"ByteLevel": ByteLevel, "Metaspace": Metaspace, "WordPiece": WordPiece, "Strip": Strip,
                "Replace": Replace, "BPEDecoder": BPEDecoder, "CTC": CTC, "Sequence": Sequence}


def decoder_from_dict(d: dict | None) -> Decoder | None:
    if d is None:
        return None
    if not isinstance(d, dict):
        raise FormatError(f"decoder must be an object, got {type(d).__name__}")
    kind = d.get("type")
    if kind in _SIMPLE:
        return _SIMPLE[kind]()
    if kind in _WITH_FIELDS:
        try:
            return _WITH_FIELDS[kind].from_dict(d)
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"decoder {kind!r} is corrupt ({exc!r})") from None
    raise FormatError(f"decoder {kind!r} is not supported")


def walk(decoder: Decoder | None):
    """The decoder and, for a Sequence, its steps in order."""
    if decoder is None:
        return
    yield decoder
    if isinstance(decoder, Sequence):
        for d in decoder.decoders:
            yield from walk(d)
