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
    """Documents from text files: each file in ~1 MB pieces cut at line ends (huge lines stay whole)."""
    for path in paths:
        if not Path(path).is_file():
            raise InvalidInputError(f"{path}: no such file")
        with open(path, "rb") as f:
            buf: list[bytes] = []
            size = 0
            offset = 0
            for line in f:
                buf.append(line)
                size += len(line)
                if size >= chunk_chars:
                    yield decode_utf8(b"".join(buf), f"{path} (near byte {offset})")
                    offset += size
                    buf, size = [], 0
            if buf:
                yield decode_utf8(b"".join(buf), f"{path} (near byte {offset})")


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
