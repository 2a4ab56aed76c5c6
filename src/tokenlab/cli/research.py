"""Research trainers (`tokenlab train --algorithm ...`) and `tokenlab research-table`."""

from __future__ import annotations

import json

import click

from ..errors import InvalidInputError
from .common import iter_corpus, progress_option
from .core import ALGORITHMS


def _superbpe(corpus, **kw):
    """SuperBPE: BPE to 90% of the vocab, then superword merges across spaces (HF-exportable)."""
    from ..train.superbpe import train_superbpe

    return train_superbpe(corpus, **kw)


def _boundless(corpus, **kw):
    """BoundlessBPE: merges and supermerges of whole pretokens in one ranking (own format)."""
    from ..train.superbpe import train_boundless

    return train_boundless(corpus, **kw)


def _scaffold(corpus, **kw):
    """Scaffold-BPE: rare step tokens are kept for merging but split back on output (own format)."""
    from ..train.scaffold import train_scaffold

    return train_scaffold(corpus, **kw)


def _char_bpe(corpus, **kw):
    """Character-level BPE, tokens of at most 3 characters (4 from 16k vocab), byte fallback."""
    from ..train.char_bpe import train_char_bpe

    return train_char_bpe(corpus, **kw)


ALGORITHMS.setdefault("superbpe", _superbpe)
ALGORITHMS.setdefault("boundless", _boundless)
ALGORITHMS.setdefault("scaffold", _scaffold)
ALGORITHMS.setdefault("char-bpe", _char_bpe)


def register(group: click.Group) -> None:
    import tokenlab.models  # noqa: F401 - registers our JSON formats for every command's loader

    group.add_command(research_table_cmd)
    group.add_command(import_wordpiece)


def _names(values) -> list[str] | None:
    out = [v.strip().lower() for item in values for v in item.split(",") if v.strip()]
    return out or None


def _load_extra(path: str):
    from ..io import load_tokenizer

    if path.endswith(".txt"):
        from ..models.wordpiece import WordPieceTokenizer

        return WordPieceTokenizer.from_vocab_txt(path)
    return load_tokenizer(path)


@click.command("research-table")
@click.argument("corpus", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--corpus", "corpus_opt", multiple=True, type=click.Path(dir_okay=False),
              help="Training text file (repeatable; same as the positional CORPUS).")
@click.option("--vocab-size", type=click.IntRange(300), default=2000, show_default=True)
@click.option("--algorithms", "algorithms", multiple=True,
              help="Comma-separated trainers (default: all in `tokenlab algorithms`).")
@click.option("--methods", "methods", multiple=True,
              help="Comma-separated inference methods run on the BPE model (default: all but merge; "
                   "'none' for none).")
@click.option("--eval", "eval_path", type=click.Path(dir_okay=False),
              help="Held-out text (default: the last 10% of the corpus).")
@click.option("--tokenizer", "extra", multiple=True, type=click.Path(dir_okay=False),
              help="Also measure this tokenizer file (any format; a .txt is read as a BERT WordPiece vocab).")
@click.option("--pretokenizer", default="gpt2", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the table here (markdown).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON rows instead of markdown.")
@click.option("--morphology", default=None, metavar="ANALYSER",
              help="Add morpheme-boundary F1, %TR and %Pure on the held-out text: tr, ru, ko, ja, zh_Hans, morfessor "
                   "(learnt from the training text), or gold:FILE (words with '+' between morphemes).")
@progress_option
def research_table_cmd(corpus, corpus_opt, vocab_size, algorithms, methods, eval_path, extra, pretokenizer, output,
                       as_json, morphology, progress):
    """Train every algorithm at one vocab size and compare bytes/token, tokens/word, vocab use."""
    from ..io.atomic import atomic_write_text
    from ..research_table import research_table, to_json_rows, to_markdown
    from .common import read_text_file

    paths = list(corpus) + list(corpus_opt)
    if not paths:
        raise click.UsageError("give at least one CORPUS file")
    docs = list(iter_corpus(paths))
    if not any(docs):
        raise InvalidInputError("the corpus is empty")
    method_names = _names(methods)
    if method_names == ["none"]:
        method_names = []
    eval_text = read_text_file(eval_path) if eval_path else None
    extras = {p: _load_extra(p) for p in extra}
    if morphology and morphology.startswith("gold:"):
        from ..evaluate.linguistic import MarkedGold

        morphology = MarkedGold.from_marked(read_text_file(morphology[5:]))[0]
    rows = research_table(docs, vocab_size, algorithms=_names(algorithms), methods=method_names,
                          eval_text=eval_text, pretokenizer=pretokenizer, tokenizers=extras, progress=progress,
                          morphology=morphology)
    if as_json:
        body = json.dumps(to_json_rows(rows), indent=1)
    else:
        body = to_markdown(rows, title=f"vocab size {vocab_size}, corpus: {', '.join(paths)}")
    if output:
        atomic_write_text(output, body if body.endswith("\n") else body + "\n")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(body.rstrip("\n"))


@click.command("import-wordpiece")
@click.argument("vocab_txt", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
@click.option("--cased", is_flag=True, help="Keep case and accents (BERT cased vocabularies).")
def import_wordpiece(vocab_txt, output, cased):
    """Turn a BERT vocab.txt into a tokenizer file that every command can load."""
    from ..models.wordpiece import WordPieceTokenizer

    tok = WordPieceTokenizer.from_vocab_txt(vocab_txt, lowercase=not cased)
    tok.save(output)
    click.echo(f"wrote {output} ({tok!r})", err=True)
