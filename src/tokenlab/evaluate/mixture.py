"""Data-mixture inference from a BPE merge list (Hayase, Liu, Choi, Oh & Smith, 2024).

BPE picks, at every step, the most frequent pair in its training data. So the ordered merge
list says: after merges 1..t-1, merge t was at least as frequent as every other pair. If the
training data was a mixture of categories with byte shares ``alpha``, pair frequencies are
``sum_i alpha_i * c_i(p)`` where ``c_i`` are counts per byte of sample text of category i.
That gives one linear inequality per (step, pair); a linear program finds the ``alpha`` that
violates them least (slack per step and per pair, as in the paper), adding only violated
inequalities lazily since almost all of them hold anyway.

Counts are kept per category by replaying the tokenizer's merges with incremental pair-count
updates (the trainer's bookkeeping), so nothing is recounted from scratch.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from ..errors import InvalidInputError, TokenlabError

__all__ = ["infer_mixture", "MixtureEstimate", "MergeConstraints", "merge_constraints", "solve_mixture_lp"]


@dataclass
class MixtureEstimate:
    """Inferred byte shares of each category in a tokenizer's training data."""

    proportions: dict[str, float]
    merges_used: int
    unseen_merges: int  # merges whose pair never occurs in any sample (only slack can explain them)
    total_slack: float  # LP objective, in pair occurrences per million bytes; 0 = perfectly consistent
    constraints: int  # inequalities in the final LP (out of ``candidates``)
    candidates: int
    sample_bytes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "proportions": self.proportions,
            "merges_used": self.merges_used,
            "unseen_merges": self.unseen_merges,
            "total_slack": self.total_slack,
            "constraints": self.constraints,
            "candidates": self.candidates,
            "sample_bytes": self.sample_bytes,
        }


class _PairCounts:
    """Pair counts of one category's sample while the tokenizer's merges are replayed on it."""

    def __init__(self, word_counts: Mapping[tuple[int, ...], int]):
        self.words: list[list[int]] = [list(w) for w in word_counts]
        self.freq: list[int] = list(word_counts.values())
        self.count: defaultdict[tuple[int, int], int] = defaultdict(int)
        self.where: defaultdict[tuple[int, int], set[int]] = defaultdict(set)
        for wi, (w, c) in enumerate(zip(self.words, self.freq)):
            for pair in zip(w, w[1:]):
                self.count[pair] += c
                self.where[pair].add(wi)
        self.heap = [(-c, pair) for pair, c in self.count.items()]
        heapq.heapify(self.heap)

    def top(self, k: int) -> list[tuple[int, int]]:
        """The ``k`` most frequent pairs now (lazy heap: stale entries are refreshed on the way)."""
        heap, count = self.heap, self.count
        found: dict[tuple[int, int], int] = {}
        while heap and len(found) < k:
            neg, pair = heapq.heappop(heap)
            current = count.get(pair, 0)
            if current <= 0 or pair in found:
                continue
            if -neg != current:
                heapq.heappush(heap, (-current, pair))
                continue
            found[pair] = current
        for pair, c in found.items():
            heapq.heappush(heap, (-c, pair))
        return list(found)

    def merge(self, pair: tuple[int, int], new: int) -> None:
        """Replace ``pair`` by ``new`` left to right in every word that has it."""
        a, b = pair
        delta: defaultdict[tuple[int, int], int] = defaultdict(int)
        count, where = self.count, self.where
        for wi in where.pop(pair, ()):
            w = self.words[wi]
            n = len(w)
            out: list[int] = []
            i = 0
            changed = False
            while i < n:
                try:
                    j = w.index(a, i, n - 1)
                except ValueError:
                    break
                if w[j + 1] == b:
                    out += w[i:j]
                    out.append(new)
                    i = j + 2
                    changed = True
                else:
                    out += w[i : j + 1]
                    i = j + 1
            if not changed:  # the pair left this word in an earlier merge
                continue
            out += w[i:]
            c = self.freq[wi]
            for p in zip(w, w[1:]):
                delta[p] -= c
            for p in zip(out, out[1:]):
                delta[p] += c
                where[p].add(wi)
            self.words[wi] = out
        for p, d in delta.items():
            if d:
                count[p] += d
                if count[p] <= 0:
                    del count[p]
                elif d > 0:
                    heapq.heappush(self.heap, (-count[p], p))
        count.pop(pair, None)


@dataclass
class MergeConstraints:
    """Every candidate inequality: row r says pair ``pair[r]`` lost to merge ``step[r]``.

    ``diff[r] = c(pair) - c(merged pair)`` per category (counts per million sample bytes);
    the mixture must make ``diff[r] @ alpha <= 0`` (up to slack).
    """

    diff: np.ndarray  # (rows, categories)
    step: np.ndarray  # (rows,) index into the merges used
    pair: np.ndarray  # (rows,) index of the losing pair (one slack variable per pair)
    n_steps: int
    unseen_merges: int
    pairs: list[tuple[int, int]] = field(default_factory=list)  # losing pairs as token ids, by index


def _word_counts(tok, texts: Iterable[str], progress: bool = False) -> tuple[Counter, int]:
    """Pretoken id sequences -> frequency, and the sample's size in bytes."""
    from ..train.bpe import count_pretokens

    byte_ids = tok.byte_ids
    words: Counter = Counter()
    n_bytes = 0
    for data, c in count_pretokens(texts, tok.pretokenizer, progress=progress).items():
        n_bytes += len(data) * c
        if len(data) > 1:
            words[tuple(byte_ids[b] for b in data)] += c
    return words, n_bytes


def merge_constraints(tok, samples: Mapping[str, str | Iterable[str]], n_merges: int = 1000,
                      top_pairs: int = 30, progress: bool = False) -> tuple[MergeConstraints, dict[str, int]]:
    """Replay the first ``n_merges`` merges on every sample and record the inequalities they imply.

    Candidates at step t: the ``top_pairs`` most frequent pairs of each category (their counts
    in every category are recorded). Pairs outside all top lists are rarer than the top lists'
    last entries in every category and so are very unlikely to be violated.
    """
    if not samples:
        raise InvalidInputError("give at least one category sample")
    merges = getattr(tok, "merges", None)
    if not isinstance(merges, list) or not hasattr(tok, "byte_ids"):
        raise InvalidInputError("data-mixture inference needs a byte-level BPE tokenizer (an ordered merge list)")
    if not merges:
        raise InvalidInputError("the tokenizer has no merges; nothing to infer from")
    if n_merges < 1:
        raise InvalidInputError(f"n_merges must be at least 1, got {n_merges}")
    if top_pairs < 1:
        raise InvalidInputError(f"top_pairs must be at least 1, got {top_pairs}")
    names = list(samples)
    counters, sample_bytes = [], {}
    for name in names:
        texts = samples[name]
        words, n_bytes = _word_counts(tok, [texts] if isinstance(texts, str) else texts, progress)
        if n_bytes == 0:
            raise InvalidInputError(f"category {name!r}: sample text is empty")
        counters.append(_PairCounts(words))
        sample_bytes[name] = n_bytes
    scale = np.array([1e6 / sample_bytes[n] for n in names])

    vocab = tok.vocab
    pair_index: dict[tuple[int, int], int] = {}
    applied: set[tuple[int, int]] = set()
    diffs, steps, pairs = [], [], []
    unseen = 0
    n_steps = 0
    for a, b in tqdm(merges[:n_merges], desc="replaying merges", unit="merge", disable=not progress):
        merged = (vocab[a], vocab[b])
        if merged in applied:  # a repeated merge changes nothing
            continue
        applied.add(merged)
        winner = np.array([pc.count.get(merged, 0) for pc in counters], dtype=np.float64) * scale
        if not winner.any():
            unseen += 1
        rivals: dict[tuple[int, int], None] = {}
        for pc in counters:
            rivals.update(dict.fromkeys(pc.top(top_pairs)))
        rivals.pop(merged, None)
        if rivals:
            counts = np.array([[pc.count.get(p, 0) for pc in counters] for p in rivals], dtype=np.float64)
            diff = counts * scale - winner
            # a rival rarer than the merge in every category can never win: no inequality needed
            can_win = diff.max(axis=1) > 0
            diffs.append(diff[can_win])
            steps.append(np.full(int(can_win.sum()), n_steps))
            pairs.append(np.array([pair_index.setdefault(p, len(pair_index))
                                   for p, keep in zip(rivals, can_win) if keep], dtype=np.int64))
        new = vocab[a + b]
        for pc in counters:
            pc.merge(merged, new)
        n_steps += 1
    k = len(names)
    constraints = MergeConstraints(
        diff=np.concatenate(diffs) if diffs else np.zeros((0, k)),
        step=np.concatenate(steps) if steps else np.zeros(0, dtype=int),
        pair=np.concatenate(pairs) if pairs else np.zeros(0, dtype=int),
        n_steps=n_steps,
        unseen_merges=unseen,
        pairs=list(pair_index),
    )
    return constraints, sample_bytes


def solve_mixture_lp(cons: MergeConstraints, pair_slack: bool = True, initial_per_step: int = 3,
                     add_per_step: int = 10, max_rounds: int = 200) -> tuple[np.ndarray, float, int]:
    """Minimise total slack subject to the merge inequalities; returns (alpha, slack, rows used).

    Variables: alpha (>= 0, sums to 1), one slack per merge step, and (``pair_slack``) one per
    losing pair. Starts from each step's strongest rivals under a uniform mixture and adds
    violated rows until none is left, which solves the full LP over all candidates.
    """
    try:
        from scipy.optimize import linprog
        from scipy.sparse import csr_matrix
    except ImportError:
        raise TokenlabError("data-mixture inference needs scipy: pip install 'tokenlab[eval]'") from None

    n_rows, k = cons.diff.shape
    if n_rows == 0:
        return np.full(k, 1.0 / k), 0.0, 0
    n_pairs = int(cons.pair.max()) + 1 if pair_slack else 0
    n_vars = k + cons.n_steps + n_pairs

    # initial rows: per step, the rivals that come closest to beating the merge under uniform weights
    uniform = cons.diff.mean(axis=1)
    order = np.lexsort((-uniform, cons.step))
    rank_in_step = np.arange(n_rows) - np.searchsorted(cons.step[order], cons.step[order])
    active = np.zeros(n_rows, dtype=bool)
    active[order[rank_in_step < initial_per_step]] = True

    cost = np.concatenate([np.zeros(k), np.ones(n_vars - k)])
    a_eq = np.concatenate([np.ones(k), np.zeros(n_vars - k)])[None, :]
    tol = 1e-7 * max(1.0, float(np.abs(cons.diff).max()))
    alpha, objective = np.full(k, 1.0 / k), 0.0
    for _ in range(max_rounds):
        rows = np.flatnonzero(active)
        m = len(rows)
        nnz_cols = [np.repeat(np.arange(k)[None, :], m, axis=0), (k + cons.step[rows])[:, None]]
        nnz_vals = [cons.diff[rows], np.full((m, 1), -1.0)]
        if pair_slack:
            nnz_cols.append((k + cons.n_steps + cons.pair[rows])[:, None])
            nnz_vals.append(np.full((m, 1), -1.0))
        cols = np.concatenate(nnz_cols, axis=1)
        vals = np.concatenate(nnz_vals, axis=1)
        a_ub = csr_matrix((vals.ravel(), (np.repeat(np.arange(m), cols.shape[1]), cols.ravel())),
                          shape=(m, n_vars))
        res = linprog(cost, A_ub=a_ub, b_ub=np.zeros(m), A_eq=a_eq, b_eq=[1.0], bounds=(0, None),
                      method="highs")
        if res.status != 0:
            raise TokenlabError(f"the mixture LP failed: {res.message}")
        x = res.x
        alpha, objective = x[:k], float(res.fun)
        slack = x[k + cons.step]
        if pair_slack:
            slack = slack + x[k + cons.n_steps + cons.pair]
        excess = cons.diff @ alpha - slack
        violated = np.flatnonzero((excess > tol) & ~active)
        if not len(violated):
            break
        # cutting planes: each step's few most violated rows (adding all of them makes huge LPs)
        order = violated[np.lexsort((-excess[violated], cons.step[violated]))]
        steps = cons.step[order]
        rank_in_step = np.arange(len(order)) - np.searchsorted(steps, steps)
        active[order[rank_in_step < add_per_step]] = True
    alpha = np.clip(alpha, 0.0, None)
    return alpha / alpha.sum(), objective, int(active.sum())


def infer_mixture(tokenizer, samples: Mapping[str, str | Iterable[str]], n_merges: int = 1000,
                  top_pairs: int = 30, pair_slack: bool = True, progress: bool = False) -> MixtureEstimate:
    """Estimate the byte shares of each category in ``tokenizer``'s training data.

    ``samples`` maps a category name to sample text (a string or an iterable of documents)
    drawn from that category, disjoint from the training data if possible. Categories missing
    from ``samples`` cannot be accounted for; their merges only add slack.
    """
    if isinstance(tokenizer, (str, bytes)) or hasattr(tokenizer, "__fspath__"):
        from ..io import load_tokenizer

        tokenizer = load_tokenizer(tokenizer)
    cons, sample_bytes = merge_constraints(tokenizer, samples, n_merges=n_merges, top_pairs=top_pairs,
                                           progress=progress)
    alpha, objective, used = solve_mixture_lp(cons, pair_slack=pair_slack)
    return MixtureEstimate(
        proportions={name: float(a) for name, a in zip(samples, alpha)},
        merges_used=cons.n_steps,
        unseen_merges=cons.unseen_merges,
        total_slack=objective,
        constraints=used,
        candidates=len(cons.diff),
        sample_bytes=sample_bytes,
    )
