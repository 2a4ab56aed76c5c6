"""Character-level BPE with a maximum token length (the KL3M char tokenizers, 4k/8k/16k).

Symbols are Unicode characters; a pair merges only if the result has at most
``max_token_chars`` characters (KL3M: 3 for the 4k/8k tokenizers, 4 for 16k). Short tokens
make a typo change only the tokens that touch it, so noisy and clean text share boundaries
elsewhere, which is what OCR/spelling-correction models need.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from tqdm.auto import tqdm

from ..errors import InvalidInputError
from ..pretokenize import PreTokenizer, get_pretokenizer
from .symbol_bpe import SymbolBPETrainer


def default_max_chars(vocab_size: int) -> int:
    return 4 if vocab_size >= 16384 else 3


def train_char_bpe(
    corpus: Iterable[str],
    vocab_size: int,
    pretokenizer: str | PreTokenizer | None = "gpt2",
    special_tokens: Iterable[str] = (),
    min_frequency: int = 0,
    split_digits: int | None = None,
    progress: bool = False,
    max_token_chars: int | None = None,
    name: str = "",
):
    """Train; ``vocab_size`` counts the 256 byte fallbacks, the characters, the merges and the specials.
    If the corpus has more distinct characters than fit, the rarest ones are left to byte fallback."""
    from ..models.char_bpe import CharBPETokenizer

    specials = list(dict.fromkeys(special_tokens))
    budget = vocab_size - 256 - len(specials)
    if budget < 1:
        raise InvalidInputError(f"vocab_size {vocab_size} leaves no room beside 256 byte fallbacks "
                                f"and {len(specials)} specials")
    max_chars = default_max_chars(vocab_size) if max_token_chars is None else int(max_token_chars)
    if max_chars < 1:
        raise InvalidInputError(f"max_token_chars must be >= 1, got {max_token_chars}")
    pre = get_pretokenizer(pretokenizer, split_digits)
    word_counts: Counter = Counter()
    for doc in tqdm(corpus, desc="pre-tokenizing", unit="doc", disable=not progress):
        if not isinstance(doc, str):
            raise InvalidInputError(f"corpus items must be str, got {type(doc).__name__}")
        word_counts.update(pre.split(doc))
    char_counts: Counter = Counter()
    for w, c in word_counts.items():
        for ch in w:
            char_counts[ch] += c
    alphabet = [ch for ch, c in sorted(char_counts.items(), key=lambda kv: (-kv[1], kv[0]))
                if c >= max(1, min_frequency)][:budget]
    char_id = {ch: k for k, ch in enumerate(alphabet)}
    words, counts = [], []
    for w, c in word_counts.items():
        seg: list[int] = []
        for ch in w:
            k = char_id.get(ch)
            if k is None:  # unknown chars are fallback bytes at encode time: nothing merges across them
                if len(seg) > 1:
                    words.append(seg)
                    counts.append(c)
                seg = []
            else:
                seg.append(k)
        if len(seg) > 1:
            words.append(seg)
            counts.append(c)
    trainer = SymbolBPETrainer(words, counts, [1] * len(alphabet), max_len=max_chars)
    sym = list(alphabet)
    tokens = {ch: 256 + k for k, ch in enumerate(alphabet)}
    merges: list[tuple[str, str]] = []
    with tqdm(total=budget - len(alphabet), desc="merging", unit="merge", disable=not progress) as bar:
        while len(tokens) < budget:
            best = trainer.best_pair()
            if best is None or best[1] < max(1, min_frequency):
                break
            (a, b), _ = best
            trainer.merge((a, b))
            sym.append(sym[a] + sym[b])
            merges.append((sym[a], sym[b]))
            if sym[-1] not in tokens:
                tokens[sym[-1]] = 256 + len(tokens)
                bar.update()
    next_id = 256 + len(tokens)
    specials_map = {s: next_id + k for k, s in enumerate(specials)}
    return CharBPETokenizer(tokens=tokens, merges=merges, max_token_chars=max_chars, pretokenizer=pre,
                            special_tokens=specials_map, name=name or f"char-bpe-{max_chars}")
