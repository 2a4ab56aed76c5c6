"""Evaluation commands: compare, metrics, health, eval-data."""

from __future__ import annotations

import json

import click

from ..errors import InvalidInputError
from .common import corpus_input_options, progress_option

corpus_option = click.option(
    "-c", "--corpus", "corpora", multiple=True,
    help="Corpus: parallel (Django translations, 24 languages), code (Python stdlib), prose (Python docs) or a "
         "UTF-8 text file. Repeatable.")
languages_option = click.option(
    "--languages", default=None, metavar="LANG,LANG,...",
    help="Languages of the parallel corpus (Django locale names, e.g. de,ru,ja,zh_Hans); English is always added.")
limit_option = click.option("--limit-bytes", type=click.IntRange(1000), default=300_000, show_default=True,
                            help="How much of the code/prose corpora to use.")


def register(group: click.Group) -> None:
    for cmd in (compare, metrics, health, eval_data):
        group.add_command(cmd)


def _languages(value: str | None):
    if value is None:
        return None
    langs = [x.strip() for x in value.split(",") if x.strip()]
    if not langs:
        raise click.BadParameter("empty language list", param_hint="--languages")
    return langs


def _load_all(specs) -> dict:
    from ..evaluate.report import reference_tokenizer

    out = {}
    for spec in specs:
        tok = reference_tokenizer(spec)
        name = getattr(tok, "name", "") or spec
        base, k = name, 2
        while name in out:
            name, k = f"{base}#{k}", k + 1
        out[name] = tok
    return out


@click.command()
@click.argument("tokenizers", nargs=-1, required=True, metavar="TOKENIZER...")
@corpus_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the HTML report here.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Also write all numbers as JSON.")
@languages_option
@limit_option
@click.option("--title", default="Tokenizer comparison", show_default=True)
@click.option("--linguistic", default=None, metavar="LANG,LANG,...",
              help="Add morpheme-boundary F1, %TR and %Pure for these languages (tr, ru, ko, ja, zh_Hans).")
@click.option("--drift", "drift", type=click.IntRange(0), default=0, metavar="N",
              help="Add a token-drift section: N stdlib functions and N Django strings of en, de, ru through "
                   "meaning-preserving rewrites (see `tokenlab drift`).")
@progress_option
@corpus_input_options
def compare(tokenizers, corpora, output, json_path, languages, limit_bytes, title, linguistic, drift, progress):
    """Compare tokenizers on the same corpora: print a table, write an HTML report.

    TOKENIZER is a tokenizer file (tokenlab json, HF tokenizer.json, .tiktoken, tekken, SentencePiece
    .model) or one of the shipped references cl100k, tekken, mistral-sp and utf8-bytes. Default corpora:
    parallel and code.

    Example: tokenlab compare cl100k tekken mine.json -c parallel -c code -o report.html
    """
    from ..evaluate.report import compare as run_compare
    from ..evaluate.report import format_table, write_report

    toks = _load_all(tokenizers)
    result = run_compare(toks, corpora or ("parallel", "code"), languages=_languages(languages),
                         limit_bytes=limit_bytes, progress=progress, linguistic=_languages(linguistic) or (),
                         drift=drift)
    click.echo(format_table(result))
    for name, per_lang in result.linguistic.items():
        click.echo(f"{name} morphology: " + "  ".join(
            f"{lang} F1={r['f1']:.3f} %TR={r['tr_percent']:.1f} %Pure={r['pure_percent']:.1f}"
            for lang, r in per_lang.items()))
    for name, rows in result.drift.items():
        spills = [r["spillover"] for r in rows if r["spillover"] == r["spillover"]]  # NaN: nothing untouched
        if not spills:
            continue
        worst = max((r for r in rows if r["spillover"] == r["spillover"]), key=lambda r: r["spillover"])
        click.echo(f"{name} drift: mean spillover {100 * sum(spills) / max(1, len(spills)):.2f}% over "
                   f"{len(spills)} rewrites, worst {worst['rewrite']} {100 * worst['spillover']:.2f}%")
    if output:
        write_report(result, output, title=title)
        click.echo(f"report -> {output}", err=True)
    if json_path:
        from ..io.atomic import atomic_write_text

        atomic_write_text(json_path, json.dumps(result.to_dict(), indent=1, ensure_ascii=False))


@click.command()
@click.argument("tokenizer", metavar="TOKENIZER")
@corpus_option
@languages_option
@limit_option
@click.option("--alpha", type=click.FloatRange(0), default=2.5, show_default=True, help="Rényi order.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@corpus_input_options
def metrics(tokenizer, corpora, languages, limit_bytes, alpha, as_json):
    """Every metric for one TOKENIZER (a tokenizer file, or cl100k / tekken / mistral-sp / utf8-bytes)."""
    from ..evaluate.data import DEFAULT_LANGUAGES, django_parallel, load_corpus
    from ..evaluate.metrics import (
        language_completeness,
        number_split_consistency,
        script_coverage,
        summarize,
        token_premiums,
    )
    from ..evaluate.report import reference_tokenizer

    tok = reference_tokenizer(tokenizer)
    corpora = corpora or ("parallel", "code")
    out: dict = {"tokenizer": getattr(tok, "name", tokenizer), "corpora": {}}
    langs = _languages(languages) or DEFAULT_LANGUAGES
    for spec in dict.fromkeys(corpora):
        if spec == "parallel":
            par = django_parallel(["en"] + [x for x in langs if x != "en"])
            out["corpora"][spec] = summarize(tok, ["\n".join(v) for v in par.values()], alpha=alpha)
            out["token_premium"] = token_premiums(tok, par)
            out["char_completeness"] = language_completeness(tok, par)
        else:
            out["corpora"][spec] = summarize(tok, load_corpus(spec, limit_bytes=limit_bytes), alpha=alpha)
    nums = number_split_consistency(tok)
    out["numbers"] = {"consistency": nums["consistency"], "single_token": nums["single_token"],
                      "patterns": {str(k): list(v) for k, v in nums["patterns"].items()}}
    out["script_coverage"] = script_coverage(tok)
    if as_json:
        click.echo(json.dumps(out, indent=1, ensure_ascii=False))
        return
    click.echo(f"tokenizer: {out['tokenizer']}")
    for spec, row in out["corpora"].items():
        click.echo(f"[{spec}] " + "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                           for k, v in row.items()))
    for key in ("token_premium", "char_completeness"):
        if key in out:
            click.echo(f"{key}: " + "  ".join(f"{k}={v:.2f}" for k, v in out[key].items()))
    click.echo(f"numbers: consistency={nums['consistency']:.3f} single_token={nums['single_token']:.3f} "
               f"patterns={out['numbers']['patterns']}")
    click.echo("script coverage: " + "  ".join(f"{k}={v:.2%}" for k, v in list(out["script_coverage"].items())[:12]))


@click.command()
@click.argument("tokenizer", metavar="TOKENIZER")
@click.option("-c", "--corpus", "corpora", multiple=True,
              help="Reference corpus for 'never produced' tokens (parallel, code, prose or a file). Repeatable.")
@click.option("--embeddings", type=click.Path(dir_okay=False),
              help="(Un)embedding matrix (.npy or .safetensors), rows = token ids: flags under-trained tokens.")
@click.option("--key", default=None, help="Tensor name inside a .safetensors file (default: lm_head, else embed).")
@click.option("--known-unused", default=None, metavar="ID,ID,...",
              help="Ids known to be unused for the weight indicator (default: the unreachable tokens).")
@click.option("--limit-bytes", type=click.IntRange(1000), default=300_000, show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write the full lists as JSON ('-' for stdout).")
@progress_option
def health(tokenizer, corpora, embeddings, key, known_unused, limit_bytes, json_path, progress):
    """Token health of TOKENIZER (Magikarp): unreachable, partial-UTF-8, unused, duplicate-looking, under-trained."""
    from ..evaluate.data import load_corpus
    from ..evaluate.health import load_embeddings, token_health
    from ..evaluate.report import reference_tokenizer

    tok = reference_tokenizer(tokenizer)
    texts = None
    if embeddings and not corpora and not known_unused:
        corpora = ("prose", "code")  # unused tokens calibrate the weight indicator when none is unreachable
    if corpora:
        texts = [t for spec in dict.fromkeys(corpora) for t in load_corpus(spec, limit_bytes=limit_bytes)]
    matrix = load_embeddings(embeddings, key) if embeddings else None
    known = None
    if known_unused:
        try:
            known = [int(x) for x in known_unused.split(",") if x.strip()]
        except ValueError:
            raise click.BadParameter("expected comma-separated integer ids", param_hint="--known-unused") from None
    if matrix is not None and matrix.shape[0] < len(getattr(tok, "vocab", {})):
        raise InvalidInputError(f"embedding matrix has {matrix.shape[0]} rows but the tokenizer has "
                                f"{len(tok.vocab)} tokens")
    report = token_health(tok, texts, matrix, known, progress=progress)
    for k, v in report.summary().items():
        if v is not None:
            click.echo(f"{k:18} {v}")
    for k, v in report.examples.items():
        if v:
            click.echo(f"{k} e.g.: " + ", ".join(v[:8]))
    if json_path:
        data = json.dumps(report.to_dict(), ensure_ascii=False)
        if json_path == "-":
            click.echo(data)
        else:
            from ..io.atomic import atomic_write_text

            atomic_write_text(json_path, data)


@click.command("eval-data")
@click.option("-o", "--output-dir", required=True, type=click.Path(file_okay=False),
              help="Directory for one aligned text file per language (LANG.txt, one entry per line).")
@languages_option
@limit_option
def eval_data(output_dir, languages, limit_bytes):
    """Export the shipped corpora as text files: LANG.txt (aligned Django translations), code.txt, prose.txt."""
    from pathlib import Path

    from ..evaluate.data import DEFAULT_LANGUAGES, django_parallel, python_prose, stdlib_code
    from ..io.atomic import atomic_write_text

    atomic_write_text(Path(output_dir) / "code.txt", "\n".join(stdlib_code(limit_bytes)))
    atomic_write_text(Path(output_dir) / "prose.txt", "\n".join(python_prose(limit_bytes)))
    langs = _languages(languages) or DEFAULT_LANGUAGES
    par = django_parallel(["en"] + [x for x in langs if x != "en"])
    for lang, lines in par.items():
        atomic_write_text(Path(output_dir) / f"{lang}.txt", "".join(s.replace("\n", " ") + "\n" for s in lines))
    click.echo(f"{len(par)} languages x {len(par['en'])} entries -> {output_dir}", err=True)
