"""Vocabulary and pre-tokenizer sweeps, and the vocabulary size each language needs for parity.

"Getting the most out of your tokenizer for pre-training and domain adaptation" (Dagan et al. 2024) and
"Explaining and Mitigating Crosslingual Tokenizer Inequities" (Arnett et al. 2025) compare tokenizers
over grids of vocabulary size × pre-tokenizer × algorithm. :func:`sweep` trains the grid on one corpus
and measures, on aligned text of several languages: bytes/token, NSL (tokens relative to a baseline
tokenizer on the same text, Tamang & Bora's normalised sequence length), the token premium of each
language against English, and optionally morpheme-boundary F1.

:func:`parity_vocab_sizes` follows the crosslingual paper's "vocabulary size needed for parity": train
monolingual tokenizers per language at several sizes, and find (interpolating on log vocab size) the size
at which a language's held-out parallel text costs as many tokens as the reference language's does at
the reference size.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import InvalidInputError


def _trainer(name: str):
    from ..train.bpe import train_bpe
    from ..train.unigram import train_unigram

    if name == "bpe":
        return train_bpe
    if name == "unigram":
        return train_unigram
    if name == "huffman":
        from ..train.frequency import train_huffman

        return train_huffman
    raise InvalidInputError(f"unknown algorithm {name!r} (bpe, unigram, huffman)")


def _count(tok, texts: Sequence[str]) -> int:
    enc = getattr(tok, "encode_ordinary", None) or tok.encode
    return sum(len(enc(t)) for t in texts)


def sweep(train_docs: Sequence[str], parallel: Mapping[str, Sequence[str]], *, vocab_sizes: Sequence[int],
          pretokenizers: Sequence[str] = ("gpt2",), algorithms: Sequence[str] = ("bpe",), baseline=None,
          linguistic: Sequence[str] = (), reference: str = "en", progress: bool = False) -> list[dict]:
    """One row per (algorithm, pre-tokenizer, vocab size) trained on ``train_docs`` and measured on
    ``parallel`` (language -> aligned strings). ``baseline``: a tokenizer for NSL (default: none)."""
    from tqdm import tqdm

    if not train_docs or not parallel:
        raise InvalidInputError("need training text and evaluation text")
    if reference not in parallel:
        raise InvalidInputError(f"the evaluation text has no reference language {reference!r}")
    all_eval = [t for lines in parallel.values() for t in lines]
    n_bytes = sum(len(t.encode("utf-8")) for t in all_eval)
    base_tokens = _count(baseline, all_eval) if baseline is not None else None
    analysers = {}
    if linguistic:
        from .linguistic import analyser_for

        analysers = {lang: analyser_for(lang, parallel[lang]) for lang in linguistic}
    grid = list(itertools.product(algorithms, pretokenizers, sorted(vocab_sizes)))
    rows = []
    for algo, pre, v in tqdm(grid, desc="sweep", disable=not progress):
        tok = _trainer(algo)(list(train_docs), vocab_size=v, pretokenizer=pre, progress=False)
        per_lang = {lang: _count(tok, lines) for lang, lines in parallel.items()}
        total = sum(per_lang.values())
        row = {"algorithm": algo, "pretokenizer": pre, "vocab_size": v, "tokens": total,
               "bytes_per_token": n_bytes / max(total, 1),
               "nsl": total / base_tokens if base_tokens else None,
               "premiums": {lang: n / max(per_lang[reference], 1) for lang, n in per_lang.items()}}
        if analysers:
            from .linguistic import morph_scores

            row["boundary_f1"] = {lang: morph_scores(tok, parallel[lang], a).f1 for lang, a in analysers.items()}
        rows.append(row)
    return rows


def _interpolate_size(sizes: Sequence[int], tokens: Sequence[int], target: float) -> float | None:
    """Vocab size where ``tokens`` (falling with size) reaches ``target``, linear in log size; None if the
    grid never gets there (or is already below at the smallest size: then the smallest size)."""
    if tokens[0] <= target:
        return float(sizes[0])
    for (s0, t0), (s1, t1) in zip(zip(sizes, tokens), zip(sizes[1:], tokens[1:])):
        if t1 <= target <= t0:
            if t0 == t1:
                return float(s1)
            f = (t0 - target) / (t0 - t1)
            return math.exp(math.log(s0) + f * (math.log(s1) - math.log(s0)))
    return None


def parity_vocab_sizes(parallel: Mapping[str, Sequence[str]], vocab_sizes: Sequence[int], *, reference: str = "en",
                       reference_vocab: int | None = None, algorithm: str = "bpe", pretokenizer: str = "gpt2",
                       eval_fraction: float = 0.2, progress: bool = False) -> dict[str, dict]:
    """Per language: monolingual tokenizers at each size (trained on the first part of its strings), tokens on
    the held-out part, and the interpolated vocab size reaching the reference's token count at
    ``reference_vocab`` (default: the middle grid size)."""
    from tqdm import tqdm

    sizes = sorted(set(int(v) for v in vocab_sizes))
    if len(sizes) < 2:
        raise InvalidInputError("give at least two vocab sizes")
    if reference not in parallel:
        raise InvalidInputError(f"no reference language {reference!r} in the text")
    ref_vocab = reference_vocab or sizes[len(sizes) // 2]
    if ref_vocab not in sizes:
        sizes = sorted([*sizes, ref_vocab])
    n = len(next(iter(parallel.values())))
    cut = max(1, int(n * (1 - eval_fraction)))
    train_fn = _trainer(algorithm)
    curves: dict[str, list[int]] = {}
    for lang, lines in tqdm(list(parallel.items()), desc="parity", disable=not progress):
        train, held = list(lines[:cut]), list(lines[cut:])
        curves[lang] = [_count(train_fn(train, vocab_size=v, pretokenizer=pretokenizer, progress=False), held)
                        for v in sizes]
    target = curves[reference][sizes.index(ref_vocab)]
    return {lang: {"tokens": dict(zip(sizes, c)), "parity_vocab": _interpolate_size(sizes, c, target),
                   "target_tokens": target} for lang, c in curves.items()}


def sweep_plot(rows: Sequence[dict], path) -> None:
    """Bytes/token against vocab size, one line per (algorithm, pre-tokenizer)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    keys = sorted({(r["algorithm"], r["pretokenizer"]) for r in rows})
    for algo, pre in keys:
        pts = sorted((r["vocab_size"], r["bytes_per_token"]) for r in rows
                     if r["algorithm"] == algo and r["pretokenizer"] == pre)
        ax.plot(*np.array(pts).T, marker="o", label=f"{algo} / {pre}")
    ax.set_xscale("log")
    ax.set_xlabel("vocabulary size")
    ax.set_ylabel("bytes per token (held-out, all languages)")
    ax.set_title("Vocabulary × pre-tokenizer × algorithm sweep")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
