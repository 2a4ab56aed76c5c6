"""Post-processors: add special tokens around the encoded sequence(s) (templates, BERT, RoBERTa) and trim
byte-level offsets. Names and JSON fields are HF tokenizer.json's."""

from __future__ import annotations

from ..errors import FormatError
from .encoding import Encoding
from .fields import sequence_items

BYTE_LEVEL_SPACE = "\u0120"  # "Ġ", the byte-level character of b" "


def trim_offsets(enc: Encoding, add_prefix_space: bool) -> None:
    """HF's byte-level offset trimming: leading/trailing spaces of a token are left out of its offsets."""
    from . import hf_unicode

    ws = hf_unicode.char_class("white_space")
    spaceish = lambda c: c == BYTE_LEVEL_SPACE or c in ws  # noqa: E731
    for i, (token, (start, end)) in enumerate(zip(enc.tokens, enc.offsets)):
        lead = 0
        while lead < len(token) and spaceish(token[lead]):
            lead += 1
        trail = 0
        while trail < len(token) and spaceish(token[len(token) - 1 - trail]):
            trail += 1
        if not lead and not trail:
            continue
        if lead:
            if (i == 0 or start == 0) and add_prefix_space and lead == 1:
                lead = 0
            start = min(start + lead, end)
        if trail and end >= trail:
            end = max(end - trail, start)
        enc.offsets[i] = (start, end)


class PostProcessor:
    type_name = ""

    def added_tokens(self, is_pair: bool) -> int:
        return 0

    def process(self, encodings: list[Encoding], add_special_tokens: bool) -> Encoding:
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {"type": self.type_name}


def default_process(encodings: list[Encoding]) -> Encoding:
    for k, e in enumerate(encodings):
        e.sequence_ids = [k] * len(e)
    return Encoding.merge(encodings)


class TemplateProcessing(PostProcessor):
    type_name = "TemplateProcessing"

    def __init__(self, single: list, pair: list, special_tokens: dict):
        self.single, self.pair = list(single), list(pair)
        self.special_tokens = {k: dict(v) for k, v in (special_tokens or {}).items()}
        for piece in self.single + self.pair:
            if "SpecialToken" in piece and piece["SpecialToken"]["id"] not in self.special_tokens:
                raise FormatError(f"TemplateProcessing: special token {piece['SpecialToken']['id']!r} "
                                  "has no entry in special_tokens")

    def added_tokens(self, is_pair: bool) -> int:
        return sum(len(self.special_tokens[p["SpecialToken"]["id"]]["ids"])
                   for p in (self.pair if is_pair else self.single) if "SpecialToken" in p)

    def process(self, encodings: list[Encoding], add_special_tokens: bool) -> Encoding:
        template = self.pair if len(encodings) == 2 else self.single
        parts: list[Encoding] = []
        for piece in template:
            if "Sequence" in piece:
                k = 0 if piece["Sequence"]["id"] == "A" else 1
                e = encodings[k].copy()
                e.type_ids = [piece["Sequence"]["type_id"]] * len(e)
                e.sequence_ids = [k] * len(e)
                parts.append(e)
            elif add_special_tokens:
                spec = self.special_tokens[piece["SpecialToken"]["id"]]
                parts.append(Encoding.special(spec["ids"], spec["tokens"], piece["SpecialToken"]["type_id"]))
        return Encoding.merge(parts)

    def to_dict(self) -> dict:
        return {"type": "TemplateProcessing", "single": self.single, "pair": self.pair,
                "special_tokens": self.special_tokens}

    @classmethod
    def from_dict(cls, d: dict) -> TemplateProcessing:
        return cls(d["single"], d["pair"], d.get("special_tokens", {}))


class BertProcessing(PostProcessor):
    type_name = "BertProcessing"

    def __init__(self, sep: tuple[str, int], cls: tuple[str, int]):
        self.sep, self.cls = (str(sep[0]), int(sep[1])), (str(cls[0]), int(cls[1]))

    def added_tokens(self, is_pair: bool) -> int:
        return 3 if is_pair else 2

    def process(self, encodings: list[Encoding], add_special_tokens: bool) -> Encoding:
        if not add_special_tokens:
            return default_process(encodings)
        (ct, ci), (st, si) = self.cls, self.sep
        a = encodings[0].copy()
        a.type_ids = [0] * len(a)
        a.sequence_ids = [0] * len(a)
        parts = [Encoding.special([ci], [ct], 0), a, Encoding.special([si], [st], 0)]
        if len(encodings) == 2:
            b = encodings[1].copy()
            b.type_ids = [1] * len(b)
            b.sequence_ids = [1] * len(b)
            parts += [b, Encoding.special([si], [st], 1)]
        return Encoding.merge(parts)

    def to_dict(self) -> dict:
        return {"type": "BertProcessing", "sep": list(self.sep), "cls": list(self.cls)}

    @classmethod
    def from_dict(cls, d: dict) -> BertProcessing:
        return cls(tuple(d["sep"]), tuple(d["cls"]))


class RobertaProcessing(PostProcessor):
    type_name = "RobertaProcessing"

    def __init__(self, sep: tuple[str, int], cls: tuple[str, int], trim_offsets: bool = True,
                 add_prefix_space: bool = True):
        self.sep, self.cls = (str(sep[0]), int(sep[1])), (str(cls[0]), int(cls[1]))
        self.trim_offsets, self.add_prefix_space = bool(trim_offsets), bool(add_prefix_space)

    def added_tokens(self, is_pair: bool) -> int:
        return 4 if is_pair else 2

    def process(self, encodings: list[Encoding], add_special_tokens: bool) -> Encoding:
        encodings = [e.copy() for e in encodings]
        for k, e in enumerate(encodings):
            if self.trim_offsets:
                trim_offsets(e, self.add_prefix_space)
            e.type_ids = [0] * len(e)
            e.sequence_ids = [k] * len(e)
        if not add_special_tokens:
            return Encoding.merge(encodings)
        (ct, ci), (st, si) = self.cls, self.sep
        parts = [Encoding.special([ci], [ct], 0), encodings[0], Encoding.special([si], [st], 0)]
        if len(encodings) == 2:
            parts += [Encoding.special([si], [st], 0), encodings[1], Encoding.special([si], [st], 0)]
        return Encoding.merge(parts)

    def to_dict(self) -> dict:
        return {"type": "RobertaProcessing", "sep": list(self.sep), "cls": list(self.cls),
                "trim_offsets": self.trim_offsets, "add_prefix_space": self.add_prefix_space}

    @classmethod
    def from_dict(cls, d: dict) -> RobertaProcessing:
        return cls(tuple(d["sep"]), tuple(d["cls"]), d.get("trim_offsets", True), d.get("add_prefix_space", True))


class ByteLevelProcessor(PostProcessor):
    type_name = "ByteLevel"

    def __init__(self, add_prefix_space: bool = True, trim_offsets: bool = True, use_regex: bool = True):
        self.add_prefix_space, self.trim_offsets, self.use_regex = (bool(add_prefix_space), bool(trim_offsets),
                                                                     bool(use_regex))

    def process(self, encodings: list[Encoding], add_special_tokens: bool) -> Encoding:
        encodings = [e.copy() for e in encodings]
        if self.trim_offsets:
            for e in encodings:
                trim_offsets(e, self.add_prefix_space)
        return default_process(encodings)

    def to_dict(self) -> dict:
        return {"type": "ByteLevel", "add_prefix_space": self.add_prefix_space, "trim_offsets": self.trim_offsets,
                "use_regex": self.use_regex}

    @classmethod
    def from_dict(cls, d: dict) -> ByteLevelProcessor:
        return cls(d.get("add_prefix_space", True), d.get("trim_offsets", True), d.get("use_regex", True))


class Sequence(PostProcessor):
    """Each processor in turn on the same encodings (the last one adds the special tokens)."""

    type_name = "Sequence"

    def __init__(self, processors: list[PostProcessor]):
        self.processors = list(processors)

    def added_tokens(self, is_pair: bool) -> int:
        return sum(p.added_tokens(is_pair) for p in self.processors)

    def process(self, encodings: list[Encoding], add_special_tokens: bool) -> Encoding:
        # HF runs process_encodings of each on the list; ours merge, so split the merged result by sequence
        for k, p in enumerate(self.processors):
            merged = p.process(encodings, add_special_tokens)
            if k == len(self.processors) - 1:
                return merged
            encodings = _split_by_sequence(merged, len(encodings))
        return default_process(encodings)

    def to_dict(self) -> dict:
        return {"type": "Sequence", "processors": [p.to_dict() for p in self.processors]}

    @classmethod
    def from_dict(cls, d: dict) -> Sequence:
        return cls([post_processor_from_dict(x) for x in sequence_items(d, "processors")])


def _split_by_sequence(enc: Encoding, n: int) -> list[Encoding]:
    """Undo a merge: the tokens of each input sequence, specials attached to the sequence before them."""
    parts = [Encoding() for _ in range(n)]
    current = 0
    for k in range(len(enc)):
        sid = enc.sequence_ids[k]
        if sid is not None:
            current = sid
        parts[min(current, n - 1)].append(enc.ids[k], enc.tokens[k], enc.offsets[k], type_id=enc.type_ids[k],
                                          word_id=enc.word_ids[k], special=enc.special_tokens_mask[k],
                                          sequence_id=sid)
    return parts


_WITH_FIELDS = {"TemplateProcessing": TemplateProcessing, "BertProcessing": BertProcessing,
                "RobertaProcessing": RobertaProcessing, "ByteLevel": ByteLevelProcessor, "Sequence": Sequence}


def post_processor_from_dict(d: dict | None) -> PostProcessor | None:
    if d is None:
        return None
    if not isinstance(d, dict):
        raise FormatError(f"post_processor must be an object, got {type(d).__name__}")
    kind = d.get("type")
    if kind not in _WITH_FIELDS:
        raise FormatError(f"post-processor {kind!r} is not supported")
    try:
        return _WITH_FIELDS[kind].from_dict(d)
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(f"post-processor {kind!r} is corrupt ({exc!r})") from None
