"""The result of encoding one input (or a pair): ids with their tokens, offsets and masks, as HF's Encoding."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Encoding:
    """``offsets`` are character offsets into the original input (special tokens added by a
    post-processor have (0, 0)); ``word_ids``: index of the pre-tokenized piece each token came from."""

    ids: list[int] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    offsets: list[tuple[int, int]] = field(default_factory=list)
    type_ids: list[int] = field(default_factory=list)
    word_ids: list[int | None] = field(default_factory=list)
    special_tokens_mask: list[int] = field(default_factory=list)
    attention_mask: list[int] = field(default_factory=list)
    sequence_ids: list[int | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def append(self, tid: int, token: str, offsets: tuple[int, int], *, type_id: int = 0,
               word_id: int | None = None, special: int = 0, sequence_id: int | None = None) -> None:
        self.ids.append(tid)
        self.tokens.append(token)
        self.offsets.append(offsets)
        self.type_ids.append(type_id)
        self.word_ids.append(word_id)
        self.special_tokens_mask.append(special)
        self.attention_mask.append(1)
        self.sequence_ids.append(sequence_id)

    def extend(self, other: Encoding) -> None:
        for name in ("ids", "tokens", "offsets", "type_ids", "word_ids", "special_tokens_mask", "attention_mask",
                     "sequence_ids"):
            getattr(self, name).extend(getattr(other, name))

    def copy(self) -> Encoding:
        out = Encoding()
        out.extend(self)
        return out

    @classmethod
    def special(cls, ids: list[int], tokens: list[str], type_id: int) -> Encoding:
        out = cls()
        for i, t in zip(ids, tokens):
            out.append(i, t, (0, 0), type_id=type_id, special=1)
        return out

    @classmethod
    def merge(cls, parts: list[Encoding]) -> Encoding:
        out = cls()
        for p in parts:
            out.extend(p)
        return out

    def truncate(self, max_length: int, direction: str = "right") -> None:
        if len(self) <= max_length:
            return
        for name in ("ids", "tokens", "offsets", "type_ids", "word_ids", "special_tokens_mask", "attention_mask",
                     "sequence_ids"):
            values = getattr(self, name)
            setattr(self, name, values[:max_length] if direction == "right" else values[len(values) - max_length:])

    def pad(self, length: int, pad_id: int, pad_type_id: int, pad_token: str, direction: str = "right") -> None:
        extra = length - len(self)
        if extra <= 0:
            return
        pad = {"ids": pad_id, "tokens": pad_token, "offsets": (0, 0), "type_ids": pad_type_id, "word_ids": None,
               "special_tokens_mask": 1, "attention_mask": 0, "sequence_ids": None}
        for name, value in pad.items():
            values = getattr(self, name)
            setattr(self, name, values + [value] * extra if direction == "right" else [value] * extra + values)
