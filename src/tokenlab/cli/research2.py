"""Research tools of issue 13: linguistic evaluation, robustness, data formatters, dynamic and cross-tokenizer tools."""

from __future__ import annotations

import json

import click

from ..errors import InvalidInputError
from .common import read_text_file


def register(group: click.Group) -> None:
    import tokenlab.models  # noqa: F401 - registers our JSON formats for every loader

    for cmd in _COMMANDS:
        group.add_command(cmd)


_COMMANDS: list[click.Command] = []


def _command(*args, **kwargs):
    def wrap(fn):
        cmd = click.command(*args, **kwargs)(fn)
        _COMMANDS.append(cmd)
        return cmd

    return wrap


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


def _emit(body: str, output: str | None) -> None:
    if output:
        from ..io.atomic import atomic_write_text

        atomic_write_text(output, body if body.endswith("\n") else body + "\n")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(body.rstrip("\n"))


def _lines(path: str) -> list[str]:
    lines = [x for x in read_text_file(path).splitlines() if x.strip()]
    if not lines:
        raise InvalidInputError(f"{path}: no text")
    return lines


# ---------------------------------------------------------------------------- item 1
@_command("morph-eval")
@click.argument("tokenizers", nargs=-1, required=True, metavar="TOKENIZER...")
@click.option("-l", "--language", "languages", default="tr", show_default=True, metavar="LANG,LANG,...",
              help="Languages with an analyser: tr (zeyrek), ru (pymorphy3), ko (kiwipiepy), ja (fugashi), "
                   "zh_Hans (jieba).")
@click.option("--analyser", default=None,
              help="Analyser instead of the language's own: zeyrek, pymorphy3, kiwi, fugashi, jieba, morfessor.")
@click.option("--text", "text_path", type=click.Path(dir_okay=False),
              help="Text to evaluate on, one sentence per line (default: the Django translations of the language).")
@click.option("--gold", "gold_path", type=click.Path(dir_okay=False),
              help="Hand segmentation instead of an analyser: words with '+' between morphemes, e.g. ev+ler+den.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the table here.")
def morph_eval(tokenizers, languages, analyser, text_path, gold_path, as_json, output):
    """Morpheme-boundary precision/recall/F1, %TR and %Pure of each TOKENIZER against a morphological analyser.

    Example: tokenlab morph-eval cl100k mine.json -l tr,ru
    """
    from ..evaluate.linguistic import MarkedGold, analyser_for, morph_scores

    toks = _load_all(tokenizers)
    rows = []
    if gold_path:
        gold, text = MarkedGold.from_marked(read_text_file(gold_path))
        sources = [("gold", gold, text.splitlines())]
    else:
        langs = [x.strip() for x in languages.split(",") if x.strip()]
        if not langs:
            raise click.BadParameter("empty language list", param_hint="--language")
        sources = []
        for lang in langs:
            if text_path:
                texts = _lines(text_path)
            else:
                from ..evaluate.data import django_parallel

                texts = django_parallel([lang])[lang]
            spec = analyser or lang
            if spec == "morfessor":
                spec = f"morfessor:{lang}"
            sources.append((lang, analyser_for(spec, texts), texts))
    for lang, an, texts in sources:
        for name, tok in toks.items():
            rows.append({"tokenizer": name, "language": lang, "analyser": an.name,
                         **morph_scores(tok, texts, an).to_dict()})
    if as_json:
        _emit(json.dumps(rows, indent=1, ensure_ascii=False), output)
        return
    head = (f"{'tokenizer':24} {'lang':8} {'analyser':10} {'P':>6} {'R':>6} {'F1':>6} {'%TR':>6} {'%Pure':>6} "
            f"{'words':>6}")
    body = [head] + [f"{r['tokenizer'][:24]:24} {r['language']:8} {r['analyser']:10} {r['precision']:6.3f} "
                     f"{r['recall']:6.3f} {r['f1']:6.3f} {r['tr_percent']:6.1f} {r['pure_percent']:6.1f} "
                     f"{r['words']:6d}" for r in rows]
    _emit("\n".join(body), output)
