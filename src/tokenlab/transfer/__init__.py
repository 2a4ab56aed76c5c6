"""Tools between a tokenizer and a language model: embedding transfer, token healing,
exact byte-level probabilities. numpy only; torch/transformers/safetensors load lazily."""

from .byte_probs import ByteLevelModel, NextByte, next_byte_distribution
from .healing import HealingPlan, TokenIndex, heal_prompt, token_index

__all__ = [
    "ByteLevelModel", "NextByte", "next_byte_distribution",
    "HealingPlan", "TokenIndex", "heal_prompt", "token_index",
]
