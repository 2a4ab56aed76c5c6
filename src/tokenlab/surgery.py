"""Tokenizer surgery for byte-level BPE (`tokenlab.Tokenizer`): continue training, add tokens, prune, merge
vocabularies; every operation keeps the ids it promises to keep.

What "old text encodes unchanged" means here. New merges are always ranked after every old merge, and BPE
applies the lowest-ranked applicable merge first, so for each pretoken the new tokenizer first reaches exactly
the old tokenizer's tokens and only then applies new merges to them. Hence, per pretoken:

    new_encode(piece) == apply_new_merges(old_encode(piece))

and a pretoken's ids are unchanged whenever its old encoding contains no adjacent pair that a new merge joins
(in particular whenever the old tokenizer encodes it as one token). Old ids, old merges (their order and
ranks) and old special tokens stay bit-identical; new tokens get ids after the largest old id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from .errors import InvalidInputError
from .tokenizer import Tokenizer


def _check_bpe(tok) -> Tokenizer:
    if not isinstance(tok, Tokenizer):
        raise InvalidInputError(f"tokenizer surgery works on byte-level BPE tokenizers, not {type(tok).__name__}")
    return tok


def _rebuilt(tok: Tokenizer, vocab: dict[bytes, int], merges: list[tuple[bytes, bytes]],
             special_tokens: dict[str, int] | None = None, name: str | None = None) -> Tokenizer:
    return Tokenizer(vocab=vocab, merges=merges, pretokenizer=tok.pretokenizer,
                     special_tokens=dict(tok.special_tokens if special_tokens is None else special_tokens),
                     ignore_merges=tok.ignore_merges, any_split=tok.any_split,
                     name=tok.name if name is None else name)


# ---------------------------------------------------------------------------------- extend
def extend_bpe(tok: Tokenizer, corpus: Iterable[str], vocab_size: int, min_frequency: int = 2,
               progress: bool = False) -> Tokenizer:
    """Continue training ``tok`` on ``corpus`` until it has ``vocab_size`` tokens (specials included).

    The new merges are learned on the corpus as the old tokenizer already encodes it (each pretoken starts as
    its old tokens), so they are the merges BPE training would take next on that data.
    """
    from tqdm.auto import tqdm

    from .train.symbol_bpe import SymbolBPETrainer

    tok = _check_bpe(tok)
    if vocab_size <= len(tok):
        raise InvalidInputError(f"vocab_size {vocab_size} must exceed the tokenizer's {len(tok)} tokens")
    pieces: Counter = Counter()
    for doc in tqdm(corpus, desc="pre-tokenizing", unit="doc", disable=not progress):
        if not isinstance(doc, str):
            raise InvalidInputError(f"corpus items must be str, got {type(doc).__name__}")
        pieces.update(tok.pretokenizer.split(doc))
    words, counts = [], []
    for piece, c in pieces.items():
        ids = tok.encode_ordinary(piece)
        if len(ids) > 1:
            words.append(ids)
            counts.append(c)
    n_symbols = tok.n_vocab
    trainer = SymbolBPETrainer(words, counts, [1] * n_symbols)
    symbol_bytes: list[bytes | None] = list(tok.id_to_bytes)
    vocab = dict(tok.vocab)
    merges = list(tok.merges)
    next_id = tok.n_vocab
    want = vocab_size - len(tok)
    added = 0
    with tqdm(total=want, desc="extending", unit="token", disable=not progress) as bar:
        while added < want:
            best = trainer.best_pair()
            if best is None or best[1] < max(1, min_frequency):
                break
            (a, b), _ = best
            trainer.merge((a, b))
            left, right = symbol_bytes[a], symbol_bytes[b]
            new = left + right
            symbol_bytes.append(new)
            if new not in vocab:
                vocab[new] = next_id
                next_id += 1
                added += 1
                bar.update(1)
            merges.append((left, right))
    return _rebuilt(tok, vocab, merges)


# ---------------------------------------------------------------------------------- add tokens
def add_tokens(tok: Tokenizer, tokens: Sequence[str], special: bool = False) -> Tokenizer:
    """Add ``tokens`` keeping every old id. Special tokens get the next free ids. An ordinary token is made
    reachable by merges appended after the old ones: the old tokens of the string are merged left to right
    (intermediate prefixes become tokens too). Ordinary tokens the pre-tokenizer would split can never be
    produced, so they are refused (add them as special tokens)."""
    tok = _check_bpe(tok)
    specials = dict(tok.special_tokens)
    vocab = dict(tok.vocab)
    merges = list(tok.merges)
    next_id = tok.n_vocab
    for text in dict.fromkeys(tokens):
        if not isinstance(text, str) or not text:
            raise InvalidInputError(f"a token must be a non-empty string, got {text!r}")
        data = text.encode("utf-8")
        if special:
            if text in specials:
                continue
            if data in vocab:
                raise InvalidInputError(f"{text!r} is already an ordinary token (id {vocab[data]})")
            specials[text] = next_id
            next_id += 1
            continue
        if text in specials:
            raise InvalidInputError(f"{text!r} is already a special token (id {specials[text]})")
        if data in vocab:
            continue
        pieces = tok.pretokenizer.split(text)
        if len(pieces) != 1:
            raise InvalidInputError(f"{text!r} can never be one ordinary token: the pre-tokenizer splits it into "
                                    f"{pieces!r}; add it as a special token instead")
        current = _rebuilt(tok, vocab, merges, specials)
        parts = [current.token_bytes(i) for i in current.encode_ordinary(text)]
        acc = parts[0]
        for part in parts[1:]:
            merged = acc + part
            merges.append((acc, part))
            if merged not in vocab:
                vocab[merged] = next_id
                next_id += 1
            acc = merged
    return _rebuilt(tok, vocab, merges, specials)


# ---------------------------------------------------------------------------------- prune
def prune_bpe(tok: Tokenizer, n_tokens: int) -> tuple[Tokenizer, np.ndarray]:
    """Keep the 256 bytes, the first merges (by rank) and the special tokens, ``n_tokens`` in all: the
    tokenizer BPE would have learned with the smaller vocabulary. Ids are renumbered densely in the old
    order; returns it and ``remap`` (old id -> new id, -1 for a removed token)."""
    tok = _check_bpe(tok)
    n_special = len(tok.special_tokens)
    if n_tokens < 256 + n_special:
        raise InvalidInputError(f"cannot prune below the 256 byte tokens + {n_special} specials")
    if n_tokens >= len(tok):
        raise InvalidInputError(f"the tokenizer has {len(tok)} tokens; prune to fewer")
    keep = {bytes([b]) for b in range(256)}
    budget = n_tokens - n_special
    merges: list[tuple[bytes, bytes]] = []
    for a, b in tok.merges:
        new = a + b
        if new not in keep:
            if len(keep) >= budget:
                break
            keep.add(new)
        merges.append((a, b))
    if len(keep) < budget:  # tokens no merge makes (a vocab with extra entries): add them by id order
        for t, _ in sorted(tok.vocab.items(), key=lambda kv: kv[1]):
            if len(keep) >= budget:
                break
            keep.add(t)
    old_ids = sorted([tok.vocab[t] for t in keep] + list(tok.special_tokens.values()))
    remap = np.full(tok.n_vocab, -1, dtype=np.int64)
    remap[old_ids] = np.arange(len(old_ids))
    vocab = {t: int(remap[tok.vocab[t]]) for t in keep}
    specials = {s: int(remap[i]) for s, i in tok.special_tokens.items()}
    return _rebuilt(tok, vocab, merges, specials), remap


def slice_rows(matrix: np.ndarray, remap: np.ndarray) -> np.ndarray:
    """Rows of an (old vocab x d) matrix in the new id order given by :func:`prune_bpe`'s ``remap``."""
    kept = np.flatnonzero(remap >= 0)
    if matrix.shape[0] < len(remap):
        raise InvalidInputError(f"the matrix has {matrix.shape[0]} rows; the tokenizer's ids go up to "
                                f"{len(remap) - 1}")
    order = kept[np.argsort(remap[kept])]
    return np.ascontiguousarray(matrix[order])


def prune_safetensors(src, dst, remap: np.ndarray, tensors: Sequence[str] | None = None) -> list[str]:
    """Copy a safetensors file, slicing the rows of every tensor whose first dimension is the old vocabulary
    (or of ``tensors``); other tensors are copied unchanged. Returns the names of the sliced tensors."""
    from safetensors.numpy import load_file, save_file

    from .io.atomic import atomic_path

    try:
        data = load_file(str(src))
    except Exception as exc:  # safetensors raises its own error types for a corrupt header
        raise InvalidInputError(f"{src}: not a readable safetensors file ({exc})") from None
    names = list(tensors) if tensors else [k for k, v in data.items() if v.ndim >= 1 and v.shape[0] == len(remap)]
    missing = [k for k in names if k not in data]
    if missing:
        raise InvalidInputError(f"{src}: no tensor {missing[0]!r} (tensors: {', '.join(data)})")
    if not names:
        raise InvalidInputError(f"{src}: no tensor has {len(remap)} rows (one per token id); name it with --tensor")
    out = {k: (slice_rows(v, remap) if k in names else v) for k, v in data.items()}
    with atomic_path(dst) as tmp:
        save_file(out, str(tmp))
    return names


# ---------------------------------------------------------------------------------- merge vocabularies
def merge_vocabularies(first: Tokenizer, second: Tokenizer) -> Tokenizer:
    """``first`` with ``second``'s tokens added: first's ids, merges and specials unchanged; second's merges
    that make tokens ``first`` lacks follow in second's order (new ids after first's), then second's
    specials. Every token of either is in the result. Both must pre-tokenize the same way."""
    first, second = _check_bpe(first), _check_bpe(second)
    if first.pretokenizer.to_dict() != second.pretokenizer.to_dict():
        raise InvalidInputError(f"the tokenizers pre-tokenize differently ({first.pretokenizer.name} vs "
                                f"{second.pretokenizer.name}); merged merges would not apply as trained")
    vocab = dict(first.vocab)
    merges = list(first.merges)
    next_id = first.n_vocab
    for a, b in second.merges:
        new = a + b
        if new in vocab:
            continue
        merges.append((a, b))
        vocab[new] = next_id
        next_id += 1
    for t, _ in sorted(second.vocab.items(), key=lambda kv: kv[1]):
        if t not in vocab:  # a token of second that no merge makes: only a byte-level-complete vocab has none
            raise InvalidInputError(f"token {t!r} of the second tokenizer is made by no merge; cannot add it")
    specials = dict(first.special_tokens)
    for s, _ in sorted(second.special_tokens.items(), key=lambda kv: kv[1]):
        if s not in specials:
            if s.encode("utf-8") in vocab:
                raise InvalidInputError(f"special token {s!r} of the second tokenizer is an ordinary token of "
                                        "the first")
            specials[s] = next_id
            next_id += 1
    name = f"{first.name}+{second.name}" if first.name and second.name else first.name
    return _rebuilt(first, vocab, merges, specials, name=name)
