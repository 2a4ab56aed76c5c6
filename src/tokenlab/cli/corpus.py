"""Corpus commands: encode text files into token shards for pre-training."""

from __future__ import annotations

import click

from .common import cluster_option, corpus_input_options, progress_option, tokenizer_option


def register(group: click.Group) -> None:
    group.add_command(encode_corpus)
    group.add_command(verify_shards)


@click.command("encode-corpus")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@tokenizer_option
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for shard-NNNNNN.npy files and manifest.json.")
@click.option("--shard-tokens", type=click.IntRange(1), default=1 << 25, show_default=True,
              help="Tokens per shard (the last shard may be shorter).")
@click.option("--dtype", type=click.Choice(["auto", "uint16", "uint32"]), default="auto", show_default=True,
              help="auto: uint16 when the vocabulary fits, else uint32.")
@click.option("--workers", type=click.IntRange(1), default=None, help="Worker processes (default: all cores).")
@click.option("--documents", type=click.Choice(["lines", "files"]), default="lines", show_default=True,
              help="A document is each non-empty line, or each whole file.")
@click.option("--append-eos/--no-append-eos", default=True, show_default=True,
              help="Put an end-of-text token after every document.")
@click.option("--eos", default=None, help="End-of-text special token (default: <|endoftext|>, </s>, ... if present).")
@click.option("--overwrite", is_flag=True, help="Start again even if OUTDIR holds a run with other inputs/settings.")
@cluster_option
@progress_option
@corpus_input_options
def encode_corpus(inputs, tokenizer_path, out_dir, shard_tokens, dtype, workers, documents, append_eos, eos,
                  overwrite, cluster, progress):
    """Encode corpus files into .npy token shards with a manifest; re-running resumes.

    Text files are cut into documents by --documents; JSONL (.gz/.zst), Parquet and saved HF datasets give
    one document per record (they, compressed text and --sample-bytes are first streamed into OUTDIR/
    documents.staged.jsonl)."""
    from pathlib import Path

    from ..corpus import cluster_map
    from ..corpus import encode_corpus as run
    from .common import load

    if not Path(tokenizer_path).exists():
        from ..evaluate.report import is_short_name

        if is_short_name(tokenizer_path):
            tokenizer_path = load(tokenizer_path)  # cl100k, ...: the object itself goes to the workers
    with cluster_map(cluster) as map_fn:
        manifest = run(inputs, tokenizer_path, out_dir, shard_tokens=shard_tokens, dtype=dtype, workers=workers,
                       append_eos=append_eos, eos=eos, documents=documents, overwrite=overwrite, progress=progress,
                       map_fn=map_fn)
    click.echo(f"{manifest['total_tokens']} tokens in {len(manifest['shards'])} shards "
               f"({manifest['settings']['dtype']}) -> {out_dir}", err=True)


@click.command("verify-shards")
@click.argument("out_dir", type=click.Path(file_okay=False))
def verify_shards(out_dir):
    """Check every shard of an encode-corpus output against the SHA-256 in its manifest."""
    from ..corpus import verify_shards as run

    manifest = run(out_dir)
    state = "complete" if manifest.get("complete") else "partial"
    unhashed = sum(1 for s in manifest["shards"] if "sha256" not in s)
    note = f" ({unhashed} from an older tokenlab have no hash: checked for size only)" if unhashed else ""
    click.echo(f"ok: {len(manifest['shards'])} shards, {manifest['total_tokens']} tokens, {state} run{note}")
