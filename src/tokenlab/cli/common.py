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


def iter_corpus(paths, chunk_chars: int = 1 << 20, cut_long_lines: bool = False) -> Iterator[str]:
    """Documents of corpus inputs (text, JSONL, Parquet, datasets dirs; see `tokenlab.corpus_io`), read with
    the options of :func:`corpus_input_options`.

    With ``cut_long_lines``, plain uncompressed text files (and no sampling) are read in ~1 MB pieces cut at line
    ends, and a longer line is cut before a space that follows a letter or digit, where the named pre-tokenizers
    always split (see :func:`safe_space_cut`): a 200 MB single-line file is read in pieces with the same pretokens.
    """
    from ..corpus_io import _compression, current_options, detect_format, iter_documents

    paths = list(paths)
    plain = all(detect_format(p) == "text" and not _compression(Path(p)) for p in paths)
    if cut_long_lines and plain and not current_options().sample_bytes:
        return _iter_text_files(paths, chunk_chars)
    return iter_documents(paths)


def _iter_text_files(paths, chunk_chars: int) -> Iterator[str]:
    for path in paths:
        with open(path, "rb") as f:
            yield from iter_text_chunks(f, str(path), chunk_chars, newline=True, space=True)


cluster_option = click.option(
    "--cluster", default=None, metavar="SPEC",
    help="Run the map step on a cluster: dask:ADDRESS (a running Dask scheduler), ray (the running Ray, else a "
         "new local one) or ray:ADDRESS. Results equal a local run.")


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


# Pre-tokenizers for which "letter or digit, then a space" is always a piece boundary that depends on nothing
# left of it: a text cut there pre-tokenizes exactly like the whole text.
SAFE_CUT_PATTERNS = frozenset({"gpt2", "cl100k", "o200k", "tekken", "whitespace"})


def safe_space_cut(data: bytes, limit: int = 4096) -> int:
    """The last offset ``p`` where ``data[p]`` is a space preceded by a letter or digit; 0 when none."""
    p = data.rfind(b" ")
    while p > 0 and limit > 0:
        limit -= 1
        q = p - 1
        while q > 0 and data[q] & 0xC0 == 0x80:  # back to the start of the previous character
            q -= 1
        try:
            if data[q:p].decode("utf-8").isalnum():
                return p
        except UnicodeDecodeError:
            pass
        p = data.rfind(b" ", 0, p)
    return 0


def iter_text_chunks(f, where: str, chunk_bytes: int = 1 << 20, newline: bool = True,
                     space: bool = False) -> Iterator[str]:
    """Text of a binary stream in pieces of about ``chunk_bytes``, cut after a newline (``newline``) or
    before a safe space (``space``); a piece with no allowed cut grows until one comes or the stream ends."""
    blocks: list[bytes] = []
    size = offset = 0
    want = chunk_bytes
    while True:
        block = f.read(chunk_bytes)
        if block:
            blocks.append(block)
            size += len(block)
            if size < want:
                continue
        pending = b"".join(blocks)
        if not block:
            if pending:
                yield decode_utf8(pending, f"{where} (near byte {offset})")
            return
        cut = pending.rfind(b"\n") + 1 if newline else 0
        if cut <= 0 and space:
            cut = safe_space_cut(pending)
        if cut <= 0:  # no place to cut yet: read on (doubling, so a huge uncuttable line costs O(n))
            blocks, want = [pending], size * 2
            continue
        yield decode_utf8(pending[:cut], f"{where} (near byte {offset})")
        offset += cut
        rest = pending[cut:]
        blocks, size, want = ([rest] if rest else []), len(rest), chunk_bytes


def load(path):
    """A tokenizer file, or a short name (cl100k, o200k, tekken, mistral-sp, utf8-bytes, train:CORPUS[:VOCAB])."""
    if str(path) in ("cl100k", "o200k", "cl100k_base", "o200k_base") and not Path(path).exists():
        from ..io.tiktoken_file import shipped_openai  # the one-shot path: no evaluate imports

        return shipped_openai(str(path).removesuffix("_base"))
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
