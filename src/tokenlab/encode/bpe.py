"""Rank-based BPE merge application (the inference used by GPT-2, tiktoken and HF BPE).

The merge table maps an adjacent id pair to ``(rank, merged_id)``; at each step the
lowest-rank pair in the piece is merged, leftmost first on ties. tiktoken's semantics
("merge any adjacent pair whose concatenation is a token, by the token's rank") are the
same algorithm over a table that lists every split of every token, which is how
tiktoken files are loaded (see :func:`tokenlab.io.tiktoken_file.read_tiktoken`).
"""

from __future__ import annotations

import heapq
from collections import OrderedDict

_INF = float("inf")
# Above this many symbols the quadratic rescan loses to a heap over a linked list.
LONG_PIECE = 96


def bpe_merge(ids: list[int], pair_table: dict[tuple[int, int], tuple[int, int]]) -> list[int]:
    """Apply merges to ``ids`` in rank order; returns a new list."""
    if len(ids) > LONG_PIECE:
        return bpe_merge_heap(ids, pair_table)
    ids = list(ids)
    get = pair_table.get
    while len(ids) > 1:
        best_rank = _INF
        best_i = -1
        best_new = -1
        prev = ids[0]
        for i in range(1, len(ids)):
            cur = ids[i]
            hit = get((prev, cur))
            if hit is not None and hit[0] < best_rank:
                best_rank, best_new = hit
                best_i = i - 1
            prev = cur
        if best_i < 0:
            break
        ids[best_i : best_i + 2] = (best_new,)
    return ids


def bpe_merge_heap(ids: list[int], pair_table: dict[tuple[int, int], tuple[int, int]]) -> list[int]:
    """Same result as :func:`bpe_merge` in O(n log n): a min-heap of (rank, position) over a
    doubly linked list, stale entries skipped when popped. Keeps huge pieces (a megabyte of
    spaces, a minified file) from going quadratic."""
    n = len(ids)
    sym = list(ids)
    nxt = list(range(1, n + 1))
    prv = list(range(-1, n - 1))
    alive = [True] * n
    get = pair_table.get
    heap: list[tuple[int, int, int, int, int]] = []

    def push(i: int) -> None:
        j = nxt[i]
        if j < n:
            hit = get((sym[i], sym[j]))
            if hit is not None:
                heapq.heappush(heap, (hit[0], i, sym[i], sym[j], hit[1]))

    for i in range(n - 1):
        push(i)
    while heap:
        _, i, a, b, new = heapq.heappop(heap)
        if not alive[i] or sym[i] != a:
            continue
        j = nxt[i]
        if j >= n or sym[j] != b:
            continue
        sym[i] = new
        alive[j] = False
        k = nxt[j]
        nxt[i] = k
        if k < n:
            prv[k] = i
        if prv[i] >= 0:
            push(prv[i])
        push(i)
    out = []
    i = 0
    while i < n:
        out.append(sym[i])
        i = nxt[i]
    return out


class PieceCache:
    """Bounded cache (oldest-first eviction) of pretoken bytes -> ids; real text repeats pretokens heavily."""

    def __init__(self, maxsize: int = 1 << 18):
        self.maxsize = maxsize
        self._d: OrderedDict[bytes, tuple[int, ...]] = OrderedDict()

    def get(self, key: bytes):
        return self._d.get(key)

    def put(self, key: bytes, value: tuple[int, ...]) -> None:
        d = self._d
        d[key] = value
        if len(d) > self.maxsize:
            # drop the oldest quarter at once: cheaper than one pop per insert
            for _ in range(self.maxsize // 4):
                d.popitem(last=False)

    def clear(self) -> None:
        self._d.clear()
