"""Adversarial text made fresh by the tests (seeded): every Unicode plane's blocks, unassigned and newly
assigned code points, combining marks, emoji ZWJ sequences, long words, digit and whitespace runs."""

from __future__ import annotations

import random

# newly assigned letters/digits (Unicode 14-17) that older tables (tiktoken's, HF's) may not know
NEW_CODE_POINTS = [0x19087, 0x11BC3, 0x1FACA, 0x0B55, 0x0C8C, 0x0C84, 0x1E4D0, 0x1E4E9, 0x11F00, 0x11F5A, 0x1DF25,
                   0x2B739, 0x31350, 0x16D40, 0x1E5D0, 0x10D40, 0x11BC0, 0x16EA0, 0x1CC00, 0x10EC2]
EMOJI = ["\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466", "\U0001f3f3\ufe0f\u200d\U0001f308",
         "\U0001f44d\U0001f3fd", "\U0001f1fa\U0001f1f8", "\u2764\ufe0f", "\U0001f916", "1\ufe0f\u20e3"]
PIECES = ["'s", "'S", "'ll", "'RE", "'\u017f", "\r\n", "\n\n\n", "\t", "\u00a0", "\u3000", "\u2028", " ", "  ",
          "x", "X", "é", "e\u0301", "\u0915\u094d\u0937", "\u4e2d\u6587", "\ud55c\uad6d\uc5b4", "!?", "...", "//",
          "0", "١٢٣", "\u00bd", "\u2167", "_", "-", "@", "#", "$", "\\", "\u200b", "\u200d", "\ufeff"]


def random_code_point(rng: random.Random) -> str:
    """Any code point but surrogates: assigned or not, any plane (weighted toward the BMP)."""
    while True:
        plane = rng.choice([0, 0, 0, 0, 1, 1, 2, 3, 14, 15])
        cp = plane * 0x10000 + rng.randrange(0x10000)
        if not 0xD800 <= cp <= 0xDFFF:
            return chr(cp)


def adversarial_text(seed: int, size: int = 20_000) -> str:
    """A mix of the families above, about ``size`` characters."""
    rng = random.Random(seed)
    out: list[str] = []
    n = 0
    while n < size:
        kind = rng.randrange(10)
        if kind == 0:
            s = "".join(random_code_point(rng) for _ in range(rng.randint(1, 30)))
        elif kind == 1:
            s = "".join(chr(rng.choice(NEW_CODE_POINTS)) for _ in range(rng.randint(1, 6))) + rng.choice(PIECES)
        elif kind == 2:
            base = rng.choice("aeoxAZ\u0915\u05d0")
            s = base + "".join(chr(rng.randrange(0x300, 0x370)) for _ in range(rng.randint(1, 8)))
        elif kind == 3:
            s = "".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 5)))
        elif kind == 4:
            s = rng.choice("0123456789١٢") * rng.randint(1, 40)
        elif kind == 5:
            spaces = [" ", "\t", "\n", "\r", "\u00a0", "\u3000", "\u2029"]
            s = "".join(rng.choice(spaces) for _ in range(rng.randint(1, 40)))
        elif kind == 6:
            s = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ_") for _ in range(rng.randint(20, 400)))
        else:
            s = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 12)))
        out.append(s)
        n += len(s)
    return "".join(out)


def long_runs() -> list[str]:
    """Single pieces far longer than any token: 100 KB words, digit and whitespace runs."""
    return ["x" * 100_000, "ab" * 50_000, "9" * 30_000, " " * 50_000 + "x", "\n" * 20_000, "é" * 40_000,
            "\u4e2d" * 30_000, "\U0001f916" * 10_000, "!" * 40_000]
