"""Adversarial documents for kernel and benchmark tests: the shared generator of ``adversarial_text.py``
(every plane's blocks, unassigned and newly assigned code points, combining marks, emoji sequences, digit and
whitespace runs, 25 languages) plus single pieces far longer than any token."""

from __future__ import annotations

import random

from adversarial_text import NEW_CODE_POINTS, adversarial_document, multilingual_lines


def random_code_point(rng: random.Random) -> str:
    """Any code point but surrogates, assigned or not, any plane; a third from the newly assigned ones."""
    if rng.random() < 0.3:
        return chr(rng.choice(NEW_CODE_POINTS))
    while True:
        cp = rng.randrange(0x110000)
        if not 0xD800 <= cp <= 0xDFFF:
            return chr(cp)


def adversarial_text(seed: int, size: int = 20_000) -> str:
    """About ``size`` characters: the shared mixture, with runs of letters (long words) mixed in."""
    rng = random.Random(seed)
    lines = multilingual_lines()
    parts, n = [], 0
    while n < size:
        part = adversarial_document(rng, 2_000, lines) if rng.random() < 0.8 else "".join(
            rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ_") for _ in range(rng.randint(20, 400)))
        parts.append(part)
        n += len(part)
    return "".join(parts)


def long_runs() -> list[str]:
    """Single pieces far longer than any token: 100 KB words, digit and whitespace runs."""
    return ["x" * 100_000, "ab" * 50_000, "9" * 30_000, " " * 50_000 + "x", "\n" * 20_000, "é" * 40_000,
            "\u4e2d" * 30_000, "\U0001f916" * 10_000, "!" * 40_000]
