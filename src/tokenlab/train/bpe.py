"""Byte-level BPE training with incremental pair-count updates.

Each step merges the most frequent adjacent pair. Ties go to the pair whose parts come
first in HF ``tokenizers``' id order (byte-level alphabet sorted by its printable
character, then tokens in creation order), so on the same corpus and pre-tokenizer the
merge list equals HF BpeTrainer's. Only words that contain the merged pair are touched.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable

from tqdm.auto import tqdm

from ..errors import InvalidInputError
from ..pretokenize import PreTokenizer, get_pretokenizer


def _hf_byte_order() -> list[int]:
    """Position of each byte in HF's sorted byte-level alphabet."""
    from ..io.hf_json import bytes_to_unicode

    table = bytes_to_unicode()
    order = sorted(range(256), key=lambda b: ord(table[b]))
    pos = [0] * 256
    for p, b in enumerate(order):
        pos[b] = p
    return pos


def count_pretokens(corpus: Iterable[str], pretokenizer: PreTokenizer, progress: bool = False) -> Counter:
    """Pretoken (as UTF-8 bytes) -> frequency over the corpus."""
    counts: Counter = Counter()
    split = pretokenizer.split
    for doc in tqdm(corpus, desc="pre-tokenizing", unit="doc", disable=not progress):
        if not isinstance(doc, str):
            raise InvalidInputError(f"corpus items must be str, got {type(doc).__name__}")
        counts.update(split(doc))
    out: Counter = Counter()
    for piece, c in counts.items():
        try:
            out[piece.encode("utf-8")] += c
        except UnicodeEncodeError:
            raise InvalidInputError("corpus contains text that is not valid Unicode (lone surrogates)") from None
    return out


class BPETrainer:
    """State of one BPE training run over a word-frequency table.

    ``words`` hold symbol ids; symbol ids are 0..255 for bytes and 256+k for the k-th merge.
    """

    def __init__(self, word_counts: dict[bytes, int]):
        self.words: list[list[int]] = [list(w) for w in word_counts]
        self.counts: list[int] = list(word_counts.values())
        self.token_bytes: list[bytes] = [bytes([b]) for b in range(256)]
        self.tie_key: list[int] = _hf_byte_order()
        self.pair_counts: defaultdict[tuple[int, int], int] = defaultdict(int)
        self.where: defaultdict[tuple[int, int], set[int]] = defaultdict(set)
        for wi, (w, c) in enumerate(zip(self.words, self.counts)):
            for pair in zip(w, w[1:]):
                self.pair_counts[pair] += c
                self.where[pair].add(wi)
        self.heap = [self._entry(p, c) for p, c in self.pair_counts.items() if c > 0]
        heapq.heapify(self.heap)
        self.merges: list[tuple[int, int]] = []

    def _entry(self, pair, count):
        k = self.tie_key
        return (-count, k[pair[0]], k[pair[1]], pair)

    def best_pair(self) -> tuple[tuple[int, int], int] | None:
        """Pop the most frequent pair (refreshing stale heap entries on the way)."""
        heap = self.heap
        while heap:
            neg, _, _, pair = heap[0]
            current = self.pair_counts.get(pair, 0)
            if -neg != current:
                heapq.heapreplace(heap, self._entry(pair, current)) if current > 0 else heapq.heappop(heap)
                continue
            heapq.heappop(heap)
            return pair, current
        return None

    def merge(self, pair: tuple[int, int]) -> int:
        """Apply ``pair`` everywhere (left to right, non-overlapping); returns the new symbol id."""
        a, b = pair
        new = len(self.token_bytes)
        self.token_bytes.append(self.token_bytes[a] + self.token_bytes[b])
        self.tie_key.append(new)
        self.merges.append(pair)
        delta: defaultdict[tuple[int, int], int] = defaultdict(int)
        pc, where = self.pair_counts, self.where
        for wi in self.where.pop(pair, ()):
            w = self.words[wi]
            n = len(w)
            i = 0
            out = []
            changed = False
            while i < n:
                if i < n - 1 and w[i] == a and w[i + 1] == b:
                    out.append(new)
                    i += 2
                    changed = True
                else:
                    out.append(w[i])
                    i += 1
            if not changed:
                continue
            c = self.counts[wi]
            for p in zip(w, w[1:]):
                delta[p] -= c
            for p in zip(out, out[1:]):
                delta[p] += c
                where[p].add(wi)
            self.words[wi] = out
        for p, d in delta.items():
            if d == 0:
                continue
            pc[p] += d
            if d > 0:
                heapq.heappush(self.heap, self._entry(p, pc[p]))
        pc.pop(pair, None)
        return new


def train_bpe(
    corpus: Iterable[str],
    vocab_size: int,
    pretokenizer: str | PreTokenizer | None = "gpt2",
    special_tokens: Iterable[str] = (),
    min_frequency: int = 0,
    split_digits: int | None = None,
    progress: bool = False,
    name: str = "",
):
    """Train a byte-level BPE tokenizer.

    ``vocab_size`` counts the 256 bytes, the merges and the special tokens (as HF does).
    Ids: bytes 0..255, then merges in order, then special tokens.
    """
    from ..tokenizer import Tokenizer

    special_tokens = list(dict.fromkeys(special_tokens))
    if vocab_size < 256 + len(special_tokens):
        raise InvalidInputError(f"vocab_size {vocab_size} is below 256 bytes + {len(special_tokens)} specials")
    pre = get_pretokenizer(pretokenizer, split_digits)
    trainer = BPETrainer(count_pretokens(corpus, pre, progress=progress))
    n_merges = vocab_size - 256 - len(special_tokens)
    vocab: dict[bytes, int] = {bytes([b]): b for b in range(256)}
    merges: list[tuple[bytes, bytes]] = []
    next_id = 256
    with tqdm(total=n_merges, desc="merging", unit="merge", disable=not progress) as bar:
        while len(vocab) < 256 + n_merges:
            best = trainer.best_pair()
            if best is None or best[1] < max(1, min_frequency):
                break
            new = trainer.merge(best[0])
            tb = trainer.token_bytes
            merges.append((tb[best[0][0]], tb[best[0][1]]))
            if tb[new] not in vocab:
                vocab[tb[new]] = next_id
                next_id += 1
                bar.update()
    specials = {s: next_id + k for k, s in enumerate(special_tokens)}
    return Tokenizer(vocab=vocab, merges=merges, pretokenizer=pre, special_tokens=specials, name=name)
