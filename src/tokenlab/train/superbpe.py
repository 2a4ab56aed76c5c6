"""Superword BPE: tokens that span several pretokens (" of" + " the" -> " of the").

Two trainers:

`train_superbpe` (SuperBPE, Liu et al. 2025): stage 1 is ordinary BPE up to the transition
point ``t``; stage 2 lifts whitespace pre-tokenization and keeps merging over coarse chunks
(runs of words joined by single spaces). The result is a plain `Tokenizer` whose
pre-tokenizer is the coarse chunk regex, so it round-trips and exports exactly to HF
tokenizer.json (Split regex + ByteLevel + merges).

`train_boundless` (BoundlessBPE, Schmidt et al. 2025): one run in which a candidate pair is
either an ordinary pair inside a pretoken or a supermerge of two adjacent *complete*
pretokens (each already a single token, or a run of them). Returns a
`tokenlab.models.superword.SuperwordTokenizer` (own JSON format; HF cannot express it).
"""

from __future__ import annotations

from collections.abc import Iterable

from tqdm.auto import tqdm

from ..errors import InvalidInputError
from ..pretokenize import PreTokenizer, get_pretokenizer
from .bpe import count_pretokens, train_bpe
from .symbol_bpe import SymbolBPETrainer

# words (letters) joined by single spaces, with an optional leading space
WORD_RUN = r"[ ]?\p{L}+(?:[ ]\p{L}+)*"


def superword_pattern(pre: PreTokenizer) -> str:
    """Chunk regex: a run of space-separated words is one chunk; everything else is split as ``pre`` does."""
    rest = pre.regex_str or r"\p{L}+|[^\p{L}]+"
    return f"{WORD_RUN}|{rest}"


def _chunker(pre: PreTokenizer) -> PreTokenizer:
    return PreTokenizer(superword_pattern(pre), pre.split_digits)


def _check(vocab_size: int, specials: list[str], minimum: int) -> None:
    if vocab_size < minimum + len(specials):
        raise InvalidInputError(f"vocab_size {vocab_size} is below {minimum} + {len(specials)} specials")


def train_superbpe(
    corpus: Iterable[str],
    vocab_size: int,
    pretokenizer: str | PreTokenizer | None = "gpt2",
    special_tokens: Iterable[str] = (),
    min_frequency: int = 0,
    split_digits: int | None = None,
    progress: bool = False,
    transition: float = 0.9,
    name: str = "",
):
    """SuperBPE. ``transition``: stage-1 vocabulary size (an int) or fraction of ``vocab_size``
    (SuperBPE's best 200k tokenizer used t=180k, i.e. 0.9)."""
    from ..tokenizer import Tokenizer

    specials = list(dict.fromkeys(special_tokens))
    _check(vocab_size, specials, 257)
    n_ordinary = vocab_size - len(specials)
    t = int(transition) if transition > 1 else max(256, round(float(transition) * n_ordinary))
    if not 256 <= t <= n_ordinary:
        raise InvalidInputError(f"transition {transition} gives t={t}; need 256 <= t <= {n_ordinary}")
    docs = corpus if isinstance(corpus, list) else list(corpus)
    fine = get_pretokenizer(pretokenizer, split_digits)
    stage1 = train_bpe(docs, vocab_size=t, pretokenizer=fine, min_frequency=min_frequency, progress=progress)
    chunker = _chunker(fine)
    coarse = Tokenizer(vocab=stage1.vocab, merges=stage1.merges, pretokenizer=chunker)
    chunk_counts = count_pretokens(docs, chunker, progress=progress)
    words = [coarse._encode_piece(chunk) for chunk in chunk_counts]
    sym_bytes = list(stage1.id_to_bytes)
    trainer = SymbolBPETrainer(words, list(chunk_counts.values()), [len(b or b"") for b in sym_bytes])
    vocab = dict(stage1.vocab)
    merges = list(stage1.merges)
    next_id = max(vocab.values()) + 1
    with tqdm(total=n_ordinary - len(vocab), desc="superword merges", unit="merge", disable=not progress) as bar:
        while len(vocab) < n_ordinary:
            best = trainer.best_pair()
            if best is None or best[1] < max(1, min_frequency):
                break
            (a, b), _ = best
            trainer.merge((a, b))
            new_bytes = sym_bytes[a] + sym_bytes[b]
            sym_bytes.append(new_bytes)
            merges.append((sym_bytes[a], sym_bytes[b]))
            if new_bytes not in vocab:
                vocab[new_bytes] = next_id
                next_id += 1
                bar.update()
    specials_map = {s: next_id + k for k, s in enumerate(specials)}
    return Tokenizer(vocab=vocab, merges=merges, pretokenizer=chunker, special_tokens=specials_map,
                     name=name or "superbpe")


def train_boundless(
    corpus: Iterable[str],
    vocab_size: int,
    pretokenizer: str | PreTokenizer | None = "gpt2",
    special_tokens: Iterable[str] = (),
    min_frequency: int = 0,
    split_digits: int | None = None,
    progress: bool = False,
    name: str = "",
):
    """BoundlessBPE: ordinary merges and supermerges of complete pretokens compete in one ranking."""
    from ..models.superword import SuperwordTokenizer

    specials = list(dict.fromkeys(special_tokens))
    _check(vocab_size, specials, 256)
    n_ordinary = vocab_size - len(specials)
    fine = get_pretokenizer(pretokenizer, split_digits)
    chunker = _chunker(fine)
    chunk_counts = count_pretokens(corpus, chunker, progress=progress)
    words, bounds = [], []
    for chunk in chunk_counts:
        pieces = fine.split(chunk.decode("utf-8"))
        offsets, pos = {0}, 0
        for p in pieces:
            pos += len(p.encode("utf-8"))
            offsets.add(pos)
        words.append(list(chunk))
        bounds.append(frozenset(offsets) if len(pieces) > 1 else None)  # one pretoken: plain BPE rules
    from .bpe import _hf_byte_order

    trainer = SymbolBPETrainer(words, list(chunk_counts.values()), [1] * 256, tie_key=_hf_byte_order(),
                               boundaries=bounds)
    sym_bytes = [bytes([b]) for b in range(256)]
    vocab = {bytes([b]): b for b in range(256)}
    merges, supermerges = [], []
    next_id = 256
    with tqdm(total=n_ordinary - 256, desc="merging", unit="merge", disable=not progress) as bar:
        while len(vocab) < n_ordinary:
            best = trainer.best_pair()
            if best is None or best[1] < max(1, min_frequency):
                break
            (a, b), _ = best
            trainer.merge((a, b))
            new_bytes = sym_bytes[a] + sym_bytes[b]
            sym_bytes.append(new_bytes)
            inside, crossed = trainer.last_merge_kinds
            # a pair seen both inside a pretoken and across whole pretokens goes in both tables
            if inside:
                merges.append((sym_bytes[a], sym_bytes[b]))
            if crossed:
                supermerges.append((sym_bytes[a], sym_bytes[b]))
            if new_bytes not in vocab:
                vocab[new_bytes] = next_id
                next_id += 1
                bar.update()
    specials_map = {s: next_id + k for k, s in enumerate(specials)}
    return SuperwordTokenizer(vocab=vocab, merges=merges, supermerges=supermerges, pretokenizer=fine,
                              chunker=chunker, special_tokens=specials_map, name=name or "boundless")
