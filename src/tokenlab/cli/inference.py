"""Inference methods over one vocabulary, stochastic tokenization and the Unigram trainer,
registered in ``tokenlab encode --method`` / ``tokenlab train --algorithm``."""

from __future__ import annotations

import inspect
import weakref

import click

from ..errors import InvalidInputError
from .common import iter_corpus, load
from .core import ALGORITHMS, METHODS

_UNIGRAMS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _checked(fn, name: str):
    """Reject unknown --option keys with one clear line instead of a TypeError."""
    accepted = [p for p in inspect.signature(fn).parameters if p not in ("tok", "text", "allowed_special", "rng")]

    def method(tok, text, allowed_special=(), **options):
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise InvalidInputError(f"method {name!r} does not take option(s) {unknown}; "
                                    f"it takes {accepted or 'none'}")
        return fn(tok, text, allowed_special=allowed_special, **options)

    method.__doc__ = fn.__doc__
    method.__name__ = f"method_{name.replace('-', '_')}"
    return method


def unigram_for(tok, text: str, corpus: str | None = None, smoothing: float = 1.0):
    """``tok`` itself if it is a Unigram model; else unigram scores for its vocabulary counted from
    the merge-order encoding of ``corpus`` (a file) or, without one, of the text being encoded."""
    from ..models.unigram import UnigramModel, unigram_from_bpe

    if isinstance(tok, UnigramModel):
        if corpus is not None:
            raise InvalidInputError("a Unigram model has its own scores; drop the corpus option")
        return tok
    key = (corpus, float(smoothing))
    per_tok = _UNIGRAMS.setdefault(tok, {})
    if corpus is None:
        return unigram_from_bpe(tok, [text], smoothing)
    if key not in per_tok:
        per_tok[key] = unigram_from_bpe(tok, iter_corpus([corpus]), smoothing)
    return per_tok[key]


def encode_viterbi(tok, text, allowed_special=(), corpus: str | None = None, smoothing: float = 1.0):
    """Unigram Viterbi: most probable segmentation (BPE vocab: add-one token frequencies)."""
    return unigram_for(tok, text, corpus, smoothing).encode(text, allowed_special=allowed_special)


def encode_unigram_sample(tok, text, allowed_special=(), alpha: float = 0.1, nbest_size: int = -1,
                          seed: int | None = None, corpus: str | None = None, smoothing: float = 1.0):
    """Unigram sampling: a segmentation drawn with probability proportional to P^alpha."""
    model = unigram_for(tok, text, corpus, smoothing)
    return model.sample(text, alpha=alpha, nbest_size=int(nbest_size), seed=seed, allowed_special=allowed_special)


def _train_unigram(corpus, **kw):
    """Unigram LM (SentencePiece-style EM + pruning, byte fallback)."""
    from ..train.unigram import train_unigram

    return train_unigram(corpus, **kw)


def _methods() -> dict:
    from ..encode import methods as m
    from ..encode import stochastic as s

    return {
        "greedy": m.encode_longest_prefix,
        "longest-prefix": m.encode_longest_prefix,
        "longest-suffix": m.encode_longest_suffix,
        "longest-token": m.encode_longest_token,
        "pathpiece": m.encode_pathpiece,
        "viterbi": encode_viterbi,
        "unigram-sample": encode_unigram_sample,
        "stochastok": s.encode_stochastok,
        "bpe-dropout": s.encode_bpe_dropout,
    }


def register(group: click.Group) -> None:
    from ..models.unigram import register_format

    register_format()
    for name, fn in _methods().items():
        METHODS.setdefault(name, _checked(fn, name))
    ALGORITHMS.setdefault("unigram", _train_unigram)
    group.add_command(unigram_to_hf)


@click.command("unigram-to-hf")
@click.argument("model_path", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="tokenizer.json to write.")
def unigram_to_hf(model_path, output):
    """Export a tokenlab Unigram model as HF tokenizer.json (same ids; Viterbi only)."""
    from ..models.unigram import UnigramModel

    model = load(model_path)
    if not isinstance(model, UnigramModel):
        raise InvalidInputError(f"{model_path} is not a tokenlab unigram model; use `tokenlab convert` for BPE")
    model.save_hf(output)
    click.echo(f"wrote {output} (HF Unigram)", err=True)
