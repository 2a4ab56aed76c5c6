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
    """Documents from text files: each file in ~1 MB pieces cut at line ends.

    A line longer than that stays whole unless ``cut_long_lines``: then it is cut before a space that follows
    a letter or digit, where the named pre-tokenizers always split (see :func:`safe_space_cut`), so a 200 MB
    single-line file is read in pieces with the same pretokens.
    """
    for path in paths:
        if not Path(path).is_file():
            raise InvalidInputError(f"{path}: no such file")
        with open(path, "rb") as f:
            yield from iter_text_chunks(f, str(path), chunk_chars, newline=True, space=cut_long_lines)


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
    from ..io import load_tokenizer

    return load_tokenizer(path)


def text_argument(text: str | None, input_path: str | None) -> str:
    if text is not None and input_path is not None:
        raise click.UsageError("give TEXT or --input, not both")
    if text is None and input_path is None:
        raise click.UsageError("give TEXT or --input FILE ('-' for stdin)")
    return text if text is not None else read_text_file(input_path)


tokenizer_option = click.option(
    "-t", "--tokenizer", "tokenizer_path", required=True, type=click.Path(dir_okay=False),
    help="Tokenizer file: tokenlab json, HF tokenizer.json, .tiktoken, tekken.json or SentencePiece .model.",
)
progress_option = click.option("--progress/--no-progress", default=True, show_default=True,
                               help="Show a progress bar.")
