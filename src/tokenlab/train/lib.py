"""A LiB-style ("Less is Better") learner: an ordered lexicon grown and pruned while "reading" sentences.

"Rethinking Tokenization: Crafting Better Tokenizers for Large Language Models" (Yang 2024) proposes the
LiB model as a tokenizer that learns subwords, words and multi-word expressions together, lowering both
the number of tokens and of types. Following its published description: for each training sentence the
text is segmented with the current lexicon (at each position the matching unit of best rank wins); units
made of two adjacent chunks are candidates and are kept if adding them shortens the segmentation
(memorising); every unit used is tested by removal: a unit whose removal does not lengthen the
segmentation is demoted (punished), otherwise promoted (rewarded); the lexicon is pruned from the bottom
when it grows past twice the target. This is our reading of the description, not a port of the original
code, and it is validated only for exactness and for learning repeated units (see docs/research-frequency.md).

Ids: ``0..255`` raw bytes (characters not covered by a unit), then units by rank, then specials. Units may
contain spaces (multi-word expressions). Decoding is exact.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from ..base import TokenizerBase
from ..errors import FormatError, InvalidInputError
from ..specials import split_special

FORMAT = "tokenlab-lib"


def _segment(text: str, rank: dict[str, int], max_len: int) -> list[str]:
    out, i, n = [], 0, len(text)
    while i < n:
        best, best_r = text[i], None
        for length in range(min(max_len, n - i), 1, -1):
            r = rank.get(text[i:i + length])
            if r is not None and (best_r is None or r < best_r):
                best, best_r = text[i:i + length], r
        out.append(best)
        i += len(best)
    return out


class LiBLearner:
    def __init__(self, max_len: int = 12, capacity: int = 4000, step: int = 8, seed: int = 0):
        self.max_len, self.capacity, self.step = max_len, capacity, step
        self.lexicon: list[str] = []
        self.rank: dict[str, int] = {}
        self.rng = random.Random(seed)

    def _reindex(self, lo: int = 0) -> None:
        for k in range(lo, len(self.lexicon)):
            self.rank[self.lexicon[k]] = k

    def _insert(self, unit: str, pos: int) -> None:
        pos = max(0, min(pos, len(self.lexicon)))
        self.lexicon.insert(pos, unit)
        self._reindex(pos)

    def _remove(self, unit: str) -> int:
        pos = self.rank.pop(unit)
        del self.lexicon[pos]
        self._reindex(pos)
        return pos

    def _move(self, unit: str, delta: int) -> None:
        pos = self._remove(unit)
        self._insert(unit, pos + delta)

    def read(self, sentence: str) -> None:
        chunks = _segment(sentence, self.rank, self.max_len)
        n = len(chunks)
        # memorise: a pair of adjacent chunks becomes a unit if that shortens the segmentation
        for a, b in zip(chunks, chunks[1:]):
            unit = a + b
            if len(unit) > self.max_len or unit in self.rank:
                continue
            where = min(self.rank.get(a, len(self.lexicon)), self.rank.get(b, len(self.lexicon)))
            self._insert(unit, where)
            shorter = len(_segment(sentence, self.rank, self.max_len))
            if shorter < n:
                n = shorter
            else:
                self._remove(unit)
        # reward or punish every unit the sentence uses now
        for unit in dict.fromkeys(_segment(sentence, self.rank, self.max_len)):
            if unit not in self.rank:
                continue
            pos = self._remove(unit)
            without = len(_segment(sentence, self.rank, self.max_len))
            self._insert(unit, pos)
            self._move(unit, -self.step if without > n else self.step)
        while len(self.lexicon) > 2 * self.capacity:
            self._remove(self.lexicon[-1])


class LiBTokenizer(TokenizerBase):
    """Units by rank; greedy best-rank segmentation of the whole text (no pre-tokenizer)."""

    format_name = FORMAT
    merges: list = []

    def __init__(self, units: list[str], max_len: int = 12, special_tokens: dict[str, int] | None = None,
                 name: str = ""):
        if len(set(units)) != len(units) or any(len(u) < 2 for u in units):
            raise FormatError("LiB units must be distinct strings of at least 2 characters")
        self.units, self.max_len, self.name = list(units), int(max_len), name
        self.rank = {u: k for k, u in enumerate(self.units)}
        self.special_tokens = dict(special_tokens or {})
        if any(i < 256 + len(self.units) for i in self.special_tokens.values()):
            raise FormatError("special token ids must follow the units")
        self._specials_by_id = {i: s for s, i in self.special_tokens.items()}

    @property
    def vocab(self) -> dict[bytes, int]:
        out = {bytes([b]): b for b in range(256)}
        for k, u in enumerate(self.units):
            out.setdefault(u.encode("utf-8"), 256 + k)
        return out

    @property
    def n_vocab(self) -> int:
        return max([255 + len(self.units), *self.special_tokens.values()]) + 1

    def __repr__(self) -> str:
        return f"LiBTokenizer({len(self.units)} units)"

    def encode_ordinary(self, text: str) -> list[int]:
        out: list[int] = []
        for chunk in _segment(text, self.rank, self.max_len):
            r = self.rank.get(chunk)
            if r is None:
                out.extend(chunk.encode("utf-8", "surrogatepass"))
            else:
                out.append(256 + r)
        return out

    def encode(self, text: str, *, allowed_special=(), disallowed_special="all", **_) -> list[int]:
        ids: list[int] = []
        for part in split_special(self.special_tokens, text, allowed_special, disallowed_special):
            ids.extend([part] if isinstance(part, int) else self.encode_ordinary(part))
        return ids

    def token_bytes(self, token_id: int) -> bytes:
        i = int(token_id)
        if 0 <= i < 256:
            return bytes([i])
        if 256 <= i < 256 + len(self.units):
            return self.units[i - 256].encode("utf-8")
        if i in self._specials_by_id:
            return self._specials_by_id[i].encode("utf-8")
        raise InvalidInputError(f"unknown token id {token_id!r}")

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        return b"".join(self.token_bytes(i) for i in ids)

    def to_dict(self) -> dict:
        return {"format": FORMAT, "name": self.name, "max_len": self.max_len, "units": self.units,
                "special_tokens": self.special_tokens}

    @classmethod
    def from_dict(cls, d: dict) -> LiBTokenizer:
        if d.get("format") != FORMAT:
            raise FormatError(f"not a {FORMAT} file")
        try:
            return cls([str(u) for u in d["units"]], int(d.get("max_len", 12)),
                       {str(k): int(v) for k, v in d.get("special_tokens", {}).items()}, d.get("name", ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"corrupt {FORMAT} file: {exc}") from None


def load_lib(path) -> LiBTokenizer:
    try:
        return LiBTokenizer.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}: not JSON ({exc})") from None


def train_lib(corpus: Iterable[str], vocab_size: int = 8000, pretokenizer=None, special_tokens: Iterable[str] = (),
              min_frequency: int = 0, split_digits: int | None = None, progress: bool = True, *,
              epochs: int | None = None, max_len: int = 12, seed: int = 0, name: str = "") -> LiBTokenizer:
    """Read ``epochs`` sentences (lines of the corpus, drawn at random; default one pass, at most 1000:
    about 10 ms a sentence) and keep the best-ranked ``vocab_size - 256 - specials`` units. ``pretokenizer``,
    ``min_frequency`` and ``split_digits`` are accepted for the common trainer signature and unused."""
    specials = list(dict.fromkeys(special_tokens))
    n_units = vocab_size - 256 - len(specials)
    if n_units < 1:
        raise InvalidInputError(f"vocab_size {vocab_size} leaves no room for units after the 256 bytes")
    lines = [line for doc in corpus for line in doc.splitlines(keepends=True) if line.strip()]
    if not lines:
        raise InvalidInputError("corpus is empty")
    learner = LiBLearner(max_len=max_len, capacity=n_units, seed=seed)
    steps = epochs if epochs is not None else min(1000, len(lines))
    for _ in tqdm(range(steps), desc="LiB", unit="sentence", disable=not progress):
        learner.read(learner.rng.choice(lines))
    units = learner.lexicon[:n_units]
    return LiBTokenizer(units, max_len, {s: 256 + len(units) + k for k, s in enumerate(specials)}, name=name)


def _register() -> None:
    from ..io import JSON_FORMATS

    JSON_FORMATS.setdefault(FORMAT, "tokenlab.train.lib:load_lib")


_register()
