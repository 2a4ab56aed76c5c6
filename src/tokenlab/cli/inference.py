"""Inference methods over one vocabulary, stochastic tokenization and the Unigram trainer,
registered in ``tokenlab encode --method`` / ``tokenlab train --algorithm``; plus exports."""

from __future__ import annotations

import click

from ..errors import InvalidInputError
from .common import load
from .core import ALGORITHMS, METHODS, _parse_options


def _checked(fn, name: str):
    """Reject unknown --option keys with one clear line instead of a TypeError."""
    from ..encode.methods import check_options

    def method(tok, text, allowed_special=(), **options):
        check_options(name, fn, options)
        return fn(tok, text, allowed_special=allowed_special, **options)

    method.__doc__ = fn.__doc__
    method.__name__ = f"method_{name.replace('-', '_')}"
    return method


def _train_unigram(corpus, **kw):
    """Unigram LM (SentencePiece-style EM + pruning, byte fallback)."""
    from ..train.unigram import train_unigram

    return train_unigram(corpus, **kw)


def register(group: click.Group) -> None:
    from ..encode.methods import method_registry
    from ..encode.methods import register_format as register_method_format
    from ..models.unigram import register_format

    register_format()
    register_method_format()
    for name, fn in method_registry().items():
        if name != "merge":  # core's own
            METHODS.setdefault(name, _checked(fn, name))
    ALGORITHMS.setdefault("unigram", _train_unigram)
    group.add_command(bind_method)
    group.add_command(unigram_to_hf)


@click.command("bind-method")
@click.option("-t", "--tokenizer", "tokenizer_path", required=True, type=click.Path(dir_okay=False),
              help="Tokenizer file (any format tokenlab reads).")
@click.option("--method", required=True, help="Inference method (see `tokenlab methods`).")
@click.option("--option", "method_options", multiple=True, metavar="KEY=VALUE", help="Method option (repeatable).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["tokenlab", "hf"]), default="tokenlab", show_default=True,
              help="tokenlab: our tokenlab-method JSON (any method); hf: tokenizer.json where HF can express it.")
def bind_method(tokenizer_path, method, method_options, output, fmt):
    """Save a tokenizer together with an inference method, so loading it encodes that way."""
    from ..encode.methods import MethodTokenizer

    bound = MethodTokenizer(load(tokenizer_path), method.lower(), **_parse_options(method_options))
    if fmt == "hf":
        bound.save_hf(output)
    else:
        bound.save(output)
    click.echo(f"wrote {output} ({bound!r}, {fmt})", err=True)


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
