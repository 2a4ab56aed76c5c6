"""Tools between a tokenizer and a language model: embedding transfer, token healing,
exact byte-level probabilities. numpy only; torch/transformers/safetensors load lazily."""

from .byte_probs import ByteLevelModel, NextByte, next_byte_distribution
from .embeddings import (
    EmbeddingTransfer,
    load_embeddings,
    save_embeddings,
    transfer_embeddings,
)
from .healing import HealingPlan, TokenIndex, heal_prompt, token_index

__all__ = [
    "ByteLevelModel",
    "EmbeddingTransfer",
    "HealingPlan",
    "NextByte",
    "TokenIndex",
    "heal_prompt",
    "load_embeddings",
    "next_byte_distribution",
    "save_embeddings",
    "token_index",
    "transfer_embeddings",
]
