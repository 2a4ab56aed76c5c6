"""The tokenizer pipeline with HF ``tokenizers`` semantics: normalizers, pre-tokenizers, models, post-processors,
decoders and added tokens as small components, composed by `PipelineTokenizer` (read from and written to any
tokenizer.json). Names load on first use, so readers can import single component modules cheaply."""

from __future__ import annotations

import importlib

_PUBLIC = {"AddedToken": "added_vocab", "AddedVocabulary": "added_vocab", "Encoding": "encoding",
           "NormalizedString": "normalized", "PipelineTokenizer": "tokenizer"}

__all__ = list(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
