"""Inference: turning a piece of bytes into ids over a vocabulary."""

from .bpe import PieceCache, bpe_merge

__all__ = ["PieceCache", "bpe_merge"]
