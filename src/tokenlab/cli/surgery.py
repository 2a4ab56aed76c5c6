"""Tokenizer surgery commands: extend, add-tokens, prune, merge-vocab (byte-level BPE; old ids kept)."""

from __future__ import annotations

import click

from .common import corpus_input_options, iter_corpus, load, progress_option

FORMATS = ["tokenlab", "hf", "tiktoken"]
format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), default="tokenlab", show_default=True,
                             help="Output format (hf: tokenizer.json for HF tokenizers / transformers).")


def register(group: click.Group) -> None:
    for cmd in (extend, add_tokens_cmd, prune, merge_vocab):
        group.add_command(cmd)


def _save(tok, output, fmt, what: str) -> None:
    from ..io import save_tokenizer

    save_tokenizer(tok, output, fmt)
    click.echo(f"{what}: {len(tok)} tokens -> {output}", err=True)


@click.command()
@click.argument("tokenizer_path", metavar="TOKENIZER")
@click.argument("corpus", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option("--vocab-size", type=click.IntRange(257), required=True, help="Total size after extending.")
@click.option("--min-frequency", type=click.IntRange(1), default=2, show_default=True,
              help="Stop when the best pair is rarer than this.")
@format_option
@progress_option
@corpus_input_options
def extend(tokenizer_path, corpus, output, vocab_size, min_frequency, fmt, progress):
    """Continue training TOKENIZER on CORPUS: old ids, merges and specials stay bit-identical."""
    from ..surgery import extend_bpe

    old = load(tokenizer_path)
    tok = extend_bpe(old, iter_corpus(corpus), vocab_size, min_frequency=min_frequency, progress=progress)
    _save(tok, output, fmt, f"extended {len(old)} -> {len(tok)} tokens")
    if len(tok) < vocab_size:
        click.echo(f"note: {len(tok)} of the requested {vocab_size} tokens: no pair left with at least "
                   f"--min-frequency {min_frequency} occurrences", err=True)


@click.command("add-tokens")
@click.argument("tokenizer_path", metavar="TOKENIZER")
@click.argument("tokens", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option("--special", is_flag=True, help="Add them as special tokens (matched before pre-tokenizing).")
@format_option
def add_tokens_cmd(tokenizer_path, tokens, output, special, fmt):
    """Add TOKENS to TOKENIZER keeping every old id (new ids follow the largest old one)."""
    from ..surgery import add_tokens

    old = load(tokenizer_path)
    tok = add_tokens(old, tokens, special=special)
    _save(tok, output, fmt, f"added {len(tok) - len(old)} tokens")


@click.command()
@click.argument("tokenizer_path", metavar="TOKENIZER")
@click.option("--vocab-size", type=click.IntRange(257), required=True, help="Tokens to keep (specials included).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option("--embeddings", type=click.Path(dir_okay=False), help="A .safetensors (or .npy) file to slice the "
              "same way: rows of removed tokens dropped, the rest in the new id order.")
@click.option("--tensor", "tensors", multiple=True, help="Tensor(s) to slice (default: every tensor with one row "
              "per token id).")
@click.option("--embeddings-output", type=click.Path(dir_okay=False), help="Where to write the sliced weights.")
@click.option("--remap", "remap_path", type=click.Path(dir_okay=False), help="Write old id -> new id (-1: removed) "
              "as .npy.")
@format_option
def prune(tokenizer_path, vocab_size, output, embeddings, tensors, embeddings_output, remap_path, fmt):
    """Prune TOKENIZER to its first merges (the vocabulary BPE learns at --vocab-size) and renumber ids."""
    import numpy as np

    from ..errors import InvalidInputError
    from ..surgery import prune_bpe, prune_safetensors, slice_rows

    if bool(embeddings) != bool(embeddings_output):
        raise InvalidInputError("--embeddings and --embeddings-output go together")
    tok, remap = prune_bpe(load(tokenizer_path), vocab_size)
    if embeddings:
        if embeddings.endswith(".npy"):
            from ..io.atomic import atomic_path

            matrix = slice_rows(np.load(embeddings, allow_pickle=False), remap)
            with atomic_path(embeddings_output) as tmp, open(tmp, "wb") as f:
                np.save(f, matrix)
            names = ["array"]
        else:
            names = prune_safetensors(embeddings, embeddings_output, remap, tensors or None)
        click.echo(f"sliced {', '.join(names)} -> {embeddings_output}", err=True)
    if remap_path:
        from ..io.atomic import atomic_path

        with atomic_path(remap_path) as tmp, open(tmp, "wb") as f:
            np.save(f, remap)
    _save(tok, output, fmt, "pruned")


@click.command("merge-vocab")
@click.argument("first", metavar="TOKENIZER")
@click.argument("second", metavar="OTHER")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@format_option
def merge_vocab(first, second, output, fmt):
    """TOKENIZER plus OTHER's tokens: TOKENIZER's ids and merges unchanged, OTHER's missing merges appended."""
    from ..surgery import merge_vocabularies

    a = load(first)
    tok = merge_vocabularies(a, load(second))
    _save(tok, output, fmt, f"merged ({len(tok) - len(a)} tokens added)")
