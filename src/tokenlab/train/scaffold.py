"""Scaffold-BPE (Lian et al. 2024): BPE that stops emitting tokens which only serve as steps.

Training is ordinary BPE with one extra check after each merge: a part of the merged pair
whose own frequency (occurrences not inside longer tokens) has fallen below the next
candidate pair's frequency becomes a *scaffold* token. Scaffold tokens wait in a second
heap keyed by their own frequency; when one is more frequent than the best pair, it returns
to the vocabulary instead of a merge being made (the paper's expanded heap). Scaffold
tokens stay in the merge table (longer tokens are built from them) but do not count toward
``vocab_size`` and are never output: encoding splits them back into their merge parts.
Training continues until ``vocab_size`` non-scaffold tokens exist.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from tqdm.auto import tqdm

from ..errors import InvalidInputError
from ..pretokenize import PreTokenizer, get_pretokenizer
from .bpe import _hf_byte_order, count_pretokens
from .symbol_bpe import SymbolBPETrainer


def train_scaffold(
    corpus: Iterable[str],
    vocab_size: int,
    pretokenizer: str | PreTokenizer | None = "gpt2",
    special_tokens: Iterable[str] = (),
    min_frequency: int = 0,
    split_digits: int | None = None,
    progress: bool = False,
    name: str = "",
):
    """Scaffold-BPE; returns a `tokenlab.models.scaffold.ScaffoldTokenizer`.

    Ids: bytes 0..255, output tokens in creation order, special tokens, then scaffold tokens
    last, so the ids a model sees are exactly ``0 .. vocab_size-1``."""
    from ..models.scaffold import ScaffoldTokenizer

    specials = list(dict.fromkeys(special_tokens))
    if vocab_size < 256 + len(specials):
        raise InvalidInputError(f"vocab_size {vocab_size} is below 256 bytes + {len(specials)} specials")
    n_active_target = vocab_size - len(specials)
    pre = get_pretokenizer(pretokenizer, split_digits)
    counts = count_pretokens(corpus, pre, progress=progress)
    trainer = SymbolBPETrainer([list(w) for w in counts], list(counts.values()), [1] * 256,
                               tie_key=_hf_byte_order(), track_symbol_counts=True)
    sym_bytes = [bytes([b]) for b in range(256)]
    created: dict[bytes, int] = {}  # token bytes -> trainer symbol that first made it
    merges: list[tuple[bytes, bytes]] = []
    scaffold: set[bytes] = set()
    waiting: list[tuple[int, bytes, int]] = []  # heap of scaffold tokens: (-own count, bytes, symbol)
    counts_now = trainer.symbol_counts
    with tqdm(total=n_active_target - 256, desc="merging", unit="merge", disable=not progress) as bar:
        while 256 + len(created) - len(scaffold) < n_active_target:
            next_count = trainer.peek_count()
            # a scaffold token now more frequent than every pair returns to the vocabulary
            while waiting and -waiting[0][0] != counts_now[waiting[0][2]]:
                _, pb, sym = heapq.heappop(waiting)
                if counts_now[sym] > 0:
                    heapq.heappush(waiting, (-counts_now[sym], pb, sym))
            if waiting and -waiting[0][0] > next_count:
                _, pb, _ = heapq.heappop(waiting)
                scaffold.discard(pb)
                bar.update()
                continue
            best = trainer.best_pair()
            if best is None or best[1] < max(1, min_frequency):
                break
            (a, b), _ = best
            new = trainer.merge((a, b))
            new_bytes = sym_bytes[a] + sym_bytes[b]
            sym_bytes.append(new_bytes)
            merges.append((sym_bytes[a], sym_bytes[b]))
            if new_bytes not in created and len(new_bytes) > 1:
                created[new_bytes] = new
                bar.update()
            next_count = trainer.peek_count()
            for part in {a, b}:
                pb = sym_bytes[part]
                if part >= 256 and pb not in scaffold and counts_now[part] < next_count:
                    scaffold.add(pb)
                    heapq.heappush(waiting, (-counts_now[part], pb, part))
                    bar.update(-1)
    vocab = {bytes([b]): b for b in range(256)}
    next_id = 256
    for tok in created:
        if tok not in scaffold:
            vocab[tok] = next_id
            next_id += 1
    specials_map = {s: next_id + k for k, s in enumerate(specials)}
    next_id += len(specials)
    for tok in created:
        if tok in scaffold:
            vocab[tok] = next_id
            next_id += 1
    return ScaffoldTokenizer(vocab=vocab, merges=merges, scaffold=scaffold, pretokenizer=pre,
                             special_tokens=specials_map, name=name or "scaffold-bpe")
