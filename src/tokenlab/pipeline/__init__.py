"""The tokenizer pipeline with HF ``tokenizers`` semantics: normalizers, pre-tokenizers, models, post-processors,
decoders and added tokens as small components, composed by `PipelineTokenizer` (read from and written to any
tokenizer.json)."""

from .added_vocab import AddedToken, AddedVocabulary
from .encoding import Encoding
from .normalized import NormalizedString
from .tokenizer import PipelineTokenizer

__all__ = ["AddedToken", "AddedVocabulary", "Encoding", "NormalizedString", "PipelineTokenizer"]
