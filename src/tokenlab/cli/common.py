"""Helpers shared by CLI commands: reading text strictly, loading tokenizers, writing outputs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

from ..errors import InvalidInputError


def read_text_file(path: str | Path) -> str:
    """Whole file as text; invalid UTF-8 is an error naming the file and byte offset."""
    data = sys.stdin.buffer.read() if str(path) == "-" else Path(path).read_bytes()
    return decode_utf8(data, str(path))


def decode_utf8(data: bytes, where: str = "input") -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{where}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None


def iter_corpus(paths, chunk_chars: int = 1 << 20) -> Iterator[str]:
    """Documents of corpus inputs (text, JSONL, Parquet, datasets dirs; see `tokenlab.corpus_io`), read with
    the options of :func:`corpus_input_options`; text files come in ~1 MB pieces cut at line ends."""
    from ..corpus_io import iter_documents

    return iter_documents(paths)


def corpus_input_options(fn):
    """--field/--column/--sample-bytes/--seed for commands that read corpus files; the command runs with them
    set for every corpus reader it calls."""
    import functools

    from ..corpus_io import corpus_options

    @functools.wraps(fn)
    def run(*args, field, column, sample_bytes, seed, **kw):
        with corpus_options(field=field, column=column, sample_bytes=sample_bytes, seed=seed):
            return fn(*args, **kw)

    for option in reversed([
        click.option("--field", default="text", show_default=True,
                     help="Text field of JSONL records / HF datasets rows."),
        click.option("--column", default=None, help="Text column of Parquet files (default: --field)."),
        click.option("--sample-bytes", type=click.IntRange(1), default=None, metavar="N",
                     help="Use a random sample of whole documents of at most N bytes (reproducible with --seed)."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of --sample-bytes."),
    ]):
        run = option(run)
    return run


def load(path):
    """A tokenizer file, or a short name (cl100k, o200k, tekken, mistral-sp, utf8-bytes, train:CORPUS[:VOCAB])."""
    from ..io import load_tokenizer

    if not Path(path).exists():  # a short name, or an error that lists them
        from ..evaluate.report import reference_tokenizer

        return reference_tokenizer(str(path))
    return load_tokenizer(path)


def text_argument(text: str | None, input_path: str | None) -> str:
    if text is not None and input_path is not None:
        raise click.UsageError("give TEXT or --input, not both")
    if text is None and input_path is None:
        raise click.UsageError("give TEXT or --input FILE ('-' for stdin)")
    return text if text is not None else read_text_file(input_path)


tokenizer_option = click.option(
    "-t", "--tokenizer", "tokenizer_path", required=True, type=click.Path(dir_okay=False),
    help="Tokenizer file (tokenlab json, HF tokenizer.json, .tiktoken, tekken.json, SentencePiece .model) or a "
         "short name: cl100k, o200k, tekken, mistral-sp, utf8-bytes.",
)
progress_option = click.option("--progress/--no-progress", default=True, show_default=True,
                               help="Show a progress bar.")
