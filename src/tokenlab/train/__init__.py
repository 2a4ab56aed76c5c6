"""Trainers: learn a vocabulary (and merges) from a corpus."""

from .bpe import BPETrainer, count_pretokens, train_bpe

__all__ = ["BPETrainer", "count_pretokens", "train_bpe"]
