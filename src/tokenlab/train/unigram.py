"""Unigram LM training, SentencePiece-style: seed pieces, EM, prune by likelihood loss.

1. Seed: every substring (2..``max_piece_len`` bytes, cut at UTF-8 character boundaries) of
   every pretoken, ranked by frequency x length, the top ``seed_size`` kept; plus all 256
   bytes, which are never pruned (byte fallback: every input stays encodable).
2. EM over the pretoken table: the E-step is forward-backward on each distinct pretoken's
   lattice weighted by its count; the M-step is SentencePiece's Bayesian update
   ``log p = digamma(count) - digamma(total)``, dropping pieces expected < 0.5 times.
3. Prune: a piece's loss is how much the corpus log-likelihood drops when its Viterbi
   occurrences are replaced by its best segmentation without it; the lowest-loss
   ``1 - shrink`` of the pieces go each round, until ``vocab_size`` is reached.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

from tqdm.auto import tqdm

from ..encode.lattice import NEG_INF, VocabIndex, expected_counts, viterbi
from ..errors import InvalidInputError
from ..models.unigram import UnigramModel, quantize
from ..pretokenize import get_pretokenizer
from .bpe import count_pretokens

# Expected counts below this are dropped in the M-step (SentencePiece's threshold).
MIN_EXPECTED = 0.5
# Floor on a byte piece's expected count, so unseen bytes keep a finite (very low) score.
BYTE_FLOOR = 0.01


def digamma(x: float) -> float:
    """psi(x) for x > 0 (recurrence up to 6, then the asymptotic series)."""
    r = 0.0
    while x < 6.0:
        r -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    return r + math.log(x) - 0.5 / x - f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (1 / 240 - f / 132))))


def _boundaries(data: bytes) -> list[int]:
    return [p for p in range(len(data) + 1) if p == len(data) or (data[p] & 0xC0) != 0x80]


def seed_pieces(words: dict[bytes, int], seed_size: int, max_piece_len: int, min_count: int = 2) -> dict[bytes, int]:
    """Most valuable substrings (frequency x length) of the pretokens, with their frequencies."""
    counts: Counter = Counter()
    for w, c in words.items():
        cuts = _boundaries(w)
        for a, i in enumerate(cuts):
            for j in cuts[a + 1:]:
                if j - i > max_piece_len:
                    break
                if j - i > 1:
                    counts[w[i:j]] += c
    ranked = sorted((kv for kv in counts.items() if kv[1] >= min_count), key=lambda kv: (-kv[1] * len(kv[0]), kv[0]))
    return dict(ranked[:seed_size])


class UnigramTrainer:
    """State of one training run: pieces (bytes first), their log-probs, the pretoken table."""

    def __init__(self, words: dict[bytes, int], seed: dict[bytes, int]):
        self.words = list(words.items())
        byte_counts: Counter = Counter()
        for w, c in self.words:
            for b in w:
                byte_counts[b] += c
        self.pieces: list[bytes] = [bytes([b]) for b in range(256)] + [p for p in seed if len(p) > 1]
        freq = [max(byte_counts[b], BYTE_FLOOR) for b in range(256)] + [seed[p] for p in self.pieces[256:]]
        total = sum(freq)
        self.scores: list[float] = [math.log(f / total) for f in freq]
        self.lattices: list | None = None

    def _lattices(self):
        # built once from the seed, then only filtered as pieces go (cheaper than re-matching)
        if self.lattices is None:
            idx = VocabIndex({p: i for i, p in enumerate(self.pieces)})
            self.lattices = [idx.lattice(w) for w, _ in self.words]
        return self.lattices

    def _keep(self, keep: list[int], scores: list[float]) -> None:
        """Retain pieces ``keep`` (sorted old indices, bytes included) with new ``scores``."""
        if self.lattices is not None and len(keep) != len(self.pieces):
            remap = [-1] * len(self.pieces)
            for new, old in enumerate(keep):
                remap[old] = new
            self.lattices = [[[(i, remap[t]) for i, t in ends if remap[t] >= 0] for ends in edges]
                             for edges in self.lattices]
        self.pieces = [self.pieces[i] for i in keep]
        self.scores = scores

    def em_step(self, min_keep: int = 0) -> float:
        """One EM iteration; returns the corpus log-likelihood before the update. Rare pieces are
        dropped, but never below ``min_keep`` pieces (the most used of them are kept instead)."""
        counts: dict[int, float] = {}
        loglik = 0.0
        for (_w, c), edges in zip(self.words, self._lattices()):
            loglik += c * expected_counts(edges, self.scores, c, counts)
        rare = [i for i in range(256, len(self.pieces)) if counts.get(i, 0.0) < MIN_EXPECTED]
        rare.sort(key=lambda i: -counts.get(i, 0.0))
        rescued = set(rare[: max(0, min_keep - (len(self.pieces) - len(rare)))])
        dropped = set(rare) - rescued
        keep = [i for i in range(len(self.pieces)) if i not in dropped]
        expected = [max(counts.get(i, 0.0), BYTE_FLOOR) for i in keep]
        log_total = digamma(sum(expected))
        self._keep(keep, [digamma(e) - log_total for e in expected])
        return loglik

    def prune(self, target: int) -> None:
        """Drop the non-byte pieces whose removal costs the least likelihood, down to ``target``."""
        if len(self.pieces) <= target:
            return
        vfreq = [0] * len(self.pieces)
        for (_w, c), edges in zip(self.words, self._lattices()):
            for i in viterbi(edges, self.scores):
                vfreq[i] += c
        idx = VocabIndex({p: i for i, p in enumerate(self.pieces)})
        losses = []
        for i in range(256, len(self.pieces)):
            if vfreq[i] == 0:
                losses.append((0.0, self.scores[i], i))
                continue
            masked = list(self.scores)
            masked[i] = NEG_INF
            alt = viterbi(idx.lattice(self.pieces[i]), masked)
            loss = vfreq[i] * (self.scores[i] - sum(self.scores[k] for k in alt))
            losses.append((loss, self.scores[i], i))
        losses.sort(reverse=True)
        keep = list(range(256)) + sorted(i for _, _, i in losses[: max(0, target - 256)])
        self._keep(keep, [self.scores[i] for i in keep])


def train_unigram(
    corpus: Iterable[str],
    vocab_size: int = 8000,
    pretokenizer="gpt2",
    special_tokens: Iterable[str] = (),
    min_frequency: int = 0,
    split_digits: int | None = None,
    progress: bool = True,
    *,
    max_piece_len: int = 16,
    seed_size: int | None = None,
    shrink: float = 0.75,
    em_iterations: int = 2,
    name: str = "",
) -> UnigramModel:
    """Train a Unigram LM tokenizer of ``vocab_size`` entries (256 bytes + pieces + specials);
    fewer only if the corpus has fewer seed substrings than that.

    ``min_frequency``: a seed substring must occur at least this often (and at least twice)."""
    specials = list(dict.fromkeys(special_tokens))
    n_pieces = vocab_size - len(specials)
    if n_pieces < 257:
        raise InvalidInputError(f"vocab_size {vocab_size} leaves no room beyond the 256 bytes and "
                                f"{len(specials)} special tokens")
    if not 0 < shrink < 1:
        raise InvalidInputError(f"shrink must be in (0, 1), got {shrink}")
    if max_piece_len < 2:
        raise InvalidInputError(f"max_piece_len must be >= 2, got {max_piece_len}")
    pre = get_pretokenizer(pretokenizer, split_digits)
    words = dict(count_pretokens(corpus, pre, progress=progress))
    if not words:
        raise InvalidInputError("corpus is empty")
    seed = seed_pieces(words, seed_size or max(4 * n_pieces, 8000), max_piece_len, max(2, min_frequency))
    trainer = UnigramTrainer(words, seed)
    rounds = max(1, math.ceil(math.log(max(1.0, len(trainer.pieces) / n_pieces)) / -math.log(shrink)))
    bar = tqdm(total=rounds, desc="unigram EM/prune", unit="round", disable=not progress)
    while True:
        for _ in range(em_iterations):
            trainer.em_step(min_keep=n_pieces)
        if len(trainer.pieces) <= n_pieces:
            break
        trainer.prune(max(n_pieces, int(len(trainer.pieces) * shrink)))
        if bar.n + 1 >= bar.total:  # the estimate was short: at least the final EM round is left
            bar.total = bar.n + 2
        bar.update(1)
    bar.total = bar.n + 1  # EM also drops pieces, so training often ends before the estimated rounds
    bar.update(1)
    bar.close()
    trainer.em_step(min_keep=n_pieces)  # final scores for the final vocabulary
    order = sorted(range(256, len(trainer.pieces)), key=lambda i: (-trainer.scores[i], trainer.pieces[i]))
    vocab = {bytes([b]): b for b in range(256)}
    scores = {bytes([b]): quantize(trainer.scores[b]) for b in range(256)}
    for new_id, i in enumerate(order, start=256):
        vocab[trainer.pieces[i]] = new_id
        scores[trainer.pieces[i]] = quantize(trainer.scores[i])
    special_map = {s: len(vocab) + k for k, s in enumerate(specials)}
    return UnigramModel(vocab, scores, pre, special_map, name=name)
