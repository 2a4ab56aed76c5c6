"""``tokenlab infer-mixture``: what a BPE merge list reveals about the training data's mixture."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .common import iter_corpus, load, progress_option, tokenizer_option


def register(group: click.Group) -> None:
    group.add_command(infer_mixture_command)


def _parse_categories(items) -> dict[str, list[str]]:
    """NAME=FILE items -> name -> files (a repeated NAME pools its files)."""
    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, path = item.partition("=")
        name = name.strip()
        if not sep or not name or not path:
            raise click.BadParameter(f"expected NAME=FILE, got {item!r}", param_hint="--category")
        if not Path(path).is_file():
            raise click.BadParameter(f"{path}: no such file", param_hint="--category")
        out.setdefault(name, []).append(path)
    return out


@click.command("infer-mixture")
@tokenizer_option
@click.option("-c", "--category", "categories", multiple=True, required=True, metavar="NAME=FILE",
              help="Sample text of one category (UTF-8 file); repeat per category, or per file of a category.")
@click.option("--merges", "n_merges", type=click.IntRange(1), default=1000, show_default=True,
              help="Use the first N merges of the tokenizer.")
@click.option("--top-pairs", type=click.IntRange(1), default=30, show_default=True,
              help="Rival pairs per category and merge that enter the linear program.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@progress_option
def infer_mixture_command(tokenizer_path, categories, n_merges, top_pairs, as_json, progress):
    """Estimate the share of each category in a BPE tokenizer's training data (Hayase et al., 2024).

    Give sample text per category, e.g. --category en=english.txt --category code=code.py.
    The estimate is in bytes of training text; categories not given cannot be accounted for.
    """
    from ..evaluate.mixture import infer_mixture

    tok = load(tokenizer_path)
    files = _parse_categories(categories)
    samples = {name: iter_corpus(paths) for name, paths in files.items()}
    result = infer_mixture(tok, samples, n_merges=n_merges, top_pairs=top_pairs, progress=progress)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    width = max(len(n) for n in result.proportions)
    for name, share in sorted(result.proportions.items(), key=lambda kv: -kv[1]):
        click.echo(f"{name:<{width}}  {share:7.2%}")
    click.echo(f"({result.merges_used} merges, {result.constraints} of {result.candidates} inequalities in the LP, "
               f"{result.unseen_merges} merges unseen in every sample, total slack {result.total_slack:.4g})",
               err=True)
