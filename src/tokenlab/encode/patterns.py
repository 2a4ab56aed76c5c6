"""Which compiled pre-tokenizer state machine reproduces a pre-tokenizer (shared by the C and numba kernels)."""

from __future__ import annotations

PATTERN_IDS = {None: 0, "none": 0, "gpt2": 1, "cl100k": 2, "o200k": 3, "whitespace": 4, "tekken": 5}


def pattern_id(pretokenizer) -> int | None:
    """The state machine's id for this pre-tokenizer, or None (a custom regex: the regex path)."""
    from ..pretokenize import PATTERNS

    if pretokenizer.pattern in PATTERN_IDS:
        return PATTERN_IDS[pretokenizer.pattern]
    for name, rx in PATTERNS.items():
        if rx is not None and rx == pretokenizer.pattern:
            return PATTERN_IDS[name]
    return None
