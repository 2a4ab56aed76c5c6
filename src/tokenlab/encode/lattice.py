"""Segmentation lattices over a fixed vocabulary: every way to cut a byte string into tokens.

One index (token bytes -> id plus the set of all token prefixes) answers "which tokens start
here" in time proportional to the match lengths, so building the lattice of a piece costs
O(n * longest match). Viterbi, forward-backward and sampling all walk the same edge lists;
the methods in :mod:`tokenlab.encode.methods` and the Unigram model/trainer share them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

NEG_INF = float("-inf")


class VocabIndex:
    """Token bytes -> id, with prefix and suffix sets for fast longest-match scans."""

    def __init__(self, vocab: dict[bytes, int]):
        self.ids = dict(vocab)
        self.max_len = max((len(t) for t in self.ids), default=0)
        prefixes: set[bytes] = set()
        suffixes: set[bytes] = set()
        for t in self.ids:
            for k in range(1, len(t) + 1):
                prefixes.add(t[:k])
                suffixes.add(t[-k:])
        self.prefixes = prefixes
        self.suffixes = suffixes

    def starting_at(self, data: bytes, i: int) -> list[tuple[int, int]]:
        """(end, id) of every token that matches ``data`` at ``i``, shortest first."""
        out = []
        n = len(data)
        ids, prefixes = self.ids, self.prefixes
        j = i + 1
        while j <= n:
            s = data[i:j]
            if s not in prefixes:
                break
            tid = ids.get(s)
            if tid is not None:
                out.append((j, tid))
            j += 1
        return out

    def ending_at(self, data: bytes, j: int) -> list[tuple[int, int]]:
        """(start, id) of every token that matches ``data`` ending at ``j``, shortest first."""
        out = []
        ids, suffixes = self.ids, self.suffixes
        i = j - 1
        while i >= 0:
            s = data[i:j]
            if s not in suffixes:
                break
            tid = ids.get(s)
            if tid is not None:
                out.append((i, tid))
            i -= 1
        return out

    def lattice(self, data: bytes) -> list[list[tuple[int, int]]]:
        """``edges[j]`` = [(start, id), ...] for tokens ending at byte ``j`` (index 0 unused)."""
        n = len(data)
        edges: list[list[tuple[int, int]]] = [[] for _ in range(n + 1)]
        for i in range(n):
            for j, tid in self.starting_at(data, i):
                edges[j].append((i, tid))
        for j in range(1, n + 1):
            if not edges[j]:
                raise ValueError(f"byte {j - 1} of the piece cannot be reached: the vocabulary lacks byte "
                                 f"{data[j - 1]}")
        return edges


def viterbi(edges: list[list[tuple[int, int]]], scores: Sequence[float]) -> list[int]:
    """Ids of the highest-scoring path (sum of ``scores[id]``); ties go to the longer last token."""
    n = len(edges) - 1
    best = [NEG_INF] * (n + 1)
    back: list[tuple[int, int]] = [(0, -1)] * (n + 1)
    best[0] = 0.0
    for j in range(1, n + 1):
        bj = NEG_INF
        arg = (0, -1)
        for i, tid in edges[j]:
            s = best[i] + scores[tid]
            if s > bj or (s == bj and i < arg[0]):
                bj, arg = s, (i, tid)
        best[j] = bj
        back[j] = arg
    return _backtrack(back, n)


def _backtrack(back, n: int) -> list[int]:
    out = []
    j = n
    while j > 0:
        i, tid = back[j]
        out.append(tid)
        j = i
    out.reverse()
    return out


def logsumexp(values: Sequence[float]) -> float:
    m = max(values)
    if m == NEG_INF:
        return NEG_INF
    return m + math.log(sum(math.exp(v - m) for v in values))


def forward(edges: list[list[tuple[int, int]]], scores: Sequence[float], alpha: float = 1.0) -> list[float]:
    """log sum over paths ending at each position of exp(alpha * path score)."""
    n = len(edges) - 1
    fwd = [NEG_INF] * (n + 1)
    fwd[0] = 0.0
    for j in range(1, n + 1):
        fwd[j] = logsumexp([fwd[i] + alpha * scores[tid] for i, tid in edges[j]])
    return fwd


def expected_counts(edges: list[list[tuple[int, int]]], scores: Sequence[float], weight: float,
                    counts: dict[int, float]) -> float:
    """Forward-backward: add ``weight`` x posterior usage of each id to ``counts``; returns log Z."""
    n = len(edges) - 1
    fwd = forward(edges, scores)
    logz = fwd[n]
    bwd = [NEG_INF] * (n + 1)
    bwd[n] = 0.0
    for j in range(n, 0, -1):
        bj = bwd[j]
        if bj == NEG_INF:
            continue
        for i, tid in edges[j]:
            lp = fwd[i] + scores[tid] + bj
            post = math.exp(lp - logz)
            counts[tid] = counts.get(tid, 0.0) + weight * post
            v = scores[tid] + bj
            b = bwd[i]
            if b == NEG_INF:
                bwd[i] = v
            elif v > b:
                bwd[i] = v + math.log1p(math.exp(b - v))
            else:
                bwd[i] = b + math.log1p(math.exp(v - b))
    return logz


def sample(edges: list[list[tuple[int, int]]], scores: Sequence[float], alpha: float,
           rng: random.Random) -> list[int]:
    """One segmentation drawn with probability proportional to exp(alpha * score)
    (forward filtering, backward sampling: exact, no n-best approximation)."""
    return draw(sampling_table(edges, scores, alpha), rng)


def sampling_table(edges: list[list[tuple[int, int]]], scores: Sequence[float],
                   alpha: float) -> list[tuple[list[tuple[int, int]], list[float]]]:
    """Per end position: the incoming edges and their cumulative backward-sampling weights.
    Depends only on the piece, so callers cache it and draw many samples cheaply."""
    fwd = forward(edges, scores, alpha)
    table = []
    for j, cands in enumerate(edges):
        if j == 0:
            table.append(([], []))
            continue
        ws = [fwd[i] + alpha * scores[tid] for i, tid in cands]
        m = max(ws)
        acc, cum = 0.0, []
        for w in ws:
            acc += math.exp(w - m) if w != NEG_INF else 0.0
            cum.append(acc)
        table.append((cands, cum))
    return table


def draw(table, rng: random.Random) -> list[int]:
    """Backward sampling through a :func:`sampling_table` (or any table of cumulative weights)."""
    from bisect import bisect_right

    out = []
    j = len(table) - 1
    while j > 0:
        cands, cum = table[j]
        total = cum[-1]
        # integer weights (path counts) can exceed float range: draw them exactly
        r = rng.randrange(total) if isinstance(total, int) else rng.random() * total
        k = bisect_right(cum, r)
        i, tid = cands[min(k, len(cands) - 1)]
        out.append(tid)
        j = i
    out.reverse()
    return out


def nbest(edges: list[list[tuple[int, int]]], scores: Sequence[float], k: int) -> list[tuple[float, list[int]]]:
    """The ``k`` best segmentations as (score, ids), best first (k-best Viterbi)."""
    n = len(edges) - 1
    # table[j] = up to k entries (score, start, id, rank-in-table[start])
    table: list[list[tuple[float, int, int, int]]] = [[] for _ in range(n + 1)]
    table[0] = [(0.0, -1, -1, -1)]
    for j in range(1, n + 1):
        cands = []
        for i, tid in edges[j]:
            s = scores[tid]
            for r, entry in enumerate(table[i]):
                cands.append((entry[0] + s, i, tid, r))
        cands.sort(key=lambda c: (-c[0], c[1]))
        table[j] = cands[:k]
    out = []
    for entry in table[n]:
        ids = []
        score = entry[0]
        j, e = n, entry
        while j > 0:
            ids.append(e[2])
            j, e = e[1], table[e[1]][e[3]]
        ids.reverse()
        out.append((score, ids))
    return out
