"""Byte-pair encoding over streams of integer symbols (MIDI events, DNA, actions, ...).

"Byte Pair Encoding for Symbolic Music" (Fradet et al. 2023; the BPE of ``miditok``): music tokenizers
emit sequences of event ids; BPE merges frequent adjacent events into new ids, shortening sequences
and giving the model richer tokens. :func:`train_symbol_bpe` learns the merges of the incremental pair-count
trainer of :mod:`tokenlab.train.symbol_bpe` over integer sequences (with a linked-list trainer whose work follows
the occurrences a merge changes, for long sequences); :class:`SymbolBPE` encodes (merges by rank, as
GPT-2 BPE does) and decodes exactly back to the base symbols.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..encode.bpe import bpe_merge_heap
from ..errors import FormatError, InvalidInputError
from .symbol_bpe import SymbolBPETrainer

FORMAT = "tokenlab-symbol-bpe"


@dataclass
class SymbolBPE:
    """Base symbols ``0..base_size-1``; merge ``k`` makes symbol ``base_size + k`` from a pair."""

    base_size: int
    merges: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self):
        if self.base_size < 1:
            raise InvalidInputError("base_size must be >= 1")
        for k, (a, b) in enumerate(self.merges):
            if not (0 <= a < self.base_size + k and 0 <= b < self.base_size + k):
                raise FormatError(f"merge {k} ({a}, {b}) refers to a symbol made later or not at all")
        self._table = {(a, b): (k, self.base_size + k) for k, (a, b) in reversed(list(enumerate(self.merges)))}
        self._parts: dict[int, tuple[int, ...]] = {}

    @property
    def vocab_size(self) -> int:
        return self.base_size + len(self.merges)

    def _check(self, seq, top: int) -> list[int]:
        out = [int(s) for s in seq]
        bad = [s for s in out if not 0 <= s < top]
        if bad:
            raise InvalidInputError(f"symbols outside 0..{top - 1}: {bad[:5]}")
        return out

    def encode(self, seq: Iterable[int]) -> list[int]:
        """Apply the merges by rank (lowest first, leftmost on ties)."""
        return bpe_merge_heap(self._check(seq, self.base_size), self._table)

    def expand(self, symbol: int) -> tuple[int, ...]:
        """The base symbols a (merged) symbol stands for."""
        hit = self._parts.get(symbol)
        if hit is None:
            if symbol < self.base_size:
                return (symbol,)
            a, b = self.merges[symbol - self.base_size]
            hit = self.expand(a) + self.expand(b)
            self._parts[symbol] = hit
        return hit

    def decode(self, ids: Iterable[int]) -> list[int]:
        return [s for i in self._check(ids, self.vocab_size) for s in self.expand(i)]

    def to_dict(self) -> dict:
        return {"format": FORMAT, "base_size": self.base_size, "merges": [list(m) for m in self.merges]}

    @classmethod
    def from_dict(cls, d: dict) -> SymbolBPE:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise FormatError(f"not a {FORMAT} file")
        try:
            return cls(int(d["base_size"]), [(int(a), int(b)) for a, b in d["merges"]])
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"corrupt {FORMAT} file: {exc}") from None

    def save(self, path) -> None:
        from ..io.atomic import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path) -> SymbolBPE:
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except json.JSONDecodeError as exc:
            raise FormatError(f"{path}: not JSON ({exc})") from None


def train_symbol_bpe(sequences: Iterable[Sequence[int]], vocab_size: int, *, base_size: int | None = None,
                     min_frequency: int = 2, max_len: int | None = None) -> SymbolBPE:
    """Learn merges until ``vocab_size`` symbols (base + merges) or no pair occurs ``min_frequency`` times.

    ``base_size``: the alphabet size (default: largest symbol + 1); ``max_len``: merged symbols span at most
    this many base symbols. Pairs never cross the end of a sequence."""
    counts = Counter(tuple(int(s) for s in seq) for seq in sequences)
    counts.pop((), None)
    if not counts:
        raise InvalidInputError("no sequences to train on")
    top = max(max(seq) for seq in counts) + 1
    lowest = min(min(seq) for seq in counts)
    base_size = top if base_size is None else int(base_size)
    if lowest < 0 or top > base_size:
        raise InvalidInputError(f"symbols must lie in 0..{base_size - 1}")
    if vocab_size < base_size:
        raise InvalidInputError(f"vocab_size {vocab_size} is smaller than the alphabet ({base_size})")
    return SymbolBPE(base_size, _train_linked(list(counts), list(counts.values()), base_size,
                                              vocab_size - base_size, min_frequency, max_len))


def _train_reference(seqs, counts, base_size: int, n_merges: int, min_frequency: int, max_len: int | None):
    """The shared incremental trainer (rescans every sequence a merge touches); kept as the reference."""
    trainer = SymbolBPETrainer(seqs, counts, [1] * base_size, max_len=max_len)
    while len(trainer.merges) < n_merges:
        best = trainer.best_pair()
        if best is None or best[1] < min_frequency:
            break
        trainer.merge(best[0])
    return [tuple(m) for m in trainer.merges]


def _train_linked(seqs, counts, base_size: int, n_merges: int, min_frequency: int, max_len: int | None):
    """The same merges as :func:`_train_reference`, with work proportional to the occurrences a merge
    changes: the sequences are one linked list, and each pair keeps the positions where it starts.

    Rules shared with the reference (and with Hugging Face's BpeTrainer, hence miditok): the most frequent
    pair, ties to the lower pair; overlapping pairs counted at every position; a merge applies left to right."""
    import heapq
    from collections import defaultdict

    sym: list[int] = []
    weight: list[int] = []
    for seq, c in zip(seqs, counts):
        sym.extend(seq)
        sym.append(-1)  # the end of a sequence
        weight.extend([c] * len(seq))
        weight.append(0)
    n = len(sym)
    nxt = list(range(1, n + 1))
    prv = list(range(-1, n - 1))
    length = [1] * base_size
    alive = [True] * n
    pair_count: defaultdict[tuple[int, int], int] = defaultdict(int)
    where: defaultdict[tuple[int, int], set[int]] = defaultdict(set)

    def fits(a: int, b: int) -> bool:
        return max_len is None or length[a] + length[b] <= max_len

    for i in range(n - 1):
        a, b = sym[i], sym[i + 1]
        if a >= 0 and b >= 0 and fits(a, b):
            pair_count[(a, b)] += weight[i]
            where[(a, b)].add(i)
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)
    merges: list[tuple[int, int]] = []
    while len(merges) < n_merges:
        best = None
        while heap:
            neg, pair = heap[0]
            now = pair_count.get(pair, 0)
            if now == -neg:
                best = pair
                break
            heapq.heappop(heap)
            if now > 0:
                heapq.heappush(heap, (-now, pair))
        if best is None or pair_count[best] < min_frequency or pair_count[best] <= 0:
            break
        heapq.heappop(heap)
        a, b = best
        new = base_size + len(merges)
        merges.append(best)
        length.append(length[a] + length[b])
        changed: set[tuple[int, int]] = set()
        for i in sorted(where.pop(best, ())):
            j = nxt[i]
            if not alive[i] or sym[i] != a or j >= n or sym[j] != b:
                continue  # consumed by an overlapping occurrence to its left, or already changed
            c = weight[i]
            left, right = prv[i], nxt[j]
            if left >= 0 and sym[left] >= 0 and fits(sym[left], a):
                pair_count[(sym[left], a)] -= c
                changed.add((sym[left], a))
            if right < n and sym[right] >= 0 and fits(b, sym[right]):
                pair_count[(b, sym[right])] -= c
                changed.add((b, sym[right]))
            sym[i] = new
            alive[j] = False
            nxt[i] = right
            if right < n:
                prv[right] = i
            if left >= 0 and sym[left] >= 0 and fits(sym[left], new):
                pair_count[(sym[left], new)] += c
                where[(sym[left], new)].add(left)
                changed.add((sym[left], new))
            if right < n and sym[right] >= 0 and fits(new, sym[right]):
                pair_count[(new, sym[right])] += c
                where[(new, sym[right])].add(i)
                changed.add((new, sym[right]))
        pair_count.pop(best, None)
        for p in changed:
            if p != best and pair_count.get(p, 0) > 0:
                heapq.heappush(heap, (-pair_count[p], p))
    return merges


# ---------------------------------------------------------------------------- miditok's BPE on the same sequences
def train_miditok_bpe(sequences: Iterable[Sequence[int]], vocab_size: int, *, base_size: int | None = None) \
        -> SymbolBPE:
    """miditok's own BPE (``MusicTokenizer.train(model="BPE")``: Hugging Face's BpeTrainer over miditok's
    one-character-per-id strings) trained on ``sequences``, returned as a :class:`SymbolBPE` so that its merges
    and encodings can be compared with :func:`train_symbol_bpe`'s.

    The sequences are given to a REMI tokenizer with ``encode_ids_split="no"`` (whole sequences, no
    Metaspace words), symbol ``s`` as miditok id ``s + 4`` so that miditok's special tokens (ids 0-3, which
    the trainer never merges across) are not used. Needs ``pip install miditok``."""
    try:
        from miditok import REMI, TokenizerConfig
    except ImportError:
        raise InvalidInputError("the miditok comparison needs miditok: pip install miditok") from None
    seqs = [[int(s) for s in seq] for seq in sequences]
    seqs = [s for s in seqs if s]
    if not seqs:
        raise InvalidInputError("no sequences to train on")
    top = max(max(s) for s in seqs) + 1
    base_size = top if base_size is None else int(base_size)
    if min(min(s) for s in seqs) < 0 or top > base_size:
        raise InvalidInputError(f"symbols must lie in 0..{base_size - 1}")
    tok = REMI(TokenizerConfig(encode_ids_split="no"))
    shift = len(tok.special_tokens)
    room = len(tok._vocab_base) - shift
    if base_size > room:
        raise InvalidInputError(f"miditok's REMI alphabet has room for {room} symbols; the sequences need {base_size}")
    to_char = tok._vocab_base_id_to_byte
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # miditok warns about the vocab size relative to its whole base vocabulary
        tok.train(vocab_size=len(tok._vocab_base) + vocab_size - base_size, model="BPE",
                  iterator=["".join(to_char[s + shift] for s in seq) for seq in seqs])
    model = json.loads(tok._model.to_str())["model"]
    symbol = {to_char[i + shift]: i for i in range(base_size)}
    merges = []
    for m in model["merges"]:
        a, b = m if isinstance(m, list) else m.split(" ")
        if a not in symbol or b not in symbol:
            raise InvalidInputError(f"miditok merged a symbol outside the sequences' alphabet: {a!r} {b!r}")
        symbol[a + b] = base_size + len(merges)
        merges.append((symbol[a], symbol[b]))
    out = SymbolBPE(base_size, merges)
    out.miditok = tok  # for encoding with miditok itself (see miditok_encode)
    return out


def miditok_encode(model: SymbolBPE, seq: Sequence[int]) -> list[int]:
    """Encode ``seq`` with the miditok tokenizer behind ``model`` (from :func:`train_miditok_bpe`), in our ids."""
    tok = model.miditok
    shift = len(tok.special_tokens)
    text = "".join(tok._vocab_base_id_to_byte[int(s) + shift] for s in seq)
    pieces = tok._model.encode([text], is_pretokenized=True).tokens
    symbol = {tok._vocab_base_id_to_byte[i + shift]: i for i in range(model.base_size)}
    for k in range(len(model.merges)):
        parts = [tok._vocab_base_id_to_byte[s + shift] for s in model.expand(model.base_size + k)]
        symbol["".join(parts)] = model.base_size + k
    return [symbol[p] for p in pieces]


def compare_with_miditok(train: Sequence[Sequence[int]], held_out: Sequence[Sequence[int]], vocab_size: int, *,
                         base_size: int | None = None) -> dict:
    """Ours and miditok's BPE trained on the same sequences at the same vocabulary (merging down to count 1,
    as HF's trainer does): how many merges agree (in order), and the held-out lengths each gives."""
    import time

    if base_size is None:
        base_size = max(max(s) for s in [*train, *held_out] if s) + 1
    start = time.perf_counter()
    ours = train_symbol_bpe(train, vocab_size, base_size=base_size, min_frequency=1)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    theirs = train_miditok_bpe(train, vocab_size, base_size=base_size)
    theirs_s = time.perf_counter() - start
    same = next((k for k, (a, b) in enumerate(zip(ours.merges, theirs.merges)) if a != b),
                min(len(ours.merges), len(theirs.merges)))
    return {"vocab_size": vocab_size, "base_size": base_size, "merges": len(ours.merges),
            "miditok_merges": len(theirs.merges), "same_merges": same,
            "held_out_symbols": sum(len(s) for s in held_out),
            "held_out_tokens": sum(len(ours.encode(s)) for s in held_out),
            "miditok_held_out_tokens": sum(len(miditok_encode(theirs, s)) for s in held_out),
            "train_seconds": ours_s, "miditok_train_seconds": theirs_s}
