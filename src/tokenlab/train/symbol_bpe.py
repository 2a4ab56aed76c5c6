"""BPE training over arbitrary integer symbols, with rules on which adjacent pairs may merge.

The research trainers (superword, scaffold, character-level) differ from plain BPE only in
(1) the alphabet, (2) which pairs are eligible and (3) bookkeeping after a merge. This one
incremental trainer covers them all: pair counts are updated only for words that contain
the merged pair, as in `tokenlab.train.bpe.BPETrainer`.

Eligibility rules:
``max_len``     a pair merges only if the result has at most this many units (characters).
``boundaries``  per word, the unit offsets where pretokens meet (None: a single pretoken),
                including 0 and the word's length. A pair that straddles a
                boundary is eligible only when both symbols are complete pretokens (or
                runs of them): BoundlessBPE's supermerge rule.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Sequence

from .bpe import heap_entry, settle_heap_top


class SymbolBPETrainer:
    def __init__(
        self,
        words: Sequence[Sequence[int]],
        counts: Sequence[int],
        symbol_units: list[int],
        tie_key: list[int] | None = None,
        max_len: int | None = None,
        boundaries: Sequence[frozenset[int] | None] | None = None,
        track_symbol_counts: bool = False,
    ):
        self.words = [list(w) for w in words]
        self.counts = list(counts)
        self.units = list(symbol_units)  # length of each symbol in base units
        self.tie_key = list(tie_key) if tie_key is not None else list(range(len(symbol_units)))
        self.max_len = max_len
        self.boundaries = list(boundaries) if boundaries is not None else None
        self.parts: dict[int, tuple[int, int]] = {}
        self.merges: list[tuple[int, int]] = []
        self.last_merge_kinds = (False, False)  # (merged inside a pretoken, merged across pretokens)
        self.pair_counts: defaultdict[tuple[int, int], int] = defaultdict(int)
        self.where: defaultdict[tuple[int, int], set[int]] = defaultdict(set)
        self.symbol_counts: defaultdict[int, int] | None = defaultdict(int) if track_symbol_counts else None
        for wi, w in enumerate(self.words):
            c = self.counts[wi]
            for i in self._eligible(wi, w):
                p = (w[i], w[i + 1])
                self.pair_counts[p] += c
                self.where[p].add(wi)
            if self.symbol_counts is not None:
                for s in w:
                    self.symbol_counts[s] += c
        self.heap = [self._entry(p, c) for p, c in self.pair_counts.items() if c > 0]
        heapq.heapify(self.heap)

    def _entry(self, pair, count):
        return heap_entry(self.tie_key, pair, count)

    def _eligible(self, wi: int, w: list[int]) -> list[int]:
        """Positions i where (w[i], w[i+1]) may merge."""
        units, max_len = self.units, self.max_len
        bounds = self.boundaries[wi] if self.boundaries is not None else None
        if bounds is None:
            if max_len is None:
                return list(range(len(w) - 1))
            return [i for i in range(len(w) - 1) if units[w[i]] + units[w[i + 1]] <= max_len]
        out = []
        start = 0
        starts = []
        for s in w:
            starts.append(start)
            start += units[s]
        for i in range(len(w) - 1):
            a, b = w[i], w[i + 1]
            if max_len is not None and units[a] + units[b] > max_len:
                continue
            mid = starts[i + 1]
            if mid in bounds:
                # supermerge: both sides must be whole pretokens
                if starts[i] not in bounds or (mid + units[b]) not in bounds:
                    continue
            out.append(i)
        return out

    def peek_count(self) -> int:
        """Count of the best pair still available (0 if none), without removing it."""
        return settle_heap_top(self.heap, self.pair_counts, self.tie_key)

    def best_pair(self) -> tuple[tuple[int, int], int] | None:
        if self.peek_count() <= 0:
            return None
        _, _, _, pair = heapq.heappop(self.heap)
        return pair, self.pair_counts[pair]

    def merge(self, pair: tuple[int, int]) -> int:
        """Merge ``pair`` at every eligible position (left to right); returns the new symbol."""
        a, b = pair
        new = len(self.units)
        self.units.append(self.units[a] + self.units[b])
        self.tie_key.append(new)
        self.parts[new] = pair
        self.merges.append(pair)
        delta: defaultdict[tuple[int, int], int] = defaultdict(int)
        sym_delta: defaultdict[int, int] = defaultdict(int)
        pc, where = self.pair_counts, self.where
        units = self.units
        inside = crossed = False
        for wi in where.pop(pair, ()):
            w = self.words[wi]
            eligible = set(self._eligible(wi, w))
            bounds = self.boundaries[wi] if self.boundaries is not None else None
            out, i, n, changed, pos = [], 0, len(w), False, 0
            while i < n:
                if i in eligible and w[i] == a and w[i + 1] == b:
                    if bounds is not None and (pos + units[a]) in bounds:
                        crossed = True
                    else:
                        inside = True
                    out.append(new)
                    pos += units[new]
                    i += 2
                    changed = True
                else:
                    out.append(w[i])
                    pos += units[w[i]]
                    i += 1
            if not changed:
                continue
            c = self.counts[wi]
            for j in eligible:
                delta[(w[j], w[j + 1])] -= c
            self.words[wi] = out
            for j in self._eligible(wi, out):
                p = (out[j], out[j + 1])
                delta[p] += c
                where[p].add(wi)
            if self.symbol_counts is not None:
                for s in w:
                    sym_delta[s] -= c
                for s in out:
                    sym_delta[s] += c
        for p, d in delta.items():
            if d == 0:
                continue
            pc[p] += d
            if d > 0:
                heapq.heappush(self.heap, self._entry(p, pc[p]))
        pc.pop(pair, None)
        if self.symbol_counts is not None:
            for s, d in sym_delta.items():
                self.symbol_counts[s] += d
        self.last_merge_kinds = (inside, crossed)
        return new
