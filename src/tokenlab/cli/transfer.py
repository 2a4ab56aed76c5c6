"""Model-side commands: transfer-embeddings (new vocabulary, old model) and heal (token healing)."""

from __future__ import annotations

import json

import click

from .common import load, progress_option, text_argument, tokenizer_option


def register(group: click.Group) -> None:
    group.add_command(transfer_embeddings_cmd)
    group.add_command(heal_cmd)


@click.command("transfer-embeddings")
@click.option("--old", "old_path", required=True, type=click.Path(dir_okay=False),
              help="Tokenizer the embeddings were trained with.")
@click.option("--new", "new_path", required=True, type=click.Path(dir_okay=False),
              help="Tokenizer to initialise embeddings for.")
@click.option("--embeddings", "embeddings_path", required=True, type=click.Path(dir_okay=False),
              help="Old embedding matrix: .npy, .npz or .safetensors.")
@click.option("--tensor", default=None, help="Tensor name inside .npz/.safetensors (default: the only one, "
                                              "or the one named like an embedding).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output .safetensors (or .npy).")
@click.option("--output-tensor", default="embeddings", show_default=True, help="Tensor name in the output.")
@click.option("--top-k", type=click.IntRange(0), default=10, show_default=True,
              help="Similar copied tokens mixed into each new token (0: local mean only).")
@click.option("--local-weight", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Weight of the local (decomposition) mean vs the global (top-k) mean.")
@click.option("--temperature", type=click.FloatRange(0, min_open=True), default=0.1, show_default=True,
              help="Softmax temperature over the top-k cosine similarities.")
@click.option("--similarity", type=click.Choice(["embedding", "ngram"]), default="embedding", show_default=True,
              help="Space for the top-k search: old embeddings, or byte n-gram spelling (needs scipy).")
@click.option("--weighting", type=click.Choice(["mean", "length"]), default="mean", show_default=True,
              help="Weight old pieces equally or by their byte length.")
@progress_option
def transfer_embeddings_cmd(old_path, new_path, embeddings_path, tensor, output, output_tensor, top_k, local_weight,
                            temperature, similarity, weighting, progress):
    """Initialise embeddings for a new tokenizer from an old model's embedding matrix."""
    from ..transfer.embeddings import (
        load_embeddings,
        save_embeddings,
        transfer_embeddings,
    )

    old, new = load(old_path), load(new_path)
    matrix = load_embeddings(embeddings_path, tensor)
    result = transfer_embeddings(old, new, matrix, top_k=top_k, local_weight=local_weight, temperature=temperature,
                                 weighting=weighting, similarity=similarity, progress=progress)
    counts = result.counts()
    meta = {"old_tokenizer": old_path, "new_tokenizer": new_path, "top_k": top_k, "local_weight": local_weight,
            "temperature": temperature, "weighting": weighting, "similarity": similarity,
            **{f"rows_{k}": v for k, v in counts.items()}}
    save_embeddings(output, result.matrix, tensor=output_tensor, metadata=meta)
    summary = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    click.echo(f"wrote {output}: {result.matrix.shape[0]} x {result.matrix.shape[1]} ({summary})")


@click.command("heal")
@tokenizer_option
@click.argument("text", required=False)
@click.option("--input", "input_path", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Read the prompt from a file ('-' for stdin).")
@click.option("--backoff", type=click.IntRange(0), default=None,
              help="Remove exactly this many tokens (default: the tokens of the last pre-token).")
@click.option("--show", type=click.IntRange(0), default=20, show_default=True,
              help="How many allowed first tokens to list.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def heal_cmd(tokenizer_path, text, input_path, backoff, show, as_json):
    """Token healing: print the kept prompt ids, the removed bytes and the allowed first tokens."""
    from ..transfer.healing import heal_prompt

    tok = load(tokenizer_path)
    prompt = text_argument(text, input_path)
    plan = heal_prompt(tok, prompt, backoff=backoff)
    allowed = plan.allowed_ids()
    listed = [] if allowed is None else allowed[:show].tolist()
    out = {
        "prompt_ids": plan.prompt_ids,
        "removed_ids": plan.removed_ids,
        "removed": plan.removed.decode("utf-8", errors="backslashreplace"),
        "n_allowed_first": None if allowed is None else len(allowed),
        "allowed_first": [{"id": i, "bytes": tok.token_bytes(i).decode("utf-8", errors="backslashreplace")}
                          for i in listed],
    }
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False))
        return
    kept = tok.decode(plan.prompt_ids) if plan.prompt_ids else ""
    click.echo(f"prompt kept:   {kept!r} ({len(plan.prompt_ids)} tokens: {' '.join(map(str, plan.prompt_ids))})")
    click.echo(f"backed off:    {out['removed']!r} (ids {' '.join(map(str, plan.removed_ids)) or '-'})")
    if allowed is None:
        click.echo("first token:   unconstrained (nothing was removed)")
        return
    click.echo(f"first token:   one of {len(allowed)} tokens that start with {out['removed']!r}"
               + (f"; the first {len(listed)}:" if len(listed) < len(allowed) else ":"))
    for entry in out["allowed_first"]:
        click.echo(f"  {entry['id']:>8}  {entry['bytes']!r}")
