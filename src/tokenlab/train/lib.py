"""A LiB-style ("Less is Better") learner: an ordered lexicon grown and pruned while "reading" text.

"Rethinking Tokenization: Crafting Better Tokenizers for Large Language Models" (Yang 2024) proposes the
LiB model as a tokenizer that learns subwords, words and multi-word expressions together, lowering both
the number of tokens and of types. :class:`LiBReader` (the default) follows the paper's description and the
facts of its public model: greedy longest-match reading, pairs of chunks memorised when proposed twice in an
article, units rewarded or punished by comparing the reading with the next shorter unit, moves proportional to
the rank, forgetting at the bottom. It is our implementation, not a port. :class:`LiBLearner` is the first
version (best-rank segmentation, units kept only if they shorten the sentence), kept for its files
(``match: "rank"``). See docs/research-frequency.md for what each measures.

Ids: ``0..255`` raw bytes (characters not covered by a unit), then units by rank, then specials. Units may
contain spaces (multi-word expressions); a unit is at least two UTF-8 bytes. Decoding is exact.
"""

from __future__ import annotations

import json
import random
from collections import Counter
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


def _longest_two(text: str, i: int, units, max_len: int) -> tuple[str, str | None]:
    """The longest unit (or the single character) at ``i``, and the next shorter unit there (None if none)."""
    found = []
    for length in range(min(max_len, len(text) - i), 0, -1):
        if text[i:i + length] in units:
            found.append(text[i:i + length])
            if len(found) == 2:
                break
    if not found:
        return text[i], None
    if len(found) == 1:
        return found[0], (text[i] if len(found[0]) > 1 else None)
    return found[0], found[1]


def _segment_longest(text: str, units, max_len: int) -> list[str]:
    out, i = [], 0
    while i < len(text):
        chunk = _longest_two(text, i, units, max_len)[0]
        out.append(chunk)
        i += len(chunk)
    return out


class LiBReader:
    """The LiB reading loop as the paper and its public model describe it (our implementation).

    Segmentation is greedy longest match. While reading an article (a few sentences): two adjacent chunks
    are, with probability ``memorize_rate``, proposed as a new unit, which is memorised (appended at the bottom
    of the lexicon) the second time it is proposed in the same article. Where a shorter unit also matches,
    both readings are continued until they meet again: the longer unit is rewarded (moved up) if its reading
    needs fewer chunks (equal: better rank sum) and the shorter one punished, and the other way round
    otherwise. Moves are ``update_rate`` of the unit's index plus one; a unit pushed past the end is
    forgotten, and past twice the target size the bottom units not used in the article are forgotten."""

    def __init__(self, max_len: int = 12, capacity: int = 4000, memorize_rate: float = 0.25,
                 update_rate: float = 0.2, seed: int = 0):
        self.max_len, self.capacity = max_len, capacity
        self.memorize_rate, self.update_rate = memorize_rate, update_rate
        self.lexicon: list[str] = []
        self.rng = random.Random(seed)

    def _reading(self, sent: str, i: int, first: str, other: str, rank: dict[str, int]) -> bool:
        """Is reading ``first`` at ``i`` better than reading ``other`` there?"""
        worst = len(self.lexicon)
        pos = [i + len(first), i + len(other)]
        count = [1, 1]
        ranks = [rank.get(first, worst), rank.get(other, worst)]
        while pos[0] != pos[1]:
            k = 0 if pos[0] < pos[1] else 1
            chunk = _longest_two(sent, pos[k], rank, self.max_len)[0]
            pos[k] += len(chunk)
            count[k] += 1
            ranks[k] += rank.get(chunk, worst)
        return count[0] < count[1] or (count[0] == count[1] and ranks[0] < ranks[1])

    def read(self, article: list[str]) -> None:
        rank = {u: k for k, u in enumerate(self.lexicon)}
        proposed: set[str] = set()
        moves: list[tuple[str, int]] = []
        used: set[str] = set()
        for sent in article:
            i, prev = 0, None
            while i < len(sent):
                chunk, shorter = _longest_two(sent, i, rank, self.max_len)
                if prev is not None and len(prev) + len(chunk) <= self.max_len \
                        and self.rng.random() < self.memorize_rate:
                    unit = prev + chunk
                    if unit not in rank:
                        if unit in proposed:
                            proposed.discard(unit)
                            rank[unit] = len(self.lexicon)
                            self.lexicon.append(unit)
                        else:
                            proposed.add(unit)
                if shorter is not None:
                    if self._reading(sent, i, chunk, shorter, rank):
                        moves += [(chunk, -1), (shorter, +1)]
                    else:
                        moves += [(chunk, +1), (shorter, -1)]
                used.add(chunk)
                prev = chunk
                i += len(chunk)
        for unit, direction in moves:
            at = rank.get(unit)
            if at is None:
                continue  # a single character, or a unit already forgotten
            to = at + direction * (int(at * self.update_rate) + 1)
            del self.lexicon[at]
            if to >= len(self.lexicon) + 1:  # pushed past the end: forgotten
                del rank[unit]
                lo, hi = at, len(self.lexicon)
            else:
                to = max(0, to)
                self.lexicon.insert(to, unit)
                lo, hi = min(at, to), max(at, to) + 1
            for k in range(lo, hi):
                rank[self.lexicon[k]] = k
        if len(self.lexicon) > 2 * self.capacity:
            keep = self.lexicon[:2 * self.capacity]
            tail = [u for u in self.lexicon[2 * self.capacity:] if u in used]
            self.lexicon = keep + tail[:max(0, self.capacity // 10)]


class LiBTokenizer(TokenizerBase):
    """Units by rank; the whole text (no pre-tokenizer) is cut greedily: ``match="longest"`` takes the longest
    unit at each position (the LiB reader's segmentation), ``"rank"`` the best-ranked (the first version's)."""

    format_name = FORMAT
    merges: list = []

    def __init__(self, units: list[str], max_len: int = 12, special_tokens: dict[str, int] | None = None,
                 name: str = "", match: str = "rank"):
        if len(set(units)) != len(units) or any(len(u.encode("utf-8", "surrogatepass")) < 2 for u in units):
            raise FormatError("LiB units must be distinct strings of at least 2 bytes")
        if match not in ("rank", "longest"):
            raise FormatError(f"unknown LiB match rule {match!r}: rank or longest")
        self.units, self.max_len, self.name, self.match = list(units), int(max_len), name, match
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
        cut = _segment_longest if self.match == "longest" else _segment
        for chunk in cut(text, self.rank, self.max_len):
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
                "special_tokens": self.special_tokens, "match": self.match}

    @classmethod
    def from_dict(cls, d: dict) -> LiBTokenizer:
        if d.get("format") != FORMAT:
            raise FormatError(f"not a {FORMAT} file")
        try:
            return cls([str(u) for u in d["units"]], int(d.get("max_len", 12)),
                       {str(k): int(v) for k, v in d.get("special_tokens", {}).items()}, d.get("name", ""),
                       str(d.get("match", "rank")))  # files of the first version have no "match": rank
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"corrupt {FORMAT} file: {exc}") from None


def load_lib(path) -> LiBTokenizer:
    try:
        return LiBTokenizer.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}: not JSON ({exc})") from None


def train_lib(corpus: Iterable[str], vocab_size: int = 8000, pretokenizer=None, special_tokens: Iterable[str] = (),
              min_frequency: int = 0, split_digits: int | None = None, progress: bool = True, *,
              epochs: int | None = None, max_len: int = 12, seed: int = 0, name: str = "",
              reader: str = "longest", article_lines: int = 10) -> LiBTokenizer:
    """Read ``epochs`` articles and keep the best-ranked ``vocab_size - 256 - specials`` units.

    ``reader="longest"`` (default): :class:`LiBReader`, articles of ``article_lines`` consecutive corpus lines
    from a random start, the lexicon seeded with the corpus' characters by frequency; default ``epochs``: about
    three readings of every line, at least 1000 and at most 3000 articles (a few ms each). ``reader="rank"``:
    the first version (:class:`LiBLearner`, one line per step, default one pass, at most 1000 lines). ``pretokenizer``,
    ``min_frequency`` and ``split_digits`` are accepted for the common trainer signature and unused."""
    specials = list(dict.fromkeys(special_tokens))
    n_units = vocab_size - 256 - len(specials)
    if n_units < 1:
        raise InvalidInputError(f"vocab_size {vocab_size} leaves no room for units after the 256 bytes")
    if reader not in ("longest", "rank"):
        raise InvalidInputError(f"unknown LiB reader {reader!r}: longest or rank")
    lines = [line for doc in corpus for line in doc.splitlines(keepends=True) if line.strip()]
    if not lines:
        raise InvalidInputError("corpus is empty")
    if reader == "rank":
        learner = LiBLearner(max_len=max_len, capacity=n_units, seed=seed)
        steps = epochs if epochs is not None else min(1000, len(lines))
        for _ in tqdm(range(steps), desc="LiB", unit="sentence", disable=not progress):
            learner.read(learner.rng.choice(lines))
        units = learner.lexicon[:n_units]
    else:
        lib = LiBReader(max_len=max_len, capacity=n_units, seed=seed)
        chars = Counter(ch for line in lines for ch in line)
        lib.lexicon = [ch for ch, _ in sorted(chars.items(), key=lambda kv: (-kv[1], kv[0]))]
        steps = epochs if epochs is not None else min(3000, max(1000, 3 * len(lines) // article_lines))
        for _ in tqdm(range(steps), desc="LiB", unit="article", disable=not progress):
            start = lib.rng.randrange(len(lines))
            lib.read(lines[start:start + article_lines])
        units = [u for u in lib.lexicon if len(u.encode("utf-8", "surrogatepass")) > 1][:n_units]
    return LiBTokenizer(units, max_len, {s: 256 + len(units) + k for k, s in enumerate(specials)}, name=name,
                        match="rank" if reader == "rank" else "longest")


def _register() -> None:
    from ..io import JSON_FORMATS

    JSON_FORMATS.setdefault(FORMAT, "tokenlab.train.lib:load_lib")


_register()
