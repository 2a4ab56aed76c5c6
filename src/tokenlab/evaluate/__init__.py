"""Evaluate and compare tokenizers: metrics, token health, real multilingual data, HTML reports."""

from .data import DEFAULT_LANGUAGES, django_parallel, load_corpus, stdlib_code
from .health import token_health, undertrained_tokens, unreachable_tokens
from .metrics import (
                      compression,
                      number_split_consistency,
                      renyi_efficiency,
                      script_coverage,
                      summarize,
                      token_premiums,
                      vocab_utilisation,
                      word_stats,
)

__all__ = ["DEFAULT_LANGUAGES", "django_parallel", "load_corpus", "stdlib_code", "token_health",
           "undertrained_tokens", "unreachable_tokens", "compression", "number_split_consistency",
           "renyi_efficiency", "script_coverage", "summarize", "token_premiums", "vocab_utilisation",
           "word_stats"]
