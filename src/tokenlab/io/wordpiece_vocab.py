"""BERT ``vocab.txt``: one WordPiece token per line, id = line number (read into `WordPieceTokenizer`)."""

from __future__ import annotations

from pathlib import Path

from ..errors import FormatError


def read_vocab_txt(path) -> dict[str, int]:
    """Token -> id of a vocab.txt; a repeated token or an empty file is an error naming the file."""
    try:
        lines = Path(path).read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    if lines and lines[-1] == "":
        lines.pop()
    vocab: dict[str, int] = {}
    # read_text reads \r\n and a lone \r as \n, as transformers' load_vocab does: no line holds a \r
    for i, tok in enumerate(lines):
        if tok in vocab:  # HF keeps the last line, BERT's reference the last too: refuse rather than guess
            raise FormatError(f"{path}: line {i + 1}: token {tok!r} is also on line {vocab[tok] + 1}")
        vocab[tok] = i
    if not vocab:
        raise FormatError(f"{path}: empty vocabulary")
    return vocab
