"""File formats: tokenlab json, HF tokenizer.json, tiktoken rank files, Mistral tekken, SentencePiece .model."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import FormatError
from .atomic import atomic_path, atomic_write_bytes, atomic_write_text
from .hf_json import read_hf_json, write_hf_json
from .sentencepiece import looks_like_sentencepiece, read_sentencepiece
from .tekken import read_tekken
from .tiktoken_file import read_tiktoken, write_tiktoken
from .validate import load_json, with_file

__all__ = ["load_tokenizer", "save_tokenizer", "read_hf_json", "write_hf_json", "read_tekken", "read_sentencepiece",
           "read_tiktoken", "write_tiktoken", "atomic_path", "atomic_write_bytes", "atomic_write_text",
           "detect_format", "to_hf_json_str"]


# JSON files of other model kinds: the value of their "format" key -> "module:function" reading a path.
# Modules for Unigram, WordPiece, ... register here so that every command loads them by path.
JSON_FORMATS: dict[str, str] = {
    "unigram": "tokenlab.models.unigram:load_unigram",
    "tokenlab-method": "tokenlab.encode.methods:load_method_tokenizer",
    "tokenlab-superword": "tokenlab.models.superword:load_superword",
    "tokenlab-scaffold": "tokenlab.models.scaffold:load_scaffold",
    "tokenlab-charbpe": "tokenlab.models.char_bpe:load_char_bpe",
    "tokenlab-wordpiece": "tokenlab.models.wordpiece:load_wordpiece",
    "wordpiece-vocab": "tokenlab.models.wordpiece:load_wordpiece",
    "tokenlab-sentencepiece": "tokenlab.models.sentencepiece:load_sentencepiece_json",
    "tokenlab-metaspace-bpe": "tokenlab.models.metaspace_bpe:load_metaspace_bpe",
    "tokenlab-metaspace-unigram": "tokenlab.models.metaspace_bpe:load_metaspace_unigram",
}


def detect_format(path) -> str:
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    if path.suffix == ".tiktoken":
        return "tiktoken"
    with open(path, "rb") as f:
        raw = f.read(4096)
    if looks_like_sentencepiece(raw):
        return "sentencepiece"
    head = raw.lstrip()
    if not head.startswith(b"{"):
        first = head.split(b"\n", 1)[0].split()
        if path.suffix == ".txt" and len(first) == 1:
            return "wordpiece-vocab"  # BERT vocab.txt: one token per line
        return "tiktoken"
    d = load_json(path)
    if isinstance(d, dict):
        if d.get("format") == "tokenlab":
            return "tokenlab"
        if isinstance(d.get("format"), str) and d["format"] in JSON_FORMATS:
            return d["format"]
        if "model" in d:
            return "hf"
        if "config" in d and "vocab" in d:
            return "tekken"
    raise FormatError(f"{path}: unrecognised tokenizer file")


def load_tokenizer(path, format: str | None = None, **kwargs):
    """Load a tokenizer from any supported file; ``format`` overrides detection."""
    fmt = format or detect_format(path)
    try:
        return _load(path, fmt, kwargs)
    except FormatError as exc:
        raise with_file(exc, path) from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError, RecursionError) as exc:
        # a reader missed a check: still one line naming the file, never a traceback
        raise FormatError(f"{path}: corrupt {fmt} file ({type(exc).__name__}: {exc})") from None


def _load(path, fmt: str, kwargs: dict):
    from ..tokenizer import Tokenizer

    if fmt == "tokenlab":
        return Tokenizer.from_dict(load_json(path), where=str(path))
    if fmt == "hf":
        return read_hf_json(path)
    if fmt == "tekken":
        return read_tekken(path, **kwargs)
    if fmt == "tiktoken":
        return read_tiktoken(path, **kwargs)
    if fmt == "sentencepiece":
        return read_sentencepiece(path)
    if fmt in JSON_FORMATS:
        import importlib

        module, func = JSON_FORMATS[fmt].split(":")
        return getattr(importlib.import_module(module), func)(path)
    raise FormatError(f"unknown tokenizer format {fmt!r} (tokenlab, hf, tiktoken, tekken, sentencepiece)")


def save_tokenizer(tok, path, format: str = "tokenlab") -> None:
    """Write ``tok``; models other than byte-level BPE write their own JSON via ``tok.save``."""
    from ..tokenizer import Tokenizer

    if not isinstance(tok, Tokenizer):
        if format == "hf" and hasattr(tok, "save_hf"):
            tok.save_hf(path)
        elif format == "hf" and hasattr(tok, "to_hf_dict"):  # e.g. a Metaspace BPE read from a tokenizer.json
            import json

            from .atomic import atomic_write_text

            atomic_write_text(path, json.dumps(tok.to_hf_dict(), ensure_ascii=False))
        elif format in ("tokenlab", getattr(tok, "format_name", "tokenlab")):
            tok.save(path)
        else:
            raise FormatError(f"{type(tok).__name__} cannot be written as {format!r}; "
                              f"use its own format ({getattr(tok, 'format_name', 'tokenlab')!r})")
    elif format == "tokenlab":
        tok.save(path)
    elif format == "hf":
        write_hf_json(tok, path)
    elif format == "tiktoken":
        write_tiktoken(tok, path)
    else:
        raise FormatError(f"cannot write format {format!r} (tokenlab, hf, tiktoken)")


def to_hf_json_str(tok) -> str:
    """tokenizer.json text, for ``tokenizers.Tokenizer.from_str``."""
    from .hf_json import to_hf_dict

    return json.dumps(to_hf_dict(tok), ensure_ascii=False)
